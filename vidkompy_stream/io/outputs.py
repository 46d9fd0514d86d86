"""Where composited frames go: y4m on stdout (pipe form), an ffmpeg encoder writing a file (file form), or
a .y4m file written directly.

The encoder writes under a hidden partial name and the file is renamed into place only after ffmpeg
exits cleanly; any failure removes the partial file. Audio is muxed from a media input, shifted so it
stays in sync with the output's (fg's) clock.
"""

import dataclasses
import os
import shlex
import subprocess
from typing import BinaryIO, Protocol

import ffmpeg
import numpy as np

from ..errors import VidkompyError
from .atomicfile import AtomicFile, partial_name, remove_quietly
from .inputs import ffmpeg_command
from .processes import ChildGroup
from .y4m import Y4MFormat, Y4MWriter

#: encoders that take x264-style -crf and -preset; for others they are passed only when asked for.
CRF_PRESET_CODECS = ("libx264", "libx264rgb", "libx265")
DEFAULT_CRF = 18
DEFAULT_PRESET = "veryfast"


class Sink(Protocol):
    def write(self, frame: np.ndarray) -> None: ...
    def finish(self) -> None: ...
    def abort(self) -> None: ...


@dataclasses.dataclass(frozen=True)
class AudioSource:
    """Audio from `path`, whose time `offset` seconds lines up with the output's start."""

    path: str
    offset: float
    role: str

    def stream(self) -> "ffmpeg.nodes.FilterableStream":
        """The audio as an ffmpeg input stream, shifted so that its time `offset` comes at the output's start."""
        shift = {"ss": self.offset} if self.offset >= 0 else {"itsoffset": -self.offset}
        return ffmpeg.input(self.path, **shift)["a:0"]


def pick_audio(mode: str, fg: AudioSource | None, bg: AudioSource | None) -> AudioSource | None:
    """--audio's choice of the audio there is (None: that input has none): auto takes fg's, else bg's."""
    if mode == "none":
        return None
    if mode == "auto":
        return fg or bg
    chosen = fg if mode == "fg" else bg
    if chosen is None:
        raise VidkompyError(f"--audio {mode}: {mode} is not a media file with an audio stream")
    return chosen


@dataclasses.dataclass(frozen=True)
class EncoderSettings:
    vcodec: str = "libx264"
    crf: int | None = None
    preset: str | None = None
    extra_args: str = ""

    def video_args(self) -> dict[str, object]:
        args: dict[str, object] = {"c:v": self.vcodec}
        default = self.vcodec in CRF_PRESET_CODECS
        crf = self.crf if self.crf is not None else (DEFAULT_CRF if default else None)
        preset = self.preset if self.preset is not None else (DEFAULT_PRESET if default else None)
        if crf is not None:
            args["crf"] = crf
        if preset is not None:
            args["preset"] = preset
        return args


class Y4MSink:
    """y4m frames to a stream (stdout in the pipe form)."""

    def __init__(self, stream: BinaryIO, fmt: Y4MFormat) -> None:
        self.stream = stream
        self.writer = Y4MWriter(stream, fmt)

    def write(self, frame: np.ndarray) -> None:
        self.writer.write(frame)

    def finish(self) -> None:
        self.stream.flush()

    def abort(self) -> None:
        pass


class Y4MFileSink(AtomicFile):
    """y4m frames straight into a .y4m file (no encoder: y4m is raw video), atomically (see module doc)."""

    def __init__(self, path: str, fmt: Y4MFormat) -> None:
        super().__init__(path, "wb", "-o")
        self.writer = Y4MWriter(self.stream, fmt)

    def write(self, frame: np.ndarray) -> None:
        self.writer.write(frame)

    def finish(self) -> None:
        self.commit()


class EncoderSink:
    """y4m frames into an ffmpeg encoder writing `path` (atomically, see module doc)."""

    def __init__(self, exe: str, path: str, fmt: Y4MFormat, group: ChildGroup, settings: EncoderSettings,
                 audio: AudioSource | None) -> None:
        self.path = path
        self.tmp = partial_name(path)
        video = ffmpeg.input("pipe:", format="yuv4mpegpipe")
        streams = [video]
        audio_args: dict[str, object] = {}
        if audio is not None:
            streams.append(audio.stream())
            audio_args = {"c:a": "aac", "shortest": None}
        graph = ffmpeg.output(*streams, self.tmp, pix_fmt="yuv420p", **settings.video_args(), **audio_args)
        try:
            extra = shlex.split(settings.extra_args)
        except ValueError as exc:
            raise VidkompyError(f"--encoder-args: {exc}") from None
        cmd = ffmpeg_command(exe, graph, "-y")
        cmd[-1:-1] = extra
        self.child = group.spawn("encoder", cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        assert self.child.proc.stdin is not None
        self.writer = Y4MWriter(self.child.proc.stdin, fmt)

    def _failed(self) -> VidkompyError:
        self.child.wait()
        return VidkompyError(f"encoder failed writing {self.path}: {self.child.failure()}")

    def write(self, frame: np.ndarray) -> None:
        try:
            self.writer.write(frame)
        except BrokenPipeError:
            raise self._failed() from None

    def finish(self) -> None:
        try:
            self.writer.stream.close()
        except BrokenPipeError:
            raise self._failed() from None
        if self.child.wait() != 0:
            raise self._failed()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self.child.stop()
        remove_quietly(self.tmp)
