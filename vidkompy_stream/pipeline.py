"""The streaming loop: fg frames in, one composited frame out per fg frame, bg following fg.

fg-first: the output has exactly one frame per fg frame, at fg's frame rate and bg's frame size. For
each fg frame a timing source decides which bg frame it goes over (monotonic); bg is read forward to
that frame (skipped frames are read into a reused slot and dropped, repeated frames are re-used), bg is
copied into the output buffer and fg is pasted over it. Memory is a few frame buffers per stream.
"""

import contextlib
import dataclasses
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Generator
from fractions import Fraction

import cv2
import numpy as np
from tqdm import tqdm

from .alignment.aligner import (
    Ahead,
    AlignedTiming,
    bg_frames_needed,
    fg_frames_needed,
    preload_kernels,
)
from .alignment.timing import MapTiming, OffsetTiming, nearest_bg_frame
from .compose.compositor import Compositor
from .compose.layout import LayoutConverter
from .decision import Decision
from .errors import NotFound, VidkompyError
from .io.framering import FrameRing
from .io.inputs import Source, Span, open_source, report_damage, seek_time
from .io.mapping import MappingWriter, read_mapping
from .io.outputs import (
    AudioSource,
    EncoderSettings,
    EncoderSink,
    Sink,
    Y4MFileSink,
    Y4MSink,
    pick_audio,
)
from .io.processes import ChildGroup, threads_each
from .io.scaling import ReplayReader, ScaledReader, scaled_format
from .io.y4m import Y4MFormat
from .options import Options
from .params import REFINE_LEVELS, AlignParams, RefineParams, SearchParams
from .search.placement import Found, PlacementSearch, fg_ring_capacity

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Summary:
    """What a run did, for the closing log line and for tests."""

    frames: int = 0
    bg_frames_read: int = 0
    bg_held: int = 0
    seconds: float = 0.0
    x: int = 0
    y: int = 0
    search: Found | None = None
    offset: Fraction = Fraction(0)  # bg time = fg time + offset, at fg frame 0 (s)
    rate: float = 1.0  # bg frames per fg frame: the aligner's estimate at the end, else the nominal
    scale: Fraction = Fraction(1)  # fg's scale in bg
    fg_rate: Fraction = Fraction(0)  # fg's and bg's frame rates (fps)
    bg_rate: Fraction = Fraction(0)
    low_confidence: int = 0  # frames decided with less confidence than `low_below`
    low_below: float = RefineParams.low_confidence
    cuts: tuple[tuple[int, int], ...] = ()  # (fg frame, bg frame) where the aligner found fg again after an edit


def layout_converter(fg: Y4MFormat, bg: Y4MFormat) -> LayoutConverter | None:
    """A converter when fg's chroma layout differs from bg's (only y4m inputs can differ)."""
    if fg.subsampling == bg.subsampling:
        return None
    log.info("fg is C%s and bg C%s: fg chroma is resampled to bg's layout", fg.colorspace, bg.colorspace)
    return LayoutConverter(fg, bg.colorspace)


def choose_audio(opts: Options, fg: Source, bg: Source, offset: float) -> AudioSource | None:
    """Audio for the file form: fg's own, else bg's from `offset` s (bg time at fg frame 0)."""
    return pick_audio(opts.audio,
                      AudioSource(fg.media, 0.0, "fg") if fg.media and fg.info and fg.info.has_audio else None,
                      AudioSource(bg.media, offset, "bg") if bg.media and bg.info and bg.info.has_audio else None)


class Composer:
    """Pastes fg at a placement, rebuilding the paste plan only when a mapping row moves it."""

    def __init__(self, fg: Y4MFormat, bg: Y4MFormat, feather: int, position: tuple[int, int]) -> None:
        self.fg, self.bg, self.feather = fg, bg, feather
        self._place(position)

    def _place(self, position: tuple[int, int]) -> None:
        """Build the paste plan; raises a clear error when fg does not fit at `position`."""
        self.compositor = Compositor(self.fg.plane_shapes, self.bg.plane_shapes, *position, self.feather)
        self.position = position

    def paste(self, out: np.ndarray, fg_frame: np.ndarray, position: tuple[int, int]) -> None:
        if position != self.position:
            self._place(position)
        self.compositor.paste(self.bg.plane_views(out), self.fg.plane_views(fg_frame))


