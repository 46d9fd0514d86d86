"""Given timing: which bg frame each fg frame goes over, from a constant offset or a mapping file.

These bypass alignment. Times are exact rationals, so the nearest bg frame is computed without float
drift over hour-long inputs: fg frame i is at i / fg_rate seconds, bg time = fg time + offset, and the
bg frame shown is the one whose timestamp is nearest (ties go to the later frame).
"""

import logging
import math
from collections.abc import Iterator, Sequence
from fractions import Fraction

from ..decision import Decision

log = logging.getLogger(__name__)


def nearest_bg_frame(fg_frame: int, fg_rate: Fraction, bg_rate: Fraction, offset: Fraction) -> int:
    """Index of the bg frame nearest to bg time (fg_frame / fg_rate + offset); may be negative."""
    return math.floor((fg_frame / fg_rate + offset) * bg_rate + Fraction(1, 2))


def offset_from_pairs(pairs: Sequence[tuple[int, int]], fg_rate: Fraction, bg_rate: Fraction) -> Fraction:
    """The offset (bg time - fg time) under which every (fg frame, bg frame) pair is a nearest-frame
    pair, from the middle of the offsets all pairs allow; a single pair only pins it to +-half a bg
    frame, several at different phases narrow that down. Pairs that cannot all hold (a static shot
    matches anywhere) give the median of each pair's own offset."""
    if not pairs:
        raise ValueError("no pairs")
    half = Fraction(1, 2) / bg_rate
    centres = sorted(bg / bg_rate - fg / fg_rate for fg, bg in pairs)
    lo, hi = max(c - half for c in centres), min(c + half for c in centres)
    if lo <= hi:
        return (lo + hi) / 2
    return centres[len(centres) // 2]


class OffsetTiming:
    """bg time = fg time + offset; before bg starts, its first frame is shown."""

    def __init__(self, fg_rate: Fraction, bg_rate: Fraction, offset: Fraction) -> None:
        self.fg_rate, self.bg_rate, self.offset = fg_rate, bg_rate, offset
        self._warned = False

    def decide(self, fg_frame: int) -> Decision:
        bg = nearest_bg_frame(fg_frame, self.fg_rate, self.bg_rate, self.offset)
        if bg < 0:
            if not self._warned:
                log.warning("fg starts %.3f s before bg: bg frame 0 is shown until bg begins", -float(self.offset))
                self._warned = True
            bg = 0
        return Decision(fg_frame, bg)


class MapTiming:
    """Replays a mapping file; past its last row, follows the frame-rate ratio from that row on."""

    def __init__(self, decisions: Iterator[Decision], fg_rate: Fraction, bg_rate: Fraction, path: str) -> None:
        self.decisions = decisions
        self.fg_rate, self.bg_rate, self.path = fg_rate, bg_rate, path
        self.last: Decision | None = None
        self.tail: OffsetTiming | None = None

    def decide(self, fg_frame: int) -> Decision:
        if self.tail is None:
            decision = next(self.decisions, None)
            if decision is not None:
                self.last = decision
                return decision
            log.warning("%s ends before fg frame %d: later frames follow the frame rates", self.path, fg_frame)
            self.tail = OffsetTiming(self.fg_rate, self.bg_rate, self._offset_at_last())
        bg = self.tail.decide(fg_frame).bg_frame
        if self.last is None:
            return Decision(fg_frame, bg)
        return Decision(fg_frame, max(bg, self.last.bg_frame), None, self.last.x, self.last.y)

    def _offset_at_last(self) -> Fraction:
        if self.last is None:
            return Fraction(0)
        return self.last.bg_frame / self.bg_rate - self.last.fg_frame / self.fg_rate
