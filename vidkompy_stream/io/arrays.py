"""numpy frames as an input: what `align` and `overlay` read when given arrays instead of a file.

The pipeline reads planar y4m frames; an iterable of arrays is turned into such frames one at a time, as
it is consumed (a generator is never read ahead of what the aligner asks for, so memory stays bounded by
the lookahead, as with a file). A 2-D uint8 array is a grey frame (y4m `Cmono`); an H x W x 3 uint8
array is an RGB frame, converted to 4:2:0 with BT.601 studio-range coefficients (what ffmpeg's default
RGB-to-yuv420p conversion uses, so arrays and decoded files compare alike).
"""

from collections.abc import Iterable, Iterator
from fractions import Fraction

import cv2
import numpy as np

from ..errors import UsageError, VidkompyError
from .inputs import Source
from .y4m import Y4MFormat


def _format(frame: np.ndarray, rate: Fraction, name: str) -> Y4MFormat:
    """The y4m format an array's frames are read as."""
    if frame.dtype != np.uint8:
        raise UsageError(f"{name}: frames must be uint8 arrays, not {frame.dtype}")
    if frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 1):
        return Y4MFormat(frame.shape[1], frame.shape[0], rate, colorspace="mono")
    if frame.ndim == 3 and frame.shape[2] == 3:
        if frame.shape[0] % 2 or frame.shape[1] % 2:
            raise UsageError(f"{name}: RGB frames need an even width and height (read as 4:2:0), not "
                             f"{frame.shape[1]}x{frame.shape[0]}; crop them, or pass grey (H x W) frames")
        return Y4MFormat(frame.shape[1], frame.shape[0], rate, colorspace="420jpeg")
    raise UsageError(f"{name}: frames must be H x W (grey) or H x W x 3 (RGB) arrays, not {frame.shape}")


class ArrayReader:
    """Reads frames from an iterable of arrays into flat y4m frame buffers (the `InputReader` surface)."""

    def __init__(self, frames: Iterable[np.ndarray], rate: Fraction, name: str) -> None:
        self.name = name
        self.frames: Iterator[np.ndarray] = iter(frames)
        first = next(self.frames, None)
        if first is None:
            raise VidkompyError(f"{name}: no frames")
        self.pending: np.ndarray | None = np.asarray(first)
        self.format = _format(self.pending, rate, name)
        self.shape = self.pending.shape
        self.damage: str | None = None
        self.frames_read = 0

    def readinto(self, frame: np.ndarray) -> bool:
        """The next frame into flat uint8 `frame`; False when the iterable is exhausted."""
        data = self.pending if self.pending is not None else next(self.frames, None)
        self.pending = None
        if data is None:
            return False
        data = np.asarray(data)
        if data.shape != self.shape or data.dtype != np.uint8:
            raise VidkompyError(f"{self.name}: frame {self.frames_read} is a {data.dtype} array of shape "
                                f"{data.shape}; the first was uint8 {self.shape}")
        if self.format.colorspace == "mono":
            np.copyto(frame.reshape(self.shape[:2]), data.reshape(self.shape[:2]))
        else:
            cv2.cvtColor(data, cv2.COLOR_RGB2YUV_I420, dst=frame.reshape(-1, self.format.width))
        self.frames_read += 1
        return True

    def end(self) -> None:
        """Nothing to check when the frames end: no decoder ran."""

    def close(self) -> None:
        """Close a generator left unfinished (its `finally` blocks run now)."""
        close = getattr(self.frames, "close", None)
        if close is not None:
            close()


def array_source(role: str, frames: Iterable[np.ndarray], rate: Fraction) -> Source:
    """An input of numpy frames at `rate` frames per second, for `pipeline.run`."""
    return Source(role, f"{role} frames", ArrayReader(frames, rate, role))  # type: ignore[arg-type]
