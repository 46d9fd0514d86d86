"""The per-frame mapping file: which bg frame each fg frame was shown over, how sure we were, and where.

CSV, one row per fg frame: ``fg_frame,bg_frame[,confidence][,x,y]`` with an optional header line.
`--map-out` writes it as the run commits decisions; `--map-in` reads it back (streaming, row by row) to
replay a run without aligning. Empty confidence means "not measured" (given timing, not alignment).
"""

import csv
from collections.abc import Iterator
from typing import TextIO

from ..decision import Decision
from ..errors import VidkompyError
from .atomicfile import AtomicFile

HEADER = ("fg_frame", "bg_frame", "confidence", "x", "y")


def _parse_row(row: list[str], line: int, path: str) -> Decision:
    where = f"{path}:{line}"
    cells = [c.strip() for c in row]
    if len(cells) not in (2, 3, 4, 5):
        raise VidkompyError(f"{where}: expected fg_frame,bg_frame[,confidence][,x,y], got {len(cells)} fields")
    try:
        fg, bg = int(cells[0]), int(cells[1])
        conf_cell = cells[2] if len(cells) in (3, 5) else ""
        confidence = float(conf_cell) if conf_cell else None
        xy = cells[-2:] if len(cells) >= 4 else ["", ""]
        x = int(xy[0]) if xy[0] else None
        y = int(xy[1]) if xy[1] else None
    except ValueError:
        raise VidkompyError(f"{where}: not a number in {','.join(cells)!r}") from None
    if bg < 0:
        raise VidkompyError(f"{where}: negative bg frame")
    if (x is None) != (y is None):
        raise VidkompyError(f"{where}: x and y must be given together")
    if confidence is not None and not 0.0 <= confidence <= 1.0:
        raise VidkompyError(f"{where}: confidence {confidence} is outside 0..1")
    return Decision(fg, bg, confidence, x, y)


def _rows(stream: TextIO, path: str) -> Iterator[tuple[int, list[str]]]:
    """CSV rows with their line numbers; text that is not CSV (binary, NUL bytes, a giant field) is our
    error, not the decoder's or the csv module's."""
    reader = csv.reader(stream)
    line = 0
    try:
        for line, row in enumerate(reader, start=1):
            yield line, row
    except (UnicodeDecodeError, csv.Error) as exc:
        raise VidkompyError(f"{path}:{line + 1}: not a mapping CSV ({exc})") from None


def read_mapping(stream: TextIO, path: str) -> Iterator[Decision]:
    """Yield validated decisions: fg frames consecutive from 0, bg frames never going back."""
    expected_fg, last_bg = 0, 0
    for line, row in _rows(stream, path):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if line == 1 and tuple(c.strip() for c in row) == HEADER[: len(row)]:
            continue
        decision = _parse_row(row, line, path)
        if decision.fg_frame != expected_fg:
            raise VidkompyError(f"{path}:{line}: expected fg frame {expected_fg}, got {decision.fg_frame}")
        if decision.bg_frame < last_bg:
            raise VidkompyError(
                f"{path}:{line}: bg frame goes back from {last_bg} to {decision.bg_frame} (must be monotonic)"
            )
        expected_fg, last_bg = expected_fg + 1, decision.bg_frame
        yield decision


class MappingWriter(AtomicFile):
    """Writes decisions to a CSV under a temporary name, renamed into place only by `commit`."""

    def __init__(self, path: str) -> None:
        super().__init__(path, "w", "--map-out", newline="")
        self.writer = csv.writer(self.stream, lineterminator="\n")
        self.writer.writerow(HEADER)

    def comment(self, text: str) -> None:
        """A `# text` line after the header (readers skip it): how the run found what it used."""
        self.stream.write(f"# {text}\n")

    def write(self, d: Decision) -> None:
        conf = "" if d.confidence is None else f"{d.confidence:.4f}"
        pos = ("", "") if d.x is None else (d.x, d.y)
        self.writer.writerow((d.fg_frame, d.bg_frame, conf, *pos))

