"""A decoder's pipe drained by a thread, so that decoding goes on while the run computes.

A pipe holds 1 MiB, a third of a 1080p frame: without a reader, ffmpeg stops decoding as soon as it has
written part of the next frame, and waits for the run to ask for it. The run's work comes in bursts (a
settle of the spatial search, a refinement segment) and the decoder's in a steady stream, so the two then
take turns on two cores instead of sharing them. `ReadAhead` reads the pipe in a thread (the reads release
the GIL) into a few buffers of a fixed total size, and hands the bytes out in order: a bounded queue between
producer and consumer, the classic remedy for a bursty consumer (the bounded buffer of Dijkstra's
"Cooperating sequential processes", 1965). Memory is those buffers, whatever the input's length.
"""

import os
import queue
import select
import threading
from typing import IO

#: How long the reader waits for a free buffer before looking whether the stream was closed (s).
POLL = 0.1


class ReadAhead:
    """A binary stream's bytes, read ahead by a thread into `buffers` buffers of `size` bytes each, and given out
    by `readinto` and `readline` as the stream's own would. The end of the stream, or an error reading it, reads
    as the end (whoever owns the stream then learns from its decoder why it ended); once closed, reads raise
    ValueError as a closed file's do."""

    def __init__(self, stream: IO[bytes], size: int, buffers: int) -> None:
        self.stream = stream
        self._free: queue.Queue[bytearray] = queue.Queue()
        for _ in range(max(2, buffers)):
            self._free.put(bytearray(max(1, size)))
        self._full: queue.Queue[tuple[bytearray, int]] = queue.Queue()
        self._buffer, self._view = bytearray(), memoryview(b"")
        self._pos = self._len = 0
        self._ended = self._closed = False
        self._thread = threading.Thread(target=self._fill, name="vidkompy-readahead", daemon=True)
        self._thread.start()

    def _fill(self) -> None:
        """The thread: fill free buffers until the stream ends (an empty buffer queued then) or is closed. Reads
        wait in `poll`, never in `read`, so that `close` never waits on a read nor closes the pipe under one."""
        fd = self.stream.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while not self._closed:
            try:
                buffer = self._free.get(timeout=POLL)
            except queue.Empty:
                continue
            n, ended = self._read(fd, poller, memoryview(buffer))
            if n:
                self._full.put((buffer, n))
            if ended:
                self._full.put((bytearray(), 0))
                return

    def _read(self, fd: int, poller: select.poll, view: memoryview) -> tuple[int, bool]:
        """Read until `view` is full, or the stream ends (True); stop early, ended, when closed or on an error."""
        got = 0
        while got < len(view):
            if self._closed:
                return got, True
            if not poller.poll(POLL * 1000):
                continue
            try:
                n = os.readv(fd, [view[got:]])
            except OSError:
                return got, True
            if not n:
                return got, True
            got += n
        return got, False

    def _next(self) -> bool:
        """Move on to the next buffer read; False at the end of the stream."""
        if self._ended:
            return False
        if self._buffer:
            self._free.put(self._buffer)
        self._buffer, self._len = self._full.get()
        self._view, self._pos = memoryview(self._buffer), 0
        self._ended = not self._len
        return not self._ended

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("read of a closed ReadAhead")

    def readinto(self, target: memoryview, /) -> int:
        """Copy the next bytes into `target` (fewer than it holds only at a buffer's end); 0 at the end."""
        self._check_open()
        if self._pos >= self._len and not self._next():
            return 0
        view = memoryview(target).cast("B")
        n = min(len(view), self._len - self._pos)
        view[:n] = self._view[self._pos:self._pos + n]
        self._pos += n
        return n

    def readline(self, limit: int = -1, /) -> bytes:
        """The next line, newline included, of at most `limit` bytes (any length when negative)."""
        self._check_open()
        line = bytearray()
        while limit < 0 or len(line) < limit:
            if self._pos >= self._len and not self._next():
                break
            end = self._buffer.find(b"\n", self._pos, self._len)
            stop = self._len if end < 0 else end + 1
            if limit >= 0:
                stop = min(stop, self._pos + limit - len(line))
            line += self._view[self._pos:stop]
            self._pos = stop
            if line.endswith(b"\n"):
                break
        return bytes(line)

    def close(self) -> None:
        """Stop reading and close the stream, once the thread has ended (within `POLL`)."""
        self._closed = True
        self._thread.join()
        self.stream.close()
