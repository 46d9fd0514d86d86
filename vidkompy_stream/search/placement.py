"""Finding fg inside bg while both stream: the streaming layer over `spatial`.

fg usually starts seconds after bg, so its first frame is somewhere in bg's first `--search-seconds`,
and every bg frame from that point on must still be shown, at full resolution. So the search cannot
read the horizon first and decide later (20 s of 1080p is 1.8 GB). Instead:

1. Templates: fg frames spread over fg's first second (past any flat opening) are held in the fg ring
   (they are output later); `spatial.make_templates` drops flat and duplicate ones. Areas of fg's picture
   that stay dark and still over them (`spatial.content_mask`: black corners, a vignette, a black inset
   that bg need not show) are filled with the picture's mean, so every correlation leaves them out.
2. Tracking: every `track_fps`-th of a second, a bg frame is shrunk to ~240 px wide and scored against
   up to `track_templates` of the templates (`spatial.coarse_peak`; a flat frame is not scored, as the
   settle skips it: a dim opening's faint shading, normalised, may match fg). The best score dates fg frame 0 in
   bg (bg frame of the match minus the template's fg time); it is a candidate once a majority of the
   tracked templates score at least the minimum score on its stretch.
3. Settling: once bg has been read past the candidate's date by the templates' span (all templates'
   matches must lie within it) plus a few frames, the stretch's frames are shrunk (those not shrunk
   yet) and `spatial.locate_small` runs over them with all templates, with the full-resolution frames
   the ring still holds, and checks the result: score, detail, agreement, and templates matching in
   fg's order (`Placement.order`). Found: done. Not: the candidate is struck and tracking goes on.
4. Rivals (`whole`, a bg file): a found placement does not end the search. Each becomes a
   `rivals.Rival`, judged on fg frames of the next `verify_seconds` against the bg frames read after it,
   tracking goes on to the horizon's end, and the rival that fits best wins (a still opening, a pan over a
   still scene or a replay fits at several places and times; fg's next seconds tell which is fg's).
   The caller then reads bg again up to the winner. A pipe is taken at the first placement found.
5. Memory: the bg ring keeps only the frames a candidate may still need (the span plus margins), and
   the shrunk copies of those. What is read before the found start is dropped, what comes after it is
   shown.
6. Scale (`--scale auto`): the templates are made at each of `auto_scales` and all are tracked; the first
   candidate that settles fixes the scale, refined to the pixel of fg's width on its seed pairs
   (`spatial.refine_scale`); tracking then goes on at that scale alone (from the bg frames held) and its
   placement must pass higher thresholds (AUTO_MIN_*), else every scale is tracked again.
"""

import dataclasses
import logging
import math
import time
from collections.abc import Sequence
from fractions import Fraction

import cv2
import numpy as np

from ..alignment.timing import nearest_bg_frame, offset_from_pairs
from ..errors import NotFound, VidkompyError
from ..io.framering import FrameRing
from ..io.scaling import scaled_format
from ..io.y4m import Y4MFormat
from ..kernels.similarity import unit
from ..params import SearchParams
from .rivals import Rival, catch_up, make_rival, prune, summed, winner
from .spatial import (
    Placement,
    Template,
    choose_factor,
    coarse_peak,
    content_box,
    content_mask,
    fill_masked,
    is_flat,
    locate_templates,
    make_templates,
    refine_scale,
    shrink,
    verify,
)

log = logging.getLogger(__name__)

#: The settings the command runs with.
DEFAULT = SearchParams()

@dataclasses.dataclass(frozen=True)
class Found:
    """Where fg goes and when it starts: the placement, and bg time minus fg time at its seed pair."""

    placement: Placement
    offset: Fraction
    start: int  # bg frame nearest fg frame 0 by that offset
    bg_frames_read: int
    seconds: float  # wall time from the first template read to the answer (reading included)
    work: float  # of which shrinking, matching and settling
    scale: Fraction = Fraction(1)  # fg's width in bg over its own; the placement is of fg at this scale