class BgFollower:
    """Reads bg forward to whichever frame fg needs; once bg has ended, holds its last frame (warning once)."""

    def __init__(self, ring: FrameRing, spec: str) -> None:
        self.ring, self.spec = ring, spec
        self.held = 0
        self.late = False

    def copy_frame(self, index: int, out: np.ndarray | None, fg_frame: int) -> int:
        """Copy bg frame `index` (or the last one, if bg ended before it) into `out` (None: only read bg to
        it); return the index shown.

        bg never goes back: a frame released before it was asked for (only the spatial search releases
        ahead of the timing) is replaced by the oldest frame still held, with a warning."""
        if index < self.ring.start:
            if not self.late:
                log.warning("fg frame %d needs bg frame %d, already dropped: showing bg frame %d", fg_frame, index,
                            self.ring.start)
                self.late = True
            index = self.ring.start
        self.ring.release_before(index)
        if self.ring.fill_to(index):
            if out is not None:
                np.copyto(out, self.ring.frame(index))
            return index
        if self.ring.end == 0:
            raise VidkompyError(f"bg has no frames: {self.spec}")
        if self.held == 0:
            log.warning("bg ends at frame %d before fg frame %d needs bg frame %d: holding the last bg frame",
                        self.ring.end - 1, fg_frame, index)
        self.held += 1
        if out is not None:
            np.copyto(out, self.ring.last())
        return self.ring.end - 1


def _timing(opts: Options, fg_rate: Fraction, bg_rate: Fraction,
            stack: contextlib.ExitStack) -> MapTiming | OffsetTiming | None:
    """The given timing: a mapping file to replay (read as the run goes), a constant offset, or None."""
    if opts.offset is not None:
        return OffsetTiming(fg_rate, bg_rate, opts.offset)
    if opts.map_in is None:
        return None
    try:
        stream = stack.enter_context(open(opts.map_in, newline=""))
    except OSError as exc:
        raise VidkompyError(f"--map-in: cannot read {opts.map_in}: {exc.strerror}") from None
    return MapTiming(read_mapping(stream, opts.map_in), fg_rate, bg_rate, opts.map_in)


def _progress(opts: Options, fg: Source) -> tqdm:
    total = None
    if fg.info and fg.info.duration:
        total = round(fg.info.duration * float(fg.reader.format.rate))
    enabled = not opts.quiet and (opts.progress or sys.stderr.isatty())
    return tqdm(total=total, unit="frame", file=sys.stderr, disable=not enabled, dynamic_ncols=True, leave=False)


def _scaled(fg: Source, scale: Fraction, why: str) -> Source:
    """fg whose frames are resized by `scale` as they are read."""
    fmt = scaled_format(fg.reader.format, scale)
    log.info("fg %s is scaled by %s to %s (%s)", fg.reader.format.size_text, scale, fmt.size_text, why)
    return dataclasses.replace(fg, reader=ScaledReader(fg.reader, fmt))


def _scan(opts: Options, inputs: "Inputs", fg_ring: FrameRing, bg_frames: int, seconds: Fraction,
          params: SearchParams, first: int = 0) -> tuple[Found, FrameRing]:
    """Find fg in bg's first `seconds` (reading both), with templates from fg frame `first` on; the bg ring
    returned (at least `bg_frames` long) holds the frames from about the found start on. A bg file is searched
    over the whole horizon for the best match and read again up to it; a pipe is taken at the first match."""
    scales = params.auto_scales if opts.scale is None else (Fraction(1),)
    whole = inputs.is_file("bg") and not opts.force
    fgf = fg_ring.reader.format
    search = PlacementSearch(fgf, inputs.bg.reader.format, seconds, opts.force, scales, whole, params)
    search.take_templates(fg_ring, first)
    bg_ring = FrameRing(inputs.bg.reader, max(search.bg_window, bg_frames))
    found = search.scan(bg_ring)
    p = found.placement
    log.info("fg found in bg at x=%d y=%d (score %.3f, detail %.3f, margin %.3f, %d of %d templates agree); "
             "fg frame %d is bg frame %d: bg time = fg time %+.3f s", p.x, p.y, p.score, p.detail, p.margin,
             p.agreeing, p.templates, p.fg_frame, p.bg_frame, float(found.offset))
    log.debug("search read %d bg frames in %.2f s (%.2f s of it matching)", found.bg_frames_read, found.seconds,
              found.work)
    held = search.first_held(found)
    if whole and bg_ring.start > held:
        log.debug("search: bg read again up to bg frame %d", held)
        bg_ring = FrameRing(inputs.reopen("bg").reader, bg_ring.capacity)
        bg_ring.release_before(held)
    return found, bg_ring


