"""vidkompy-stream: overlay a foreground video onto the background video that contains it, streaming.

The command (``vidkompy-stream --help``) and its Python API:

- `locate` (fg, bg, **options) -> `Placement`: where fg sits in bg;
- `align` (fg, bg, **options) -> `Mapping`: fg's placement in bg and the bg frame each fg frame goes over;
- `overlay` (fg, bg, output, **options) -> `Summary`: the whole job, as the command does it;
- `composite` (bg_planes, fg_planes, x, y, feather=0): one frame's paste;
- `Aligner` (fg_rate, bg_rate, **options): the streaming engine, fed frames one at a time;
- `batch` (pairs, client=None, **options) -> list of `Result`: many `Pair`s as Dask tasks (``[dask]`` extra);
- `SearchParams`, `AlignParams`, `RefineParams`: the engine's settings (frozen dataclasses).

fg and bg are media files, y4m files or numpy frames; options are the command's long options.
The names are loaded on first use (PEP 562), so the command starts without numpy, OpenCV and Numba until it
needs them (and sets their thread counts first).
"""

import importlib

__version__ = "0.1.0"

#: Each public name and the module it lives in.
_WHERE = {"locate": "api", "align": "api", "overlay": "api", "composite": "api", "Mapping": "api",
          "Placement": "api", "Aligner": "engine", "Decision": "decision", "Summary": "pipeline",
          "VidkompyError": "errors", "NotFound": "errors", "UsageError": "errors", "SearchParams": "params",
          "AlignParams": "params", "RefineParams": "params", "batch": "batch", "Pair": "batch", "Result": "batch"}

__all__ = [*_WHERE, "__version__"]


def __getattr__(name: str) -> object:
    if name not in _WHERE:
        raise AttributeError(f"module 'vidkompy_stream' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
