"""vidkompy-stream: overlay a foreground video onto the background video that contains it, streaming.

The command (``vidkompy-stream --help``) and its Python API:

- `locate` (fg, bg, **options) -> `Placement`: where fg sits in bg;
- `align` (fg, bg, **options) -> `Mapping`: fg's placement in bg and the bg frame each fg frame goes over;
- `overlay` (fg, bg, output, **options) -> `Summary`: the whole job, as the command does it;
- `composite` (bg_planes, fg_planes, x, y, feather=0): one frame's paste;
- `Aligner` (fg_rate, bg_rate, **options): the streaming engine, fed frames one at a time.

fg and bg are media files, y4m files or numpy frames; options are the command's long options.
"""

__version__ = "0.1.0"

from .api import Mapping, Placement, align, composite, locate, overlay
from .engine import Aligner
from .errors import NotFound, UsageError, VidkompyError
from .mapping import Decision
from .pipeline import Summary

__all__ = ["locate", "align", "overlay", "composite", "Aligner", "Mapping", "Placement", "Decision", "Summary", "VidkompyError", "NotFound",
           "UsageError", "__version__"]