class Inputs:
    """fg and bg as opened for a run, reopened from their start when the search must look again."""

    def __init__(self, opts: Options, exe: str, group: ChildGroup, stack: contextlib.ExitStack,
                 sources: dict[str, Source] | None = None) -> None:
        self.opts, self.exe, self.group, self.stack = opts, exe, group, stack
        self.given = sources or {}
        self.fg = self.open("fg", opts.fg)
        self.bg = self.open("bg", opts.bg)

    def open(self, role: str, spec: str | None) -> Source:
        source = self.given.get(role)
        if source is None:
            assert spec is not None
            source = open_source(role, spec, self.exe, self.opts.pix_fmt, self.group)
        self.stack.callback(source.close)
        if role == "fg" and self.opts.scale is not None and self.opts.scale != 1:
            source = _scaled(source, self.opts.scale, "--scale")
        return source

    def is_file(self, *roles: str) -> bool:
        """Whether these inputs are files (not pipes, stdin or sources given opened): they can be read again from
        their start."""
        return all(role not in self.given and os.path.isfile(getattr(self, role).spec) for role in roles)

    def ahead(self) -> Ahead | None:
        """bg's luma planes from a given frame on, from a second decoder, when bg is a media file: a look ahead
        that leaves the run's own bg where it is (None for pipes, y4m and sources given opened)."""
        if not self.is_file("bg") or self.bg.media is None:
            return None
        spec, rate = self.bg.spec, self.bg.reader.format.rate

        def frames(first: int) -> Generator[np.ndarray, None, None]:
            source = open_source("bg", spec, self.exe, self.opts.pix_fmt, self.group, Span(seek_time(first, rate)))
            fmt, frame = source.reader.format, source.reader.format.new_frame()
            try:
                while source.reader.readinto(frame):
                    yield fmt.plane_views(frame)[0]
            finally:
                source.stop()

        return frames

    def reopen(self, role: str) -> Source:
        """`role` read again from its start (its decoder stopped, a new one started)."""
        old = self.fg if role == "fg" else self.bg
        old.stop()
        new = self.open(role, old.spec)
        setattr(self, role, new)
        return new


def _search(opts: Options, inputs: Inputs, fg_frames: int, bg_frames: int,
            params: SearchParams) -> tuple[Found, FrameRing, FrameRing]:
    """Find fg in bg: the placement, and the fg and bg rings to go on from. When fg's first second is not in
    bg, or only partly (what matched puts fg's start before bg's, and may be a look-alike of a picture bg never
    shows), and both are files, fg may have started before bg: templates from each later second of fg, up to
    `params.lead_seconds`, are looked for at bg's start (`_lead_search`; the first search's placement is kept
    unless that finds a better-scoring one elsewhere), and then fg and bg are read from their start."""
    capacity = max(fg_ring_capacity(inputs.fg.reader.format, params), fg_frames)
    fg_ring = FrameRing(inputs.fg.reader, capacity)
    can_lead = opts.scale is not None and inputs.is_file("fg", "bg")
    first: tuple[Found, int] | None = None
    try:
        found, bg_ring = _scan(opts, inputs, fg_ring, bg_frames, opts.search_seconds, params)
        if found.offset >= 0 or not can_lead:
            return found, fg_ring, bg_ring
        first = found, bg_ring.capacity
        log.info("fg starts before bg: looking for fg's later seconds at bg's start too (its first second may not "
                 "be in bg)")
    except NotFound as exc:
        if not can_lead:
            raise
        failure = exc
        log.info("fg not found from its start: looking for fg's later seconds at bg's start (fg started first?)")
    lead = _lead_search(opts, inputs, capacity, bg_frames, params)
    if first is not None and (lead is None or not _outscores(lead[0], first[0], inputs.bg.reader.format.rate,
                                                               params.pool_px)):
        lead = first
    if lead is None:
        raise failure
    # fg and bg are then read from their start (fg frame 0 is before bg frame 0)
    return lead[0], FrameRing(inputs.reopen("fg").reader, capacity), FrameRing(inputs.reopen("bg").reader, lead[1])


