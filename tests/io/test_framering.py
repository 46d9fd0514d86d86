"""FrameRing on a real y4m stream whose luma encodes the frame number."""

import io
from pathlib import Path

import pytest

from tests.conftest import index_source, make_y4m
from vidkompy_stream.io.framering import FrameRing
from vidkompy_stream.io.y4m import Y4MReader

FRAMES = 60


@pytest.fixture(scope="module")
def data(ffmpeg_exe: str, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = make_y4m(ffmpeg_exe, tmp_path_factory.mktemp("ring") / "n.y4m", index_source("16x8", "25", FRAMES))
    return Path(path).read_bytes()


def ring(data: bytes, capacity: int) -> FrameRing:
    return FrameRing(Y4MReader(io.BufferedReader(io.BytesIO(data)), "test"), capacity)


def number(r: FrameRing, index: int) -> int:
    return int(r.frame(index)[0])


def test_holds_a_window_and_skips_forward(data: bytes) -> None:
    r = ring(data, 4)
    assert r.fill_to(3) and [number(r, i) for i in range(4)] == [0, 1, 2, 3]
    with pytest.raises(OverflowError):
        r.fill_to(4)
    r.release_before(2)
    with pytest.raises(IndexError):
        r.frame(1)
    assert r.fill_to(5) and [number(r, i) for i in range(2, 6)] == [2, 3, 4, 5]
    r.release_before(40)  # a skip: frames 6..39 are read and dropped
    assert r.fill_to(41) and (number(r, 40), number(r, 41)) == (40, 41)
    r.release_before(FRAMES)
    assert not r.fill_to(FRAMES) and r.eof and r.end == FRAMES and int(r.last()[0]) == FRAMES - 1


def test_slots_are_reused_last_freed_first(data: bytes) -> None:
    """A ring sized for a peak touches only as many slots as it holds at once: here two."""
    r = ring(data, 40)
    used = set()
    for i in range(FRAMES):
        assert r.fill_to(i) and number(r, i) == i
        used.add(r.frame(i).ctypes.data)
        r.release_before(i)  # hold one frame between reads: two at once while reading the next
    assert len(used) == 2


def test_a_ring_shrunk_after_its_peak_keeps_its_frames_in_a_smaller_block(data: bytes) -> None:
    """The search fills fg's ring with seconds of frames the run then outputs: told to shrink, the ring waits
    until it holds fewer than the new capacity, moves them (and the newest frame read) to a block of that
    size, and goes on reading into it."""
    r = ring(data, 30)
    assert r.fill_to(19)
    first = r.slots
    r.shrink_to(4)
    assert r.slots is first and r.capacity == 30, "20 frames held: nothing moves yet"
    r.release_before(17)
    assert r.capacity == 4 and r.slots.shape[0] == 4 and [number(r, i) for i in (17, 18, 19)] == [17, 18, 19]
    assert r.fill_to(20) and number(r, 20) == 20
    with pytest.raises(OverflowError):
        r.fill_to(21)
    r.release_before(30)  # a skip past all held frames: the newest read stays readable until the next read
    assert int(r.last()[0]) == 20 and r.fill_to(33) and [number(r, i) for i in range(30, 34)] == [30, 31, 32, 33]
    released = ring(data, 10)
    assert released.fill_to(5)
    released.release_before(6)
    released.shrink_to(3)
    assert released.capacity == 3 and int(released.last()[0]) == 5 and released.fill_to(8) and number(released, 8) == 8
