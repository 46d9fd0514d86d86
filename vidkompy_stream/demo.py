"""--demo: a bg/fg pair rendered on the fly, the full job on it, and the result checked against the pair.

The scene moves everywhere, as the random family's rendered scenes do (scripts/family.py): a camera
zooming and drifting over a Mandelbrot still with Conway's life screen-blended over it (ffmpeg's lavfi
`mandelbrot`, `zoompan`, `life`). bg shows the scene at 30 fps, at low quality, with a 440 Hz tone; fg is a
sharper crop at 25 fps whose clock runs 1 % fast (drift) and starts 2 s into bg, with an 880 Hz tone.
bg frame j *is* scene frame j, and every fg frame is a crop of one scene frame, so the right bg frame of
every fg frame is known exactly: the run's decisions are scored against it.
"""

import dataclasses
import logging
import os
import subprocess
import tempfile
from collections.abc import Callable
from fractions import Fraction
from typing import TypeVar

import numpy as np

from .errors import VidkompyError
from .io.processes import Child, ChildGroup
from .io.y4m import Y4MFormat, Y4MReader, Y4MWriter
from .options import Options

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class DemoScene:
    """The demo pair's recipe."""

    size: tuple[int, int] = (640, 360)  # bg's frame size (px)
    crop: tuple[int, int, int, int] = (320, 180, 200, 96)  # fg in bg: width, height, x, y (px, even)
    bg_rate: int = 30  # bg's frame rate (fps); the scene is rendered at it
    fg_rate: int = 25  # fg's frame rate (fps)
    speed: Fraction = Fraction(101, 100)  # fg's clock against bg's: 1 % fast
    start: int = 2  # bg time at fg frame 0 (s)
    bg_seconds: int = 12
    fg_seconds: int = 8
    bg_crf: int = 28  # bg's x264 quality: lower than fg's, as in a wide recording
    fg_crf: int = 16

    def graph(self) -> str:
        """The scene as a lavfi graph: zoompan over a Mandelbrot still, life screen-blended over it."""
        w, h = self.size
        rate, frames = self.bg_rate, self.bg_seconds * self.bg_rate
        still = (f"mandelbrot=size={2 * w}x{2 * h}:rate={rate}:maxiter=300:start_scale=1.5:end_scale=1.5,"
                 f"trim=end_frame=1,format=gbrp,loop=loop=-1:size=1,settb=1/{rate},setpts=N")
        camera = (f"zoompan=z='1.5+0.5*sin(on/90)':x='(iw-iw/zoom)*(0.5+0.4*sin(on/70))'"
                  f":y='(ih-ih/zoom)*(0.5+0.4*cos(on/110))':d=1:s={w}x{h}:fps={rate},format=gbrp")
        life = f"life=size={w}x{h}:rate={rate}:mold=10:ratio=0.3:seed=7,gblur=sigma=1,format=gbrp"
        return (f"{still},{camera}[b];{life}[l];[b][l]blend=all_mode=screen,format=yuv420p,"
                f"trim=end_frame={frames}")

    def truth(self) -> np.ndarray:
        """The scene frame (= bg frame) each fg frame shows."""
        step = self.speed * self.bg_rate / self.fg_rate
        first = self.start * self.bg_rate
        return np.array([first + round(k * step) for k in range(self.fg_seconds * self.fg_rate)], dtype=np.int64)


@dataclasses.dataclass(frozen=True)
class DemoPair:
    bg: str
    fg: str
    truth: np.ndarray  # the right bg frame of each fg frame


def _encoder(exe: str, group: ChildGroup, path: str, tone: int, seconds: int, crf: int) -> Child:
    cmd = [exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "yuv4mpegpipe", "-i", "-",
           "-f", "lavfi", "-i", f"sine=frequency={tone}:duration={seconds}", "-c:v", "libx264",
           "-preset", "veryfast", "-crf", str(crf), "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", path]
    return group.spawn(f"demo {os.path.basename(path)}", cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)


def _crop(fmt: Y4MFormat, frame: np.ndarray, crop_fmt: Y4MFormat, out: np.ndarray, x: int, y: int) -> None:
    """Copy the `crop_fmt`-sized rectangle at (x, y) (even) of a 4:2:0 frame into `out`."""
    for k, (src, dst) in enumerate(zip(fmt.plane_views(frame), crop_fmt.plane_views(out), strict=True)):
        shift = 0 if k == 0 else 1
        dst[:] = src[y >> shift:(y >> shift) + dst.shape[0], x >> shift:(x >> shift) + dst.shape[1]]