def _outscores(lead: Found, first: Found, bg_rate: Fraction, px: int) -> bool:
    """Whether the lead search's placement replaces the first search's: elsewhere (place or clock) and scoring
    higher."""
    return not _agree(lead, first, bg_rate, px) and lead.placement.score > first.placement.score


def _lead_search(opts: Options, inputs: Inputs, capacity: int, bg_frames: int,
                 params: SearchParams) -> tuple[Found, int] | None:
    """fg's later seconds looked for at bg's start, one by one (both files read again each time): the first
    placement that the next second finds again (the same place, to `pool_px`, and clock, to a bg frame), else
    the best-scoring one, that puts fg's start before bg's; with the bg ring size its search needed. While fg's
    second is still before bg only a look-alike can match (the scene elsewhere in a pan), and it is pinned to
    bg's start, so its clock moves by a second from one second of fg to the next; fg's own place does not."""
    best: tuple[Found, int] | None = None
    previous: tuple[Found, int] | None = None
    for lead in range(1, params.lead_seconds + 1):
        log.debug("search: fg from %d s on, at bg's start", lead)
        fg_ring = FrameRing(inputs.reopen("fg").reader, capacity)
        inputs.reopen("bg")
        try:
            found, bg_ring = _scan(opts, inputs, fg_ring, bg_frames, lead + 2 * params.template_seconds, params,
                                   math.ceil(lead * fg_ring.reader.format.rate))
        except NotFound:
            previous = None
            continue
        except VidkompyError:
            break  # nothing usable in fg from there on (it ends, or is flat)
        if found.offset >= 0:
            previous = None
            continue
        current = found, bg_ring.capacity
        if previous is not None and _agree(previous[0], found, inputs.bg.reader.format.rate, params.pool_px):
            return max(previous, current, key=lambda pair: pair[0].placement.score)
        best = max(best or current, current, key=lambda pair: pair[0].placement.score)
        previous = current
    return best


def _agree(a: Found, b: Found, bg_rate: Fraction, px: int) -> bool:
    """Whether two placements put fg at one place (within `px`) on one clock (within a bg frame)."""
    return (abs(a.placement.x - b.placement.x) <= px and abs(a.placement.y - b.placement.y) <= px
            and abs(a.offset - b.offset) <= 1 / bg_rate)


def locate(opts: Options, exe: str, sources: dict[str, Source] | None = None,
           params: SearchParams = SearchParams()) -> Found:
    """The search alone: where fg goes in bg (and its scale, start and offset), as `run` finds it."""
    with ChildGroup() as group, contextlib.ExitStack() as stack:
        inputs = Inputs(opts, exe, group, stack, sources)
        return _search(opts, inputs, 1, 1, params)[0]


def _inside_bg(offset: Fraction, fg_rate: Fraction, bg_rate: Fraction) -> int:
    """The first fg frame whose nearest bg frame (bg time = fg time + offset) is bg frame 0 or later."""
    return max(0, math.ceil((-offset - Fraction(1, 2) / bg_rate) * fg_rate))


def _placement_comment(found: Found) -> str:
    p = found.placement
    return (f"placement x={p.x} y={p.y} score={p.score:.4f} detail={p.detail:.4f} margin={p.margin:.4f} "
            f"templates={p.agreeing}/{p.templates} seed_fg={p.fg_frame} seed_bg={p.bg_frame} "
            f"offset={found.offset}")


