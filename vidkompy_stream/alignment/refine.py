"""Refinement: from the aligner's near-right bg frame to the exactly right one, with pixel evidence.

Fingerprints are ~96x54 thumbnails: where neighbouring bg frames differ only in fine detail (slow
motion, a bg that repeats source frames, dark footage) the coarse path can sit one frame off. The
refiner takes the aligner's committed decisions in segments of `segment` fg frames and, for every fg
frame of a segment, scores the bg frames within +-`radius` of its coarse frame on the crop under fg
at moderate resolution (luma shrunk by an integer factor to about `width` px wide): 1 - zero-mean
normalised correlation, blind to brightness and contrast differences. The monotone path is then
re-solved on that narrow band with the aligner's own rules (`dtw.dtw_offline`: one bg frame per fg frame,
steps of up to K + 2r so a jump the coarse path spread over several frames is taken at once, starting from
the last frame output), with a clock line as a weak pull that decides near-ties and static stretches: it
grows with the distance from the line only up to `penalty_cap` frames (a truncated penalty, robust in the
sense of Huber 1964, "Robust estimation of a location parameter", Ann. Math. Statist. 35), so a bg frame the
pixels show clearly, a few frames off the line after fg dropped frames, costs a row no more than one that is
one frame off (the cadence's clock below keeps the aligner's cap, `AlignParams.penalty_cap`: where bg shows
each source frame 2-3 times, one bg frame is not the unit of a picture). The line has the rate the pixels
measure (`clock.fit_rate`) and the offset at which the recent rows' and the segment's pixel costs, summed
along the line, are least (`clock.evidence_offset`), looked for within `tolerance` of the middle of the refiner's
own recent decisions (`clock.clock_offset`: it follows a dropped or repeated frame) and re-fitted with the
segment's own path until that settles (`passes`); the pull is stronger where those decisions sit on the line
(`clock.clock_pull`). The rate is the nominal one until the pixels show a drift that rows the fit had not seen
bear out (`_rate`), and the line steps by whole fg frames where the segment's rows show a step
(`clock.jump_clock`: fg dropped or repeated frames), so that the pull holds no row on a line the clock has left.
Where fg and bg were both converted from one source at a third frame rate, the clock follows that source's
cadence instead (`cadence`: fitted to where the pixels put each fg frame, refitted every second).
Settings: `RefineParams`. Confidence: 1 - exp(-margin / `confidence_scale`), margin = the cost of the best
other candidate of the row minus the chosen one's (0 when another scored as well).

Everything stays streaming: the refiner reads only shrunk crops the aligner stage still holds (it keeps
bg frames from the last committed one on; the refiner holds back the release point to its oldest
pending candidate), the same shrunk crops the fingerprints are made from.
"""

import collections
import logging
import math
import sys
from collections.abc import Callable
from fractions import Fraction
from typing import Protocol

import numpy as np

from ..decision import Decision, margin_confidence
from ..kernels.similarity import dot, unit
from ..params import REFINE_LEVELS, AlignParams, RefineParams
from .cadence import Cadence, fit_cadence, subframe_minima
from .clock import clock_offset, clock_pull, evidence_offset, fit_rate, jump_clock, predicts_better, row_weights
from .dtw import dtw_offline

log = logging.getLogger(__name__)

#: The settings the command runs with (`--refine fast`).
DEFAULT = REFINE_LEVELS["fast"]


def resolve(costs: np.ndarray, lo: np.ndarray, root: int, max_step: int, rate: float, clock: np.ndarray,
            pull: float = DEFAULT.clock_pull, confidence_scale: float = DEFAULT.confidence_scale,
            penalty_cap: float = DEFAULT.penalty_cap) -> tuple[np.ndarray, np.ndarray]:
    """The monotone path through a banded cost matrix (row i covers bg frames lo[i] + k), starting at or
    after `root` (the last bg frame output; -1: anywhere) by at most max_step, and each row's confidence.

    costs: (n, W) pixel costs, +inf where a bg frame is missing; clock: the aligner's clock position per
    row, pulled towards with `pull` per frame."""
    costs = costs.astype(np.float64, copy=True)
    costs[~np.isfinite(costs).any(axis=1)] = 0.0  # a row with no bg frame to compare: the clock decides
    if root >= 0:  # continue from the last frame output (the band always meets [root, root + max_step])
        frames = lo[0] + np.arange(costs.shape[1])
        allowed = (frames >= root) & (frames <= root + max_step)
        if not np.isfinite(costs[0, allowed]).any():
            costs[0, allowed] = 0.0  # none of the allowed bg frames to compare: the clock decides among them
        costs[0, ~allowed] = np.inf
    path = dtw_offline(costs, rate, max_step=max_step, rate_penalty=pull, clock=clock, lo=lo, penalty_cap=penalty_cap)
    chosen = costs[np.arange(len(path)), path - lo]
    others = costs.copy()
    others[np.arange(len(path)), path - lo] = np.inf
    with np.errstate(invalid="ignore"):  # inf - inf: nothing to compare
        margin = others.min(axis=1) - chosen
    margin = np.where(np.isfinite(margin), margin, 0.0)
    return path, margin_confidence(margin, confidence_scale)


