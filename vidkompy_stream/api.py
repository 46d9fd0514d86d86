"""The Python API: the command's job from Python, on files or on numpy frames.

`align` finds where fg sits in bg and which bg frame each fg frame belongs over, and returns the
per-frame mapping; `overlay` does the whole job the command does (composite, encode, audio). Both take
the command's long options as keyword arguments, with underscores (``search_seconds=10``,
``refine="full"``); both stream, so memory is bounded by the lookahead, never by the video's length.
Failures raise `VidkompyError` (`NotFound` when fg is not found in bg; bad arguments raise `UsageError`,
which is also a `ValueError`). Progress and log lines go to the ``vidkompy_stream`` logger.
"""

import argparse
import dataclasses
import os
import typing
from collections.abc import Iterable, Iterator, Sequence
from fractions import Fraction
from typing import NamedTuple, Union, overload

import numpy as np

from .compose.compositor import Compositor
from .decision import Decision, bg_frames, confidences
from .errors import UsageError
from .io.arrays import array_source
from .io.ffmpeg_tool import find_ffmpeg
from .io.inputs import Source
from .io.mapping import MappingWriter
from .locating import locate as search
from .options import Options, check, seconds
from .params import AlignParams, SearchParams
from .pipeline import Summary, run

__all__ = ["locate", "align", "overlay", "composite", "Mapping", "Placement"]

#: An input: a media file, a y4m file or FIFO (a path), or numpy frames (H x W grey or H x W x 3 RGB uint8).
Input = Union[str, "os.PathLike[str]", Iterable[np.ndarray]]
#: Options of the command the API does not take: they are the command's own (or given as arguments).
_NOT_OPTIONS = {"fg", "bg", "output", "demo", "version", "quiet", "verbose"}


class Placement(NamedTuple):
    """fg's top-left corner in bg pixels; `score`: the search's match (1 is a perfect match; None when the
    placement was given, not searched); `scale`: fg's size in bg over its own (its frames are resized by it
    before x, y apply)."""

    x: int
    y: int
    score: float | None
    scale: Fraction = Fraction(1)


class Mapping(Sequence[Decision]):
    """Which bg frame each fg frame goes over: a sequence of `Decision` (fg_frame, bg_frame, confidence, x,
    y), one per fg frame in order, with the placement, the measured rate (bg frames per fg frame) and the
    offset (bg time = fg time + offset at fg frame 0, in seconds). Arrays of the columns: `bg_frames`,
    `confidence` (NaN where not measured)."""

    def __init__(self, decisions: list[Decision], placement: Placement, rate: float, offset: Fraction) -> None:
        self._decisions = decisions
        self.placement, self.rate, self.offset = placement, rate, offset
        self.bg_frames, self.confidence = bg_frames(decisions), confidences(decisions)

    @overload
    def __getitem__(self, index: int) -> Decision: ...

    @overload
    def __getitem__(self, index: slice) -> list[Decision]: ...

    def __getitem__(self, index: int | slice) -> Decision | list[Decision]:
        return self._decisions[index]

    def __len__(self) -> int:
        return len(self._decisions)

    def __iter__(self) -> Iterator[Decision]:
        return iter(self._decisions)

    def __repr__(self) -> str:
        return (f"<Mapping of {len(self)} fg frames: fg at ({self.placement.x}, {self.placement.y}), "
                f"rate {self.rate:.6g}, offset {float(self.offset):.6g} s>")

    def write_csv(self, path: str) -> None:
        """Write the mapping as the command's --map-out does (the command's --map-in replays it)."""
        out = MappingWriter(path)
        try:
            for decision in self._decisions:
                out.write(decision)
        except BaseException:
            out.abort()
            raise
        out.commit()


def _value(name: str, value: object) -> object:
    """A keyword argument as the Options field holds it: through the command's own parser where the field has
    one (seconds and scales, kept exact), else checked against the field's type."""
    field = next(f for f in dataclasses.fields(Options) if f.name == name)
    kind, parse = field.type, field.metadata.get("type")
    if kind is bool and not isinstance(value, bool):
        raise UsageError(f"{name}={value!r}: expected True or False")
    if value is None or isinstance(value, bool):
        return value
    if parse is not None:
        return parse(str(value))
    if int in (kind, *typing.get_args(kind)):
        try:
            return int(str(value))
        except ValueError:
            raise UsageError(f"{name}={value!r}: not a whole number") from None
    choices = typing.get_args(kind)
    if typing.get_origin(kind) is typing.Literal and value not in choices:
        raise UsageError(f"{name}={value!r}: expected one of {', '.join(map(repr, choices))}")
    return value


def options_from(fg: Input | None, bg: Input | None, output: str | None, options: dict[str, object]) -> Options:
    """The command's options from keyword arguments, checked as the command checks them."""
    known = {f.name for f in dataclasses.fields(Options)} - _NOT_OPTIONS
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"unexpected option(s) {', '.join(unknown)}; the options are: {', '.join(sorted(known))}")
    try:
        values = {name: _value(name, value) for name, value in options.items()}
    except argparse.ArgumentTypeError as exc:  # the command's parsers name the value
        raise UsageError(f"{exc}") from None
    values["quiet"] = not values.get("progress", False)  # the bar only when asked: a library is quiet
    opts = Options(fg=_spec(fg), bg=_spec(bg), output=output, **values)  # type: ignore[arg-type]
    check(opts)
    return opts