class GivenTiming:
    """A given timing (offset or mapping file) in the aligner's shape: each fg frame decided at once."""

    def __init__(self, timing: MapTiming | OffsetTiming, first: Decision) -> None:
        self.timing, self.first = timing, first
        self.rate = float(timing.bg_rate / timing.fg_rate)  # the nominal rate: nothing is measured
        self.cuts: list[tuple[int, int]] = []  # nothing is searched for

    def feed(self, index: int) -> list[Decision]:
        return [self.first if index == 0 else self.timing.decide(index)]

    def finish(self) -> list[Decision]:
        return []


@dataclasses.dataclass
class Job:
    """What the search and the timing settled before the first frame: the inputs to go on from (the search
    may have reopened or rescaled them), their rings, the timing, where fg goes, and bg time at fg frame 0."""

    fg: Source
    bg: Source
    fg_ring: FrameRing
    bg_ring: FrameRing
    timing: "AlignedTiming | GivenTiming"
    position: tuple[int, int]
    scale: Fraction
    found: Found | None
    offset: Fraction


def _given_position(opts: Options, first: Decision | None) -> tuple[int, int] | None:
    """--x/--y, else the first row's x,y of a --map-in; None when the search is to find it."""
    position = (opts.x, opts.y) if opts.x is not None and opts.y is not None else None
    if position is None and first is not None and first.x is not None and first.y is not None:
        position = (first.x, first.y)
    if position is not None and opts.scale is None:
        raise VidkompyError("--scale auto is measured by the search, which the x,y of --map-in skip: give "
                            "the scale (--scale S)")
    return position


def _located(opts: Options, inputs: Inputs, fg_frames: int, bg_frames: int,
             params: SearchParams) -> tuple[Source, FrameRing, FrameRing, Found, Fraction]:
    """Search bg for fg: fg as it goes on (resized when the search measured a scale), the rings, what was
    found, and the scale."""
    found, fg_ring, bg_ring = _search(opts, inputs, fg_frames, bg_frames, params)
    fg_ring.shrink_to(fg_frames)  # the seconds of fg the search held give their memory back as they are output
    fg, scale = inputs.fg, opts.scale if opts.scale is not None else found.scale
    if opts.scale is None and scale != 1:
        assert fg_ring.start == 0, "the search keeps every fg frame it read"
        fg = _scaled(dataclasses.replace(fg, reader=ReplayReader(fg_ring, fg.reader)), scale, "--scale auto")
        fg_ring = FrameRing(fg.reader, fg_ring.capacity)
    return fg, fg_ring, bg_ring, found, scale


def _aligned(opts: Options, fg: Y4MFormat, bg: Y4MFormat, rings: tuple[FrameRing, FrameRing], lookahead: int,
             position: tuple[int, int], found: Found | None, params: AlignParams,
             start: Fraction | None = None, ahead: Ahead | None = None) -> AlignedTiming:
    """The aligner, started at the search's date, else at `start` (bg time at fg frame 0, s) when given (fg frames
    before bg's first frame go over bg frame 0)."""
    offset = found.offset if found is not None else start
    if offset is None:
        log.warning("no --offset: fg is aligned from bg's start (give --offset if fg starts later)")
    lead = _inside_bg(offset, fg.rate, bg.rate) if offset is not None else 0
    if found is not None and not lead:
        first = found.start
    else:
        first = nearest_bg_frame(lead, fg.rate, bg.rate, offset) if offset is not None else 0
    return AlignedTiming(fg, bg, position, first, lookahead, REFINE_LEVELS.get(opts.refine), *rings, opts.engine,
                         float(opts.search_seconds), lead, params, ahead)


