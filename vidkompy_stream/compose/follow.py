"""From a decision to an output frame: bg read forward to the decided frame and fg pasted over it.

fg-first: bg follows fg. Each decided bg frame is read forward to (frames skipped are read and dropped,
a repeated frame is the one still held), copied into the output buffer, and fg is pasted at its placement.
Once bg has ended its last frame is held. fg in another chroma layout than bg (y4m inputs only) is resampled
to bg's first.
"""

import logging

import numpy as np

from ..errors import VidkompyError
from ..io.framering import FrameRing
from ..io.y4m import Y4MFormat
from .compositor import Compositor
from .layout import LayoutConverter

log = logging.getLogger(__name__)


def layout_converter(fg: Y4MFormat, bg: Y4MFormat) -> LayoutConverter | None:
    """A converter when fg's chroma layout differs from bg's (only y4m inputs can differ)."""
    if fg.subsampling == bg.subsampling:
        return None
    log.info("fg is C%s and bg C%s: fg chroma is resampled to bg's layout", fg.colorspace, bg.colorspace)
    return LayoutConverter(fg, bg.colorspace)


class Composer:
    """Pastes fg at a placement, rebuilding the paste plan only when a mapping row moves it."""

    def __init__(self, fg: Y4MFormat, bg: Y4MFormat, feather: int, position: tuple[int, int]) -> None:
        self.fg, self.bg, self.feather = fg, bg, feather
        self._place(position)

    def _place(self, position: tuple[int, int]) -> None:
        """Build the paste plan; raises a clear error when fg does not fit at `position`."""
        self.compositor = Compositor(self.fg.plane_shapes, self.bg.plane_shapes, *position, self.feather)
        self.position = position

    def paste(self, out: np.ndarray, fg_frame: np.ndarray, position: tuple[int, int]) -> None:
        if position != self.position:
            self._place(position)
        self.compositor.paste(self.bg.plane_views(out), self.fg.plane_views(fg_frame))


class BgFollower:
    """Reads bg forward to whichever frame fg needs; once bg has ended, holds its last frame (warning once)."""

    def __init__(self, ring: FrameRing, spec: str) -> None:
        self.ring, self.spec = ring, spec
        self.held = 0
        self.late = False

    def copy_frame(self, index: int, out: np.ndarray | None, fg_frame: int) -> int:
        """Copy bg frame `index` (or the last one, if bg ended before it) into `out` (None: only read bg to
        it); return the index shown.

        bg never goes back: a frame released before it was asked for (only the spatial search releases
        ahead of the timing) is replaced by the oldest frame still held, with a warning."""
        if index < self.ring.start:
            if not self.late:
                log.warning("fg frame %d needs bg frame %d, already dropped: showing bg frame %d", fg_frame, index,
                            self.ring.start)
                self.late = True
            index = self.ring.start
        self.ring.release_before(index)
        if self.ring.fill_to(index):
            if out is not None:
                np.copyto(out, self.ring.frame(index))
            return index
        if self.ring.end == 0:
            raise VidkompyError(f"bg has no frames: {self.spec}")
        if self.held == 0:
            log.warning("bg ends at frame %d before fg frame %d needs bg frame %d: holding the last bg frame",
                        self.ring.end - 1, fg_frame, index)
        self.held += 1
        if out is not None:
            np.copyto(out, self.ring.last())
        return self.ring.end - 1

