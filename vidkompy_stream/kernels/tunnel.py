"""Tunnel aligner kernels: the greedy forward pick, the greedy backward pass and the merge that commits a row.

Rows live in a ring of R = lookahead + 1 rows of width W, the same layout as the DTW kernels: row r's costs
(clock pull already folded in) are cost[r % R, :] and cover bg frames [lo[r % R], lo[r % R] + W). A bg frame
outside a row's window costs +inf there. Everything is serial Numba: a few hundred cells per fg frame, where
a Python loop would cost more than the rest of the aligner and parallel=True only adds thread wake-ups.
"""

import numba
import numpy as np


@numba.njit(cache=True)
def cell(cost: np.ndarray, lo: np.ndarray, r: int, b: int) -> float:
    """Row r's cost of bg frame b; +inf outside the row's window."""
    s = r % cost.shape[0]
    k = b - lo[s]
    if k < 0 or k >= cost.shape[1]:
        return np.inf
    return cost[s, k]


@numba.njit(cache=True)
def cheapest(cost: np.ndarray, lo: np.ndarray, r: int, b_lo: int, b_hi: int) -> int:
    """The cheapest bg frame of row r within [b_lo, b_hi]; ties to the lowest. -1: no finite cell there."""
    best = -1
    best_v = np.inf
    for b in range(b_lo, b_hi + 1):
        v = cell(cost, lo, r, b)
        if v < best_v:
            best_v = v
            best = b
    return best


@numba.njit(cache=True)
def last_finite(cost: np.ndarray, lo: np.ndarray, r: int) -> int:
    """The highest bg frame of row r's window with a finite cost; -1 if none."""
    s = r % cost.shape[0]
    for k in range(cost.shape[1] - 1, -1, -1):
        if cost[s, k] < np.inf:
            return lo[s] + k
    return -1


@numba.njit(cache=True)
def backward(cost: np.ndarray, lo: np.ndarray, first: int, last: int, root: int, max_step: int, start: int,
             path: np.ndarray) -> None:
    """Greedy backward pass over rows last..first into path[0 : last - first + 1].

    The newest row takes `start` (the aligner's head), moved into reach of `root` (the previous commit, on row
    first - 1; root < 0: open begin), i.e. into [root, root + (last - first + 1) * K]. Each earlier row r
    takes its cheapest cell within [b_{r+1} - K, b_{r+1}] (so the path is monotone with steps 0..K) that is
    still reachable from the root, i.e. in [root, root + (r - first + 1) * K]. Ties go to the highest bg
    frame (the smallest step); a range with no finite cell holds at its top. By construction path[0] is in
    [root, root + K].
    """
    floor = max(root, 0)
    g = max(start, floor)
    if root >= 0:
        g = min(g, root + (last - first + 1) * max_step)
    path[last - first] = g
    for r in range(last - 1, first - 1, -1):
        j_hi = g
        if root >= 0:
            j_hi = min(j_hi, root + (r - first + 1) * max_step)
        j_lo = max(g - max_step, floor)
        g = j_hi
        best_v = np.inf
        for j in range(j_hi, j_lo - 1, -1):
            v = cell(cost, lo, r, j)
            if v < best_v:
                best_v = v
                g = j
        path[r - first] = g


@numba.njit(cache=True)
def commit(cost: np.ndarray, lo: np.ndarray, fwd: np.ndarray, first: int, last: int, root: int, max_step: int,
           start: int, path: np.ndarray) -> tuple:
    """Commit row `first` from the pending rows first..last: returns (bg frame, margin).

    Runs the backward pass B from `start` (path[r - first] for rows first..last), then weighs the forward pass's cell F of
    row first (clamped to [root, root + K]) against B's, B[first]. Equal: that cell. Otherwise F is judged by
    what committing it would cost: the backward path bent through F with steps 0..K, i.e. lifted to
    max(B[r], F) on the rows after it while B is still below F (F above B: the later commits are stuck at F
    until B's path catches up), or lowered to min(B[r], F + (r - first) * K) while B is out of F's reach (F
    below B). The bent path and B differ only on those rows; F is committed if the bent path costs less
    there, else B[first] (ties: backward, it has seen the future). So a look-alike that lured the forward
    pass ahead pays for every row the path would then be held off the content, and one that lured the
    backward pass behind (B stuck low) loses against F over the same rows. Both candidates lie in [root,
    root + K] (B by construction), so commits are monotone with steps 0..K. With root < 0 (first commit, open
    begin) there is nothing to clamp to.

    margin (`margin`): cost of the cheapest other cell of row first's window at or above the root (the cells a monotone
    path could still take) minus the committed cell's cost, negative when the commit is not the best of
    them (a look-alike elsewhere); -1 when either is not finite (nothing to compare against, as when bg has
    ended and its last frame is held). The whole window rather than the K + 1 cells within reach: over a
    stretch that matches nothing in bg, the cheapest of a few random costs often stands out from the
    second, the cheapest of dozens does not, so such stretches do not steer the clock line.
    """
    n_rows, width = cost.shape
    backward(cost, lo, first, last, root, max_step, start, path)
    pick = path[0]
    f = fwd[first % n_rows]
    if root >= 0:
        f = min(max(f, root), root + max_step)
    if f != pick:
        bent = cell(cost, lo, first, f)
        own = cell(cost, lo, first, pick)
        for r in range(first + 1, last + 1):
            b = path[r - first]
            target = max(b, f) if f > pick else min(b, f + (r - first) * max_step)
            if target == b:
                break
            bent += cell(cost, lo, r, target)
            own += cell(cost, lo, r, b)
        if bent < own:
            pick = f
    return pick, margin(cost, lo, first, pick, root)


@numba.njit(cache=True)
def margin(cost: np.ndarray, lo: np.ndarray, r: int, b: int, root: int) -> float:
    """How much cheaper bg frame b is than any other cell of row r's window at or above `root`.

    Negative when b is not the cheapest of them; -1 when either cost is not finite (nothing to compare).
    """
    s = r % cost.shape[0]
    own = cell(cost, lo, r, b)
    second = np.inf
    for c in range(max(lo[s], root), lo[s] + cost.shape[1]):
        if c != b:
            v = cell(cost, lo, r, c)
            if v < second:
                second = v
    return second - own if own < np.inf and second < np.inf else -1.0