def _prepare(opts: Options, inputs: Inputs, stack: contextlib.ExitStack, search: SearchParams,
             align: AlignParams, start: Fraction | None = None) -> Job:
    """Open the given timing or search for fg, and build the timing that decides each fg frame."""
    fgf, bgf = inputs.fg.reader.format, inputs.bg.reader.format
    log.info("fg %s @ %s fps (%s), bg %s @ %s fps (%s)", fgf.size_text, fgf.rate_text, inputs.fg.spec,
             bgf.size_text, bgf.rate_text, inputs.bg.spec)
    given = _timing(opts, fgf.rate, bgf.rate, stack)
    first = given.decide(0) if given is not None else None
    position = _given_position(opts, first)
    lookahead = max(1, round(opts.lookahead * fgf.rate)) if given is None else 0
    level = REFINE_LEVELS.get(opts.refine) if given is None else None
    fg_frames = fg_frames_needed(lookahead, level)
    bg_frames = bg_frames_needed(fgf, bgf, lookahead, level) if given is None else 1
    found = None
    if position is None:
        fg, fg_ring, bg_ring, found, scale = _located(opts, inputs, fg_frames, bg_frames, search)
        position = (found.placement.x, found.placement.y)
    else:
        assert opts.scale is not None, "_given_position refuses --scale auto"
        fg, scale = inputs.fg, opts.scale
        fg_ring, bg_ring = FrameRing(fg.reader, fg_frames), FrameRing(inputs.bg.reader, bg_frames)
    timing: AlignedTiming | GivenTiming
    if given is None:
        timing = _aligned(opts, fg.reader.format, bgf, (fg_ring, bg_ring), lookahead, position, found, align, start,
                          inputs.ahead())
        offset = found.offset if found else start if start is not None else Fraction(0)
    else:
        assert first is not None
        timing = GivenTiming(given, first)
        offset = given.offset if isinstance(given, OffsetTiming) else Fraction(first.bg_frame) / bgf.rate
    return Job(fg, inputs.bg, fg_ring, bg_ring, timing, position, scale, found, offset)


class Output:
    """Where decided frames go: bg followed to the decided frame, fg pasted over it, the frame written to the
    sink (opened at the first frame, once the timing knows where fg starts in bg, for bg's audio), the
    decision to --map-out and to `record`. Without an output (`opts.output` None) nothing is composited:
    only the decisions are kept."""

    def __init__(self, opts: Options, exe: str, group: ChildGroup, job: Job,
                 record: Callable[[Decision], None] | None) -> None:
        self.opts, self.exe, self.group, self.job, self.record = opts, exe, group, job, record
        fgf, bgf = job.fg.reader.format, job.bg.reader.format
        self.converter = layout_converter(fgf, bgf)
        self.composer = Composer(self.converter.format if self.converter else fgf, bgf, opts.feather, job.position)
        self.format = dataclasses.replace(bgf, rate=fgf.rate)
        self.follower = BgFollower(job.bg_ring, job.bg.spec)
        self.out = self.format.new_frame() if opts.output is not None else None
        self.position = job.position
        self.sink: Sink | None = None
        self.frames = 0
        self.low_below = REFINE_LEVELS.get(opts.refine, RefineParams()).low_confidence
        self.low_confidence = 0
        self.map_out = MappingWriter(opts.map_out) if opts.map_out else None
        if self.map_out is not None and job.scale != 1:
            self.map_out.comment(f"scale {job.scale} (fg resized before x,y apply; replay with --scale {job.scale})")
        if self.map_out is not None and job.found is not None:
            self.map_out.comment(_placement_comment(job.found))

    def emit(self, decision: Decision) -> None:
        i, fg_ring = decision.fg_frame, self.job.fg_ring
        j = self.follower.copy_frame(decision.bg_frame, self.out, i)
        if decision.x is not None and decision.y is not None:
            self.position = (decision.x, decision.y)
        if self.out is not None:
            fg_frame = fg_ring.frame(i)
            self.composer.paste(self.out, self.converter.convert(fg_frame) if self.converter else fg_frame,
                                self.position)
            if self.sink is None:
                log.debug("first output frame after reading %d fg and %d bg frames", fg_ring.end,
                          self.follower.ring.end)
                self.sink = _open_sink(self.opts, self.exe, self.format, self.group, self.job.fg, self.job.bg,
                                       float(self.job.offset))
            self.sink.write(self.out)
        final = Decision(i, j, decision.confidence, *self.position)
        if final.confidence is not None and final.confidence < self.low_below:
            self.low_confidence += 1
        if self.map_out is not None:
            self.map_out.write(final)
        if self.record is not None:
            self.record(final)
        fg_ring.release_before(i + 1)
        self.frames += 1

    def finish(self) -> None:
        if self.frames == 0:
            raise VidkompyError(f"fg has no frames: {self.job.fg.spec}")
        self.job.fg.finish()
        if self.follower.ring.eof:
            self.job.bg.finish()
        if self.sink is not None:
            self.sink.finish()
        if self.map_out is not None:
            self.map_out.commit()

    def abort(self) -> None:
        if self.sink is not None:
            self.sink.abort()
        if self.map_out is not None:
            self.map_out.abort()


