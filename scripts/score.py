"""Score a composited video against a truth file (make_pair.py), from the pixels alone, streaming.

For each output frame i:
  * fg: the truth rect of the output against fg frame i, as luma PSNR. A misplaced or damaged fg
    scores low. The rect's outer `margin` pixels are left out, so a feathered edge costs nothing.
  * timing: the output outside the rect (grown by `margin`) against the bg frames within `window`
    frames of the truth set. The bg frames whose MSE is within `eps` of the lowest are those the tool
    may have used: the pixels cannot tell them apart (static footage, or bg repeating a source frame).
    The error is the smallest distance in bg frames from one of them to the truth set (0 when a truth
    frame is among them); it is capped by the window, so errors at the cap are lower bounds.
The output went through a lossy encoder, so frames are matched by least MSE, never by equality.
Three decoders run at once (output, fg, bg); bg frames sit in a ring of window size.

--map CSV (the tool's --map-out) scores the tool's own decisions directly: a row is right when its
bg frame is in the truth set (strict: the CSV carries no pixels), and its x,y are checked against the
rect. Frames missing from the output or the CSV count as wrong.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import sys
from typing import TextIO

import cv2
import numpy as np
from _common import Truth

from vidkompy_stream.errors import VidkompyError
from vidkompy_stream.io.ffmpeg_tool import find_ffmpeg
from vidkompy_stream.io.framering import FrameRing
from vidkompy_stream.io.inputs import open_source
from vidkompy_stream.io.mapping import read_mapping
from vidkompy_stream.io.processes import ChildGroup

#: PSNR reported for a pixel-identical rect (an infinite PSNR would break means and JSON).
PSNR_CAP = 100.0


def set_distance(j: int, lo: int, hi: int) -> int:
    """How many bg frames j lies outside [lo, hi] (0 inside)."""
    return max(lo - j, j - hi, 0)


@dataclasses.dataclass
class FrameStats:
    """Running totals of per-frame timing errors: the report's rates, in bounded memory."""

    scored: int = 0
    exact: int = 0
    within1: int = 0
    error_sum: int = 0
    error_max: int = 0

    def add(self, error: int) -> None:
        self.scored += 1
        self.exact += error == 0
        self.within1 += error <= 1
        self.error_sum += error
        self.error_max = max(self.error_max, error)

    def report(self, total: int) -> dict[str, float | int | None]:
        """Rates over all `total` fg frames (frames never scored count as wrong); errors over scored frames."""
        return {
            "scored": self.scored,
            "exact_rate": self.exact / total if total else 0.0,
            "within1_rate": self.within1 / total if total else 0.0,
            "mean_error": self.error_sum / self.scored if self.scored else None,
            "max_error": self.error_max,
        }


def _psnr(mse: float) -> float:
    return PSNR_CAP if mse <= 0 else min(PSNR_CAP, 10 * math.log10(255 * 255 / mse))


def outside_mask(size: tuple[int, int], rect: tuple[int, int, int, int], margin: int) -> np.ndarray:
    """1 where bg shows (outside the rect grown by margin), 0 elsewhere; cv2.norm's mask form."""
    w, h = size
    x, y, rw, rh = rect
    mask = np.ones((h, w), dtype=np.uint8)
    mask[max(0, y - margin) : y + rh + margin, max(0, x - margin) : x + rw + margin] = 0
    return mask


def inner_rect(rect: tuple[int, int, int, int], margin: int) -> tuple[slice, slice]:
    """The rect without its outer margin, in fg coordinates (the whole rect if too small to shrink)."""
    _, _, w, h = rect
    m = margin if min(w, h) > 4 * margin else 0
    return slice(m, h - m), slice(m, w - m)


