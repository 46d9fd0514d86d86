"""Refinement: from the aligner's near-right bg frame to the exactly right one, with pixel evidence.

Fingerprints are ~96x54 thumbnails: where neighbouring bg frames differ only in fine detail (slow
motion, a bg that repeats source frames, dark footage) the coarse path can sit one frame off. The
refiner takes the aligner's committed decisions in segments of `segment` fg frames and, for every fg
frame of a segment, scores the bg frames within +-`radius` of its coarse frame on the crop under fg
at moderate resolution (luma shrunk by an integer factor to about `width` px wide): 1 - zero-mean
normalised correlation, blind to brightness and contrast differences. The monotone path is then
re-solved on that narrow band with the aligner's own rules (`dtw.dtw_offline`: one bg frame per fg
frame, 0..K steps, starting from the last frame output), with the aligner's clock line (shifted to
where confident pixel decisions sit) as a weak pull that decides near-ties and static stretches. Confidence: 1 - exp(-margin / CONFIDENCE_SCALE), margin = the
cost of the best other candidate of the row minus the chosen one's (0 when another scored as well).

Everything stays streaming: the refiner reads only shrunk crops the aligner stage still holds (it keeps
bg frames from the last committed one on; the refiner holds back the release point to its oldest
pending candidate), the same shrunk crops the fingerprints are made from.
"""

import collections
import dataclasses
import logging
from collections.abc import Callable
from typing import Protocol

import numpy as np

from .dtw import dtw_offline
from .mapping import Decision

log = logging.getLogger(__name__)

#: Pixel-cost margin at which confidence reaches 1 - 1/e.
CONFIDENCE_SCALE = 0.01
#: Pull to the clock line per bg frame off it, in pixel-cost units. Measured (fraction of fg frames whose
#: best candidate within +-3 of the truth is right, luma at ~240 px, clock = a line fitted to the truth):
#: 0 gives 84-86 % on clips with runs of near-duplicate frames (the clock must decide those), 0.005
#: gives >= 99.1 % on all 20 scenarios but letterbox (97 %, before fg's bars were left out), 0.02
#: drops static and dropped-frame clips to 71-79 % (the clock outvotes real differences).
CLOCK_PULL = 0.005
#: The refiner's clock is the aligner's shifted by the median offset of its last RESIDUALS decisions
#: with confidence >= SURE from it: the aligner's clock sits near the nearest-timestamp frame, but where
#: bg repeats source frames, the pixels' choice lies up to a frame before that; ties then follow them.
RESIDUALS = 50
SURE = 0.5
#: Confidence below which a run of frames is reported with -v.
LOW_CONFIDENCE = 0.3


@dataclasses.dataclass(frozen=True)
class Level:
    """A --refine setting: the crop's target width, the candidate radius, the segment length."""

    width: int
    radius: int
    segment: int


LEVELS = {"fast": Level(width=240, radius=2, segment=12), "full": Level(width=480, radius=3, segment=12)}


def unit(small: np.ndarray) -> np.ndarray:
    """A luma patch as a zero-mean, unit-norm float32 vector (zeros when it is flat)."""
    v = small.astype(np.float32).ravel()
    v -= v.mean()
    norm = float(np.sqrt(v @ v))
    return v / norm if norm > 1e-3 else np.zeros_like(v)


