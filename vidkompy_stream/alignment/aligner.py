"""Following fg through bg while both stream: fingerprints in, one bg frame per fg frame out.

For each fg frame: its fingerprint, and those of the bg region under fg's picture (fg's rectangle less any
flat bars of its own, found once from the newest fg frame held at the start) for the bg frames the
aligner's window asks for (bg is read ahead that far, each frame fingerprinted once as it is read, and
kept in the bg ring until it has been shown or passed by). The aligner (`dtw.DTWAligner`) commits fg frame
i once fg frame i + lookahead has been seen, so decisions come out with a latency of the lookahead; with a
refinement level, `refine.Refiner` then re-decides them a segment at a time with pixel evidence (latency:
lookahead + segment); `finish` commits the rest when fg ends. Memory: the fg ring holds the lookahead's fg
frames, the bg ring the bg frames between the last committed one and the newest window's end, both bounded
by the lookahead and the band, never by the video's length.
"""

import dataclasses
import logging
import math
import threading
from collections.abc import Callable, Generator

import numpy as np

from ..decision import Decision
from ..errors import VidkompyError
from ..io.framering import FrameRing
from ..io.y4m import Y4MFormat
from ..kernels.similarity import FLAT_THUMB, thumb_features
from ..params import AlignParams, RefineParams, SearchParams
from ..search.spatial import content_box, content_mask, fill_masked, shrink
from .dtw import DTWAligner, default_max_step
from .fingerprint import Fingerprinter, FingerprintStore, costs
from .reacquire import ForwardScan, LockWatch
from .refine import Refiner
from .tunnel import TunnelAligner

log = logging.getLogger(__name__)

#: The online aligners, by --engine name: the same interface (window, push, finish, release_point).
ENGINES: dict[str, type[DTWAligner] | type[TunnelAligner]] = {"dtw": DTWAligner, "tunnel": TunnelAligner,
                                                              "tunnel-mask": TunnelAligner}
#: Engines that compare only fg's content pixels (`spatial.content_mask`), in the fingerprints and the refiner.
MASKED = {"tunnel-mask"}


def preload_kernels() -> None:
    """Start Numba in a thread. Its first kernel call in a process costs ~0.6 s however small the input (it
    builds its typing and target contexts, and imports scipy.linalg to look for a BLAS); here that overlaps
    the decoders' start and the spatial search, which wait on pipes and OpenCV with the GIL released
    (8 s of 720p, 8 runs each: 3.40 s against 3.61 s). Later calls only look up the cached kernels."""
    args = (np.zeros((3, 3), np.uint8), np.empty(9, np.float32), np.empty(2, np.float32))
    threading.Thread(target=thumb_features, args=args, name="preload-kernels", daemon=True).start()


def band_width(rate: float, params: AlignParams = AlignParams()) -> int:
    """The aligner's band: the spatial search dates fg to a frame or two, and the band re-centres on the
    path every fg frame, so a few steps either side suffice (each bg frame in it is held in full)."""
    return max(params.band_min, 4 * default_max_step(rate))


def shrink_factor(width: int, height: int, target: int) -> int:
    """Power-of-two factor bringing a width x height crop to about `target` px wide (nearest in log scale),
    keeping both sides >= 16 px: `spatial.shrink` halves in cheap steps (a 1280 px crop by 4 costs 0.07
    ms, by 5 0.5 ms). One shrink serves both the fingerprints (which shrink further) and the refiner."""
    factor = 2 ** max(0, round(math.log2(width / target)))
    while factor > 1 and min(width, height) // factor < 16:
        factor //= 2
    return factor


def fg_frames_needed(lookahead: int, level: RefineParams | None) -> int:
    """fg frames held at once: the aligner's lookahead and the refiner's segment, plus the newest."""
    return lookahead + (level.segment if level else 0) + 1


def bg_frames_needed(fg: Y4MFormat, bg: Y4MFormat, lookahead: int, level: RefineParams | None,
                     params: AlignParams = AlignParams()) -> int:
    """bg frames held at once: every pending fg frame stepping the most, plus a band and the refiner's
    candidates."""
    step = default_max_step(float(bg.rate / fg.rate))
    pending = lookahead + (level.segment if level else 0)
    return (pending * step + band_width(float(bg.rate / fg.rate), params) + step + 2
            + (2 * level.radius if level else 0))


