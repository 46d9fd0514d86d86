"""The job description: every command-line option as one dataclass (parsed by argparse-dataclass).

No `from __future__ import annotations` here: argparse-dataclass reads the field types at runtime, and
it understands `Optional[X]` but not `X | None`.
"""

import argparse
import dataclasses
import importlib.util
import os
import tempfile
from collections.abc import Callable
from dataclasses import field
from fractions import Fraction
from typing import Literal, Optional

from .errors import UsageError, VidkompyError

PIX_FMTS = ("yuv420p", "yuv422p", "yuv444p", "gray")


def seconds(text: str) -> Fraction:
    """A time in seconds, kept exact: a decimal (12.5) or a fraction (1001/30000), so frame rounding never drifts."""
    try:
        return Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r} (e.g. 12.5 or 1001/30000)") from None


def factor(text: str) -> Optional[Fraction]:
    """A positive scale factor, kept exact: a decimal (0.5) or a fraction (2/3); None for "auto"."""
    if text.strip() == "auto":
        return None
    try:
        value = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        value = Fraction(0)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"not a positive number or auto: {text!r} (e.g. 0.5, 2/3 or auto)")
    return value


def _opt(*flags: str, help: str, metavar: Optional[str] = None, default: object = None,
         type: Optional[Callable[[str], object]] = None) -> object:
    meta: dict[str, object] = {"help": help}
    if type is not None:
        meta["type"] = type
    if flags:
        meta["args"] = list(flags)
    if metavar:
        meta["metavar"] = metavar
    return field(default=default, metadata=meta)


@dataclasses.dataclass
class Options:
    fg: Optional[str] = _opt(
        metavar="FG", help="foreground: media file, y4m file or FIFO, or - for y4m on stdin "
        "(default: - when stdin is not a terminal)"
    )
    bg: Optional[str] = _opt(metavar="BG", help="background that contains fg: media file, y4m file or FIFO, or -")
    output: Optional[str] = _opt(
        "-o", "--output", metavar="OUT", help="output file (encoded by ffmpeg; a .y4m file is written as "
        "raw y4m), or - for y4m on stdout (default: - when stdout is not a terminal)"
    )
    x: Optional[int] = _opt(metavar="PX", help="fg left edge in bg pixels, negative when fg hangs over bg's left "
                            "edge (--x=-16) (default: found by searching bg)")
    y: Optional[int] = _opt(metavar="PX", help="fg top edge in bg pixels (default: found by searching bg)")
    scale: Optional[Fraction] = _opt(
        metavar="S", type=factor, default=Fraction(1), help="fg's scale in bg: every fg frame is resized by S "
        "before it is aligned and pasted, for fg recorded at a higher resolution than bg shows it (2/3: a "
        "1920x1080 fg shown at 1280x720 in bg); auto: the search measures it (1 down to 1/2, to the pixel) "
        "(default: 1, fg's pixels untouched)"
    )
    search_seconds: Fraction = _opt(
        metavar="SEC", type=seconds, default=Fraction(30), help="look for fg's first frames in this much of bg's "
        "start (a bg file: all of it, for the best match; a pipe: until the first match); after an edit in fg, "
        "bg is searched this far ahead (default: 30)"
    )
    force: bool = _opt(default=False, help="use the best placement found even if too weak to count as found")
    offset: Optional[Fraction] = _opt(
        metavar="SEC", type=seconds, help="bg time = fg time + SEC (decimal or exact fraction, e.g. 1001/30000); "
        "each fg frame gets the bg frame nearest that time (default: 0, both start together)"
    )
    engine: Literal["dtw", "tunnel", "tunnel-mask"] = _opt(
        default="dtw", help="online aligner: windowed DTW, or the tunnel (best forward match, confirmed by a "
        "backward pass inside the lookahead); tunnel-mask is the tunnel comparing only fg's content pixels, "
        "leaving out areas that stay dark and still (black corners, a vignette) (default: dtw)"
    )
    lookahead: Fraction = _opt(
        metavar="SEC", type=seconds, default=Fraction(1, 2), help="the aligner decides each fg frame after seeing "
        "this much more of fg; the output lags input by as much, and bg frames that long are held (default: 0.5)"
    )
    refine: Literal["off", "fast", "full"] = _opt(
        default="fast", help="re-check the aligner's choice against its neighbouring bg frames with pixels: "
        "fast (crop at ~240 px wide, +-2 frames), full (~480 px, +-3), or off (default: fast)"
    )
    map_in: Optional[str] = _opt(
        metavar="CSV", help="replay a mapping: rows fg_frame,bg_frame[,confidence][,x,y] (from --map-out)"
    )
    map_out: Optional[str] = _opt(metavar="CSV", help="write the per-frame mapping used, same format as --map-in")
    report: Optional[str] = _opt(
        metavar="PNG", help="draw the run in one picture: bg time against fg time with the fitted clock line and "
        "the drift, each frame's distance from that line (drift, drops, cuts), the confidence per frame, and a "
        "header with the placement, scale, search scores, start and rate (needs matplotlib: "
        "pip install 'vidkompy-stream[report]')"
    )
    analyze: bool = _opt(
        default=False, help="search and align only: print a JSON summary on stdout (placement, scale, start, rate "
        "and drift, frames, low-confidence frames, cuts) and write no video; --map-out and --report still apply"
    )
    feather: int = _opt(metavar="PX", default=0, help="alpha ramp this wide on fg edges not flush with the frame "
                        "border (default: 0, hard edges)")
    audio: Literal["auto", "fg", "bg", "none"] = _opt(
        default="auto", help="audio for -o FILE: from fg, from bg (shifted to stay in sync), or none; "
        "auto takes fg's, else bg's (default: auto)"
    )
    vcodec: str = _opt(metavar="CODEC", default="libx264", help="video encoder for -o FILE (default: libx264)")
    crf: Optional[int] = _opt(metavar="N", help="encoder quality (default: 18 for x264/x265)")
    preset: Optional[str] = _opt(metavar="NAME", help="encoder preset (default: veryfast for x264/x265)")
    encoder_args: str = _opt(
        metavar="ARGS", default="", help="extra ffmpeg output options for -o FILE, one string, e.g. '-tune film -g 250'"
    )
    read_ahead: Optional[int] = _opt(
        metavar="MIB",
        help="decoded video read ahead of the run from each input ffmpeg decodes, in MiB, so that decoding goes on "
             "while the run computes: faster, for that much memory (default: 16 with a given timing, --offset or "
             "--map-in; 0 when aligning, whose search keeps the tool busy while the decoder waits anyway)")
    pix_fmt: Literal["yuv420p", "yuv422p", "yuv444p", "gray"] = _opt(
        default="yuv420p", help="planar format media files are decoded to (default: yuv420p)"
    )
    overwrite: bool = _opt("-y", "--overwrite", default=False, help="overwrite an existing output file")
    ffmpeg: Optional[str] = _opt(metavar="PATH", help="ffmpeg binary (default: ffmpeg on PATH, else imageio-ffmpeg's)")
    demo: bool = _opt(default=False, help="render a demo pair with ffmpeg (fg drifting at another frame rate), run the "
                      "job on it and score the result against the pair")
    progress: bool = _opt(default=False, help="show the progress bar even when stderr is not a terminal")
    quiet: bool = _opt("-q", "--quiet", default=False, help="print nothing but errors")
    verbose: bool = _opt("-v", "--verbose", default=False, help="debug log, ffmpeg command lines, tracebacks")
    version: bool = _opt(default=False, help="print the version and exit")


