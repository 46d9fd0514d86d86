"""Banded DTW kernels: one cost row in, accumulated cost, back-pointers and cost-to-go over a ring of rows.

Rows are fg frames; row r covers the bg cells [lo[r % R], lo[r % R] + W) of a ring of R rows and width W
(the online aligner's lookahead rows, or a whole banded matrix for the offline solver, where R = n).
The recurrence is the classic step-constrained one (Sakoe & Chiba 1978) with a per-row unary term already
folded into the costs:

    D[r, b] = C[r, b] + min_{b - K <= j <= b} D[r - 1, j]

so bg never goes back and advances by at most K per fg frame. Everything is serial Numba: these run once
per fg frame on small arrays, where parallel=True only adds thread wake-up latency.
"""

import numba
import numpy as np

BIG = 1.0e6  # stands in for +inf when a row has no reachable finite cell, so a path always exists


@numba.njit(cache=True)
def fill_row(dst: np.ndarray, costs: np.ndarray, lo: int, clock: float, weight: float, cap: float) -> None:
    """dst[k] = costs[k] + weight * min(|lo + k - clock|, cap); NaN costs become +inf."""
    for k in range(dst.shape[0]):
        c = np.float64(costs[k])
        if c != c:
            c = np.inf
        d = abs(lo + k - clock)
        if d > cap:
            d = cap
        dst[k] = c + weight * d


@numba.njit(cache=True)
def _forward_row(cost: np.ndarray, acc: np.ndarray, back: np.ndarray, lo: np.ndarray, r: int, first: int,
                 root: int, max_step: int, exclude: int) -> None:
    """Accumulate row r from row r - 1 (or from `root`, or open begin, when r == first, minus cell `exclude`).

    Ties between predecessors go to the smallest step. If no cell is reachable at a finite cost, the row's
    infinite costs are replaced by BIG (in the ring, so later passes agree) and the row is redone.
    """
    n_rows, width = cost.shape
    s = r % n_rows
    base = lo[s]
    for attempt in range(2):
        finite = False
        for k in range(width):
            b = base + k
            c = cost[s, k]
            if r == first:
                if b == exclude:
                    acc[s, k] = np.inf
                    back[s, k] = -1
                elif root < 0:
                    acc[s, k] = c
                    back[s, k] = -1
                elif root <= b <= root + max_step:
                    acc[s, k] = c
                    back[s, k] = root
                else:
                    acc[s, k] = np.inf
                    back[s, k] = -1
            else:
                ps = (r - 1) % n_rows
                plo = lo[ps]
                j_hi = min(b, plo + width - 1)
                j_lo = max(b - max_step, plo)
                best = np.inf
                arg = -1
                for j in range(j_hi, j_lo - 1, -1):
                    v = acc[ps, j - plo]
                    if v < best:
                        best = v
                        arg = j
                acc[s, k] = c + best
                back[s, k] = arg
            if acc[s, k] < np.inf:
                finite = True
        if finite or attempt == 1 or exclude >= 0:
            return
        for k in range(width):
            if not cost[s, k] < np.inf:
                cost[s, k] = BIG