def _inside(start: int, stop: int, offset: int, length: int) -> tuple[int, int] | None:
    """fg's picture span [start, stop) (fg px, fg at `offset` in bg) trimmed to bg's [0, length), or None
    when more than `SearchParams.edge_slack` px of it lie outside (a letterbox bar's blurred edge may)."""
    before, after = max(0, -(offset + start)), max(0, offset + stop - length)
    return None if before + after > SearchParams.edge_slack else (start + before, stop - after)


def _compared_box(fg: Y4MFormat, bg: Y4MFormat, position: tuple[int, int], fg_ring: FrameRing,
                  params: AlignParams) -> tuple[int, int, int, int]:
    """The part of fg's frame the aligner compares, (x0, y0, x1, y1) in fg px: fg's picture inside its flat bars
    (`content_box` over the fg frames held: the search's first second, else frame 0), or the whole frame when
    that is under `min_content` px either way; trimmed to bg. Raises when the picture reaches outside bg."""
    x, y = position
    x0, y0, x1, y1 = (0, 0, 0, 0)
    if fg_ring.fill_to(0):
        x0, y0, x1, y1 = content_box([fg.plane_views(fg_ring.frame(k))[0] for k in range(fg_ring.start,
                                                                                        fg_ring.end)])
    if x1 - x0 < params.min_content or y1 - y0 < params.min_content:
        x0, y0, x1, y1 = 0, 0, fg.width, fg.height
    elif (x0, y0, x1, y1) != (0, 0, fg.width, fg.height):
        log.info("fg's picture is %dx%d at (%d, %d) inside its frame: only that part is compared", x1 - x0,
                 y1 - y0, x0, y0)
    cols, rows = _inside(x0, x1, x, bg.width), _inside(y0, y1, y, bg.height)
    if cols is None or rows is None:
        raise VidkompyError(f"fg's picture ({x1 - x0}x{y1 - y0} at x={x + x0},y={y + y0}) reaches outside bg "
                            f"{bg.size_text}: only fg's flat bars (letterbox) may hang outside it")
    (x0, x1), (y0, y1) = cols, rows
    return x0, y0, x1, y1


#: bg's luma planes from a given bg frame on (a second decoder of a bg file)
Ahead = Callable[[int], Generator[np.ndarray, None, None]]