def fg_ring_capacity(fg: Y4MFormat, params: SearchParams = DEFAULT) -> int:
    """fg frames the search may hold: the flat opening allowance plus the template span."""
    return math.ceil((params.max_flat_seconds + params.template_seconds) * fg.rate) + 1


def _luma(fmt: Y4MFormat, frame: np.ndarray) -> np.ndarray:
    return fmt.plane_views(frame)[0]


def outclassed(found: Placement, struck: Placement | None, params: SearchParams = DEFAULT) -> bool:
    """Whether a placement is much weaker (`outclassed`) than one struck only because too few templates agreed
    or they matched out of order, at another place (farther than `outclassed_px`): fg's pictures were seen
    there (replayed, or cut short by bg's start), so a weak fit elsewhere is a look-alike; the search goes on
    for them whole and in order."""
    return (struck is not None and struck.score - found.score > params.outclassed
            and max(abs(struck.x - found.x), abs(struck.y - found.y)) > params.outclassed_px)


def _resized(luma: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return luma if luma.shape[::-1] == size else cv2.resize(luma, size, interpolation=cv2.INTER_AREA)


@dataclasses.dataclass
class _Scaled:
    """One candidate scale's templates, and the luma of their fg frames at that scale."""

    scale: Fraction
    size: tuple[int, int]  # fg's width and height at this scale
    templates: list[Template]
    fg_frames: list[np.ndarray]
    tracked: list[Template]  # the templates scored on every tracked bg frame
    columns: slice  # their columns in the tracking scores (`PlacementSearch._rescore`)
    settled: list[Template] | None = None  # the templates a settle matches (made from fg_frames at the first)
    peaks: dict[tuple[int, int], tuple[float, int, int]] = dataclasses.field(default_factory=dict)  # theirs so far


class PlacementSearch:
    """One search: `take_templates` on the fg ring, then `scan` a bg ring of `bg_window` frames."""

    def __init__(self, fg: Y4MFormat, bg: Y4MFormat, search_seconds: Fraction, force: bool,
                 scales: Sequence[Fraction] = (Fraction(1),), whole: bool = False,
                 params: SearchParams = DEFAULT) -> None:
        """scales: fg's candidate widths in bg over its own (1: as it is); those leaving fg larger than bg are
        dropped. With more than one, the best is refined to the pixel. whole: read the whole
        horizon and take the placement that fits fg's next seconds best (`rivals.winner`), not the first;
        its start may then lie before the frames the ring still holds (the caller reads bg again)."""
        self.fg, self.bg, self.params = fg, bg, params
        self.whole = whole
        self.rivals: list[Rival] = []  # the placements accepted so far (whole horizon), in bg order
        self.fg_ring: FrameRing | None = None  # fg's frames, for the rivals' probes
        self.probe_frames: list[int] = []  # fg frames probed
        self.probe_cache: dict[tuple[Fraction, tuple[int, int, int, int]], list[np.ndarray]] = {}  # `_probes`
        self.mask: np.ndarray | None = None  # fg's pixels compared (the templates' mask), None: all
        self.horizon = max(1, math.ceil(search_seconds * bg.rate))
        self.min_score, self.min_detail = (0.0, 0.0) if force else (self.params.min_score, self.params.min_detail)
        sizes = {scale: self._size(scale) for scale in scales}
        # one scale: fg's picture (its flat bars cropped) must fit in bg, which make_templates checks
        self.sizes = {scale: size for scale, size in sizes.items()
                      if len(sizes) == 1 or (size[0] <= bg.width and size[1] <= bg.height)}
        if not self.sizes:
            raise VidkompyError(f"fg {fg.size_text} is larger than bg {bg.size_text} at every scale tried")
        self.factor = choose_factor(bg.width, *min(self.sizes.values()), params)
        self.small_w, self.small_h = bg.width // self.factor, bg.height // self.factor
        self.rate = bg.rate / fg.rate  # bg frames per fg frame
        self.stride = max(1, round(bg.rate / self.params.track_fps))
        self.scaled: list[_Scaled] = []
        self.measuring = len(self.sizes) > 1 or next(iter(self.sizes)) != 1  # the scale is to be measured
        self.measured = False  # searching at a measured scale (`_measure`)
        self.candidates: list[_Scaled] = []  # every scale's templates, while one is measured
        self.originals: dict[int, np.ndarray] = {}  # fg luma of the picked frames as they are, by fg index
        self.partial: Placement | None = None  # the best placement struck for agreement or order alone
        self.failure: Placement | None = None  # the best placement settled and not accepted (`_reject`)
        self.span = 0  # bg frames between fg frame 0 and the last template
        self.started = 0.0
        self.work = 0.0

    def take_templates(self, ring: FrameRing, first: int = 0) -> None:
        """Read fg until `templates` frames spread over a second of picture from fg frame `first` on are held,
        and prepare them (fg frames before `first` are read and dropped: a search for fg that started before
        bg, on a reopened fg).

        Flat opening frames (black, a fade) are read and held (they are output later) but not used."""
        self.started = time.monotonic()
        every = max(1, round(self.params.template_seconds * self.fg.rate / self.params.templates))
        flat_limit = first + math.ceil(self.params.max_flat_seconds * self.fg.rate)
        picks: list[int] = []
        ring.release_before(first)
        i = first
        while len(picks) < self.params.templates and (picks or i <= flat_limit) and ring.fill_to(i):
            if (picks and (i - picks[0]) % every == 0) or (not picks and self._has_picture(ring, i)):
                picks.append(i)
            i += 1
        if ring.end == 0:
            raise VidkompyError("fg has no frames")
        tick = time.monotonic()
        frames = [_luma(self.fg, ring.frame(k)) for k in picks]
        mask = content_mask(frames, self.params)
        if mask is not None:
            x0, y0, x1, y1 = content_box(frames, self.params)
            mask[:, :x0], mask[:, x1:], mask[:y0], mask[y1:] = True, True, True, True  # bars: cropped, not filled
            log.info("spatial search: %.0f%% of fg's picture stays dark and still: matching the rest",
                     100 * (1 - mask.mean()))
            frames = [fill_masked(frame, mask) for frame in frames]
        self.fg_ring, self.mask = ring, mask
        self.originals = dict(zip(picks, frames))
        for scale, size in self.sizes.items():
            scaled = self._scaled(scale, size, picks, frames)
            if scaled is not None:
                self.scaled.append(scaled)
        self.work += time.monotonic() - tick
        if not self.scaled:
            raise VidkompyError(
                f"fg's first {ring.end / float(self.fg.rate):.1f} s are nearly uniform (black, a fade or flat): "
                "nothing to find in bg", "give --x/--y"
            )
        self.candidates = self.scaled
        if self.whole:
            self.probe_frames = self._probe_frames(ring, picks[0])
        self.span = max(math.ceil(max(tpl.fg_index for tpl in sc.templates) * self.rate) for sc in self.scaled)
        first = self.scaled[0]
        log.debug("spatial search: %d templates from fg frames %s at %d scales, bg shrunk by %d to %dx%d, horizon "
                  "%d bg frames", len(first.templates), [tpl.fg_index for tpl in first.templates], len(self.scaled),
                  self.factor, self.small_w, self.small_h, self.horizon)

    def _probe_frames(self, ring: FrameRing, first: int) -> list[int]:
        """fg frames over `verify_seconds` from `first`, `track_fps` a second, read into the ring (as far as it
        holds and fg goes)."""
        step = max(1, round(self.fg.rate / self.params.track_fps))
        last = min(first + math.ceil(self.params.verify_seconds * self.fg.rate), ring.start + ring.capacity - 1)
        return [i for i in range(first, last + 1, step) if ring.fill_to(i)]

    def _scaled(self, scale: Fraction, size: tuple[int, int], picks: list[int],
                frames: list[np.ndarray]) -> _Scaled | None:
        """The templates of fg frames `picks` resized to `size` (None: none usable)."""
        resized = [_resized(frame, size) for frame in frames]
        templates = make_templates(resized, picks, self.factor, self.small_w, self.small_h, self.params)
        if not templates:
            return None
        tracked = templates[:: max(1, math.ceil(len(templates) / self.params.track_templates))]
        fg_frames = [resized[picks.index(tpl.fg_index)] for tpl in templates]
        return _Scaled(scale, size, templates, fg_frames, tracked, slice(0, len(tracked)))

    def _size(self, scale: Fraction) -> tuple[int, int]:
        """fg's width and height at `scale`: the scaler's (`scaling.scaled_format`), which fg is pasted at."""
        fmt = scaled_format(self.fg, scale)
        return fmt.width, fmt.height

    def _has_picture(self, ring: FrameRing, index: int) -> bool:
        tick = time.monotonic()
        frame = _resized(_luma(self.fg, ring.frame(index)), next(iter(self.sizes.values())))
        usable = make_templates([frame], [index], self.factor, self.small_w, self.small_h, self.params)
        self.work += time.monotonic() - tick
        return bool(usable)

    @property
    def bg_window(self) -> int:
        """bg frames the ring must hold: a candidate's stretch and the margins on both sides of it."""
        return self.span + 2 * (self.stride + self.params.settle) + 2

    def scan(self, ring: FrameRing) -> Found:
        """Read bg (into `ring`, of at least `bg_window` frames) until fg is found; raise if it is not."""
        window = self.bg_window
        if ring.capacity < window:
            raise ValueError(f"bg ring holds {ring.capacity} frames, the search needs {window}")
        smalls = np.empty((window, self.small_h, self.small_w), np.uint8)
        shrunk = np.full(window, -1, np.int64)  # bg frame whose small copy a slot holds
        tracked, scores = self._rescore(ring, smalls, shrunk, -1, window)
        struck = -1  # candidates at or before this bg frame failed to settle
        resume = 0  # no settle before this bg frame
        j = 0
        while j < self.horizon:
            ring.release_before(j - window + 1)
            if not ring.fill_to(j):
                break
            tick = time.monotonic()
            self._see(ring, j)
            scores[j % window] = -np.inf
            if j % self.stride == self.stride // 2:
                scores[j % window] = self._scores(self._small(ring, smalls, shrunk, j), tracked)
            candidate = self._candidate(scores, max(struck + 1, j - window + 1), j, window)
            if candidate is not None and j >= max(resume, candidate[0] + self.span + self.stride + self.params.settle):
                found = self._settle(ring, smalls, shrunk, candidate, j, window)
                if self._accepted(found) and self.measuring:
                    # the scale is known now: search again at that scale alone, from the frames held on
                    self._measure(found, ring, candidate[1])
                    tracked, scores = self._rescore(ring, smalls, shrunk, j, window)
                    struck, resume = -1, 0
                elif self._accepted(found, strict=self.measured):
                    if self.measured:
                        found = self._checked(found, ring, smalls, shrunk, candidate, j, window)
                    if not self.whole:
                        self.work += time.monotonic() - tick
                        return self._found(found, ring)
                    self._rival(found, candidate[1], ring, j)
                    struck, resume = self._strike(candidate[0], j, window)
                else:
                    self._reject(found, candidate[1], ring, j)
                    struck, resume = self._strike(candidate[0], j, window)
                    if self.measured and not self.rivals:  # the scale measured did not hold up: measure again
                        self.scaled, self.measuring, self.measured = self.candidates, True, False
                        tracked, scores = self._rescore(ring, smalls, shrunk, j, window)
            self.work += time.monotonic() - tick
            j += 1
        return self._at_end(ring, smalls, shrunk, scores, struck, min(j, ring.end) - 1)

    def _at_end(self, ring: FrameRing, smalls: np.ndarray, shrunk: np.ndarray, scores: np.ndarray, struck: int,
                last: int) -> Found:
        """The horizon (or bg) ended at bg frame `last`: settle the candidate still open, then take the rivals'
        winner, or raise."""
        window = len(shrunk)
        if last < 0:
            raise VidkompyError("bg has no frames")
        candidate = self._candidate(scores, max(struck + 1, last - window + 1), last, window)
        if candidate is not None:
            tick = time.monotonic()
            found = self._settle(ring, smalls, shrunk, candidate, last, window)
            if self._accepted(found) and self.measuring:  # no bg left to search again: settle here again
                self._measure(found, ring, candidate[1])
                found = self._settle(ring, smalls, shrunk, (candidate[0], self.scaled[0]), last, window)
            self.work += time.monotonic() - tick
            scaled = self.scaled[0] if self.measured else candidate[1]
            if self._accepted(found, strict=self.measured):
                self._rival(found, scaled, ring, last)
            else:
                self._reject(found, scaled, ring, last)
        if any(rival.ordered for rival in self.rivals):
            return self._found(self._winner(ring, last), ring)
        raise self._not_found(self.failure, last, float(scores.max()))

    def _reject(self, found: Placement, scaled: _Scaled, ring: FrameRing, newest: int) -> None:
        """A settled placement not accepted: the best such is kept for the not-found message; in a whole
        search, one that fails only on order becomes a rival (its probes judge it)."""
        self.failure = max(self.failure or found, found, key=lambda p: (p.detail, p.score))
        if self.whole and self._fits(found, self.measured):
            self._rival(found, scaled, ring, newest, ordered=False)

    def _strike(self, date: int, newest: int, window: int) -> tuple[int, int]:
        """After settling the candidate dated `date` at bg frame `newest`: the last bg frame whose candidates
        are struck, and the bg frame before which no settle is tried (the next stretch overlaps this one by
        the template span)."""
        return max(date, newest - self.span - self.stride - self.params.settle), newest + window - self.span - 1

    def _rival(self, found: Placement, scaled: _Scaled, ring: FrameRing, newest: int, ordered: bool = True) -> None:
        """A placement becomes a rival, its probes due up to `newest` scored from the frames held. `ordered`:
        its templates matched in fg's order; one that did not may still win on its probes, but the search
        finds fg only if some rival did."""
        tpl = scaled.templates[0]
        h, w = tpl.full.shape
        # the templates' region, within bg (a picture whose bars hang outside bg is probed on what is inside)
        x0, y0 = max(found.x + tpl.ox, 0), max(found.y + tpl.oy, 0)
        x1, y1 = min(found.x + tpl.ox + w, self.bg.width), min(found.y + tpl.oy + h, self.bg.height)
        fx, fy = x0 - found.x, y0 - found.y  # where that region starts in fg
        date = found.bg_frame - found.fg_frame * self.rate  # bg frame of fg frame 0 on its clock
        vectors = self._probes(scaled, (fx, fy, x1 - x0, y1 - y0)) if min(x1 - x0, y1 - y0) >= self.factor else []
        probes = [(date + i * self.rate, vector) for i, vector in zip(self.probe_frames, vectors, strict=False)]
        rival = make_rival(found, (x0, y0, x1 - x0, y1 - y0), probes, self.params.lag_strides * self.stride, ordered,
                           date, self.params.rival_reach)
        catch_up(rival, lambda k: _luma(self.bg, ring.frame(k)) if ring.start <= k < ring.end else None, newest,
                 self.factor)
        self.rivals.append(rival)

    def _probes(self, scaled: _Scaled, region: tuple[int, int, int, int]) -> list[np.ndarray]:
        """The probe frames' pictures at `scaled`'s size, cropped to `region` (x, y, width, height in fg), shrunk
        and made unit vectors (`rivals.unit`): made once for all the rivals that share them (most share the
        templates' whole box)."""
        key = (scaled.scale, region)
        if key not in self.probe_cache:
            assert self.fg_ring is not None
            x, y, w, h = region
            out = []
            for i in self.probe_frames:
                luma = _luma(self.fg, self.fg_ring.frame(i))
                luma = _resized(luma if self.mask is None else fill_masked(luma, self.mask), scaled.size)
                out.append(unit(shrink(luma[y:y + h, x:x + w], self.factor)))
            self.probe_cache[key] = out
        return self.probe_cache[key]

    def first_held(self, found: Found) -> int:
        """The first bg frame the caller's ring must hold to go on from `found` (its start, less the margin a
        settle reads before a date)."""
        return max(0, found.start - self.stride - self.params.settle)

    def _see(self, ring: FrameRing, index: int) -> None:
        """bg frame `index` was read: score the rivals' probes due there (rivals out of the running dropped)."""
        table = None
        for rival in self.rivals:
            if rival.due and rival.first_due <= index:
                table = summed(_luma(self.bg, ring.frame(index))) if table is None else table
                rival.see(index, table, self.factor)
        prune(self.rivals, self.params)

    def _winner(self, ring: FrameRing, newest: int) -> Placement:
        """The rivals' winner, once bg has been read (past the horizon if need be) until each has seen all
        its probes or bg ended (holding only the frame each probe is scored on, and the usual window: the
        caller reads bg again up to the winner)."""
        j = newest + 1
        while any(r.due for r in self.rivals):
            ring.release_before(j - self.bg_window + 1)
            if not ring.fill_to(j):
                break
            self._see(ring, j)
            j += 1
        best = winner(self.rivals, float(self.params.verify_seconds * self.bg.rate), self.params)
        assert best is not None
        first = self.rivals[0]
        if best is not first:
            log.info("fg's first match (bg frame %d) is a look-alike: it fits fg's next %s s worse than the match "
                     "at bg frame %d (mismatch %.4f against %.4f)", first.placement.bg_frame,
                     self.params.verify_seconds, best.placement.bg_frame, first.mismatch, best.mismatch)
        for rival in self.rivals:
            log.debug("spatial search: rival at bg frame %d x=%d y=%d: mismatch %.4f over %d probes%s",
                      rival.placement.bg_frame, rival.placement.x, rival.placement.y, rival.mismatch, rival.next,
                      " (taken)" if rival is best else "")
        placement, lag = best.moved(self.params.significance)
        return dataclasses.replace(placement, bg_frame=placement.bg_frame + lag,
                                   pairs=tuple((f, b + lag) for f, b in placement.pairs))

    def _small(self, ring: FrameRing, smalls: np.ndarray, shrunk: np.ndarray, index: int) -> np.ndarray:
        """The shrunk copy of held bg frame `index`, made on first use."""
        slot = index % len(shrunk)
        if shrunk[slot] != index:
            smalls[slot] = shrink(_luma(self.bg, ring.frame(index)), self.factor)
            shrunk[slot] = index
        return smalls[slot]

    def _candidate(self, scores: np.ndarray, lo: int, hi: int, window: int) -> tuple[int, _Scaled] | None:
        """The date (estimated bg frame of fg frame 0) and scale of the best tracked score among bg frames
        [lo, hi] whose scale has a majority of its tracked templates scoring well enough to pass on that
        stretch (a coarse score is no lower than the full-resolution one it would settle to)."""
        if hi < lo:
            return None
        frames = np.arange(lo, hi + 1)
        block = scores[frames % window]
        best: tuple[float, int, _Scaled] | None = None
        for scaled in self.scaled:
            sub = block[:, scaled.columns]
            pos, t = np.unravel_index(int(np.argmax(sub)), sub.shape)
            peak = float(sub[pos, t])
            if not np.isfinite(peak) or peak < self.min_score or (best is not None and peak <= best[0]):
                continue
            date = int(frames[pos]) - math.floor(scaled.tracked[t].fg_index * self.rate)
            near = (frames >= date - self.stride) & (frames <= date + self.span + self.stride)
            support = int((sub[near].max(axis=0) >= self.min_score).sum())
            if 2 * support > len(scaled.tracked):
                best = (peak, date, scaled)
        return None if best is None else (best[1], best[2])

    def _settle(self, ring: FrameRing, smalls: np.ndarray, shrunk: np.ndarray, candidate: tuple[int, _Scaled],
                newest: int, window: int) -> Placement:
        """`locate_small` with the candidate scale's templates over the bg frames from a little before its date
        to `newest`, unchecked."""
        date, scaled = candidate
        lo = max(ring.start, newest - window + 1, date - self.stride - self.params.settle)
        indices = list(range(lo, newest + 1))

        def full(index: int) -> np.ndarray | None:
            return _luma(self.bg, ring.frame(index)) if ring.start <= index < ring.end else None

        small = [self._small(ring, smalls, shrunk, i) for i in indices]
        if scaled.settled is None:
            scaled.settled = make_templates(scaled.fg_frames, [tpl.fg_index for tpl in scaled.templates], self.factor,
                                            self.small_w, self.small_h, self.params)
        found = locate_templates(scaled.settled, small, indices, full, factor=self.factor, rate=float(self.rate),
                                 params=self.params, check=False, peaks=scaled.peaks)
        log.debug("spatial search: bg %d..%d: x=%d y=%d scale %s score %.3f detail %.3f (%d/%d templates agree), "
                  "in order %.3f", lo, newest, found.x, found.y, scaled.scale, found.score, found.detail,
                  found.agreeing, found.templates, found.order)
        return found

    def _not_found(self, best: Placement | None, last: int, coarse: float) -> NotFound:
        searched = (last + 1) / float(self.bg.rate)
        if best is None:
            coarse = max(coarse, 0.0)
            why = (f"need {self.min_score:.2f}" if coarse < self.min_score else
                   "but never with most of the fg frames sampled matching at one time")
            return NotFound("fg not found in bg", f"best coarse match {coarse:.2f}, {why}", best=coarse,
                            searched=searched)
        try:
            verify(best, self.min_score, self.min_detail)
        except NotFound as exc:
            return exc.searching(searched)
        return NotFound(f"fg not found in bg: its frames match out of order at x={best.x},y={best.y}",
                        best=best.score, searched=searched)

    def _rescore(self, ring: FrameRing, smalls: np.ndarray, shrunk: np.ndarray, newest: int,
                 window: int) -> tuple[list[Template], np.ndarray]:
        """The templates tracked now (self.scaled's: their columns renumbered) and their scores on the tracked
        bg frames held."""
        column = 0
        for scaled in self.scaled:
            scaled.columns = slice(column, column + len(scaled.tracked))
            column += len(scaled.tracked)
        tracked = [tpl for scaled in self.scaled for tpl in scaled.tracked]
        scores = np.full((window, len(tracked)), -np.inf, np.float32)
        for k in range(max(ring.start, newest - window + 1), newest + 1):
            if k % self.stride == self.stride // 2:
                scores[k % window] = self._scores(self._small(ring, smalls, shrunk, k), tracked)
        return tracked, scores

    def _scores(self, small: np.ndarray, tracked: list[Template]) -> np.ndarray:
        """Each tracked template's coarse peak on a shrunk bg frame; none (-inf) on a flat one, as the settle
        (`spatial.locate_templates`) skips it too: a candidate dated among flat frames alone would leave it
        nothing to compare, where bg's later picture may still hold fg (a dim or faded opening)."""
        if is_flat(small, self.params):
            return np.full(len(tracked), -np.inf)
        return np.array([coarse_peak(small, tpl)[0] for tpl in tracked])

    def _accepted(self, found: Placement, strict: bool = False) -> bool:
        """Found, and on one timeline (else the seed would be a wrong time: keep looking). `strict`: at a
        measured scale, with the higher AUTO_ thresholds."""
        if self.min_score <= 0:
            return True
        fits = self._fits(found, strict)
        if not fits or found.order < self.params.min_order:
            if fits and (self.partial is None or found.score > self.partial.score):
                self.partial = found  # fg's pictures, but too few of them agree, or out of order
            return False
        return not outclassed(found, self.partial, self.params)

    def _fits(self, found: Placement, strict: bool) -> bool:
        """Score, detail and agreement over the floors (`strict`: the AUTO_ ones), whatever the order."""
        score, detail = self.min_score, self.min_detail
        if strict:
            score, detail = max(score, self.params.auto_min_score), max(detail, self.params.auto_min_detail)
        try:
            verify(found, score, detail)
        except NotFound:
            return False
        return True

    def _found(self, placement: Placement, ring: FrameRing) -> Found:
        offset = offset_from_pairs(placement.pairs, self.fg.rate, self.bg.rate)
        start = max(0, nearest_bg_frame(0, self.fg.rate, self.bg.rate, offset))
        return Found(placement, offset, start, ring.end, time.monotonic() - self.started, self.work,
                     self.scaled[0].scale)

    def _measure(self, placement: Placement, ring: FrameRing, coarse: _Scaled) -> None:
        """Settle the scale: fg's width to the pixel (within `scale_reach` of the coarse scale's) that matches
        best on the placement's seed pairs; the search goes on with that scale alone (the coarse one when
        no seed frame is held or the width found leaves nothing usable)."""
        self.measuring, self.measured = False, True
        self.scaled = [self._width(placement, ring, coarse, self.params.scale_reach) or coarse]
        log.debug("spatial search: fg's width in bg is %d px (scale %s), around bg frame %d", self.scaled[0].size[0],
                  self.scaled[0].scale, placement.bg_frame)

    def _width(self, placement: Placement, ring: FrameRing, near: _Scaled, reach: float) -> _Scaled | None:
        """The scale at which fg's width (within `reach` of near's, to the pixel) matches best on the
        placement's seed pairs; None when no seed frame is held or that width leaves nothing usable."""
        pairs = [(self.originals[fg], _luma(self.bg, ring.frame(bg)))
                 for fg, bg in placement.pairs[:self.params.track_templates]
                 if fg in self.originals and ring.start <= bg < ring.end]
        if not pairs:
            return None
        width, _ = refine_scale(pairs, placement.x, placement.y, near.size[0], max(1, math.ceil(reach * near.size[0])),
                                self.params)
        if width == near.size[0]:
            return near
        scale = Fraction(width, self.fg.width)
        size = self._size(scale)
        if size[0] > self.bg.width or size[1] > self.bg.height:
            return None
        return self._scaled(scale, size, list(self.originals), list(self.originals.values()))

    def _checked(self, placement: Placement, ring: FrameRing, smalls: np.ndarray, shrunk: np.ndarray,
                 candidate: tuple[int, _Scaled], newest: int, window: int) -> Placement:
        """A placement found at a measured scale, measured again on its own seed pairs (exact in time now,
        where the first measure's may have been a frame off: zooming footage trades scale for time); the
        stretch is settled again if the width moves, and the better placement kept."""
        again = self._width(placement, ring, candidate[1], self.params.scale_recheck)
        if again is None or again is candidate[1]:
            return placement
        other = self._settle(ring, smalls, shrunk, (candidate[0], again), newest, window)
        if self._accepted(other, strict=True) and other.score > placement.score:
            self.scaled = [again]
            return other
        return placement
