"""One long pair across workers: fg cut into segments, each aligned and encoded by its own task, the parts
joined without re-encoding.

The first segment is the command's job on fg's first `seconds` (the search places fg and dates it); its
mapping's clock line (`analysis`) predicts where every later segment starts in bg. Each later task decodes
its fg segment and bg from a second before the predicted start (`io.inputs.Span`: ffmpeg seeks), gives the
aligner the first segment's placement and the predicted start (no search), and encodes its part with closed
GOPs and no audio. The parts are joined by ffmpeg's concat demuxer (stream copy) with the audio muxed once
over the whole, and their mappings are joined into one, in the pair's frame numbers.
"""

import contextlib
import dataclasses
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import cv2
import ffmpeg
import numpy as np

from .analysis import Track, analyse
from .decision import Decision
from .errors import VidkompyError
from .io.atomicfile import partial_name, remove_quietly
from .io.inputs import Span, ffmpeg_command, open_source, probe, seek_time
from .io.outputs import AudioSource, pick_audio
from .io.processes import ChildGroup
from .kernels.similarity import unit
from .options import Options, read_ahead
from .search.spatial import shrink


@dataclasses.dataclass(frozen=True)
class SegmentParams:
    """How a later segment finds its start in bg."""

    lead_seconds: Fraction = Fraction(1)  #: s of bg decoded before the start: room for the aligner's band
    reach_seconds: Fraction = Fraction(2)  #: s before the predicted start searched (a clock measured on a short
    #: first segment drifts; --search-seconds after it, as an edit in fg jumps bg forward)
    probe_seconds: Fraction = Fraction(1)  #: s of the segment's fg whose crops date it
    width: int = 64  #: px: crops are shrunk to about this width to be compared


@dataclasses.dataclass(frozen=True)
class Part:
    """One segment's outcome: its fg frames from `first`, bg frame numbers from `bg_first`, where it was put."""

    index: int
    first: int
    bg_first: int
    path: str
    rows: tuple[tuple[int, int, float], ...]  # (fg frame, bg frame, confidence) in the segment's own numbers
    x: int
    y: int
    scale: Fraction
    fg_rate: Fraction
    bg_rate: Fraction
    start: float  # the clock line at fg frame 0 (its first stretch), in the pair's bg frame numbers
    offset: float  # the clock line's last stretch (after the segment's cuts) at fg frame 0, likewise
    rate: float  # bg frames per fg frame
    low_confidence: int


def _options(opts: Options, path: str, **changes: object) -> Options:
    extra = f"{opts.encoder_args} -flags +cgop".strip()
    return dataclasses.replace(opts, output=path, audio="none", encoder_args=extra, overwrite=True, map_out=None,
                               report=None, quiet=True, **changes)


def run_part(opts: Options, index: int, first: int, frames: int | None, folder: str, fg_rate: Fraction,
             prior: "Part | None" = None, params: SegmentParams = SegmentParams()) -> Part:
    """Segment `index` (`frames` fg frames from `first`; None: to fg's end): the whole job for the first, else
    aligned from the start `prior` (the first segment) predicts, at its placement."""
    from .io.ffmpeg_tool import find_ffmpeg
    from .pipeline import run

    exe = find_ffmpeg(opts.ffmpeg)
    path = os.path.join(folder, f"part{index:05d}.mp4")
    track = Track()
    with ChildGroup() as group:
        fg_span = Span(seek_time(first, fg_rate), frames)
        fg = open_source("fg", opts.fg, exe, opts.pix_fmt, group, fg_span, read_ahead(opts))
        if prior is None:
            bg_first, start = 0, None
            job = _options(opts, path)
            sources = {"fg": fg}
        else:
            predicted = date(opts, exe, prior, first, params)
            bg_first = max(0, math.floor(predicted - params.lead_seconds * prior.bg_rate))
            bg = open_source("bg", opts.bg, exe, opts.pix_fmt, group, Span(seek_time(bg_first, prior.bg_rate)),
                             read_ahead(opts))
            start = Fraction(predicted - bg_first).limit_denominator(1 << 20) / prior.bg_rate
            job = _options(opts, path, x=prior.x, y=prior.y, scale=prior.scale)
            sources = {"fg": fg, "bg": bg}
        summary = run(job, exe, sources, record=track.add, start=start)
    fit = analyse(track, summary)
    rows = tuple(zip(track.fg.tolist(), track.bg.tolist(), track.confidence.tolist(), strict=True))
    return Part(index, first, bg_first, path, rows, summary.x, summary.y, summary.scale, summary.fg_rate,
                summary.bg_rate, fit.start + bg_first, float(fit.offsets[-1]) + bg_first, fit.rate,
                summary.low_confidence)