class Clocked(Protocol):
    """What the refiner needs of an aligner: its step limit, lookahead, and clock line."""

    max_step: int
    lookahead: int

    @property
    def rate_estimate(self) -> float: ...

    def expected(self, fg_index: int) -> float: ...

    def steer(self, rate: float, offset: float) -> None: ...


class Refiner:
    """Turns the aligner's decisions into refined ones, a segment at a time (latency: one segment)."""

    def __init__(self, level: RefineParams, aligner: Clocked, fg_small: Callable[[int], np.ndarray],
                 bg_small: Callable[[int], np.ndarray | None], fg_rate: Fraction, bg_rate: Fraction,
                 align: AlignParams = AlignParams()) -> None:
        """fg_small(i), bg_small(j): the crops under fg's picture, shrunk to about level.width px wide, of
        fg frame i and bg frame j (None: bg has no such frame, or no longer holds it); `align`: the clock's
        rate fit and the cadence fit."""
        self.level, self.aligner, self.align = level, aligner, align
        self.fg_rate, self.bg_rate = fg_rate, bg_rate
        self.fg_small, self.bg_small = fg_small, bg_small
        self.report_run = max(2, aligner.lookahead)  # low-confidence runs this long (the lookahead) are logged
        self.pending: list[Decision] = []
        # (fg, bg) of each decision out, and its row's band start and pixel costs
        self.history: collections.deque[tuple[int, int, int, np.ndarray]] = collections.deque(maxlen=level.history)
        self.minima: collections.deque[tuple[int, float, float]] = collections.deque(maxlen=level.slope_history)
        self.cadence: Cadence | None = None
        self.refit_every = max(1, math.ceil(fg_rate))  # fg frames: the cadence is refitted once a second
        self.next_refit = 0
        self.bg_vectors: dict[int, np.ndarray | None] = {}
        self.root = -1  # bg frame of the last decision output
        self.floor = 0  # no decision below this bg frame (the last one output before a restart)
        self.low: list[int] = []  # fg frames of the current low-confidence run
        self.drift_since: int | None = None  # fg frame from which rows are held out to test a drift (`_rate`)
        self.drift_shown = False  # ... and they bore it out

    def release_point(self) -> int:
        """Lowest bg frame a pending or later decision can use: nothing below the last frame output, nor
        below the oldest pending candidate; with neither (nothing output since a start), no bound of its own
        (sys.maxsize): the aligner's decisions to come bound it."""
        points = ([self.root] if self.root >= 0 else []) + [d.bg_frame - self.level.radius for d in self.pending[:1]]
        return max(self.floor, min(points)) if points else sys.maxsize

    def add(self, decisions: list[Decision]) -> list[Decision]:
        """Queue the aligner's decisions; return a refined segment when one is complete."""
        self.pending.extend(decisions)
        if len(self.pending) < self.level.segment:
            return []
        return self.flush()

    def flush(self) -> list[Decision]:
        """Refine and return everything queued."""
        if not self.pending:
            return []
        segment, self.pending = self.pending, []
        r = self.level.radius
        lo = np.maximum(self.floor, np.array([d.bg_frame - r for d in segment], np.int64))
        lo = np.maximum.accumulate(lo)
        width = 2 * r + 1
        costs = np.full((len(segment), width), np.inf)
        for row, d in enumerate(segment):
            fg_vec = unit(self.fg_small(d.fg_frame), self.level.flat_rms)
            for k in range(width):
                bg_vec = self._bg_vector(int(lo[row]) + k)
                if bg_vec is not None:
                    costs[row, k] = 1.0 - float(dot(bg_vec, fg_vec))
        self._follow_cadence(segment, costs, lo)
        path, confidence = self._solve(segment, costs, lo)
        self.history.extend(zip((d.fg_frame for d in segment), path.tolist(), lo.tolist(), costs))
        refined = [Decision(d.fg_frame, int(b), float(c)) for d, b, c in zip(segment, path, confidence)]
        moved = sum(1 for d, b in zip(segment, path) if d.bg_frame != b)
        if moved:
            log.debug("refine: fg frames %d..%d: %d of %d moved by pixel evidence", segment[0].fg_frame,
                      segment[-1].fg_frame, moved, len(segment))
        self.root = refined[-1].bg_frame
        for key in [k for k in self.bg_vectors if k < self.release_point()]:
            del self.bg_vectors[key]
        self._note_confidence(refined)
        return refined

    def _follow_cadence(self, segment: list[Decision], costs: np.ndarray, lo: np.ndarray) -> None:
        """Note where the pixels put the segment's fg frames; refit the cadence once a second."""
        position, weight = subframe_minima(costs, lo)
        self.minima.extend(zip((d.fg_frame for d in segment), position.tolist(), weight.tolist()))
        if segment[-1].fg_frame < self.next_refit:
            return
        self.next_refit = segment[-1].fg_frame + self.refit_every
        fg, position, weight = np.array(list(self.minima)[-self.align.rows:], np.float64).T
        rate = self.aligner.rate_estimate
        weight = row_weights(fg, position, weight, rate, self.aligner.expected(0))
        cadence = fit_cadence(fg, position, weight, rate, self.fg_rate, self.bg_rate, self.align)
        source = cadence.source_rate if cadence else None
        if source != (self.cadence.source_rate if self.cadence else None):
            log.info("refine: from fg frame %d, %s", segment[-1].fg_frame + 1,
                     f"fg and bg look converted from one {float(source):.6g} fps source: the clock follows its "
                     "cadence" if source else "the clock is a straight line again")
        self.cadence = cadence

    def _solve(self, segment: list[Decision], costs: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Path and confidence of a segment: on the cadence's clock if there is one, else on the line the
        pixel costs favour (`evidence_offset`) near one through the history and the path (`passes`)."""
        p = self.level
        fg = np.array([d.fg_frame for d in segment], np.float64)
        max_step = self.aligner.max_step + 2 * p.radius
        if self.cadence is not None:
            return resolve(costs, lo, self.root, max_step, self.aligner.rate_estimate, self.cadence.clock(fg),
                           p.clock_pull, p.confidence_scale, self.align.penalty_cap)
        rate = self.aligner.rate_estimate
        recent = np.array([h[:2] for h in self.history], np.float64).reshape(-1, 2)
        offset = clock_offset(recent[:, 0], recent[:, 1], rate, p)
        if offset is None:
            guess = float(np.mean([self.aligner.expected(d.fg_frame) for d in segment]) - rate * fg.mean())
            offset, pull = evidence_offset(fg, lo, costs, rate, guess, p.tolerance), p.clock_pull
        else:
            rate = self._rate(rate, offset, segment[0].fg_frame)
            offset = clock_offset(recent[:, 0], recent[:, 1], rate, p)
            pull = clock_pull(recent[:, 0], recent[:, 1], rate, offset, p)
            offset = self._line(recent, fg, lo, costs, rate, offset)
            self.aligner.steer(rate, offset)
        clock = self._clock(recent, fg, lo, costs, rate, offset)
        path, confidence = resolve(costs, lo, self.root, max_step, rate, clock, pull, p.confidence_scale, p.penalty_cap)
        for _ in range(p.passes - 1):
            guess = clock_offset(np.r_[recent[:, 0], fg], np.r_[recent[:, 1], path], rate, p)
            if guess is None:
                break
            offset = self._line(recent, fg, lo, costs, rate, guess)
            again, confidence_again = resolve(costs, lo, self.root, max_step, rate,
                                              self._clock(recent, fg, lo, costs, rate, offset), pull,
                                              p.confidence_scale, p.penalty_cap)
            if np.array_equal(again, path):
                break
            path, confidence = again, confidence_again
        return path, confidence

    def _line(self, recent: np.ndarray, fg: np.ndarray, lo: np.ndarray, costs: np.ndarray, rate: float,
              guess: float) -> float:
        """`evidence_offset` over the segment's rows and those of the recent decisions (`recent`: fg, bg)
        within `tolerance` of the line through `guess`."""
        rows_fg, rows_lo, rows = self._rows(recent, fg, lo, costs, rate, guess)
        return evidence_offset(rows_fg, rows_lo, rows, rate, guess, self.level.tolerance)

    def _clock(self, recent: np.ndarray, fg: np.ndarray, lo: np.ndarray, costs: np.ndarray, rate: float,
               offset: float) -> np.ndarray:
        """The segment's clock positions: `jump_clock` over the recent decisions' rows near the line and the
        segment's."""
        rows_fg, rows_lo, rows = self._rows(recent, fg, lo, costs, rate, offset)
        return jump_clock(rows_fg, rows_lo, rows, rate, offset, len(rows_fg) - len(fg), self.level)

    def _rows(self, recent: np.ndarray, fg: np.ndarray, lo: np.ndarray, costs: np.ndarray, rate: float,
              offset: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """fg frames, band starts and pixel costs of the recent decisions' rows within `tolerance` of the line
        through `offset`, then the segment's."""
        kept = np.abs(recent[:, 1] - rate * recent[:, 0] - offset) <= self.level.tolerance
        row_lo = np.array([h[2] for h in self.history], np.float64)[kept]
        row_costs = [h[3] for h, k in zip(self.history, kept) if k]
        return np.r_[recent[kept, 0], fg], np.r_[row_lo, lo], np.vstack(row_costs + [costs])

    def restart(self) -> None:
        """Begin a new stretch after the aligner lost bg and found it again: the clock, its evidence and the
        cadence are forgotten, and the next segment starts anywhere at or after the last bg frame output."""
        if self.pending:
            raise ValueError("restart() with decisions pending: flush() them first")
        self.floor, self.root = max(self.root, 0), -1
        self.history.clear()
        self.minima.clear()
        self.cadence, self.next_refit = None, 0
        self.drift_since, self.drift_shown = None, False

    def _rate(self, rate: float, offset: float, first: int) -> float:
        """The clock's rate, from where the pixels put the fg frames near the line bg = offset + rate * fg: the
        nominal rate until they show a drift (one taken from fewer rows is dropped when more rows show none).
        Rows from the segment after the one whose fit first showed the drift (`drift_since`) on are held out:
        the drift is followed once they bear out the rows before them (`clock.predicts_better`), and for as
        long as all the rows show it. `first`: the current segment's first fg frame."""
        fg, position, weight = np.array(self.minima, np.float64).reshape(-1, 3).T
        nominal = float(self.bg_rate / self.fg_rate)
        params = self.align.rate
        measured = fit_rate(fg, position, weight, rate, offset, nominal, params)
        if not measured.drifts(nominal, params.significance):
            self.drift_since, self.drift_shown = None, False
        elif self.drift_since is None:
            self.drift_since = first + self.level.segment
        elif not self.drift_shown:
            new = fg >= self.drift_since
            earlier = fit_rate(fg[~new], position[~new], weight[~new], rate, offset, nominal, params)
            if earlier.drifts(nominal, params.significance):
                v = row_weights(fg, position, weight, earlier.value, earlier.offset, params.tolerance)
                self.drift_shown = predicts_better(fg, position, v, new, earlier, nominal, params)
        return measured.value if self.drift_shown else nominal

    def finish(self) -> list[Decision]:
        refined = self.flush()
        self._report_low(None)
        return refined

    def _bg_vector(self, index: int) -> np.ndarray | None:
        if index not in self.bg_vectors:
            small = self.bg_small(index)
            self.bg_vectors[index] = None if small is None else unit(small, self.level.flat_rms)
        return self.bg_vectors[index]

    def _note_confidence(self, refined: list[Decision]) -> None:
        for d in refined:
            if d.confidence is not None and d.confidence < self.level.low_confidence:
                self.low.append(d.fg_frame)
            else:
                self._report_low(d.fg_frame)

    def _report_low(self, until: int | None) -> None:
        if len(self.low) >= self.report_run:
            log.debug("low confidence: fg frames %d..%d (static picture, near-identical bg frames, or bg ended)",
                      self.low[0], self.low[-1])
        self.low = []
