"""Scaling fg: every fg frame resized by one factor as it is read, before anything else sees it.

For fg recorded at a higher resolution than its picture in bg (a 1920x1080 screen recording that bg shows
at 1280x720: `--scale 2/3`). The search, the aligner and the compositor then all work on fg at bg's scale,
unchanged; only the pasted pixels differ from fg's own (area-averaged when shrinking, bilinear when
enlarging, plane by plane, so chroma stays sited as it was). With `--scale auto` the search measures the
scale from the fg frames it holds, which are then replayed through the scaler.
"""

import dataclasses
from fractions import Fraction

import cv2
import numpy as np

from .framering import FrameRing
from .inputs import InputReader
from .y4m import Y4MFormat


def scaled_format(fmt: Y4MFormat, scale: Fraction) -> Y4MFormat:
    """fg's format after scaling: its size times `scale`, rounded (at least 1 px)."""
    return dataclasses.replace(fmt, width=max(1, round(fmt.width * scale)), height=max(1, round(fmt.height * scale)))


class ReplayReader:
    """The frames a ring holds (read before the scale was known: `--scale auto`), then the rest of the
    reader's; anything else is the reader's."""

    def __init__(self, ring: FrameRing, reader: InputReader) -> None:
        self.reader, self.format = reader, reader.format
        self.held = [ring.frame(k).copy() for k in range(ring.start, ring.end)]
        self.held.reverse()

    def readinto(self, frame: np.ndarray) -> bool:
        if self.held:
            frame[:] = self.held.pop()
            return True
        return self.reader.readinto(frame)

    def __getattr__(self, name: str) -> object:
        return getattr(self.reader, name)


class ScaledReader:
    """Reads frames from an InputReader and hands them over resized to `format`; anything else (end of
    stream, damage, the stream) is the wrapped reader's."""

    def __init__(self, reader: InputReader | ReplayReader, fmt: Y4MFormat) -> None:
        self.reader, self.format = reader, fmt
        self.source = reader.format.new_frame()
        shrinking = fmt.width * fmt.height < reader.format.width * reader.format.height
        self.interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR

    def readinto(self, frame: np.ndarray) -> bool:
        if not self.reader.readinto(self.source):
            return False
        for src, dst in zip(self.reader.format.plane_views(self.source), self.format.plane_views(frame)):
            cv2.resize(src, (dst.shape[1], dst.shape[0]), dst=dst, interpolation=self.interpolation)
        return True

    def __getattr__(self, name: str) -> object:
        return getattr(self.reader, name)
