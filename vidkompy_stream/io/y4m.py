"""YUV4MPEG2 (y4m) stream reader and writer.

y4m is the raw-frame format ffmpeg reads and writes on pipes: one text header line carrying size, frame
rate, interlacing, pixel aspect and colorspace, then frames, each a ``FRAME`` line followed by the raw
planes. We support 8-bit planar 4:2:0 (every chroma siting variant), 4:2:2, 4:4:4 and mono. Frames are
read with ``readinto`` into buffers the caller owns, so the hot path allocates nothing.
"""

import dataclasses
from fractions import Fraction
from typing import BinaryIO

import numpy as np

from ..errors import Y4MError

MAGIC = b"YUV4MPEG2"
MAX_HEADER = 4096
MAX_DIMENSION = 1 << 15

#: colorspace tag -> chroma subsampling (horizontal, vertical); None for mono (luma only).
COLORSPACES: dict[str, tuple[int, int] | None] = {
    "420jpeg": (2, 2),
    "420mpeg2": (2, 2),
    "420paldv": (2, 2),
    "420": (2, 2),
    "422": (2, 1),
    "444": (1, 1),
    "mono": None,
}
INTERLACING = ("p", "t", "b", "m", "?")


@dataclasses.dataclass(frozen=True)
class Y4MFormat:
    """What a y4m stream header says: everything needed to size and interpret a frame."""

    width: int
    height: int
    rate: Fraction
    colorspace: str = "420jpeg"
    interlace: str = "p"
    aspect: tuple[int, int] = (0, 0)
    extensions: tuple[str, ...] = ()

    @property
    def subsampling(self) -> tuple[int, int] | None:
        """Chroma subsampling factors (x, y), or None for mono."""
        return COLORSPACES[self.colorspace]

    @property
    def plane_shapes(self) -> tuple[tuple[int, int], ...]:
        """(height, width) of each plane, luma first."""
        luma = (self.height, self.width)
        sub = self.subsampling
        if sub is None:
            return (luma,)
        chroma = (-(-self.height // sub[1]), -(-self.width // sub[0]))
        return (luma, chroma, chroma)

    @property
    def frame_size(self) -> int:
        """Bytes of one frame's planes (without the FRAME line)."""
        return sum(h * w for h, w in self.plane_shapes)

    @property
    def size_text(self) -> str:
        return f"{self.width}x{self.height}"

    @property
    def rate_text(self) -> str:
        """The frame rate as people write it: 25, 29.97, 30000/1001 -> '29.97 (30000/1001)'."""
        if self.rate.denominator == 1:
            return str(self.rate.numerator)
        return f"{float(self.rate):.4g} ({self.rate.numerator}/{self.rate.denominator})"

    def header(self) -> bytes:
        """The stream header line, as written by ffmpeg (tags W H F I A C, then extensions)."""
        parts = [
            MAGIC.decode(),
            f"W{self.width}",
            f"H{self.height}",
            f"F{self.rate.numerator}:{self.rate.denominator}",
            f"I{self.interlace}",
            f"A{self.aspect[0]}:{self.aspect[1]}",
            f"C{self.colorspace}",
            *self.extensions,
        ]
        return (" ".join(parts) + "\n").encode("ascii")

    def plane_views(self, frame: np.ndarray) -> tuple[np.ndarray, ...]:
        """2-D views of each plane of a flat uint8 frame buffer (no copy)."""
        views, start = [], 0
        for h, w in self.plane_shapes:
            views.append(frame[start : start + h * w].reshape(h, w))
            start += h * w
        return tuple(views)

    def new_frame(self) -> np.ndarray:
        """A flat uint8 buffer for one frame."""
        return np.empty(self.frame_size, dtype=np.uint8)


def _ratio(tag: str, text: str) -> tuple[int, int]:
    num, sep, den = text.partition(":")
    if not sep or not num.isdigit() or not den.isdigit():
        raise Y4MError(f"y4m header tag {tag} must be N:D, got {text!r}")
    return int(num), int(den)


def _dimension(tag: str, text: str) -> int:
    if not text.isdigit() or not 0 < int(text) <= MAX_DIMENSION:
        raise Y4MError(f"y4m header tag {tag} must be a size from 1 to {MAX_DIMENSION}, got {text!r}")
    return int(text)


def parse_header(line: bytes) -> Y4MFormat:
    """Parse a y4m stream header line (with or without its trailing newline)."""
    if not line.startswith(MAGIC):
        raise Y4MError(f"not a y4m stream (starts with {line[:10]!r}, expected {MAGIC.decode()!r})")
    try:
        text = line.rstrip(b"\n").decode("ascii")
    except UnicodeDecodeError:
        raise Y4MError("y4m header is not ASCII text") from None
    tokens = text.split(" ")
    if tokens[0] != MAGIC.decode():
        raise Y4MError(f"not a y4m stream (header starts with {tokens[0]!r})")
    fields: dict[str, str] = {}
    extensions: list[str] = []
    for token in tokens[1:]:
        if not token:
            raise Y4MError("y4m header has an empty parameter (double space)")
        tag, value = token[0], token[1:]
        if tag == "X":
            extensions.append(token)
        elif tag in "WHFIAC":
            fields[tag] = value
        else:
            raise Y4MError(f"y4m header has unknown tag {tag!r} in {token!r}")
    for tag in "WHF":
        if tag not in fields:
            meaning = {"W": "width", "H": "height", "F": "frame rate"}[tag]
            raise Y4MError(f"y4m header lacks the {tag} tag ({meaning})")
    num, den = _ratio("F", fields["F"])
    if num == 0 or den == 0:
        raise Y4MError(f"y4m frame rate must be positive, got F{fields['F']}")
    colorspace = fields.get("C", "420jpeg")
    if colorspace not in COLORSPACES:
        raise Y4MError(
            f"unsupported y4m colorspace C{colorspace} (supported: 8-bit "
            + ", ".join("C" + c for c in COLORSPACES)
            + ")"
        )
    interlace = fields.get("I", "p")
    if interlace not in INTERLACING:
        raise Y4MError(f"y4m header tag I has unknown value {interlace!r}")
    return Y4MFormat(
        width=_dimension("W", fields["W"]),
        height=_dimension("H", fields["H"]),
        rate=Fraction(num, den),
        colorspace=colorspace,
        interlace=interlace,
        aspect=_ratio("A", fields["A"]) if "A" in fields else (0, 0),
        extensions=tuple(extensions),
    )


class Y4MReader:
    """Reads y4m frames from a binary stream into caller-owned buffers."""

    def __init__(self, stream: BinaryIO, name: str = "input") -> None:
        self.stream = stream
        self.name = name
        line = stream.readline(MAX_HEADER)
        if not line:
            raise Y4MError(f"{name}: empty input, no y4m header")
        if not line.endswith(b"\n"):
            if not line.startswith(MAGIC[: len(line)]) or len(line) >= MAX_HEADER:
                raise Y4MError(f"{name}: not a y4m stream (starts with {line[:10]!r})")
            raise Y4MError(f"{name}: y4m header cut short")
        try:
            self.format = parse_header(line)
        except Y4MError as exc:
            raise Y4MError(f"{name}: {exc}") from None
        self.frames_read = 0
        self._marker = bytearray(6)
        self._marker_view = memoryview(self._marker)

    def _read_exact(self, view: memoryview) -> int:
        """Fill `view` from the stream; return how many bytes arrived before EOF."""
        got = 0
        while got < len(view):
            n = self.stream.readinto(view[got:])
            if not n:
                break
            got += n
        return got

    def readinto(self, frame: np.ndarray) -> bool:
        """Read the next frame into flat uint8 `frame`; False at a clean end of stream."""
        got = self._read_exact(self._marker_view)
        if got == 0:
            return False
        where = f"{self.name}: y4m frame {self.frames_read}"
        if got < 6 and b"FRAME\n".startswith(self._marker[:got]):
            raise Y4MError(f"{where} cut short in its FRAME line")
        if self._marker.startswith(MAGIC[:6]):
            raise Y4MError(f"{where}: a new y4m stream header (size or format changes mid-stream, not supported)")
        if got < 6 or self._marker[:5] != b"FRAME":
            raise Y4MError(f"{where}: expected a FRAME marker, got {bytes(self._marker[:got])!r}")
        if self._marker[5] != 0x0A:
            if self._marker[5] != 0x20:
                raise Y4MError(f"{where}: malformed FRAME line")
            params = self.stream.readline(MAX_HEADER)
            if not params.endswith(b"\n"):
                raise Y4MError(f"{where}: FRAME line cut short")
        got = self._read_exact(memoryview(frame))
        if got < frame.nbytes:
            raise Y4MError(f"{where} cut short: {got} of {frame.nbytes} bytes")
        self.frames_read += 1
        return True


class Y4MWriter:
    """Writes y4m frames to a binary stream; the header goes out with the first frame."""

    def __init__(self, stream: BinaryIO, fmt: Y4MFormat) -> None:
        self.stream = stream
        self.format = fmt
        self.frames_written = 0

    def write(self, frame: np.ndarray) -> None:
        """Write one flat uint8 frame buffer."""
        if self.frames_written == 0:
            self.stream.write(self.format.header())
        self.stream.write(b"FRAME\n")
        self.stream.write(memoryview(frame))
        self.frames_written += 1