@numba.njit(cache=True)
def solve(cost: np.ndarray, acc: np.ndarray, back: np.ndarray, togo: np.ndarray, lo: np.ndarray, first: int,
          last: int, root: int, max_step: int, path: np.ndarray, margin: np.ndarray, n_margin: int) -> int:
    """Best path over rows first..last, rooted at bg `root` on row first - 1 (root < 0: open begin).

    Fills acc/back for those rows, backtracks from the cheapest cell of row `last` (open end) into
    path[0 : last - first + 1], and for the first n_margin rows writes margin[r - first]: how much more the
    cheapest path through any other cell of row r costs (cost-to-go included), or -1 when no other cell has a
    finite cost (nothing to compare) or the chosen cell is a BIG stand-in. Returns the backtrack's end cell
    (the head), the cheapest cell of row `last`; ties go to the lowest bg frame.
    """
    n_rows, width = cost.shape
    for r in range(first, last + 1):
        _forward_row(cost, acc, back, lo, r, first, root, max_step, -1)
    s = last % n_rows
    best = 0
    for k in range(width):
        if acc[s, k] < acc[s, best]:
            best = k
    head = lo[s] + best
    b = head
    for r in range(last, first - 1, -1):
        path[r - first] = b
        if r > first:
            b = back[r % n_rows, b - lo[r % n_rows]]
    if n_margin <= 0:
        return head
    if n_margin == 1:
        # One row: the cheapest path avoiding (first, path[0]) is a forward pass with that cell removed,
        # about half the work of the cost-to-go sweep. acc/back are left describing that pass.
        total = acc[s, best]
        chosen = path[0]
        sf = first % n_rows
        cheap = cost[sf, chosen - lo[sf]] < BIG
        for r in range(first, last + 1):
            _forward_row(cost, acc, back, lo, r, first, root, max_step, chosen)
        second = np.inf
        for k in range(width):
            if acc[s, k] < second:
                second = acc[s, k]
        margin[0] = max(second - total, 0.0) if second < np.inf and cheap else -1.0
        return head
    # Cost-to-go G[r, b]: cheapest continuation from (r, b) to any cell of row `last`, excluding row r itself.
    for k in range(width):
        togo[s, k] = 0.0
    for r in range(last - 1, first - 1, -1):
        s = r % n_rows
        ns = (r + 1) % n_rows
        nlo = lo[ns]
        for k in range(width):
            bb = lo[s] + k
            j_lo = max(bb, nlo)
            j_hi = min(bb + max_step, nlo + width - 1)
            g = np.inf
            for j in range(j_lo, j_hi + 1):
                v = cost[ns, j - nlo] + togo[ns, j - nlo]
                if v < g:
                    g = v
            togo[s, k] = g
    for r in range(first, min(last + 1, first + n_margin)):
        s = r % n_rows
        chosen = path[r - first] - lo[s]
        total = acc[s, chosen] + togo[s, chosen]
        second = np.inf
        for k in range(width):
            if k != chosen:
                v = acc[s, k] + togo[s, k]
                if v < second:
                    second = v
        if second < np.inf and cost[s, chosen] < BIG:
            margin[r - first] = max(second - total, 0.0)
        else:
            margin[r - first] = -1.0
    return head


@numba.njit(cache=True)
def fit_clock(fg: np.ndarray, bg: np.ndarray, count: int, recent: int, rate: float, nominal: float,
              tolerance: float, prior_weight: float, max_drift: float) -> tuple:
    """Refit the clock line bg = offset + rate * fg over the ring of accepted points (count written so far).

    offset: median of bg - rate * fg over the last `recent` points. rate: ridge least squares over the
    points within `tolerance` of that line, pulled toward `nominal` with weight prior_weight (fg frames^2),
    clamped to nominal * (1 +- max_drift); then the offset is re-taken with the new rate. Returns (rate, offset).
    """
    size = fg.shape[0]
    n = min(count, size)
    m = min(n, recent)
    resid = np.empty(m)
    for t in range(m):
        p = (count - m + t) % size
        resid[t] = bg[p] - rate * fg[p]
    offset = np.median(resid)
    sw = 0.0
    sx = 0.0
    sy = 0.0
    for t in range(n):
        p = (count - n + t) % size
        if abs(bg[p] - offset - rate * fg[p]) <= tolerance:
            sw += 1.0
            sx += fg[p]
            sy += bg[p]
    new_rate = rate
    if sw >= 2.0:
        mx = sx / sw
        my = sy / sw
        sxx = 0.0
        sxy = 0.0
        for t in range(n):
            p = (count - n + t) % size
            if abs(bg[p] - offset - rate * fg[p]) <= tolerance:
                dx = fg[p] - mx
                sxx += dx * dx
                sxy += dx * (bg[p] - my)
        new_rate = (sxy + prior_weight * nominal) / (sxx + prior_weight)
        new_rate = min(max(new_rate, nominal * (1.0 - max_drift)), nominal * (1.0 + max_drift))
    for t in range(m):
        p = (count - m + t) % size
        resid[t] = bg[p] - new_rate * fg[p]
    return new_rate, np.median(resid)
