"""A run's search step: where fg is in bg, found over the run's inputs, and the rings to go on from.

`PlacementSearch` (search/) works on rings of frames; this drives it over the inputs a run opened: bg's
first `--search-seconds` (a bg file over the whole horizon, read again up to the match; a pipe taken at its
first match), fg that may have started before bg (files only: fg's later seconds looked for at bg's start,
`_lead_search`), and fg resized by the scale the search measured (`--scale auto`).
"""

import contextlib
import dataclasses
import logging
import math
import os
from collections.abc import Generator
from fractions import Fraction

import numpy as np

from .alignment.aligner import Ahead
from .errors import NotFound, VidkompyError
from .io.framering import FrameRing
from .io.inputs import Source, Span, open_source, seek_time
from .io.processes import ChildGroup
from .io.scaling import ReplayReader, ScaledReader, scaled_format
from .options import Options, read_ahead
from .params import SearchParams
from .search.placement import Found, PlacementSearch, fg_ring_capacity

log = logging.getLogger(__name__)


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
            source = open_source(role, spec, self.exe, self.opts.pix_fmt, self.group,
                                 read_ahead=read_ahead(self.opts))
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


def _scaled(fg: Source, scale: Fraction, why: str) -> Source:
    """fg whose frames are resized by `scale` as they are read."""
    fmt = scaled_format(fg.reader.format, scale)
    log.info("fg %s is scaled by %s to %s (%s)", fg.reader.format.size_text, scale, fmt.size_text, why)
    return dataclasses.replace(fg, reader=ScaledReader(fg.reader, fmt))


def _scan(opts: Options, inputs: Inputs, fg_ring: FrameRing, bg_frames: int, seconds: Fraction,
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


def located(opts: Options, inputs: Inputs, fg_frames: int, bg_frames: int,
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
