"""ReadAhead: a pipe's bytes handed out in order whatever the buffer and read sizes, decoded frames unchanged,
and a decoder stopped while its output is being read ahead."""

import os
import subprocess
import threading
import time
from typing import BinaryIO

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vidkompy_stream.io.processes import ChildGroup
from vidkompy_stream.io.readahead import ReadAhead
from vidkompy_stream.io.y4m import Y4MReader


def _pipe_of(data: bytes) -> BinaryIO:
    """A pipe fed `data` by a thread, its read end as a binary stream."""
    r, w = os.pipe()

    def feed() -> None:
        with os.fdopen(w, "wb") as out:
            out.write(data)

    threading.Thread(target=feed, daemon=True).start()
    return os.fdopen(r, "rb")


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=3000), size=st.integers(1, 64), buffers=st.integers(2, 5),
       reads=st.lists(st.tuples(st.booleans(), st.integers(1, 100)), min_size=1, max_size=50))
def test_bytes_come_out_in_order(data: bytes, size: int, buffers: int, reads: list[tuple[bool, int]]) -> None:
    """Any mix of readline (with or without a limit) and readinto gives back the stream's bytes, in order,
    each readline ending at a newline or its limit."""
    ahead = ReadAhead(_pipe_of(data), size, buffers)
    out = bytearray()
    k = 0
    while True:
        line, n = reads[k % len(reads)]
        k += 1
        if line:
            limit = n if n % 3 else -1
            got = ahead.readline(limit)
            assert got.endswith(b"\n") or len(got) == limit or len(out) + len(got) == len(data)
            if limit >= 0:
                assert len(got) <= limit
            assert b"\n" not in got[:-1]
        else:
            buf = bytearray(n)
            count = ahead.readinto(buf)
            got = bytes(buf[:count])
        if not got:
            break
        out += got
    assert bytes(out) == data
    ahead.close()


def test_decoded_frames_are_the_decoders(ffmpeg_exe: str) -> None:
    """The same ffmpeg output read directly and through a read-ahead: every frame identical."""
    cmd = [ffmpeg_exe, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
           "testsrc2=size=320x240:rate=25,trim=end_frame=40", "-f", "yuv4mpegpipe", "-pix_fmt", "yuv420p", "-"]
    frames = []
    for ahead in (False, True):
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
        stream = ReadAhead(proc.stdout, 4096, 3) if ahead else proc.stdout
        reader = Y4MReader(stream)
        got = []
        frame = reader.format.new_frame()
        while reader.readinto(frame):
            got.append(frame.copy())
        proc.wait()
        stream.close()
        frames.append(got)
    assert len(frames[0]) == 40 and len(frames[1]) == 40
    assert all(np.array_equal(a, b) for a, b in zip(*frames, strict=True))


def test_stopping_a_decoder_read_ahead(ffmpeg_exe: str) -> None:
    """A decoder whose output is read ahead (its buffers full: nobody reads) stops at once, and the thread ends."""
    cmd = [ffmpeg_exe, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=640x480:rate=25",
           "-f", "yuv4mpegpipe", "-pix_fmt", "yuv420p", "-"]
    with ChildGroup() as group:
        child = group.spawn("decoder", cmd, read_ahead=2)
        assert isinstance(child.output, ReadAhead)
        reader = Y4MReader(child.output)
        assert reader.readinto(reader.format.new_frame())
        time.sleep(0.3)  # the thread fills its buffers and waits
        started = time.monotonic()
        child.stop()
        assert time.monotonic() - started < 2.0
        assert child.proc.returncode is not None
        assert not child.output._thread.is_alive()
        with pytest.raises(ValueError):
            reader.readinto(reader.format.new_frame())  # as from a closed file
