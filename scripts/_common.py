"""The truth file shared by make_pair.py (writes it) and score.py (reads it).

A truth file describes a generated (bg, fg) pair and the right answer for it: where fg sits in bg (the
crop rect) and, for every fg frame, the contiguous range of bg frames that show the same source moment.
It is JSON with one key per line and each value written compactly, so a long pair stays small and a
person can still read the header.
"""

from __future__ import annotations

import dataclasses
import json
import os
from fractions import Fraction

import numpy as np

FORMAT = "vidkompy-truth/1"


def to_ranges(flags: np.ndarray) -> list[list[int]]:
    """Indices where `flags` is true, as inclusive [first, last] runs (compact for long inputs)."""
    padded = np.concatenate(([False], flags.astype(bool), [False]))
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [[int(a), int(b) - 1] for a, b in zip(edges[::2], edges[1::2])]


def from_ranges(ranges: list[list[int]], n: int) -> np.ndarray:
    """The inverse of `to_ranges`: a bool array of length n."""
    flags = np.zeros(n, dtype=bool)
    for first, last in ranges:
        flags[first : last + 1] = True
    return flags


@dataclasses.dataclass
class Truth:
    """The right answer for a pair: fg frame i belongs over any bg frame in [lo[i], hi[i]]."""

    folder: str
    bg: str
    fg: str
    size: tuple[int, int]
    rect: tuple[int, int, int, int]
    scene_fps: Fraction
    bg_fps: Fraction
    fg_fps: Fraction
    bg_frames: int
    lo: np.ndarray
    hi: np.ndarray
    exact: np.ndarray
    offset: float
    info: dict[str, object] = dataclasses.field(default_factory=dict)

    @property
    def fg_frames(self) -> int:
        return int(self.lo.size)

    @property
    def bg_path(self) -> str:
        return os.path.join(self.folder, self.bg)

    @property
    def fg_path(self) -> str:
        return os.path.join(self.folder, self.fg)

    def save(self, path: str) -> None:
        """Write the truth file; bg and fg are named relative to its folder, so the pair can move."""
        doc: dict[str, object] = {
            "format": FORMAT,
            "bg": self.bg,
            "fg": self.fg,
            "size": list(self.size),
            "rect": list(self.rect),
            "scene_fps": str(self.scene_fps),
            "bg_fps": str(self.bg_fps),
            "fg_fps": str(self.fg_fps),
            "bg_frames": self.bg_frames,
            "fg_frames": self.fg_frames,
            "offset": self.offset,
            **self.info,
            "bg_sets": [[int(a), int(b)] for a, b in zip(self.lo, self.hi)],
            "inexact": to_ranges(~self.exact),
        }
        lines = [f" {json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}" for k, v in doc.items()]
        with open(path, "w") as out:
            out.write("{\n" + ",\n".join(lines) + "\n}\n")

    @classmethod
    def load(cls, path: str) -> "Truth":
        with open(path) as stream:
            doc = json.load(stream)
        if doc.get("format") != FORMAT:
            raise ValueError(f"{path}: not a {FORMAT} truth file")
        sets = np.asarray(doc.pop("bg_sets"), dtype=np.int64).reshape(-1, 2)
        known = {"format", "bg", "fg", "size", "rect", "scene_fps", "bg_fps", "fg_fps", "bg_frames", "fg_frames",
                 "offset", "inexact"}
        return cls(
            folder=os.path.dirname(os.path.abspath(path)),
            bg=doc["bg"],
            fg=doc["fg"],
            size=tuple(doc["size"]),
            rect=tuple(doc["rect"]),
            scene_fps=Fraction(doc["scene_fps"]),
            bg_fps=Fraction(doc["bg_fps"]),
            fg_fps=Fraction(doc["fg_fps"]),
            bg_frames=doc["bg_frames"],
            lo=sets[:, 0].copy(),
            hi=sets[:, 1].copy(),
            exact=~from_ranges(doc["inexact"], len(sets)),
            offset=doc["offset"],
            info={k: v for k, v in doc.items() if k not in known},
        )
