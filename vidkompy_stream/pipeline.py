"""The driver: one run, from its inputs to its output, as the command and the API run it.

fg-first: the output has exactly one frame per fg frame, at fg's frame rate and bg's frame size. The run
opens the inputs, takes the given timing (--offset, --map-in) or finds fg in bg (`locating`), builds the
timing that decides the bg frame under each fg frame (`alignment.aligner.AlignedTiming`, monotonic, after a
bounded lookahead), and streams: each fg frame into the timing, each decision out (`output.Output`: bg read
forward to the decided frame, fg pasted over it, the frame written). Memory is the rings' few frames per
stream, whatever the length of the inputs.
"""

import contextlib
import dataclasses
import logging
import math
import sys
import time
from collections.abc import Callable
from fractions import Fraction

import cv2
from tqdm import tqdm

from .alignment.aligner import Ahead, AlignedTiming, bg_frames_needed, fg_frames_needed, preload_kernels
from .alignment.timing import MapTiming, OffsetTiming, nearest_bg_frame
from .decision import Decision
from .errors import VidkompyError
from .io.framering import FrameRing
from .io.inputs import Source, report_damage
from .io.mapping import read_mapping
from .io.processes import ChildGroup, threads_each
from .io.y4m import Y4MFormat
from .locating import Inputs, located
from .options import Options
from .output import Output
from .params import REFINE_LEVELS, AlignParams, RefineParams, SearchParams
from .search.placement import Found

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


def _inside_bg(offset: Fraction, fg_rate: Fraction, bg_rate: Fraction) -> int:
    """The first fg frame whose nearest bg frame (bg time = fg time + offset) is bg frame 0 or later."""
    return max(0, math.ceil((-offset - Fraction(1, 2) / bg_rate) * fg_rate))


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
        fg, fg_ring, bg_ring, found, scale = located(opts, inputs, fg_frames, bg_frames, search)
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