class AlignedTiming:
    """Decisions for fg frames as the aligner commits them: `feed(i)` after fg frame i is in the fg ring."""

    def __init__(self, fg: Y4MFormat, bg: Y4MFormat, position: tuple[int, int], start: int, lookahead: int,
                 level: RefineParams | None, fg_ring: FrameRing, bg_ring: FrameRing, engine: str = "dtw",
                 search_seconds: float = 30.0, first: int = 0, params: AlignParams = AlignParams(),
                 ahead: Ahead | None = None) -> None:
        """start: bg frame of fg frame `first`, the first fg frame inside bg (those before it precede bg's first
        frame: fg was started earlier; they are shown over bg frame 0, as nothing nearer exists). ahead: bg's
        luma planes from a given frame on, from a second decoder (a bg file), for searching ahead after an edit
        without moving the run's own bg."""
        x, y = position
        self.fg, self.bg = fg, bg
        x0, y0, x1, y1 = _compared_box(fg, bg, position, fg_ring, params)
        self.fg_box = (slice(y0, y1), slice(x0, x1))
        self.box = (slice(y + y0, y + y1), slice(x + x0, x + x1))
        self.fg_ring, self.bg_ring = fg_ring, bg_ring
        self.nominal = float(bg.rate / fg.rate)
        self.aligner = ENGINES[engine](self.nominal, max(0, start), lookahead, band=band_width(self.nominal, params),
                                       rate_penalty=params.penalty, penalty_cap=params.penalty_cap,
                                       confidence_scale=params.confidence_scale, clock=params.clock)
        needed = bg_frames_needed(fg, bg, lookahead, level, params)
        if bg_ring.capacity < needed or fg_ring.capacity < fg_frames_needed(lookahead, level):
            raise ValueError("rings too small for the aligner's lookahead")
        self.factor = shrink_factor(x1 - x0, y1 - y0, level.width if level else params.small_width)
        self.mask = self._content_mask(fg_ring) if engine in MASKED else None
        self.fg_small: dict[int, np.ndarray] = {}  # fg and bg crops shrunk by `factor`, for the fingerprints
        self.bg_small: dict[int, np.ndarray] = {}  # and the refiner
        fingerprinter = Fingerprinter((x1 - x0) // self.factor, (y1 - y0) // self.factor, params.thumb_area)
        self.weights, self.fingerprint = (params.w_thumb, params.w_grad), fingerprinter.compute
        self.fg_prints = FingerprintStore(fingerprinter, lookahead + 2)
        self.bg_prints = FingerprintStore(fingerprinter, needed + self.aligner.band)
        self.costs = np.empty(self.aligner.band, np.float32)
        self.one = np.empty(1, np.float32)
        self.next_bg = bg_ring.start  # next bg frame to fingerprint: what the ring holds is fingerprinted first
        self.refiner = (Refiner(level, self.aligner, self.fg_small.__getitem__, self._bg_small, fg.rate, bg.rate,
                                params) if level else None)
        self.log_every = max(1, math.ceil(params.rate_log_seconds * fg.rate))
        self.bg_short = False  # warned that bg ended before fg
        # re-acquisition after an edit (dtw only): lost within the lookahead, before any frame after it is decided
        patience = max(2, min(params.lock.patience, lookahead - 1))
        self.ahead = ahead
        self.watch = (LockWatch(dataclasses.replace(params.lock, patience=patience), sensitive=ahead is not None)
                      if isinstance(self.aligner, DTWAligner) else None)
        self.lost: tuple[int, int] | None = None  # fg frames of a lost run, searched for at the next feed
        self.replaying = False  # pushing a lost run again where it was (nothing found ahead): not watched again
        self.cuts: list[tuple[int, int]] = []  # (fg frame, bg frame) where fg was found again
        self.search_frames = math.ceil(search_seconds * bg.rate)
        self.first = first if isinstance(self.aligner, DTWAligner) else 0
        if self.first:
            assert isinstance(self.aligner, DTWAligner)
            self.aligner.restart(self.first, max(0, start))
            log.info("fg starts %.2f s before bg: its first %d frames are shown over bg frame 0", first / fg.rate,
                     first)
        log.debug("aligner: %s, lookahead %d fg frames, band %d bg frames, max step %d, start at bg "
                  "frame %d", engine, lookahead, self.aligner.band, self.aligner.max_step, start)

    def _content_mask(self, fg_ring: FrameRing) -> np.ndarray | None:
        """fg's content pixels (shrunk), from the fg frames held (the search's first second, or frame 0)."""
        smalls = [shrink(self.fg.plane_views(fg_ring.frame(k))[0][self.fg_box], self.factor)
                  for k in range(fg_ring.start, fg_ring.end)]
        mask = content_mask(smalls)
        if mask is None:
            log.info("tunnel-mask: no dark still area in fg's picture (or too much of it): comparing all of it")
        else:
            log.info("tunnel-mask: comparing %.0f%% of fg's picture (dark still areas left out)", 100 * mask.mean())
        return mask

    def _shrink(self, crop: np.ndarray) -> np.ndarray:
        """A crop under fg's picture, shrunk by `factor`, its pixels outside the mask (if any) made neutral."""
        small = shrink(crop, self.factor)
        return small if self.mask is None else fill_masked(small, self.mask)

    @property
    def rate(self) -> float:
        """bg frames per fg frame, as the aligner estimates it now."""
        return self.aligner.rate_estimate

    def feed(self, index: int) -> list[Decision]:
        """Take fg frame `index` (held in the fg ring); return the decisions that became final."""
        if index < self.first:
            return [Decision(index, 0, 0.0)]
        decisions = self._resume() if self.lost is not None else []
        small = self._shrink(self.fg.plane_views(self.fg_ring.frame(index))[0][self.fg_box])
        self.fg_small[index] = small
        self.fingerprint(small, self.fg_prints, index)
        if self.lost is not None:  # lost again among the rows pushed again: this row joins that run
            self.lost = (self.lost[0], index)
            return decisions
        decisions += self._push(index)
        if index % self.log_every == 0 and index:
            rate = self.aligner.rate_estimate
            log.debug("aligner: fg frame %d, %.5f bg frames per fg frame (nominal %.5f, bg clock %+.3f%%)", index,
                      rate, self.nominal, (rate / self.nominal - 1) * 100)
        return decisions

    def _push(self, index: int) -> list[Decision]:
        """Cost fg frame `index` (fingerprinted) over its window and push it; the decisions that became final,
        and those before a lost run once lock is lost (`reacquire`)."""
        lo, hi = self.aligner.window(index)
        self._release(self._release_point())
        self._read_bg(hi)
        row = costs(self.fg_prints, index, self.bg_prints, lo, hi, self.costs, *self.weights)
        decisions = self.aligner.push(index, row)
        if self.refiner is not None:
            decisions = self.refiner.add(decisions)
        flat = bool(self.fg_prints.flags[index % self.fg_prints.capacity] & FLAT_THUMB)
        first = (self.watch.update(index, float(row.min()), flat) if self.watch is not None and not self.replaying
                 else None)
        if first is not None:
            decisions += self._lose(first, index)
        self._done(decisions)
        return decisions

    def _release(self, point: int) -> None:
        """Drop the bg frames and their shrunk crops before `point`."""
        self.bg_ring.release_before(point)
        for old in [k for k in self.bg_small if k < point]:
            del self.bg_small[old]

    def _lose(self, first: int, last: int) -> list[Decision]:
        """Lock was lost from fg frame `first` on: decide the frames before it; the search waits for the next
        feed (the decisions returned now still need their bg frames)."""
        assert isinstance(self.aligner, DTWAligner)
        settled = self.aligner.settle(first)
        if self.refiner is not None:
            settled = self.refiner.add(settled) + self.refiner.flush()
        self.lost = (first, last)
        return settled

    def _resume(self) -> list[Decision]:
        """Find where the lost fg frames go on in bg, restart the aligner there and push them again."""
        assert self.lost is not None and self.watch is not None and isinstance(self.aligner, DTWAligner)
        first, last = self.lost
        self.lost = None
        found, score = self._scan(first, last)
        missed = found is None or score > self.watch.lock_cost
        clock = max(self.bg_ring.start, round(self.aligner.expected(first)))
        if missed and self.ahead is not None:
            log.debug("fg frame %d: fg's picture matches bg less well, but nothing in the next %d bg frames matches "
                      "better (best %.2f): lock kept", first, self.search_frames, 1.0 - score)
            self.watch.accept()
            found = clock
        elif missed:
            found = clock
            log.warning("fg frame %d: fg's picture is no longer where its clock puts it in bg, and not found "
                        "again in the next %d bg frames (best match %.2f): following the clock from bg frame %d",
                        first, self.search_frames, 1.0 - score, found)
            self.watch = None
        else:
            log.info("fg frame %d: fg's picture left the bg frames its clock expects (an edit in fg, or a jump in "
                     "bg); found again at bg frame %d (match %.2f)", first, found, 1.0 - score)
            self.cuts.append((first, found))
        self.aligner.restart(first, found)
        if self.refiner is not None:
            self.refiner.restart()
        return self._replay(first, last, watched=not missed)

    def _replay(self, first: int, last: int, watched: bool) -> list[Decision]:
        """Push fg frames first..last again after a restart. Where fg was found again they are watched like any
        (the watch then holds `patience` rows before it can lose lock, so a loss comes later than `first`): when
        lock is lost again among them (a second edit soon after the first), the replay stops there and the rest
        waits for that search. Rows pushed again where they were (nothing found ahead) are not watched again."""
        decisions: list[Decision] = []
        self.replaying = not watched
        try:
            for index in range(first, last + 1):
                decisions += self._push(index)
                if self.lost is not None:
                    self.lost = (self.lost[0], last)
                    break
        finally:
            self.replaying = False
        return decisions

    def _scan(self, first: int, last: int) -> tuple[int | None, float]:
        """Read bg forward from the lost band to search_frames past where the clock puts fg frame `first`, scoring
        each bg frame as the start of fg frames first..last (`reacquire.ForwardScan`); the bg frame found (or the
        best seen) and its score. With `ahead` the frames come from a second decoder, else from the run's bg."""
        assert self.watch is not None
        rate = self.aligner.rate_estimate
        span = [round(rate * k) for k in range(last - first + 1)]
        scan = ForwardScan(self.watch.lock_cost, span[-1] + 1)
        j = max(self.bg_ring.start, self.aligner.release_point())
        stop = round(self.aligner.expected(first)) + self.search_frames + scan.confirm + 1
        starts = self._starts_ahead(j, span[-1]) if self.ahead is not None else self._starts(j, span[-1])
        try:
            for start, prints in starts:
                if start >= stop:
                    break
                score = sum(float(costs(self.fg_prints, first + k, prints, start + s, start + s + 1, self.one,
                                        *self.weights)[0]) for k, s in enumerate(span)) / len(span)
                found = scan.offer(start, score)
                if found is not None:
                    return found, scan.best
        finally:
            starts.close()
        return scan.best_frame, scan.best

    def _starts(self, j: int, reach: int) -> Generator[tuple[int, FingerprintStore], None, None]:
        """bg frames j, j + 1, ... with the fingerprints of the `reach` frames after each, read into the run's
        own bg (which moves on: what the scan passes is gone), until bg ends."""
        while True:
            end = j + reach + 1
            self._release(max(self.bg_ring.start, end - self.bg_ring.capacity + 1))
            self._read_bg(end)
            if self.next_bg < end:
                return
            yield j, self.bg_prints
            j += 1

    def _starts_ahead(self, j: int, reach: int) -> Generator[tuple[int, FingerprintStore], None, None]:
        """The same from the second decoder (`ahead`): the run's own bg stays where it is."""
        assert self.ahead is not None
        prints = FingerprintStore(self.bg_prints.fingerprinter, reach + 1)
        frames = self.ahead(j)
        try:
            for index, luma in enumerate(frames, start=j):
                self.fingerprint(self._shrink(luma[self.box]), prints, index)
                if index - reach >= j:
                    yield index - reach, prints
        finally:
            frames.close()

    def _read_bg(self, end: int) -> None:
        """Read, shrink and fingerprint bg up to frame `end` (exclusive) or bg's end."""
        self.next_bg = max(self.next_bg, self.bg_ring.start)
        while self.next_bg < end and self.bg_ring.fill_to(self.next_bg):
            luma = self.bg.plane_views(self.bg_ring.frame(self.next_bg))[0]
            small = self._shrink(luma[self.box])
            self.bg_small[self.next_bg] = small
            self.fingerprint(small, self.bg_prints, self.next_bg)
            self.next_bg += 1

    def _bg_small(self, index: int) -> np.ndarray | None:
        """bg frame `index`'s shrunk crop, read if needed; None if bg has no such frame or dropped it."""
        self._read_bg(index + 1)
        return self.bg_small.get(index)

    def _done(self, decisions: list[Decision]) -> None:
        for d in decisions:
            self.fg_small.pop(d.fg_frame, None)
            if not self.bg_short and self._past_bg(d):
                self.bg_short = True
                log.warning("bg ends at frame %d before fg frame %d (its clock puts it at bg frame %.0f): holding "
                            "the last bg frame", self.bg_ring.end - 1, d.fg_frame, self.aligner.expected(d.fg_frame))

    def _past_bg(self, decision: Decision) -> bool:
        """bg has ended and the clock puts this fg frame more than a frame past its last frame."""
        return self.bg_ring.eof and self.aligner.expected(decision.fg_frame) > self.bg_ring.end

    def finish(self) -> list[Decision]:
        """fg has ended: the remaining decisions."""
        resumed: list[Decision] = []
        while self.lost is not None:
            resumed += self._resume()
        decisions = self.aligner.finish()
        if self.refiner is not None:
            decisions = self.refiner.add(decisions) + self.refiner.finish()
        self._done(decisions)
        return resumed + decisions

    def _release_point(self) -> int:
        point = self.aligner.release_point()
        return point if self.refiner is None else min(point, self.refiner.release_point())
