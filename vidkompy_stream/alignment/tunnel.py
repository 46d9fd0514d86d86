"""Streaming tunnel aligner: greedy forward and backward passes over a bounded lookahead, merged monotonically.

A second engine with DTWAligner's interface (window / push / finish / release_point / rate_estimate, plus
band, max_step, lookahead, expected), so the two can be compared. The idea is the prior art's (vidkompy's
"tunnel" aligners: for each fg frame search a forward window of bg frames from the last match and take the
best, then a backward pass, then merge the two monotonically), made streaming with a fixed lag of L frames:

* Costs: each pushed row gets DTW's small pull to the clock line (`fill_row`: 0.01 per bg frame away from
  c_i = offset + rate * i, capped at 10 frames); `clock.ClockLine` follows the line from confident commits
  (drift, dropped bg frames), so equal-cost (static) stretches follow the clock.
* Forward pass, at push time: row n takes its cheapest cell in [a, a + K] (K = max_step) from the anchor a
  (row 0: its whole window, open begin). Then the head: row n's cheapest cell within K of that pick and
  reachable from the last commit. The next anchor is min(forward cell, head), kept inside the tunnel, within
  `radius` (default 2K) of the clock line (pulled up only to bg frames that exist: past bg's end it holds
  the last one), at or above the last commit and at most L * K above it. Why the head and the tunnel: a
  greedy pass that can only step forward ratchets ahead under noisy costs (the cheapest of K + 1 noisy
  cells is more often ahead than behind, and it can never come back) and, over a stretch that matches
  nothing in bg, wanders off; without the two, it left the band for good in such tests.
* Backward pass, when row i + L arrives (`kernels.tunnel.backward`): from the newest row's head back to
  row i, each row taking its cheapest cell within [b_next - K, b_next] (monotone backwards) that is still
  reachable from the last commit. The head is local to the forward pick on purpose: the cheapest cell of the
  whole band is often a look-alike far away, which then drags the backward pass off for many rows.
* Merge (commits row i, `kernels.tunnel.commit`): if the forward cell F (clamped to [root, root + K], root =
  the previous commit) equals the backward cell B, that cell. Otherwise F is judged by what committing it
  would cost: the backward path bent through F with steps 0..K (lifted to max(B_r, F) on the later rows
  while B is below F; lowered to min(B_r, F + (r - i) * K) while B is out of F's reach), against B's own
  path on the rows where the two differ. F wins only if strictly cheaper; ties to the backward pass, which
  has seen the future. Why not row i's cost alone: a greedy pass goes wrong persistently in one direction.
  A look-alike ahead lures the forward pass, and row i alone prefers it (that is why it lured); bent
  through it, the path pays for every later row held at it until the content catches up, so B wins. A
  look-alike behind lures the backward pass, which is then stuck low over several rows; F, lifted over
  those rows, is cheaper, so F wins. Both candidates lie in [root, root + K], so every commit is monotone
  with a step of 0..K.
* Confidence: 1 - exp(-margin / `confidence_scale`) (`decision.margin_confidence`, as DTW), with margin = the cost of the
  cheapest other cell of row i's window at or above the root minus the committed cell's cost (clock pull
  included). Content decides with a margin of about 0.1 (confidence ~0.85); a static stretch only by the
  clock's 0.01 (~0.2); a look-alike elsewhere in the band gives a small or negative margin (0); a row that
  matches nothing stands out little from dozens of random costs; bg ended and its last frame held: nothing
  to compare against, 0. Decisions under 0.5 do not steer the clock.

Windows: the next band is centred on anchor + rate, never starts above the anchor and always covers
[anchor, anchor + K] (so the forward search is inside), never starts below the root or the previous band
(non-decreasing), and ends at most root + L * K + band, within what the streaming layer's bg ring holds.
Memory is O(band * L) in preallocated rings; nothing grows with the stream, nothing waits for EOF. Per push:
`fill_row`, two O(K) picks and an O(L * K + band) backward pass and merge, all serial Numba.

Weaker than DTW: each pass takes a row's cheapest cell in a K + 1 range, not the cheapest path, so noise
comparable to the difference between neighbouring frames makes commits jitter by a frame more often (most at
low rates), a look-alike that both passes take is committed where DTW's path cost would reject it, the
margin sees one row rather than the paths through the others, and, the real limit, the tunnel keeps the path
within about radius + 2K of the clock line: a sudden offset change in bg larger than that (bg has a stretch
fg lacks) is not followed at all, because commits held at the tunnel's edge see the true match further on,
so their margin is negative, their confidence 0, and the clock line never moves toward it. DTW follows such
a jump at K - rate frames a row.
"""

import math

import numpy as np

from ..decision import Decision, margin_confidence
from ..kernels.tunnel import cheapest, commit, last_finite
from ..params import AlignParams, ClockParams
from .dtw import BandAligner


