"""Bringing fg into bg's plane layout when their chroma subsampling differs.

Media files are decoded to one `--pix-fmt`, so this only happens with y4m inputs (e.g. a 4:4:4 screen
recording piped over a 4:2:0 bg). Luma is copied untouched; chroma is resized (area average when it
shrinks, bilinear when it grows), filled with neutral grey for mono fg, or dropped for a mono bg.
"""

import dataclasses

import cv2
import numpy as np

from ..io.y4m import Y4MFormat

NEUTRAL_CHROMA = 128


class LayoutConverter:
    """Converts fg frames of `source` format to bg's `colorspace`, into one reused buffer."""

    def __init__(self, source: Y4MFormat, colorspace: str) -> None:
        self.source = source
        self.format = dataclasses.replace(source, colorspace=colorspace)
        self.buffer = self.format.new_frame()
        self._out = self.format.plane_views(self.buffer)
        if len(self._out) == 3 and source.subsampling is None:
            self._out[1].fill(NEUTRAL_CHROMA)
            self._out[2].fill(NEUTRAL_CHROMA)

    def convert(self, frame: np.ndarray) -> np.ndarray:
        """The frame in the target layout (a view of the reused buffer, valid until the next call)."""
        planes = self.source.plane_views(frame)
        np.copyto(self._out[0], planes[0])
        if len(self._out) == 3 and len(planes) == 3:
            (src_h, src_w), (h, w) = planes[1].shape, self._out[1].shape
            shrink = h <= src_h and w <= src_w
            for src, dst in zip(planes[1:], self._out[1:]):
                cv2.resize(src, (w, h), dst=dst, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        return self.buffer