def _stream(job: Job, output: Output, bar: tqdm) -> None:
    """The loop: each fg frame into the timing, each decision it commits out."""
    try:
        i = 0
        while job.fg_ring.fill_to(i):
            for decision in job.timing.feed(i):
                output.emit(decision)
                bar.update()
            i += 1
        for decision in job.timing.finish():
            output.emit(decision)
            bar.update()
        output.finish()
    except BaseException:
        output.abort()
        raise


def run(opts: Options, exe: str, sources: dict[str, Source] | None = None,
        record: Callable[[Decision], None] | None = None, on_start: Callable[[Job], None] | None = None,
        search: SearchParams = SearchParams(), align: AlignParams = AlignParams(),
        start: Fraction | None = None) -> Summary:
    """Run one job as described by validated options; raise VidkompyError on failure. `sources`: inputs
    already opened (numpy frames), by role, instead of opts.fg/opts.bg; `record`: called with every decision
    as it is made (with opts.output None, nothing else is made); `on_start`: called with the job once fg is
    found and the timing built; `search`, `align`: the engine's settings; `start`: where the aligner starts when
    --x/--y skip the search (bg time at fg frame 0, s; by default bg's start)."""
    started = time.monotonic()
    cv2.setNumThreads(threads_each())
    if opts.offset is None and opts.map_in is None:
        preload_kernels()
    with ChildGroup() as group, contextlib.ExitStack() as stack:
        inputs = Inputs(opts, exe, group, stack, sources)
        job = _prepare(opts, inputs, stack, search, align, start)
        if on_start is not None:
            on_start(job)
        output = Output(opts, exe, group, job, record)
        _stream(job, output, stack.enter_context(_progress(opts, job.fg)))
        report_damage((job.fg, job.bg), output.frames, opts.output)
        if output.low_confidence:
            log.info("%d fg frames aligned with low confidence (< %.1f; see --map-out)", output.low_confidence,
                     output.low_below)
        return Summary(frames=output.frames, bg_frames_read=output.follower.ring.end, bg_held=output.follower.held,
                       seconds=time.monotonic() - started, x=job.position[0], y=job.position[1], search=job.found,
                       offset=job.offset, rate=job.timing.rate, scale=job.scale, fg_rate=job.fg.reader.format.rate,
                       bg_rate=job.bg.reader.format.rate, low_confidence=output.low_confidence,
                       low_below=output.low_below, cuts=tuple(job.timing.cuts))


def _open_sink(opts: Options, exe: str, fmt: Y4MFormat, group: ChildGroup, fg: Source, bg: Source,
               audio_offset: float) -> Sink:
    """Opened at the first frame, once the timing knows where fg starts in bg (for bg audio)."""
    if opts.output == "-":
        return Y4MSink(sys.stdout.buffer, fmt)
    if opts.output.lower().endswith(".y4m"):
        if opts.audio in ("fg", "bg"):
            raise VidkompyError(f"--audio {opts.audio}: a .y4m output carries no audio (use another container)")
        return Y4MFileSink(opts.output, fmt)
    audio = choose_audio(opts, fg, bg, audio_offset)
    if audio is not None:
        log.info("audio from %s (%s, from %.3f s)", audio.role, audio.path, audio.offset)
    settings = EncoderSettings(opts.vcodec, opts.crf, opts.preset, opts.encoder_args)
    return EncoderSink(exe, opts.output, fmt, group, settings, audio)