def _render(exe: str, scene: DemoScene, group: ChildGroup, bg: Child, fg: Child) -> None:
    """Render the scene once and feed bg every frame, fg the crops of the frames its clock shows."""
    renderer = group.spawn("demo scene", [exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "lavfi",
                                          "-i", scene.graph(), "-f", "yuv4mpegpipe", "-"])
    assert renderer.proc.stdout is not None and bg.proc.stdin is not None and fg.proc.stdin is not None
    reader = Y4MReader(renderer.proc.stdout, "demo scene")
    w, h, x, y = scene.crop
    fg_fmt = dataclasses.replace(reader.format, width=w, height=h, rate=Fraction(scene.fg_rate))
    bg_out, fg_out = Y4MWriter(bg.proc.stdin, reader.format), Y4MWriter(fg.proc.stdin, fg_fmt)
    frame, crop = reader.format.new_frame(), fg_fmt.new_frame()
    truth, k, n = scene.truth(), 0, 0
    while k < len(truth) and reader.readinto(frame):
        bg_out.write(frame)
        _crop(reader.format, frame, fg_fmt, crop, x, y)
        while k < len(truth) and truth[k] == n:
            fg_out.write(crop)
            k += 1
        n += 1
    while reader.readinto(frame):  # bg goes on after fg's last frame
        bg_out.write(frame)
    if k < len(truth):
        raise VidkompyError(f"demo: the scene ended after {n} frames, before fg's frame {k}")


def make_pair(exe: str, folder: str, scene: DemoScene = DemoScene()) -> DemoPair:
    """Render and encode the demo pair into `folder`."""
    bg, fg = os.path.join(folder, "demo_bg.mp4"), os.path.join(folder, "demo_fg.mp4")
    with ChildGroup() as group:
        encoders = (_encoder(exe, group, bg, 440, scene.bg_seconds, scene.bg_crf),
                    _encoder(exe, group, fg, 880, scene.fg_seconds, scene.fg_crf))
        try:
            _render(exe, scene, group, *encoders)
        except BrokenPipeError:
            pass  # an encoder stopped: its own message follows
        for child in group.children:
            for stream in (child.proc.stdin, child.proc.stdout):
                if stream is not None:
                    stream.close()
            if child.wait() != 0:
                raise VidkompyError(f"{child.role}: ffmpeg failed: {child.failure()}")
    return DemoPair(bg, fg, scene.truth())


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The run's decisions against the pair's truth."""

    frames: int
    wrong: tuple[tuple[int, int, int], ...]  # (fg frame, bg frame shown, right bg frame)

    def log(self, listed: int = 20) -> None:
        line = f"demo: {self.frames - len(self.wrong)} of {self.frames} fg frames over the right bg frame"
        if not self.wrong:
            log.info("%s", line)
            return
        shown = ", ".join(f"fg {i} over bg {j} (right: {t})" for i, j, t in self.wrong[:listed])
        more = f" and {len(self.wrong) - listed} more" if len(self.wrong) > listed else ""
        log.warning("%s; wrong: %s%s", line, shown, more)


def score(shown: np.ndarray, truth: np.ndarray) -> Verdict:
    """Which fg frames went over another bg frame (`shown`, one per fg frame) than the one they were cut from;
    frames the run did not decide count as wrong."""
    wrong = tuple((i, int(shown[i]) if i < len(shown) else -1, int(t)) for i, t in enumerate(truth)
                  if i >= len(shown) or shown[i] != t)
    return Verdict(len(truth), wrong)


def run_demo(opts: Options, exe: str, run: Callable[[Options, str], T]) -> tuple[T, np.ndarray]:
    """Make the pair in a temporary folder and run the job on it as given (nothing told); the run's result and
    the right bg frame of each fg frame, to score its decisions with."""
    scene = DemoScene()
    with tempfile.TemporaryDirectory(prefix="vidkompy-demo-") as folder:
        log.info("demo: rendering a pair: bg %dx%d at %d fps for %d s (440 Hz tone); fg a %dx%d crop at (%d, %d), "
                 "%d fps, clock %+.1f %%, starting %d s into bg (880 Hz tone)", *scene.size, scene.bg_rate,
                 scene.bg_seconds, *scene.crop, scene.fg_rate, 100 * float(scene.speed - 1), scene.start)
        pair = make_pair(exe, folder, scene)
        return run(dataclasses.replace(opts, fg=pair.fg, bg=pair.bg), exe), pair.truth