def _spec(given: Input | None) -> str | None:
    """A path as the command takes it; None for frames (opened apart)."""
    return os.fspath(given) if isinstance(given, (str, os.PathLike)) else None


def _sources(fg: Input, bg: Input, fg_rate: object, bg_rate: object) -> dict[str, Source]:
    """Inputs given as numpy frames, opened (their rate is required: frames carry none)."""
    sources = {}
    for role, given, rate in (("fg", fg, fg_rate), ("bg", bg, bg_rate)):
        if _spec(given) is not None:
            continue
        if rate is None:
            raise UsageError(f"{role} is numpy frames: give {role}_rate (frames per second)")
        sources[role] = array_source(role, given, frame_rate(role, rate))  # type: ignore[arg-type]
    return sources


def frame_rate(role: str, rate: object) -> Fraction:
    """A frame rate given as a number, a string (30000/1001) or a Fraction, kept exact."""
    try:
        value = seconds(str(rate))
    except argparse.ArgumentTypeError:
        value = Fraction(0)
    if value <= 0:
        raise UsageError(f"{role}_rate={rate!r}: not a positive number of frames per second")
    return value


def locate(fg: Input, bg: Input, *, fg_rate: float | str | Fraction | None = None,
           bg_rate: float | str | Fraction | None = None, params: SearchParams = SearchParams(),
           **options: object) -> Placement:
    """Find where fg sits in bg (and, with ``scale="auto"``, at what scale), as `align` does first.

    Reads fg's first seconds and bg up to ``search_seconds`` (all of it for a file, to take the best match;
    a pipe or frames until the first good one). Arguments as for `align` (the timing options do not apply);
    `params`: the search's settings.

    Examples
    --------
    The pair of `align`'s example:

    >>> import cv2, numpy as np
    >>> import vidkompy_stream as vk
    >>> rng = np.random.default_rng(1)
    >>> moving, still = (cv2.GaussianBlur(rng.integers(0, 256, (400, 700), np.uint8), (0, 0), 2) for _ in "ab")
    >>> bg = [moving[2 * t:2 * t + 180, 3 * t:3 * t + 320] // 2 + still[:180, :320] // 2 for t in range(60)]
    >>> found = vk.locate([frame[50:140, 90:210] for frame in bg[8:]], bg, fg_rate=25, bg_rate=25)
    >>> found.x, found.y, round(found.score, 4), found.scale
    (90, 50, 1.0, Fraction(1, 1))
    """
    opts = options_from(fg, bg, None, options)
    found = search(opts, find_ffmpeg(opts.ffmpeg), _sources(fg, bg, fg_rate, bg_rate), params)
    return Placement(found.placement.x, found.placement.y, found.placement.score, found.scale)


def align(fg: Input, bg: Input, *, fg_rate: float | str | Fraction | None = None,
          bg_rate: float | str | Fraction | None = None, search: SearchParams = SearchParams(),
          params: AlignParams = AlignParams(), **options: object) -> Mapping:
    """Find fg in bg and the bg frame each fg frame belongs over.

    Parameters
    ----------
    fg, bg : path or iterable of numpy arrays
        A media file, a y4m file or FIFO; or frames: uint8 arrays, H x W (grey) or H x W x 3 (RGB, even
        sides), all of one shape, read as they are needed (a generator is fine).
    fg_rate, bg_rate : number, str or Fraction, optional
        Frames per second of an input given as arrays (required for arrays; a file carries its own).
    search, params : SearchParams, AlignParams, optional
        The search's and the aligner's settings (the defaults are the command's).
    **options
        The command's long options with underscores: ``x``, ``y`` (placement known), ``offset`` (timing
        known, seconds), ``scale`` ("auto" or a factor), ``search_seconds``, ``engine``, ``lookahead``,
        ``refine``, ``map_in``, ``map_out``, ``force``, ``pix_fmt``, ``ffmpeg``; ``progress=True`` shows
        the progress bar on stderr.

    Returns
    -------
    Mapping
        One `Decision` per fg frame (the same as the command's ``--map-out``), with ``placement``,
        ``rate`` and ``offset``.

    Examples
    --------
    bg: a camera panning over one blurred texture, seen through another that stays still (320x180 grey
    frames at 25 fps); fg: a 120x90 crop of it from bg frame 8 on. (A pan alone would not do: a crop of a
    pure translation fits at every place along the pan, each at its own time.)

    >>> import cv2, numpy as np
    >>> import vidkompy_stream as vk
    >>> rng = np.random.default_rng(1)
    >>> moving, still = (cv2.GaussianBlur(rng.integers(0, 256, (400, 700), np.uint8), (0, 0), 2) for _ in "ab")
    >>> bg = [moving[2 * t:2 * t + 180, 3 * t:3 * t + 320] // 2 + still[:180, :320] // 2 for t in range(60)]
    >>> fg = [frame[50:140, 90:210] for frame in bg[8:]]
    >>> mapping = vk.align(fg, bg, fg_rate=25, bg_rate=25)
    >>> mapping.placement.x, mapping.placement.y
    (90, 50)
    >>> [d.bg_frame for d in mapping[:3]], len(mapping), mapping.rate, float(mapping.offset)
    ([8, 9, 10], 52, 1.0, 0.32)
    """
    decisions: list[Decision] = []
    opts = options_from(fg, bg, None, options)
    summary = run(opts, find_ffmpeg(opts.ffmpeg), _sources(fg, bg, fg_rate, bg_rate), decisions.append,
                  search=search, align=params)
    score = summary.search.placement.score if summary.search is not None else None
    return Mapping(decisions, Placement(summary.x, summary.y, score, summary.scale), summary.rate, summary.offset)


