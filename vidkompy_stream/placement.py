"""Finding fg inside bg while both stream: the streaming layer over `spatial`.

fg usually starts seconds after bg, so its first frame is somewhere in bg's first `--search-seconds`,
and every bg frame from that point on must still be shown, at full resolution. So the search cannot
read the horizon first and decide later (20 s of 1080p is 1.8 GB). Instead:

1. Templates: fg frames spread over fg's first second (past any flat opening) are held in the fg ring
   (they are output later); `spatial.make_templates` drops flat and duplicate ones. Areas of fg's picture
   that stay dark and still over them (`spatial.content_mask`: black corners, a vignette, a black inset
   that bg need not show) are filled with the picture's mean, so every correlation leaves them out.
2. Tracking: every TRACK_FPS-th of a second, a bg frame is shrunk to ~240 px wide and scored against
   up to TRACK_TEMPLATES of the templates (`spatial.coarse_peak`). The best score dates fg frame 0 in
   bg (bg frame of the match minus the template's fg time); it is a candidate once a majority of the
   tracked templates score at least the minimum score on its stretch.
3. Settling: once bg has been read past the candidate's date by the templates' span (all templates'
   matches must lie within it) plus a few frames, the stretch's frames are shrunk (those not shrunk
   yet) and `spatial.locate_small` runs over them with all templates, with the full-resolution frames
   the ring still holds, and checks the result: score, detail, agreement, and templates matching in
   fg's order (`Placement.order`). Found: done. Not: the candidate is struck and tracking goes on.
4. Memory: the bg ring keeps only the frames a candidate may still need (the span plus margins), and
   the shrunk copies of those. What is read before the found start is dropped, what comes after it is
   shown.
"""

import dataclasses
import logging
import math
import time
from fractions import Fraction

import numpy as np

from .errors import VidkompyError
from .framering import FrameRing
from .spatial import (
    MIN_DETAIL,
    MIN_SCORE,
    Placement,
    Template,
    choose_factor,
    coarse_peak,
    content_mask,
    fill_masked,
    locate_small,
    make_templates,
    shrink,
    verify,
)
from .timing import nearest_bg_frame, offset_from_pairs
from .y4m import Y4MFormat

log = logging.getLogger(__name__)

#: Templates taken from fg's first TEMPLATE_SECONDS of picture, at most TEMPLATES of them.
TEMPLATES = 6
TEMPLATE_SECONDS = Fraction(1)
#: fg frames held while its opening is flat (black, a fade) before giving up on finding a picture.
MAX_FLAT_SECONDS = 5
#: bg frames scored against the templates per second of bg while tracking, and templates tracked.
TRACK_FPS = 10
TRACK_TEMPLATES = 3
#: Minimum `Placement.order` of an accepted placement (measured: >= 0.999 found, 0.44 for a stretch
#: replaying fg's pictures backwards).
MIN_ORDER = 0.9
#: Extra bg frames read past a candidate's stretch before it is settled.
SETTLE = 2


@dataclasses.dataclass(frozen=True)
class Found:
    """Where fg goes and when it starts: the placement, and bg time minus fg time at its seed pair."""

    placement: Placement
    offset: Fraction
    start: int  # bg frame nearest fg frame 0 by that offset
    bg_frames_read: int
    seconds: float  # wall time from the first template read to the answer (reading included)
    work: float  # of which shrinking, matching and settling


def fg_ring_capacity(fg: Y4MFormat) -> int:
    """fg frames the search may hold: the flat opening allowance plus the template span."""
    return math.ceil((MAX_FLAT_SECONDS + TEMPLATE_SECONDS) * fg.rate) + 1


def _luma(fmt: Y4MFormat, frame: np.ndarray) -> np.ndarray:
    return fmt.plane_views(frame)[0]