def resolve(costs: np.ndarray, lo: np.ndarray, root: int, max_step: int, rate: float,
            clock: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The monotone path through a banded cost matrix (row i covers bg frames lo[i] + k), starting at or
    after `root` (the last bg frame output; -1: anywhere) by at most max_step, and each row's confidence.

    costs: (n, W) pixel costs, +inf where a bg frame is missing; clock: the aligner's clock position per
    row, pulled towards with CLOCK_PULL per frame."""
    costs = costs.astype(np.float64, copy=True)
    costs[~np.isfinite(costs).any(axis=1)] = 0.0  # a row with no bg frame to compare: the clock decides
    if root >= 0:  # continue from the last frame output (the band always meets [root, root + max_step])
        frames = lo[0] + np.arange(costs.shape[1])
        allowed = (frames >= root) & (frames <= root + max_step)
        if not np.isfinite(costs[0, allowed]).any():
            costs[0, allowed] = 0.0  # none of the allowed bg frames to compare: the clock decides among them
        costs[0, ~allowed] = np.inf
    path = dtw_offline(costs, rate, max_step=max_step, rate_penalty=CLOCK_PULL, clock=clock, lo=lo)
    chosen = costs[np.arange(len(path)), path - lo]
    others = costs.copy()
    others[np.arange(len(path)), path - lo] = np.inf
    with np.errstate(invalid="ignore"):  # inf - inf: nothing to compare
        margin = others.min(axis=1) - chosen
    margin = np.where(np.isfinite(margin), margin, 0.0)
    confidence = 1.0 - np.exp(-np.maximum(margin, 0.0) / CONFIDENCE_SCALE)
    return path, confidence


class Clocked(Protocol):
    """What the refiner needs of an aligner: its step limit, lookahead, and clock line."""

    max_step: int
    lookahead: int

    @property
    def rate_estimate(self) -> float: ...

    def expected(self, fg_index: int) -> float: ...


class Refiner:
    """Turns the aligner's decisions into refined ones, a segment at a time (latency: one segment)."""

    def __init__(self, level: Level, aligner: Clocked, fg_small: Callable[[int], np.ndarray],
                 bg_small: Callable[[int], np.ndarray | None]) -> None:
        """fg_small(i), bg_small(j): the crops under fg's picture, shrunk to about level.width px wide, of
        fg frame i and bg frame j (None: bg has no such frame, or no longer holds it)."""
        self.level, self.aligner = level, aligner
        self.fg_small, self.bg_small = fg_small, bg_small
        self.report_run = max(2, aligner.lookahead)  # low-confidence runs this long (the lookahead) are logged
        self.pending: list[Decision] = []
        self.residuals: collections.deque[float] = collections.deque(maxlen=RESIDUALS)
        self.bg_vectors: dict[int, np.ndarray | None] = {}
        self.root = -1  # bg frame of the last decision output
        self.low: list[int] = []  # fg frames of the current low-confidence run
        self.low_frames = 0

    def release_point(self) -> int:
        """Lowest bg frame a pending or later decision can use: nothing below the last frame output, nor
        below the oldest pending candidate."""
        points = ([self.root] if self.root >= 0 else []) + [d.bg_frame - self.level.radius for d in self.pending[:1]]
        return max(0, min(points)) if points else 0

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
        lo = np.maximum(0, np.array([d.bg_frame - r for d in segment], np.int64))
        lo = np.maximum.accumulate(lo)
        width = 2 * r + 1
        costs = np.full((len(segment), width), np.inf)
        for row, d in enumerate(segment):
            fg_vec = unit(self.fg_small(d.fg_frame))
            for k in range(width):
                bg_vec = self._bg_vector(int(lo[row]) + k)
                if bg_vec is not None:
                    costs[row, k] = 1.0 - float(bg_vec @ fg_vec)
        clock = np.array([self.aligner.expected(d.fg_frame) for d in segment])
        shift = float(np.median(self.residuals)) if self.residuals else 0.0
        path, confidence = resolve(costs, lo, self.root, self.aligner.max_step, self.aligner.rate_estimate,
                                   clock + shift)
        sure = confidence >= SURE
        self.residuals.extend((path - clock)[sure].tolist())
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

    def finish(self) -> list[Decision]:
        refined = self.flush()
        self._report_low(None)
        if self.low_frames:
            log.info("%d fg frames aligned with low confidence (< %.1f; see --map-out)", self.low_frames,
                     LOW_CONFIDENCE)
        return refined

    def _bg_vector(self, index: int) -> np.ndarray | None:
        if index not in self.bg_vectors:
            small = self.bg_small(index)
            self.bg_vectors[index] = None if small is None else unit(small)
        return self.bg_vectors[index]

    def _note_confidence(self, refined: list[Decision]) -> None:
        for d in refined:
            if d.confidence is not None and d.confidence < LOW_CONFIDENCE:
                self.low.append(d.fg_frame)
                self.low_frames += 1
            else:
                self._report_low(d.fg_frame)

    def _report_low(self, until: int | None) -> None:
        if len(self.low) >= self.report_run:
            log.debug("low confidence: fg frames %d..%d (static picture, near-identical bg frames, or bg ended)",
                      self.low[0], self.low[-1])
        self.low = []