def overlay(fg: Input, bg: Input, output: str, *, fg_rate: float | str | Fraction | None = None,
            bg_rate: float | str | Fraction | None = None, search: SearchParams = SearchParams(),
            params: AlignParams = AlignParams(), **options: object) -> Summary:
    """The command's whole job: fg found in bg, aligned, composited over it, written to `output`.

    Parameters
    ----------
    fg, bg, fg_rate, bg_rate, search, params
        As for `align`.
    output : str
        The output file (encoded by ffmpeg with bg's or fg's audio; a ``.y4m`` file is written raw).
    **options
        The command's long options with underscores: those of `align`, and ``overwrite`` (``-y``),
        ``feather``, ``audio``, ``vcodec``, ``crf``, ``preset``, ``encoder_args``.

    Returns
    -------
    Summary
        ``frames`` written, fg's placement ``x``, ``y``, ``offset``, ``rate``, ``scale``, ``seconds``.

    Examples
    --------
    The pair of `align`'s example, composited into a y4m file:

    >>> import os, tempfile, cv2, numpy as np
    >>> import vidkompy_stream as vk
    >>> rng = np.random.default_rng(1)
    >>> moving, still = (cv2.GaussianBlur(rng.integers(0, 256, (400, 700), np.uint8), (0, 0), 2) for _ in "ab")
    >>> bg = [moving[2 * t:2 * t + 180, 3 * t:3 * t + 320] // 2 + still[:180, :320] // 2 for t in range(60)]
    >>> fg = [frame[50:140, 90:210] for frame in bg[8:]]
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     summary = vk.overlay(fg, bg, os.path.join(folder, "out.y4m"), fg_rate=25, bg_rate=25)
    >>> summary.frames, (summary.x, summary.y)
    (52, (90, 50))
    """
    opts = options_from(fg, bg, output, options)
    return run(opts, find_ffmpeg(opts.ffmpeg), _sources(fg, bg, fg_rate, bg_rate), search=search, align=params)


def composite(bg_planes: Sequence[np.ndarray] | np.ndarray, fg_planes: Sequence[np.ndarray] | np.ndarray, x: int,
              y: int, feather: int = 0) -> tuple[np.ndarray, ...]:
    """fg pasted over bg with its top-left corner at (x, y) in bg's luma pixels, as the command pastes it.

    Parameters
    ----------
    bg_planes, fg_planes : uint8 array, or sequence of uint8 arrays
        One grey plane, or the three planes of a YUV frame (Y, U, V; chroma at half size for 4:2:0, 4:2:2
        or full size for 4:4:4); fg and bg alike. fg may hang over bg's edges (what lies outside is left out).
    x, y : int
        fg's top-left corner in bg's luma pixels (odd and negative values are fine).
    feather : int
        Width in pixels of an alpha ramp on fg's edges that are not flush with bg's border (0: hard edges).

    Returns
    -------
    tuple of numpy arrays
        bg's planes with fg pasted (new arrays; the arguments are not changed).

    Examples
    --------
    >>> import numpy as np
    >>> import vidkompy_stream as vk
    >>> (out,) = vk.composite(np.zeros((4, 6), np.uint8), np.full((2, 2), 200, np.uint8), x=3, y=1)
    >>> out
    array([[  0,   0,   0,   0,   0,   0],
           [  0,   0,   0, 200, 200,   0],
           [  0,   0,   0, 200, 200,   0],
           [  0,   0,   0,   0,   0,   0]], dtype=uint8)
    """
    bg = tuple(np.array(plane, dtype=np.uint8) for plane in _planes(bg_planes))
    fg = tuple(np.ascontiguousarray(plane, dtype=np.uint8) for plane in _planes(fg_planes))
    Compositor([p.shape for p in fg], [p.shape for p in bg], x, y, feather).paste(bg, fg)
    return bg


def _planes(given: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
    """A frame's planes: one 2-D array is a grey frame."""
    if isinstance(given, np.ndarray) and given.ndim == 2:
        return [given]
    planes = [np.asarray(plane) for plane in given]
    if any(plane.ndim != 2 for plane in planes):
        raise UsageError("planes must be 2-D arrays (one grey plane, or Y, U and V)")
    return planes
