"""Opening --fg/--bg: y4m on stdin, a y4m file or FIFO read directly, or any media file decoded by ffmpeg.

Whatever the source, the result is an `InputReader` (a `Y4MReader`): the rest of the pipeline sees only
y4m frames. Media files are decoded at native size and rate to a fixed 8-bit planar format
(`--pix-fmt`), at constant frame rate (ffmpeg duplicates or drops frames of variable-rate files; a file
whose frame size changes mid-stream is scaled by ffmpeg to its first size, ffmpeg's default). No
ffprobe: `ffmpeg -i FILE` tells us whether the file has video and audio, its duration and its rates.

An input whose data goes bad mid-stream (a file cut short, a y4m frame cut short or followed by garbage,
a decoder that reports errors but exits cleanly) ends at its last good frame: the run goes on with the
frames it has and `report_damage` fails it only once the output is complete. A decoder that fails or is
killed is an error as soon as its stream ends, and the output is discarded: rerunning may succeed.
"""

import dataclasses
import io
import logging
import os
import re
import stat
import subprocess
import sys
from collections.abc import Sequence
from fractions import Fraction
from typing import BinaryIO

import ffmpeg
import numpy as np

from ..errors import InputDamaged, VidkompyError, Y4MError
from .processes import Child, ChildGroup, enlarge_pipe, threads_each
from .y4m import MAGIC, Y4MReader

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 30.0
#: how long a decoder may take to exit once its output stream has ended
EXIT_TIMEOUT = 30.0
READ_BUFFER = 1 << 16


@dataclasses.dataclass(frozen=True)
class MediaInfo:
    """What `ffmpeg -i FILE` says about a media file."""

    has_audio: bool
    duration: float | None
    fps: float | None
    tbr: float | None


