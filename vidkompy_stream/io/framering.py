"""A bounded ring of frame buffers over a y4m stream, addressed by absolute frame index.

This is the memory model of the whole tool: each stream owns at most `capacity` frame slots, set by
the lookahead the consumer needs, never by the video's length. Frames are read on demand with
`readinto` straight into their slot; releasing frames lets later reads reuse the slots. Slots are
reused last-freed-first from one block reserved up front, so a ring sized for a rare peak (the spatial
search holds a second of fg) costs resident memory only for the frames held at once, not `capacity`; once
the peak is over, `shrink_to` gives that memory back (the frames held move to a smaller block).
"""

import numpy as np

from .y4m import Y4MReader


class FrameRing:
    """The frames [start, end) of a stream that the consumer still holds, at most `capacity` of them."""

    def __init__(self, reader: Y4MReader, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.reader = reader
        self.capacity = capacity
        self.slots = np.empty((capacity, reader.format.frame_size), dtype=np.uint8)
        self._free = list(range(capacity - 1, -1, -1))  # pop() takes the most recently freed slot
        self._held: dict[int, int] = {}  # frame index -> slot, for frames [start, end)
        self._last = 0  # slot of the newest frame read
        self.start = 0
        self.end = 0
        self.eof = False
        self._target = capacity  # `shrink_to`

    def fill_to(self, index: int) -> bool:
        """Read until frame `index` is held; False if the stream ends first.

        Frames below `start` (released before they were read) are read into a free slot and dropped:
        that is how a consumer skips forward without holding what it skips.
        """
        while self.end <= index and not self.eof:
            if not self._free:
                raise OverflowError(
                    f"frame {index} needs more than {self.capacity} buffered frames (holding {self.start}..)"
                )
            slot = self._free.pop()
            if self.reader.readinto(self.slots[slot]):
                self._last = slot
                if self.end >= self.start:
                    self._held[self.end] = slot
                else:
                    self._free.append(slot)
                self.end += 1
            else:
                self._free.append(slot)
                self.eof = True
        return index < self.end

    def frame(self, index: int) -> np.ndarray:
        """The flat buffer of a held frame (a view into its slot, valid until the slot is reused)."""
        if not self.start <= index < self.end:
            raise IndexError(f"frame {index} is not held (holding {self.start}..{self.end - 1})")
        return self.slots[self._held[index]]

    def last(self) -> np.ndarray:
        """The newest frame read, still intact in its slot even if released (no read has happened since)."""
        if self.end == 0:
            raise IndexError("no frame has been read")
        return self.slots[self._last]

    def release_before(self, index: int) -> None:
        """Let go of frames below `index`; `index` may lie beyond what has been read (a skip)."""
        for held in range(self.start, min(index, self.end)):
            self._free.append(self._held.pop(held))
        self.start = max(self.start, index)
        self._compact_if_due()

    def shrink_to(self, capacity: int) -> None:
        """Hold at most `capacity` frames from when no more than that are held (at once, or after a release):
        the frames held, and the newest frame read, move to a block of that size and the larger block is
        freed. For a ring that a rare peak filled (the search reads seconds of fg that the run then outputs)."""
        self._target = min(self._target, max(1, capacity))
        self._compact_if_due()

    def _compact_if_due(self) -> None:
        """Once `shrink_to`'s target holds what is held (and a slot more for the newest frame read), move the
        held frames to slots 0.. of a block of that size, and the newest frame read, if released, to the next
        slot (reused first, as the most recently freed)."""
        if self._target >= self.capacity or len(self._held) >= self._target:
            return
        slots = np.empty((self._target, self.slots.shape[1]), dtype=np.uint8)
        held = {index: k for k, index in enumerate(range(self.start, self.end))}
        for index, k in held.items():
            slots[k] = self.slots[self._held[index]]
        last = held.get(self.end - 1, len(held))
        if self.end > 0 and self.end - 1 not in held:
            slots[last] = self.slots[self._last]
        self.slots, self._held, self._last, self.capacity = slots, held, last, self._target
        self._free = list(range(self.capacity - 1, len(held) - 1, -1))
