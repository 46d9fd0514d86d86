"""The baseline to beat: told where fg sits (the truth rect) and when it starts (the truth offset), nothing else.

For each fg frame i on its own it looks at the bg frames within +-`radius` of the nominal clock,
j0 = round(offset * bg_fps + i * bg_fps / fg_fps), and picks the one whose luma under the rect differs
least from fg's (mean absolute difference; ties go to the frame nearest j0). It never goes back: the
mapping format (like any composite) needs bg frames in order, so a frame's candidates start at the
previous pick. That follows drift, dropped frames and short repeats within the radius, and nothing it
cannot see from there (a cut jumping further). It is the rule a person would write first, handed the
two answers the aligner has to find itself: the aligner should be at least as exact wherever it finds
the right place and start. Its known blind spots: a bg grade (the raw difference prefers a wrong frame
whose content offsets a brightness change), fg frames before bg's start (truth: bg frame 0), and a
clip's ping-pong turn, where a picture from before the turn recurs after it within the radius (the
first pick of the later copy holds every frame after it back).

Streaming: fg and bg are decoded once, in order; only the luma crops of the last 2 * radius + 1 bg frames
are held. Writes the tool's --map-out CSV (mapping.MappingWriter), which score.py --map scores; -o OUT
also renders the composite by replaying that mapping through the tool (--map-in), for the suite, which
scores videos.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
from fractions import Fraction

import cv2
import numpy as np
from _common import Truth

from vidkompy_stream.alignment.timing import nearest_bg_frame
from vidkompy_stream.decision import Decision
from vidkompy_stream.errors import VidkompyError
from vidkompy_stream.io.ffmpeg_tool import find_ffmpeg
from vidkompy_stream.io.inputs import open_source
from vidkompy_stream.io.mapping import MappingWriter
from vidkompy_stream.io.processes import ChildGroup
from vidkompy_stream.io.y4m import Y4MReader

RADIUS = 20
TOOL = [sys.executable, "-m", "vidkompy_stream"]


class CropRing:
    """The luma crops at `rect` of the last `capacity` bg frames read, addressed by absolute bg frame index."""

    def __init__(self, reader: Y4MReader, rect: tuple[int, int, int, int], capacity: int) -> None:
        x, y, w, h = rect
        self.reader, self.capacity = reader, capacity
        self.frame = reader.format.new_frame()
        self.window = reader.format.plane_views(self.frame)[0][y : y + h, x : x + w]
        self.crops = np.empty((capacity, h, w), dtype=np.uint8)
        self.end = 0
        self.eof = False

    def fill_to(self, index: int) -> int:
        """Read bg up to frame `index` (or its end); return how many frames bg has shown so far."""
        while self.end <= index and not self.eof:
            if self.reader.readinto(self.frame):
                self.crops[self.end % self.capacity] = self.window
                self.end += 1
            else:
                self.eof = True
        return self.end

    def crop(self, index: int) -> np.ndarray:
        assert self.end - self.capacity <= index < self.end, f"bg frame {index} is no longer held"
        return self.crops[index % self.capacity]


def pick(fg_luma: np.ndarray, ring: CropRing, j0: int, floor: int, radius: int) -> int:
    """The bg frame in [max(floor, j0 - radius), j0 + radius] (clamped to bg) whose crop is nearest fg's luma."""
    hi = max(min(j0 + radius, ring.fill_to(j0 + radius) - 1), floor)
    lo = min(max(0, floor, j0 - radius), hi)
    cost = np.array([cv2.norm(fg_luma, ring.crop(j), cv2.NORM_L1) for j in range(lo, hi + 1)])
    best = lo + np.flatnonzero(cost == cost.min())
    return int(best[np.argmin(np.abs(best - j0))])


def align(truth: Truth, writer: MappingWriter, exe: str, radius: int = RADIUS) -> int:
    """Write one decision per fg frame; return the number of fg frames."""
    x, y = truth.rect[:2]
    offset = Fraction(truth.offset).limit_denominator(1 << 20)
    with ChildGroup() as group, contextlib.ExitStack() as stack:
        fg = open_source("fg", truth.fg_path, exe, "yuv420p", group)
        stack.callback(fg.close)
        bg = open_source("bg", truth.bg_path, exe, "yuv420p", group)
        stack.callback(bg.close)
        ring = CropRing(bg.reader, truth.rect, 2 * radius + 1)
        if ring.fill_to(0) == 0:
            raise VidkompyError(f"{truth.bg_path} has no frames")
        fg_rate, bg_rate = fg.reader.format.rate, bg.reader.format.rate
        fg_frame = fg.reader.format.new_frame()
        fg_luma = fg.reader.format.plane_views(fg_frame)[0]
        i = last = 0
        while fg.reader.readinto(fg_frame):
            last = pick(fg_luma, ring, nearest_bg_frame(i, fg_rate, bg_rate, offset), last, radius)
            writer.write(Decision(i, last, None, x, y))
            i += 1
        fg.finish()
    return i


def render(truth: Truth, csv: str, output: str) -> int:
    """The composite of the mapping, made by the tool replaying it (its exit code)."""
    return subprocess.call([*TOOL, "--fg", truth.fg_path, "--bg", truth.bg_path, "--map-in", csv, "-o", output,
                            "-y", "-q"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("truth", help="truth.json of a make_pair pair (only its rect and offset are used)")
    ap.add_argument("--map-out", metavar="CSV", required=True, help="write the mapping here")
    ap.add_argument("-o", "--output", metavar="OUT", help="also render the composite (the tool, --map-in)")
    ap.add_argument("--radius", metavar="N", type=int, default=RADIUS,
                    help=f"bg frames searched each side of the nominal one ({RADIUS})")
    ap.add_argument("--ffmpeg", metavar="PATH", help="ffmpeg binary (default: as the tool finds it)")
    args = ap.parse_args(argv)
    truth = Truth.load(args.truth)
    writer = MappingWriter(args.map_out)
    try:
        align(truth, writer, find_ffmpeg(args.ffmpeg), args.radius)
        writer.commit()
    except BaseException as exc:
        writer.abort()
        if isinstance(exc, VidkompyError):
            print(f"baseline: error: {exc}", file=sys.stderr)
            return 1
        raise
    return render(truth, args.map_out, args.output) if args.output else 0


if __name__ == "__main__":
    sys.exit(main())