def _crops(source: Any, box: tuple[int, int, int, int] | None, size: tuple[int, int] | None, factor: int,
           count: int) -> np.ndarray:
    """Up to `count` frames of `source`, their luma under `box` (x, y, w, h; None: whole) resized to `size` (None:
    kept) and shrunk by `factor`, zero-mean and unit-norm (brightness and contrast drop out, as in the
    aligner's fingerprints)."""
    fmt, frame, out = source.reader.format, source.reader.format.new_frame(), []
    while len(out) < count and source.reader.readinto(frame):
        luma = fmt.plane_views(frame)[0]
        if box is not None:
            x, y, w, h = box
            luma = luma[y:y + h, x:x + w]
        if size is not None and size != (luma.shape[1], luma.shape[0]):
            luma = cv2.resize(luma, size, interpolation=cv2.INTER_AREA)
        out.append(unit(shrink(luma, factor)))
    return np.array(out)


def _curve(opts: Options, exe: str, prior: Part, first: int, lo: int, count: int,
           params: SegmentParams) -> np.ndarray | None:
    """How well the segment's first `probe_seconds` of fg, crop by crop along the first segment's rate, match bg
    started at each of bg frames lo..lo + count (the mean correlation); None where fg hangs over bg's edge."""
    assert opts.fg is not None and opts.bg is not None
    probes = max(2, math.ceil(params.probe_seconds * prior.fg_rate))
    steps = np.round(prior.rate * np.arange(probes)).astype(np.int64)
    with ChildGroup() as group:
        fg = open_source("fg", opts.fg, exe, opts.pix_fmt, group, Span(seek_time(first, prior.fg_rate), probes))
        bg = open_source("bg", opts.bg, exe, opts.pix_fmt, group, Span(seek_time(lo, prior.bg_rate)))
        fmt, bgf = fg.reader.format, bg.reader.format
        size = (round(fmt.width * prior.scale), round(fmt.height * prior.scale))
        if min(prior.x, prior.y) < 0 or prior.x + size[0] > bgf.width or prior.y + size[1] > bgf.height:
            return None
        factor = max(1, size[0] // params.width)
        fg_crops = _crops(fg, None, size, factor, probes)
        bg_crops = _crops(bg, (prior.x, prior.y, *size), None, factor, count + int(steps[-1]))
    starts = len(bg_crops) - int(steps[-1])
    if starts <= 0 or len(fg_crops) < probes:
        return None
    return np.array([np.einsum("ij,ij->", fg_crops, bg_crops[j + steps]) for j in range(starts)]) / probes


def date(opts: Options, exe: str, prior: Part, first: int, params: SegmentParams) -> float:
    """The bg frame (pair numbers) where fg frame `first` goes: the first segment's clock predicts it; the
    segment's first fg frames date it to the best match from `reach_seconds` before that to --search-seconds
    after it (an edit in fg jumps bg forward, as the whole run's search looks ahead); where nothing can be
    compared, the prediction stands."""
    predicted = prior.offset + prior.rate * first
    lo = max(0, math.floor(predicted - params.reach_seconds * prior.bg_rate))
    hi = math.ceil(predicted + opts.search_seconds * prior.bg_rate)
    curve = _curve(opts, exe, prior, first, lo, hi - lo + 1, params)
    if curve is None:
        return predicted
    return predicted + (lo + int(np.argmax(curve)) - math.floor(predicted))


def probe_rate(exe: str, opts: Options, group: ChildGroup) -> Fraction:
    """fg's exact frame rate, from its decoder's y4m header."""
    assert opts.fg is not None
    source = open_source("fg", opts.fg, exe, opts.pix_fmt, group, Span(Fraction(0), 1))
    rate = source.reader.format.rate
    source.stop()
    return rate


def plan(fg_seconds: float, fg_rate: Fraction, seconds: Fraction) -> list[tuple[int, int | None]]:
    """(first fg frame, frames) of each segment of `seconds`; the last runs to fg's end (frames None)."""
    total = math.ceil(fg_seconds * fg_rate)
    step = max(1, round(seconds * fg_rate))
    firsts = list(range(0, max(total, 1), step))
    if len(firsts) > 1 and total - firsts[-1] < step // 4:  # a sliver at the end goes with the segment before
        firsts.pop()
    return [(a, (b - a) if b is not None else None) for a, b in zip(firsts, [*firsts[1:], None], strict=True)]


def join(opts: Options, parts: Sequence[Part], exe: str) -> None:
    """The parts joined into opts.output (stream copy) with the audio once over the whole; the mappings joined
    into opts.map_out when asked."""
    assert opts.output is not None
    listing = os.path.join(os.path.dirname(parts[0].path), "parts.txt")
    with open(listing, "w") as f:
        f.writelines(f"file '{os.path.basename(p.path)}'\n" for p in parts)
    audio = _audio(opts, exe, parts[0])
    tmp = partial_name(opts.output)
    streams = [ffmpeg.input(listing, f="concat", safe=0)["v"], *([audio.stream()] if audio else [])]
    graph = ffmpeg.output(*streams, tmp, **{"c:v": "copy"}, **({"c:a": "aac", "shortest": None} if audio else {}))
    with ChildGroup() as group:
        child = group.spawn("join", ffmpeg_command(exe, graph, "-y"), stdout=None)
        if child.wait() != 0:
            remove_quietly(tmp)
            raise VidkompyError(f"join: ffmpeg failed: {child.failure()}")
    os.replace(tmp, opts.output)
    if opts.map_out:
        from .io.mapping import MappingWriter

        out = MappingWriter(opts.map_out)
        for d in joined_mapping(parts):
            out.write(d)
        out.commit()


def _audio(opts: Options, exe: str, first: Part) -> AudioSource | None:
    """The audio as --audio asks: fg's, else bg's from fg's start in bg (the first segment's clock line)."""
    assert opts.fg is not None and opts.bg is not None
    if opts.audio == "none":
        return None
    offset = first.start / float(first.bg_rate)
    fg, bg = (AudioSource(path, shift, role) if probe(exe, path, role).has_audio else None
              for role, path, shift in (("fg", opts.fg, 0.0), ("bg", opts.bg, offset)))
    return pick_audio(opts.audio, fg, bg)


def joined_mapping(parts: Sequence[Part]) -> list[Decision]:
    """Every part's decisions in the pair's fg and bg frame numbers."""
    return [Decision(p.first + i, p.bg_first + j, None if math.isnan(c) else c, p.x, p.y)
            for p in parts for i, j, c in p.rows]


@dataclasses.dataclass(frozen=True)
class Segmented:
    """What a segmented pair did, as `overlay`'s summary says it."""

    frames: int
    x: int
    y: int
    rate: float
    low_confidence: int
    parts: int


def run_segmented(opts: Options, fg_seconds: float, seconds: Fraction, submit: Callable[..., Any],
                  gather: Callable[[Sequence[Any]], list[Part]]) -> Segmented:
    """fg (`fg_seconds` long) in segments of `seconds`: the first one's task, then every later one's at once
    (`submit`, `gather`: a Dask client's, or plain calls), then the join."""
    from .io.ffmpeg_tool import find_ffmpeg

    assert opts.fg is not None and opts.output is not None
    exe = find_ffmpeg(opts.ffmpeg)
    folder = tempfile.mkdtemp(prefix=".vidkompy-parts-", dir=os.path.dirname(os.path.abspath(opts.output)))
    try:
        with ChildGroup() as group:
            rate = probe_rate(exe, opts, group)
        spans = plan(fg_seconds, rate, seconds)
        (first,) = gather([submit(run_part, opts, 0, *spans[0], folder, rate)])
        later = gather([submit(run_part, opts, k, a, n, folder, rate, first) for k, (a, n) in enumerate(spans[1:], 1)])
        parts = [first, *later]
        join(opts, parts, exe)
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(folder)
    return Segmented(sum(len(p.rows) for p in parts), first.x, first.y, first.rate,
                     sum(p.low_confidence for p in parts), len(parts))