class InputReader(Y4MReader):
    """A Y4MReader that ends its stream at the first bad frame instead of raising, keeping the reason in
    `damage`, and that checks its decoder's exit (if it has one) the moment the stream ends."""

    def __init__(self, stream: BinaryIO, name: str, decoder: Child | None = None, spec: str = "") -> None:
        super().__init__(stream, name)
        self.decoder, self.spec = decoder, spec
        self.damage: str | None = None
        self.ended = False

    def readinto(self, frame: np.ndarray) -> bool:
        if self.ended:
            return False
        try:
            if super().readinto(frame):
                return True
        except Y4MError as exc:
            self.damage = str(exc)
        self.end()
        return False

    def close(self) -> None:
        self.stream.close()

    def end(self) -> None:
        """Mark the stream ended; a decoder that failed raises, one that reported errors marks damage."""
        self.ended = True
        decoder, self.decoder = self.decoder, None
        if decoder is None:
            return
        try:
            code = decoder.wait(EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise VidkompyError(f"{self.name}: ffmpeg decoding {self.spec} stopped sending frames but did not "
                                "exit") from None
        if code != 0:
            raise VidkompyError(f"{self.name}: ffmpeg failed decoding {self.spec}: {decoder.failure()}")
        if decoder.tail:
            self.damage = f"{self.name}: ffmpeg reported an error decoding {self.spec}: {decoder.failure()}"


def seek_time(frame: int, rate: Fraction) -> Fraction:
    """The time to seek to for `frame` to come first: half a frame before it (the frame at or after the seek
    time comes first, and timestamps are rounded to the container's time base)."""
    return max(Fraction(0), (frame - Fraction(1, 2)) / rate)


@dataclasses.dataclass(frozen=True)
class Span:
    """Part of a media file: decoding starts at `seek` s (the frame at or after it comes first: give a time half
    a frame before the frame wanted) and stops after `frames` frames (None: at the end)."""

    seek: Fraction
    frames: int | None = None


@dataclasses.dataclass
class Source:
    """An opened input: frames come from `reader`; `media` is set when it is a decodable file."""

    role: str
    spec: str
    reader: InputReader
    child: Child | None = None
    media: str | None = None
    info: MediaInfo | None = None

    def close(self) -> None:
        """Close a file we opened ourselves (stdin and decoder pipes are closed by their owners)."""
        if self.child is None and self.spec != "stdin":
            self.reader.close()

    def stop(self) -> None:
        """Read no more: its decoder (if any) stopped, a file we opened closed."""
        if self.child is not None:
            self.child.stop()
        self.close()

    def finish(self) -> None:
        """After the last frame: a failed decode is an error, not a short video (checked once)."""
        self.reader.end()


def report_damage(sources: Sequence[Source], frames: int, output: str | None) -> None:
    """Once the output is complete, fail the run (exit 1) if an input ended in damaged data. The output is
    kept: it holds everything the valid part of the input gives, and rerunning cannot recover more."""
    for source in sources:
        if source.reader.damage:
            target = {"-": "y4m on stdout", None: "the mapping"}.get(output, output)
            raise InputDamaged(f"{source.reader.damage}; stopped reading {source.role} there, "
                               f"{target} holds the {frames} frames made")


def ffmpeg_command(exe: str, spec: object, *global_args: str) -> list[str]:
    """An ffmpeg command line from an ffmpeg-python graph, quiet and never reading the terminal."""
    return [exe, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", *global_args, *ffmpeg.get_args(spec)]


def _number(pattern: str, text: str) -> float | None:
    found = re.search(pattern, text)
    return float(found.group(1)) if found else None


def probe(exe: str, path: str, role: str) -> MediaInfo:
    """Read stream facts from `ffmpeg -i` (it exits non-zero since no output is given; that is expected)."""
    try:
        done = subprocess.run(
            [exe, "-hide_banner", "-nostdin", "-i", path],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=PROBE_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        raise VidkompyError(f"{role}: ffmpeg took over {PROBE_TIMEOUT:.0f} s to open {path}") from None
    text = done.stderr.decode("utf-8", "replace")
    video = re.search(r"Stream #\d+:\d+.*?: Video: (.*)", text)
    if video is None:
        errors = [line for line in text.splitlines() if "rror" in line or "nvalid" in line]
        why = errors[-1].split("] ", 1)[-1] if errors else "no video stream"
        raise VidkompyError(f"{role}: not a readable video: {path} ({why})")
    duration = re.search(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)", text)
    seconds = None
    if duration:
        h, m, s = duration.groups()
        seconds = int(h) * 3600 + int(m) * 60 + float(s)
    return MediaInfo(
        has_audio=re.search(r"Stream #\d+:\d+.*?: Audio: ", text) is not None,
        duration=seconds,
        fps=_number(r"([\d.]+) fps", video.group(1)),
        tbr=_number(r"([\d.]+)k? tbr", video.group(1)),
    )


def _decode(exe: str, path: str, role: str, pix_fmt: str, group: ChildGroup, span: Span | None,
            read_ahead: int) -> Source:
    info = probe(exe, path, role)
    if info.fps and info.tbr and abs(info.fps - info.tbr) > 0.01 * info.tbr:
        log.info(
            "%s looks variable-frame-rate (%.3g fps average, %.3g tbr): ffmpeg converts it to constant rate",
            role, info.fps, info.tbr,
        )
    stream = ffmpeg.input(path, threads=threads_each(), **({} if span is None else {"ss": f"{float(span.seek):.6f}"}))
    stream = stream["v:0"]
    if span is not None:  # the first frame after a seek starts the clock: else the cfr output repeats it
        stream = stream.filter("setpts", "PTS-STARTPTS")
    limit = {} if span is None or span.frames is None else {"frames:v": span.frames}
    graph = stream.output("pipe:", format="yuv4mpegpipe", pix_fmt=pix_fmt, fps_mode="cfr", **limit)
    child = group.spawn(f"{role} decoder", ffmpeg_command(exe, graph), read_ahead=read_ahead)
    assert child.output is not None
    try:
        reader = InputReader(child.output, role, child, path)
    except Y4MError:
        child.wait()
        raise VidkompyError(f"{role}: ffmpeg could not decode {path}: {child.failure()}") from None
    return Source(role, path, reader, child=child, media=path, info=info)


def _is_y4m_file(stream: io.BufferedReader) -> bool:
    return stream.peek(len(MAGIC))[: len(MAGIC)] == MAGIC


def open_source(role: str, spec: str, exe: str, pix_fmt: str, group: ChildGroup, span: Span | None = None,
                read_ahead: int = 0) -> Source:
    """Open one input: '-' (y4m on stdin), a y4m file or pipe, or a media file to decode (from `span.seek` on,
    `span.frames` frames at most, when a span is given: media files only; with `read_ahead` MiB of its output read
    ahead by a thread, `ReadAhead`)."""
    if spec == "-":
        if sys.stdin.isatty():
            raise VidkompyError(f"{role}: stdin is a terminal; pipe y4m into it or pass --{role} FILE")
        stream: BinaryIO = sys.stdin.buffer
        enlarge_pipe(stream)
        return Source(role, "stdin", InputReader(stream, f"{role} (stdin)"))
    try:
        mode = os.stat(spec).st_mode
    except FileNotFoundError:
        raise VidkompyError(f"{role}: no such file: {spec}") from None
    except OSError as exc:
        raise VidkompyError(f"{role}: cannot open {spec}: {exc.strerror}") from None
    if stat.S_ISDIR(mode):
        raise VidkompyError(f"{role}: is a directory: {spec}")
    try:
        stream = open(spec, "rb", buffering=READ_BUFFER)
    except OSError as exc:
        raise VidkompyError(f"{role}: cannot open {spec}: {exc.strerror}") from None
    if not stat.S_ISREG(mode) or _is_y4m_file(stream):
        try:
            return Source(role, spec, InputReader(stream, role))
        except Y4MError:
            stream.close()
            raise
    stream.close()
    return _decode(exe, spec, role, pix_fmt, group, span, read_ahead)