def score_video(truth: Truth, output: str, exe: str, *, margin: int = 4, window: int = 8,
                eps: float = 0.1) -> dict[str, object]:
    """Score the composited `output` against `truth` (see the module doc)."""
    W, H = truth.size
    x, y, w, h = truth.rect
    mask = outside_mask(truth.size, truth.rect, margin)
    area = int(mask.sum())
    if area == 0:
        raise VidkompyError("fg covers all of bg: timing cannot be scored from pixels (use --map)")
    rows, cols = inner_rect(truth.rect, margin)
    stats = FrameStats()
    psnr_sum, psnr_min = 0.0, PSNR_CAP
    indistinguishable = capped = 0
    capacity = int((truth.hi - truth.lo).max()) + 1 + 2 * window
    with ChildGroup() as group, contextlib.ExitStack() as stack:
        # yuv420p, not gray: ffmpeg's gray is full range, which would stretch limited-range luma.
        out = open_source("output", output, exe, "yuv420p", group)
        stack.callback(out.close)
        fg = open_source("fg", truth.fg_path, exe, "yuv420p", group)
        stack.callback(fg.close)
        bg = open_source("bg", truth.bg_path, exe, "yuv420p", group)
        stack.callback(bg.close)
        if (out.reader.format.width, out.reader.format.height) != (W, H):
            raise VidkompyError(f"output is {out.reader.format.size_text}, bg is {W}x{H}")
        if (fg.reader.format.width, fg.reader.format.height) != (w, h):
            raise VidkompyError(f"fg is {fg.reader.format.size_text}, the truth rect is {w}x{h}")
        out_frame, fg_frame = out.reader.format.new_frame(), fg.reader.format.new_frame()
        out_luma, fg_luma = out.reader.format.plane_views(out_frame)[0], fg.reader.format.plane_views(fg_frame)[0]
        bg_luma = bg.reader.format.plane_views
        ring = FrameRing(bg.reader, capacity)
        frames = 0
        while out.reader.readinto(out_frame):
            i, frames = frames, frames + 1
            if i >= truth.fg_frames:
                continue
            if not fg.reader.readinto(fg_frame):
                raise VidkompyError(f"{truth.fg_path} ends at frame {i}; the truth has {truth.fg_frames}")
            a, b = out_luma[y : y + h, x : x + w][rows, cols], fg_luma[rows, cols]
            psnr = _psnr(cv2.norm(a, b, cv2.NORM_L2SQR) / a.size)
            psnr_sum, psnr_min = psnr_sum + psnr, min(psnr_min, psnr)

            lo, hi = int(truth.lo[i]), int(truth.hi[i])
            first, last = max(0, lo - window), min(truth.bg_frames - 1, hi + window)
            ring.release_before(first)
            while last >= first and not ring.fill_to(last):
                last = ring.end - 1
            if last < hi:
                raise VidkompyError(f"{truth.bg_path} ends at frame {ring.end - 1}; truth needs {hi}")
            mse = np.array([cv2.norm(out_luma, bg_luma(ring.frame(j))[0], cv2.NORM_L2SQR, mask) / area
                            for j in range(first, last + 1)])
            best = first + int(np.argmin(mse))
            # The tool's frame is one of those the pixels cannot tell from the best match (a truth frame
            # among them makes it right; repeated bg copies of one source frame make the nearest count).
            alike = first + np.flatnonzero(mse - mse[best - first] <= eps)
            error = min(set_distance(int(j), lo, hi) for j in alike)
            if error < set_distance(best, lo, hi):
                indistinguishable += 1
            elif error and ((best == first > 0) or (best == last < truth.bg_frames - 1)):
                capped += 1  # the tool's frame may lie beyond the window: the error is a lower bound
            stats.add(error)
        out.finish()
    report: dict[str, object] = {
        "output_frames": frames,
        "fg_frames": truth.fg_frames,
        **stats.report(truth.fg_frames),
        "indistinguishable": indistinguishable,
        "capped_errors": capped,
        "fg_psnr_mean": psnr_sum / stats.scored if stats.scored else None,
        "fg_psnr_min": psnr_min if stats.scored else None,
    }
    return report


def score_map(truth: Truth, path: str) -> dict[str, object]:
    """Score the tool's --map-out CSV: bg frame in the truth set, and x,y equal to the rect's."""
    stats = FrameStats()
    placed = rows = 0
    with open(path, newline="") as stream:
        for d in read_mapping(stream, path):
            rows += 1
            if d.fg_frame >= truth.fg_frames:
                continue
            stats.add(set_distance(d.bg_frame, int(truth.lo[d.fg_frame]), int(truth.hi[d.fg_frame])))
            placed += (d.x, d.y) == truth.rect[:2]
    return {"map_rows": rows, "fg_frames": truth.fg_frames, **stats.report(truth.fg_frames),
            "placement_rate": placed / truth.fg_frames if truth.fg_frames else 0.0}