def check(opts: Options) -> None:
    """Refuse option combinations no run can do (UsageError), and an output that could not be written
    (VidkompyError): shared by the command line and the Python API."""
    if (opts.x is None) != (opts.y is None):
        raise UsageError("give --x and --y together")
    if opts.scale is None and opts.x is not None:
        raise UsageError("--scale auto is measured by the search, which --x/--y skip: give the scale (--scale S)")
    if opts.search_seconds <= 0:
        raise UsageError("--search-seconds must be positive")
    if opts.lookahead <= 0:
        raise UsageError("--lookahead must be positive")
    if opts.offset is not None and opts.map_in is not None:
        raise UsageError("--offset and --map-in both set the timing; give one")
    if opts.feather < 0:
        raise UsageError("--feather must not be negative")
    if opts.read_ahead is not None and opts.read_ahead < 0:
        raise UsageError("--read-ahead must not be negative")
    if opts.crf is not None and opts.crf < 0:
        raise UsageError("--crf must not be negative")
    if opts.analyze and opts.output is not None:
        raise UsageError("--analyze writes no video: leave out -o")
    if opts.output is not None and opts.output != "-":
        _check_output(opts.output, opts.overwrite)
    if opts.report is not None and importlib.util.find_spec("matplotlib") is None:
        raise VidkompyError("--report needs matplotlib: python3 -m pip install 'vidkompy-stream[report]'")


def read_ahead(opts: Options) -> int:
    """MiB of each decoder's output to read ahead (`--read-ahead`): by default only when the timing is given.
    There, the run is the decoders' pace and a read-ahead lets them decode while frames are composited (given
    timing at 1080p: 0.80-0.92 of the wall time without); an aligned run's search is the tool's own work, so the
    decoders idle either way and the buffers only cost memory (BENCHMARKS "Speed")."""
    if opts.read_ahead is not None:
        return opts.read_ahead
    return 16 if opts.offset is not None or opts.map_in is not None else 0


def _check_output(path: str, overwrite: bool) -> None:
    """Refuse early what would only fail after the whole video was processed."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.exists(folder):
        raise VidkompyError(f"output directory does not exist: {folder}")
    if not os.path.isdir(folder):
        raise VidkompyError(f"output directory is not a directory: {folder}")
    try:  # access() says yes to root even where nothing can be created (read-only mounts, sysfs)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise VidkompyError(f"output directory is not writable: {folder} ({exc.strerror})") from None
    if os.path.isdir(path):
        raise VidkompyError(f"output is a directory: {path}")
    if os.path.exists(path) and not overwrite:
        raise VidkompyError(f"output exists: {path} (use -y to overwrite)")