class TunnelAligner(BandAligner):
    """Streaming tunnel aligner: window() says which bg costs a fg frame needs, push() takes them and commits.

    Fg frame i is committed when row i + L has been pushed (finish() commits the rest, the backward pass then
    starting from the last row). Same contract as DTWAligner: decisions in order, each fg frame once, bg
    monotone with steps 0..max_step, confidence in [0, 1].
    """

    def __init__(self, rate: float, start: int, lookahead: int, *, band: int | None = None,
                 max_step: int | None = None, radius: int | None = None, rate_penalty: float = AlignParams.penalty,
                 penalty_cap: float = AlignParams.penalty_cap,
                 confidence_scale: float = AlignParams.confidence_scale, clock: ClockParams = ClockParams()) -> None:
        super().__init__(rate, start, lookahead, band, max_step, rate_penalty, penalty_cap, confidence_scale, clock)
        self.radius = 2 * self.max_step if radius is None else int(radius)
        if self.radius < 0:
            raise ValueError("radius must be >= 0")
        rows = self.lookahead + 1
        self._cost = np.full((rows, self.band), np.inf)
        self._lo = np.zeros(rows, np.int64)
        self._fwd = np.zeros(rows, np.int64)  # the forward pass's cell of each pending row
        self._path = np.zeros(rows, np.int64)  # the backward pass's cells, rows first..last
        self._next = 0  # fg frame the next window() is for
        self._window: tuple[int, int] | None = None
        self._first = 0  # oldest uncommitted fg frame
        self._root = -1  # bg frame of the last committed fg frame (-1: none yet, open begin)
        self._anchor = -1  # the next row's forward search starts here (-1: row 0, search the whole window)
        self._head = 0  # the newest row's head: where the backward pass starts
        self._next_lo = self._lo0 = max(0, int(start) - self.band // 2)
        self._finished = False

    def push(self, fg_index: int, costs: np.ndarray) -> list[Decision]:
        """Take the costs of fg frame fg_index over its window; return the decisions that became final."""
        lo, hi, slot = self._take_row(fg_index, costs)
        forward = self._cheapest(fg_index, lo, hi - 1) if self._anchor < 0 else \
            self._cheapest(fg_index, self._anchor, self._anchor + self.max_step)
        if forward < 0:  # nothing finite in reach (bg ended, or a hole): the cheapest finite cell below it
            forward = self._cheapest(fg_index, max(lo, self._root), self._anchor + self.max_step)
        self._fwd[slot] = forward if forward >= 0 else max(self._anchor, lo)  # none at all: hold
        # The head: the newest row's cheapest cell within K of the forward cell and reachable from the root.
        # Local on purpose: a look-alike anywhere in the band must not become the backward pass's start.
        head_lo, head_hi = max(lo, self._fwd[slot] - self.max_step), min(hi - 1, self._fwd[slot] + self.max_step)
        if self._root >= 0:
            head_lo = max(head_lo, self._root)
            head_hi = min(head_hi, self._root + (fg_index - self._first + 1) * self.max_step)
        head = self._cheapest(fg_index, head_lo, head_hi)
        self._head = int(self._fwd[slot]) if head < 0 else head
        decisions = []
        if fg_index - self._first == self.lookahead:
            decisions.append(self._commit(fg_index))
        self._place_next_window(lo, int(self._fwd[slot]))
        return decisions

    def finish(self) -> list[Decision]:
        """fg has ended: commit every pending frame, the backward pass starting from the last row."""
        last = self._close()
        return [self._commit(last) for _ in range(self._first, last + 1)]

    def release_point(self) -> int:
        """Lowest bg frame any future window() or decision can refer to."""
        return self._root if self._root >= 0 else self._lo0

    def _commit(self, last: int) -> Decision:
        """Commit the oldest pending row from the pending rows up to `last`."""
        fg = self._first
        bg, margin = commit(self._cost, self._lo, self._fwd, fg, last, self._root, self.max_step, self._head,
                            self._path)
        sure = float(margin_confidence(margin, self.confidence_scale))
        self.clock.add(fg, int(bg), sure)
        self._root = int(bg)
        self._first = fg + 1
        return Decision(fg, int(bg), sure)

    def _cheapest(self, row: int, b_lo: int, b_hi: int) -> int:
        """Row `row`'s cheapest bg frame in [b_lo, b_hi] (clock pull included), -1 if none is finite."""
        return int(cheapest(self._cost, self._lo, row, b_lo, b_hi))

    def _place_next_window(self, lo: int, forward: int) -> None:
        """Set the next row's forward anchor and band (see the module docstring, "Windows")."""
        clock = self.clock.expected(self._next)
        anchor = min(forward, self._head)
        # The tunnel: within `radius` of the clock line; pulled up only to frames that exist (bg may have ended).
        floor = min(math.floor(clock) - self.radius, last_finite(self._cost, self._lo, self._next - 1))
        anchor = min(max(anchor, floor), math.ceil(clock) + self.radius)
        if self._root >= 0:
            anchor = min(max(anchor, self._root), self._root + self.lookahead * self.max_step)
        anchor = max(anchor, lo)  # keeps the band non-decreasing and the anchor inside it
        self._anchor = anchor
        center = int(math.floor(anchor + self.clock.rate + 0.5))
        self._next_lo = max(lo, self._root, anchor + self.max_step + 1 - self.band,
                            min(anchor, center - self.band // 2))
