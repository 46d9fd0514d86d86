"""Online windowed DTW: pick the bg frame under every fg frame from cost rows, with bounded lookahead.

The mapping is a monotone path b_0 <= b_1 <= ... with 0 <= b_i - b_{i-1} <= K (Sakoe & Chiba 1978's
step constraint; K defaults to ceil(1.5 * rate) + 1, room for drift and dropped bg frames). It minimises

    sum_i  C[i, b_i] + weight * min(|b_i - c_i|, cap)

where C is the caller's cost (about 0 for the same picture, 1 for unrelated) and c_i = a + r * i is the
*clock line*: where bg should be if it ran at rate r from offset a. Why a unary pull to a line rather than
a penalty on |step - rate|: with rate 1.2 the steps must go 1,1,1,1,2, which costs 4 * 0.2 + 0.8 = 1.6
per five frames against 5 * 0.2 = 1.0 for all-1 steps, so in a static stretch a per-step penalty makes
the path lag the clock by a frame every five. A pull to the line is zero exactly on round(c_i), so
equal-cost stretches follow the clock, fractional rates included, and the DP stays a plain
step-constrained DTW with the term folded into the costs. The line's slope and offset are re-fitted
robustly from recent confident commits (`ClockLine`), which follows drift (0.98..1.02) and the offset
jumps left by dropped or repeated bg frames. The weight is small (default 0.01 per bg frame, capped at 10
frames) so any real content difference (0.1..0.3 between neighbouring frames) wins over the clock.

Online (Dixon 2005, "Live tracking of musical performances using on-line time warping", in a fixed-lag
form): each pushed row is costed over a band of W bg frames around the predicted position; when row i + L
arrives, the best path is re-solved over the L + 1 pending rows from the last committed cell (the root),
backtracked from the cheapest cell of the newest row, and row i is committed. Rooting every pass at the
committed cell keeps later rows consistent with what was already output, so commits never change and the
path stays monotone. Each push re-solves the pending rows, O(L * W * K), about 0.1 ms at W = 60, L = 50.
The clock term of a row is fixed when the row is pushed (folded into its stored costs), so re-solving is
exact. The next band is centred on the head (the newest row's cheapest cell) plus the rate and never
starts above the head, so the head's step-0 successor is always inside and a finite path always continues.
Memory is O(W * L) in preallocated rings; nothing grows with the stream and nothing waits for EOF.
`dtw_offline` solves the same objective over a whole (or banded) matrix, with the same kernel, for tests
and for re-solving a narrow band. See also Müller, "Fundamentals of Music Processing", ch. 3 (DTW) and the
FMP notebooks on step-size conditions and subsequence DTW (open begin and end).
"""

import math

import numpy as np

from ..decision import Decision, margin_confidence
from ..kernels.dtw import fill_row, solve
from ..params import AlignParams, ClockParams
from .clock import ClockLine


def default_max_step(rate: float) -> int:
    """Largest bg advance per fg frame: the nominal rate with 50% margin, plus one."""
    return math.ceil(rate * 1.5) + 1


def default_band(max_step: int) -> int:
    """Band width in bg frames: room for a few frames of start error and many steps of lookahead drift."""
    return max(48, 8 * max_step)


class BandAligner:
    """What the online aligners share: the clock line, and the window()/push() handshake over a band of
    bg frames whose costs (clock pull folded in) go into a ring of lookahead + 1 rows."""

    _cost: np.ndarray
    _lo: np.ndarray
    _next: int
    _next_lo: int
    _window: tuple[int, int] | None
    _finished: bool

    def __init__(self, rate: float, start: int, lookahead: int, band: int | None, max_step: int | None,
                 rate_penalty: float, penalty_cap: float, confidence_scale: float, clock: ClockParams) -> None:
        """Check and keep the parameters both aligners take (see DTWAligner) and start the clock."""
        if not rate > 0 or not math.isfinite(rate):
            raise ValueError(f"rate must be positive, got {rate}")
        if start < 0 or lookahead < 0:
            raise ValueError("start and lookahead must be >= 0")
        self.max_step = default_max_step(rate) if max_step is None else int(max_step)
        if self.max_step < 1:
            raise ValueError("max_step must be >= 1")
        self.band = default_band(self.max_step) if band is None else int(band)
        if self.band <= self.max_step or self.band // 2 < math.ceil(rate * (1 + clock.max_drift)):
            raise ValueError(f"band {self.band} must exceed max_step {self.max_step} and twice the rate")
        self.lookahead = int(lookahead)
        self.rate_penalty, self.penalty_cap = float(rate_penalty), float(penalty_cap)
        self.confidence_scale = float(confidence_scale)
        self.clock = ClockLine(rate, start, clock)

    @property
    def rate_estimate(self) -> float:
        """Current estimate of bg frames per fg frame."""
        return self.clock.rate

    def expected(self, fg_index: int) -> float:
        """Where the clock line currently puts fg frame `fg_index` (push() pulls row fg_index toward it)."""
        return self.clock.expected(fg_index)

    def steer(self, rate: float, offset: float) -> None:
        """Follow a finer clock (the refiner's line bg = offset + rate * fg) from the next push on."""
        self.clock.steer(rate, offset)

    def window(self, fg_index: int) -> tuple[int, int]:
        """The bg range [lo, hi) whose costs push(fg_index) needs; hi - lo == band."""
        if self._finished:
            raise RuntimeError("window() after finish()")
        if fg_index != self._next or self._window is not None:
            raise ValueError(f"window({fg_index}) out of order: expected fg frame {self._next}")
        self._window = (self._next_lo, self._next_lo + self.band)
        return self._window

    def _close(self) -> int:
        """End the stream (later calls get nothing to commit): the last fg frame pushed."""
        if self._finished:
            return -1
        self._finished = True
        return self._next - 1

    def _take_row(self, fg_index: int, costs: np.ndarray) -> tuple[int, int, int]:
        """Check a push against its window and store its row; (lo, hi, ring slot)."""
        if self._window is None or fg_index != self._next:
            raise ValueError(f"push({fg_index}) without a matching window()")
        lo, hi = self._window
        if costs.shape != (hi - lo,):
            raise ValueError(f"push({fg_index}): expected {hi - lo} costs, got shape {costs.shape}")
        slot = fg_index % (self.lookahead + 1)
        self._lo[slot] = lo
        fill_row(self._cost[slot], costs, lo, self.clock.expected(fg_index), self.rate_penalty, self.penalty_cap)
        self._window = None
        self._next = fg_index + 1
        return lo, hi, slot