def map_errors(truth: Truth, path: str) -> np.ndarray:
    """Per fg frame, how many bg frames the CSV's choice lies outside the truth set (-1: no row), for measures
    along fg that score_map's totals cannot give (how long the tool takes to recover after a cut)."""
    errors = np.full(truth.fg_frames, -1, dtype=np.int64)
    with open(path, newline="") as stream:
        for d in read_mapping(stream, path):
            if d.fg_frame < truth.fg_frames:
                errors[d.fg_frame] = set_distance(d.bg_frame, int(truth.lo[d.fg_frame]), int(truth.hi[d.fg_frame]))
    return errors


def _pct(v: object) -> str:
    return f"{100 * float(v):6.2f} %"  # type: ignore[arg-type]


def _num(v: object, unit: str = "") -> str:
    """A mean or minimum, or '-' when nothing was scored."""
    return "-" if v is None else f"{v:.3f}{unit}"


def print_table(report: dict[str, dict[str, object]], stream: TextIO) -> None:
    """The human summary: one block per scored source."""
    lines: list[tuple[str, str]] = []
    video = report.get("video")
    if video:
        lines += [
            ("output frames", f"{video['output_frames']} (fg has {video['fg_frames']})"),
            ("exact frame", f"{_pct(video['exact_rate'])}  ({video['indistinguishable']} of them by identical pixels)"),
            ("within 1 frame", _pct(video["within1_rate"])),
            ("frame error", f"mean {_num(video['mean_error'])}, max {video['max_error']}"
                            + (f" ({video['capped_errors']} at the window cap)" if video["capped_errors"] else "")),
            ("fg PSNR (luma)", f"mean {_num(video['fg_psnr_mean'], ' dB')}, min {_num(video['fg_psnr_min'], ' dB')}"),
        ]
    mapping = report.get("map")
    if mapping:
        lines += [
            ("map rows", f"{mapping['map_rows']} (fg has {mapping['fg_frames']})"),
            ("map exact frame", _pct(mapping["exact_rate"])),
            ("map within 1", _pct(mapping["within1_rate"])),
            ("map frame error", f"mean {_num(mapping['mean_error'])}, max {mapping['max_error']}"),
            ("map placement", _pct(mapping["placement_rate"])),
        ]
    for name, value in lines:
        print(f"{name:16} {value}", file=stream)


EXAMPLES = """\
examples:
  python scripts/score.py pairs/fps_50_25/truth.json out.mp4
  python scripts/score.py truth.json out.mp4 --map map.csv --json
  python scripts/score.py truth.json --map map.csv          (the CSV alone: no decoding, instant)
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=EXAMPLES,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("truth", help="truth.json from make_pair.py")
    ap.add_argument("output", nargs="?", help="the composited video to score")
    ap.add_argument("--map", metavar="CSV", help="the tool's --map-out CSV, scored directly")
    ap.add_argument("--margin", metavar="PX", type=int, default=4,
                    help="px around the rect left out of both comparisons (4)")
    ap.add_argument("--window", metavar="N", type=int, default=8,
                    help="bg frames searched each side of the truth set (8)")
    ap.add_argument("--eps", metavar="MSE", type=float, default=0.1,
                    help="luma MSE within which a bg frame is as good as the truth frame (0.1)")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    ap.add_argument("--ffmpeg", metavar="PATH", help="ffmpeg binary (default: as the tool finds it)")
    args = ap.parse_args(argv)
    if args.output is None and args.map is None:
        ap.error("give the output video, --map CSV, or both")
    truth = Truth.load(args.truth)
    report: dict[str, dict[str, object]] = {}
    try:
        if args.output:
            report["video"] = score_video(truth, args.output, find_ffmpeg(args.ffmpeg), margin=args.margin,
                                          window=args.window, eps=args.eps)
        if args.map:
            report["map"] = score_map(truth, args.map)
    except VidkompyError as exc:
        print(f"score: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print_table(report, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
