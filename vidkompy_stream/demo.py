"""--demo: a bg/fg pair made on the fly from ffmpeg's lavfi test source, then the full job on it.

bg is the whole picture at 30 fps, lower quality, with a 440 Hz tone; fg is a sharper 320x180 crop of
the same picture that starts 2 s later, at 25 fps, with an 880 Hz tone. The right answer is known by
construction: fg sits at (200, 96) and bg time = fg time + 2 s.
"""

import dataclasses
import logging
import os
import subprocess
import tempfile
from collections.abc import Callable
from fractions import Fraction
from typing import TypeVar

from .errors import VidkompyError
from .options import Options

log = logging.getLogger(__name__)
T = TypeVar("T")

SIZE = "640x360"
CROP = (320, 180, 200, 96)
START = 2.0
BG_SECONDS, FG_SECONDS = 12.0, 8.0
BG_RATE, FG_RATE = 30, 25


@dataclasses.dataclass(frozen=True)
class DemoPair:
    bg: str
    fg: str
    x: int
    y: int
    offset: Fraction


def make_pair(exe: str, folder: str) -> DemoPair:
    """Encode the demo pair into `folder`."""
    w, h, x, y = CROP
    bg = os.path.join(folder, "demo_bg.mp4")
    fg = os.path.join(folder, "demo_fg.mp4")
    jobs = [
        (bg, f"testsrc2=size={SIZE}:rate={BG_RATE}:duration={BG_SECONDS}", "sine=frequency=440", BG_SECONDS, 32),
        (
            fg,
            f"testsrc2=size={SIZE}:rate={FG_RATE}:duration={START + FG_SECONDS},trim=start={START},"
            f"setpts=PTS-STARTPTS,crop={w}:{h}:{x}:{y}",
            "sine=frequency=880",
            FG_SECONDS,
            16,
        ),
    ]
    for path, video, audio, seconds, crf in jobs:
        cmd = [
            exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", video, "-f", "lavfi", "-i", f"{audio}:duration={seconds}",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-shortest", path,
        ]
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True)
        if done.returncode != 0:
            raise VidkompyError(f"demo: ffmpeg could not make {os.path.basename(path)}: "
                                f"{done.stderr.decode(errors='replace').strip().splitlines()[-1:]}")
    return DemoPair(bg, fg, x, y, Fraction(START))


def run_demo(opts: Options, exe: str, run_pipeline: Callable[[Options, str], T]) -> T:
    """Make the pair in a temporary folder and run the job with the known placement and timing."""
    with tempfile.TemporaryDirectory(prefix="vidkompy-demo-") as folder:
        pair = make_pair(exe, folder)
        log.info("demo: bg %s %s fps %.0f s (440 Hz tone); fg a %dx%d crop at (%d, %d), %s fps, %.0f s, "
                 "starting %.1f s into bg (880 Hz tone)", SIZE, BG_RATE, BG_SECONDS, CROP[0], CROP[1], pair.x,
                 pair.y, FG_RATE, FG_SECONDS, pair.offset)
        job = dataclasses.replace(opts, fg=pair.fg, bg=pair.bg)
        return run_pipeline(job, exe)