class PlacementSearch:
    """One search: `take_templates` on the fg ring, then `scan` a bg ring of `bg_window` frames."""

    def __init__(self, fg: Y4MFormat, bg: Y4MFormat, search_seconds: Fraction, force: bool) -> None:
        self.fg, self.bg = fg, bg
        self.horizon = max(1, math.ceil(search_seconds * bg.rate))
        self.min_score, self.min_detail = (0.0, 0.0) if force else (MIN_SCORE, MIN_DETAIL)
        self.factor = choose_factor(bg.width, fg.width, fg.height)
        self.small_w, self.small_h = bg.width // self.factor, bg.height // self.factor
        self.rate = bg.rate / fg.rate  # bg frames per fg frame
        self.stride = max(1, round(bg.rate / TRACK_FPS))
        self.templates: list[Template] = []
        self.fg_frames: list[np.ndarray] = []
        self.fg_indices: list[int] = []
        self.span = 0  # bg frames between fg frame 0 and the last template
        self.started = 0.0
        self.work = 0.0

    def take_templates(self, ring: FrameRing) -> None:
        """Read fg until TEMPLATES frames spread over a second of picture are held, and prepare them.

        Flat opening frames (black, a fade) are read and held (they are output later) but not used."""
        self.started = time.monotonic()
        every = max(1, round(TEMPLATE_SECONDS * self.fg.rate / TEMPLATES))
        flat_limit = math.ceil(MAX_FLAT_SECONDS * self.fg.rate)
        picks: list[int] = []
        i = 0
        while len(picks) < TEMPLATES and (picks or i <= flat_limit) and ring.fill_to(i):
            if (picks and (i - picks[0]) % every == 0) or (not picks and self._has_picture(ring, i)):
                picks.append(i)
            i += 1
        if ring.end == 0:
            raise VidkompyError("fg has no frames")
        tick = time.monotonic()
        frames = [_luma(self.fg, ring.frame(k)) for k in picks]
        mask = content_mask(frames)
        if mask is not None:
            log.info("spatial search: %.0f%% of fg's picture stays dark and still: matching the rest",
                     100 * (1 - mask.mean()))
            frames = [fill_masked(frame, mask) for frame in frames]
        self.templates = make_templates(frames, picks, self.factor, self.small_w, self.small_h)
        self.work += time.monotonic() - tick
        if not self.templates:
            raise VidkompyError(
                f"fg's first {ring.end / float(self.fg.rate):.1f} s are nearly uniform (black, a fade or flat): "
                "nothing to find in bg; give --x/--y"
            )
        self.fg_indices = [tpl.fg_index for tpl in self.templates]
        self.fg_frames = [frames[picks.index(k)] for k in self.fg_indices]
        self.span = math.ceil(max(self.fg_indices) * self.rate)
        log.debug("spatial search: %d templates from fg frames %s, bg shrunk by %d to %dx%d, horizon %d bg frames",
                  len(self.templates), self.fg_indices, self.factor, self.small_w, self.small_h, self.horizon)

    def _has_picture(self, ring: FrameRing, index: int) -> bool:
        tick = time.monotonic()
        usable = make_templates([_luma(self.fg, ring.frame(index))], [index], self.factor, self.small_w, self.small_h)
        self.work += time.monotonic() - tick
        return bool(usable)

    @property
    def bg_window(self) -> int:
        """bg frames the ring must hold: a candidate's stretch and the margins on both sides of it."""
        return self.span + 2 * (self.stride + SETTLE) + 2

    def scan(self, ring: FrameRing) -> Found:
        """Read bg (into `ring`, of at least `bg_window` frames) until fg is found; raise if it is not."""
        window = self.bg_window
        if ring.capacity < window:
            raise ValueError(f"bg ring holds {ring.capacity} frames, the search needs {window}")
        smalls = np.empty((window, self.small_h, self.small_w), np.uint8)
        shrunk = np.full(window, -1, np.int64)  # bg frame whose small copy a slot holds
        tracked = self.templates[:: max(1, math.ceil(len(self.templates) / TRACK_TEMPLATES))]
        scores = np.full((window, len(tracked)), -np.inf, np.float32)
        struck = -1  # candidates at or before this bg frame failed to settle
        resume = 0  # no settle before this bg frame
        best_failure: Placement | None = None
        j = 0
        while j < self.horizon:
            ring.release_before(j - window + 1)
            if not ring.fill_to(j):
                break
            tick = time.monotonic()
            scores[j % window] = -np.inf
            if j % self.stride == self.stride // 2:
                small = self._small(ring, smalls, shrunk, j)
                scores[j % window] = [coarse_peak(small, tpl)[0] for tpl in tracked]
            candidate = self._candidate(scores, tracked, max(struck + 1, j - window + 1), j, window)
            if candidate is not None and j >= max(resume, candidate + self.span + self.stride + SETTLE):
                found = self._settle(ring, smalls, shrunk, candidate, j, window)
                if self._accepted(found):
                    self.work += time.monotonic() - tick
                    return self._found(found, ring)
                best_failure = max(best_failure or found, found, key=lambda p: (p.detail, p.score))
                # the next settle's stretch overlaps this one by the template span
                struck = max(candidate, j - self.span - self.stride - SETTLE)
                resume = j + window - self.span - 1
            self.work += time.monotonic() - tick
            j += 1
        last = min(j, ring.end) - 1
        if last < 0:
            raise VidkompyError("bg has no frames")
        candidate = self._candidate(scores, tracked, max(struck + 1, last - window + 1), last, window)
        if candidate is not None:
            tick = time.monotonic()
            found = self._settle(ring, smalls, shrunk, candidate, last, window)
            self.work += time.monotonic() - tick
            if self._accepted(found):
                return self._found(found, ring)
            best_failure = max(best_failure or found, found, key=lambda p: (p.detail, p.score))
        raise self._not_found(best_failure, last, float(scores.max()))

    def _small(self, ring: FrameRing, smalls: np.ndarray, shrunk: np.ndarray, index: int) -> np.ndarray:
        """The shrunk copy of held bg frame `index`, made on first use."""
        slot = index % len(shrunk)
        if shrunk[slot] != index:
            smalls[slot] = shrink(_luma(self.bg, ring.frame(index)), self.factor)
            shrunk[slot] = index
        return smalls[slot]

    def _candidate(self, scores: np.ndarray, tracked: list[Template], lo: int, hi: int, window: int) -> int | None:
        """The date (estimated bg frame of fg frame 0) of the best tracked score among bg frames
        [lo, hi], if a majority of the tracked templates score well enough to pass on that stretch (a
        coarse score is no lower than the full-resolution one it would settle to)."""
        if hi < lo:
            return None
        frames = np.arange(lo, hi + 1)
        block = scores[frames % window]
        pos, t = np.unravel_index(int(np.argmax(block)), block.shape)
        if not np.isfinite(block[pos, t]) or block[pos, t] < self.min_score:
            return None
        date = int(frames[pos]) - math.floor(tracked[t].fg_index * self.rate)
        near = (frames >= date - self.stride) & (frames <= date + self.span + self.stride)
        support = int((block[near].max(axis=0) >= self.min_score).sum())
        return date if 2 * support > len(tracked) else None

    def _settle(self, ring: FrameRing, smalls: np.ndarray, shrunk: np.ndarray, date: int, newest: int,
                window: int) -> Placement:
        """locate_small over the bg frames from a little before `date` to `newest`, unchecked."""
        lo = max(ring.start, newest - window + 1, date - self.stride - SETTLE)
        indices = list(range(lo, newest + 1))

        def full(index: int) -> np.ndarray | None:
            return _luma(self.bg, ring.frame(index)) if ring.start <= index < ring.end else None

        small = [self._small(ring, smalls, shrunk, i) for i in indices]
        found = locate_small(self.fg_frames, self.fg_indices, small, indices, full, factor=self.factor,
                             rate=float(self.rate), min_score=0.0)
        log.debug("spatial search: bg %d..%d: x=%d y=%d score %.3f detail %.3f (%d/%d templates agree), in order "
                  "%.3f", lo, newest, found.x, found.y, found.score, found.detail, found.agreeing, found.templates,
                  found.order)
        return found

    def _not_found(self, best: Placement | None, last: int, coarse: float) -> VidkompyError:
        where = f"searched bg's first {(last + 1) / float(self.bg.rate):.1f} s; --search-seconds for more"
        if best is None:
            return VidkompyError(
                f"fg not found in bg (best coarse match {max(coarse, 0.0):.2f}, need {self.min_score:.2f}; "
                f"check the inputs, give --x/--y, or --force) [{where}]"
            )
        try:
            verify(best, self.min_score, self.min_detail)
        except VidkompyError as exc:
            return VidkompyError(f"{exc} [{where}]")
        return VidkompyError(f"fg not found in bg: its frames match out of order at x={best.x},y={best.y} [{where}]")

    def _accepted(self, found: Placement) -> bool:
        """Found, and on one timeline (else the seed would be a wrong time: keep looking)."""
        try:
            verify(found, self.min_score, self.min_detail)
        except VidkompyError:
            return False
        return self.min_score <= 0 or found.order >= MIN_ORDER

    def _found(self, placement: Placement, ring: FrameRing) -> Found:
        offset = offset_from_pairs(placement.pairs, self.fg.rate, self.bg.rate)
        start = max(0, nearest_bg_frame(0, self.fg.rate, self.bg.rate, offset))
        return Found(placement, offset, start, ring.end, time.monotonic() - self.started, self.work)