class DTWAligner(BandAligner):
    """Streaming DTW: window() says which bg costs a fg frame needs, push() takes them and commits frames.

    Fg frame i is committed when row i + L has been pushed (finish() commits the rest). Each decision
    carries a confidence in [0, 1]: 1 - exp(-margin / 0.05), where margin is how much more the cheapest
    path putting that fg frame over any *other* bg frame would cost, within the pending rows and from the
    same root. Near 0: a toss-up (static stretch, only the clock's 0.01 per frame decided, about 0.2) or
    nothing to compare against (bg has ended and its last frame is held: exactly 0); ~0.85 and up: content
    decided by a frame-difference-sized margin (0.1). Decisions under 0.5 do not steer the clock.
    """

    def __init__(self, rate: float, start: int, lookahead: int, *, band: int | None = None,
                 max_step: int | None = None, rate_penalty: float = AlignParams.penalty,
                 penalty_cap: float = AlignParams.penalty_cap,
                 confidence_scale: float = AlignParams.confidence_scale, clock: ClockParams = ClockParams()) -> None:
        super().__init__(rate, start, lookahead, band, max_step, rate_penalty, penalty_cap, confidence_scale, clock)
        rows, width = self.lookahead + 1, self.band
        self._cost = np.full((rows, width), np.inf)
        self._acc = np.full((rows, width), np.inf)
        self._togo = np.zeros((rows, width))
        self._back = np.full((rows, width), -1, np.int64)
        self._lo = np.zeros(rows, np.int64)
        self._path = np.zeros(rows, np.int64)
        self._margin = np.zeros(rows)
        self._next = 0  # fg frame the next window() is for
        self._window: tuple[int, int] | None = None
        self._first = 0  # oldest uncommitted fg frame
        self._root = -1  # bg frame of the last committed fg frame (-1: none yet, open begin)
        self._next_lo = self._lo0 = max(0, int(start) - width // 2)
        self._finished = False

    def push(self, fg_index: int, costs: np.ndarray) -> list[Decision]:
        """Take the costs of fg frame fg_index over its window; return the decisions that became final."""
        lo, hi, slot = self._take_row(fg_index, costs)
        commit = fg_index - self._first == self.lookahead
        head = solve(self._cost, self._acc, self._back, self._togo, self._lo, self._first, fg_index,
                                self._root, self.max_step, self._path, self._margin, 1 if commit else 0)
        decisions = []
        if commit:
            decisions.append(self._commit(self._first, int(self._path[0]), float(self._margin[0])))
        # Centre the next band on the head's predicted successor. It never starts above the head, so the
        # head's step-0 successor is always inside: whatever the next root, a finite path continues.
        center = int(math.floor(head + self.clock.rate + 0.5))
        self._next_lo = max(lo, self._root, center - self.band // 2)
        return decisions

    def finish(self) -> list[Decision]:
        """fg has ended: commit every pending frame along the best path to the cheapest cell of the last row."""
        last = self._close()
        return self.settle(last + 1) if last >= self._first else []

    def settle(self, fg_index: int) -> list[Decision]:
        """Commit the pending fg frames before fg_index along the best path to the cheapest cell of the last of
        them: all of them when fg has ended (finish), those before a lost run when lock was lost."""
        if self._window is not None or not self._first <= fg_index <= self._next:
            raise ValueError(f"settle({fg_index}) outside the pending fg frames {self._first}..{self._next - 1}")
        n = fg_index - self._first
        if n == 0:
            return []
        solve(self._cost, self._acc, self._back, self._togo, self._lo, self._first, fg_index - 1, self._root,
              self.max_step, self._path, self._margin, n)
        path, margin = self._path[:n].copy(), self._margin[:n].copy()
        return [self._commit(self._first, int(b), float(m)) for b, m in zip(path, margin, strict=True)]

    def restart(self, fg_index: int, start: int) -> None:
        """Begin again at fg frame fg_index over about bg frame `start` (after settle(fg_index), or before any
        row was pushed: fg's first frames precede bg): the pending rows are dropped, the clock keeps its rate and
        moves to `start`, the path begins anywhere in the new band but never below the last bg frame committed
        (the output stays monotone)."""
        fresh = self._next == self._first <= fg_index
        if self._window is not None or (fg_index != self._first and not fresh):
            raise ValueError(f"restart({fg_index}) must follow settle({fg_index})")
        self._first = fg_index
        floor = max(self._root, 0)
        old = self.clock
        self.clock = ClockLine(old.rate, start - old.rate * fg_index, old.params)
        self.clock.nominal = old.nominal  # the prior and the drift clamp stay the streams' nominal rate
        self._next, self._root = fg_index, -1
        self._next_lo = self._lo0 = max(floor, int(start) - self.band // 2)

    def release_point(self) -> int:
        """Lowest bg frame any future window() or decision can refer to."""
        return self._root if self._root >= 0 else self._lo0

    def _commit(self, fg: int, bg: int, margin: float) -> Decision:
        sure = float(margin_confidence(margin, self.confidence_scale))
        self.clock.add(fg, bg, sure)
        self._root = bg
        self._first = fg + 1
        return Decision(fg, bg, sure)


def dtw_offline(costs: np.ndarray, rate: float, *, max_step: int | None = None, rate_penalty: float = 0.0,
                clock: np.ndarray | None = None, offset: float = 0.0, penalty_cap: float = AlignParams.penalty_cap,
                lo: np.ndarray | None = None) -> np.ndarray:
    """Exact minimiser of the online objective over a whole cost matrix: the bg frame of every fg frame.

    Minimises sum_i C[i, b_i] + rate_penalty * min(|b_i - c_i|, penalty_cap) over monotone paths with
    0 <= b_i - b_{i-1} <= max_step, open begin (b_0 anywhere) and open end (the cheapest cell of the last
    row): the subsequence-DTW form of the Sakoe & Chiba recurrence D[i, b] = C'[i, b] + min_{b-K<=j<=b}
    D[i-1, j], solved by the same kernel as DTWAligner, so ties break the same way.

    Parameters
    ----------
    costs : (n_fg, n_bg) array; +inf where a cell is impossible (past bg's end, outside a band). With `lo`,
        a banded (n_fg, W) array whose row i covers bg frames [lo[i], lo[i] + W).
    rate : nominal bg frames per fg frame; sets the default max_step and the default clock line.
    clock : per-row clock positions c_i; default offset + rate * i. Only used when rate_penalty > 0.
    lo : per-row band start (non-decreasing), for re-solving a narrow band of a longer stream.

    Returns
    -------
    path : int64 array of n_fg bg frame indices.

    References
    ----------
    Sakoe, H. & Chiba, S. (1978). Dynamic programming algorithm optimization for spoken word recognition.
    Dixon, S. (2005). Live tracking of musical performances using on-line time warping. DAFx.
    Müller, M. (2015). Fundamentals of Music Processing, ch. 3 and 7 (subsequence DTW), and the FMP notebooks.
    """
    costs = np.asarray(costs)
    if costs.ndim != 2:
        raise ValueError("costs must be a 2-D array")
    n, width = costs.shape
    if n == 0:
        return np.zeros(0, np.int64)
    k = default_max_step(rate) if max_step is None else int(max_step)
    starts = np.zeros(n, np.int64) if lo is None else np.asarray(lo, np.int64)
    if starts.shape != (n,) or np.any(np.diff(starts) < 0) or (n and starts[0] < 0):
        raise ValueError("lo must hold one non-decreasing, non-negative band start per row")
    centers = offset + rate * np.arange(n) if clock is None else np.asarray(clock, np.float64)
    ring = np.empty((n, width))
    for i in range(n):
        fill_row(ring[i], costs[i], int(starts[i]), float(centers[i]), float(rate_penalty), float(penalty_cap))
    acc = np.empty((n, width))
    back = np.empty((n, width), np.int64)
    path = np.zeros(n, np.int64)
    solve(ring, acc, back, np.empty((n, width)), starts, 0, n - 1, -1, k, path, np.zeros(1), 0)
    return path
