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
