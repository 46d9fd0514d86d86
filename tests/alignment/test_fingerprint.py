"""Fingerprints and their costs on real decoded video (lavfi clips, ffmpeg-encoded), not on synthetic arrays."""

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import decode, ffmpeg_run, make_y4m
from vidkompy_stream.alignment.fingerprint import Fingerprinter, FingerprintStore, costs
from vidkompy_stream.kernels.similarity import hamming_window

W, H = 320, 180  # the fg crop
X, Y = 48, 30  # where it sits in the 416x240 source
N = 16


def lumas(frames: list[np.ndarray], width: int, height: int) -> list[np.ndarray]:
    return [f[: width * height].reshape(height, width) for f in frames]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[np.ndarray]]:
    """A moving mandelbrot zoom (416x240): the lossless source, a crf 35 re-encode, and a brightened copy."""
    from vidkompy_stream.io.ffmpeg_tool import find_ffmpeg

    exe = find_ffmpeg()
    tmp: Path = tmp_path_factory.mktemp("fp")
    src = f"mandelbrot=size=416x240:rate=25,format=yuv420p,trim=end_frame={N}"
    lossless = make_y4m(exe, tmp / "src.y4m", src)
    ffmpeg_run(exe, "-i", str(lossless), "-c:v", "libx264", "-preset", "veryfast", "-crf", "35", str(tmp / "bg.mp4"))
    ffmpeg_run(exe, "-i", str(lossless), "-vf", "eq=brightness=0.1:contrast=1.2", "-c:v", "libx264", "-preset",
               "veryfast", "-crf", "18", str(tmp / "eq.mp4"))
    out = {}
    for name, path in (("src", lossless), ("bg", tmp / "bg.mp4"), ("eq", tmp / "eq.mp4")):
        fmt, frames = decode(exe, path)
        assert (fmt.width, fmt.height) == (416, 240) and len(frames) == N
        out[name] = lumas(frames, 416, 240)
    return out


def fill(frames: list[np.ndarray], capacity: int = 64, start: int = 0) -> FingerprintStore:
    fp = Fingerprinter(W, H)
    store = FingerprintStore(fp, capacity)
    for i, plane in enumerate(frames):
        fp.compute(plane[Y : Y + H, X : X + W], store, start + i)  # non-contiguous crop views
    return store


def test_self_cost_is_zero_and_below_neighbours(clips: dict[str, list[np.ndarray]]) -> None:
    store = fill(clips["src"])
    out = np.empty(N, np.float32)
    for i in range(N):
        c = costs(store, i, store, 0, N, out)
        assert c.shape == (N,) and c.dtype == np.float32
        assert c[i] < 1e-4
        others = np.delete(c, i)
        assert others.min() > c[i] + 0.005
        assert np.all(c <= 2.0)


def test_brightness_contrast_shift_still_matches(clips: dict[str, list[np.ndarray]]) -> None:
    fg = fill(clips["src"])
    bg = fill(clips["eq"])
    out = np.empty(N, np.float32)
    for i in range(N):
        c = costs(fg, i, bg, 0, N, out)
        assert int(np.argmin(c)) == i
        assert c[i] < 0.1


def test_numpy_affine_luma_change_is_ignored(clips: dict[str, list[np.ndarray]]) -> None:
    src = clips["src"]
    shifted = [np.clip(p.astype(np.float32) * 0.6 + 40, 0, 255).astype(np.uint8) for p in src]
    fg, bg = fill(src), fill(shifted)
    out = np.empty(N, np.float32)
    for i in range(N):
        c = costs(fg, i, bg, 0, N, out)
        assert int(np.argmin(c)) == i and c[i] < 0.02


def test_reencoded_bg_picks_the_right_frame(clips: dict[str, list[np.ndarray]]) -> None:
    fg = fill(clips["src"])
    bg = fill(clips["bg"])
    out = np.empty(7, np.float32)
    right = 0
    for i in range(N):
        c = costs(fg, i, bg, i - 3, i + 4, out)  # neighbours i-3..i+3, some before frame 0 (inf)
        right += int(np.argmin(c)) == 3
    assert right >= N - 1


def test_unrelated_content_costs_about_one(clips: dict[str, list[np.ndarray]], ffmpeg_exe: str, tmp_path: Path) -> None:
    other = make_y4m(ffmpeg_exe, tmp_path / "t.y4m", "testsrc2=size=416x240:rate=25,format=yuv420p,trim=end_frame=2")
    _, frames = decode(ffmpeg_exe, other)
    fg = fill(clips["src"])
    bg = fill(lumas(frames, 416, 240))
    c = costs(fg, 5, bg, 0, 2, np.empty(2, np.float32))
    assert np.all((c > 0.6) & (c < 1.4))


def test_missing_slots_are_inf_and_ring_wraps(clips: dict[str, list[np.ndarray]]) -> None:
    fg = fill(clips["src"])
    bg = fill(clips["src"], capacity=5, start=100)  # frames 100..115 in 5 slots: only 111..115 survive
    assert [bg.holds(k) for k in (110, 111, 115, 116)] == [False, True, True, False]
    out = np.full(12, -1.0, np.float32)
    c = costs(fg, 13, bg, 108, 118, out)
    assert c.shape == (10,)
    assert np.all(np.isinf(c[:3])) and np.all(np.isinf(c[8:]))  # overwritten (108..110), never read (116, 117)
    assert np.all(np.isfinite(c[3:8]))
    assert int(np.argmin(c)) == 113 - 108  # fg frame 13 is bg frame 113 after the wrap
    assert c[5] < 1e-4
    with pytest.raises(KeyError):
        costs(fg, 40, bg, 100, 110, out)  # fg does not hold frame 40


def test_non_contiguous_view_equals_contiguous_copy(clips: dict[str, list[np.ndarray]]) -> None:
    plane = clips["bg"][7]
    view = plane[Y : Y + H, X : X + W]
    assert not view.flags.c_contiguous
    fp = Fingerprinter(W, H)
    a, b = FingerprintStore(fp, 2), FingerprintStore(fp, 2)
    fp.compute(view, a, 0)
    fp.compute(np.ascontiguousarray(view), b, 0)
    np.testing.assert_array_equal(a.thumb, b.thumb)
    np.testing.assert_array_equal(a.grad, b.grad)
    with pytest.raises(ValueError):
        fp.compute(plane, a, 1)  # wrong size


def test_flat_frames_match_each_other_not_content(clips: dict[str, list[np.ndarray]]) -> None:
    fp = Fingerprinter(W, H)
    fg = FingerprintStore(fp, 4)
    bg = FingerprintStore(fp, 4)
    fp.compute(np.full((H, W), 16, np.uint8), fg, 0)
    fp.compute(np.full((H, W), 200, np.uint8), bg, 0)
    fp.compute(clips["src"][3][Y : Y + H, X : X + W], bg, 1)
    c = costs(fg, 0, bg, 0, 2, np.empty(2, np.float32))
    assert c[0] == 0.0 and c[1] == pytest.approx(1.0)


def test_hamming_window_counts_bits() -> None:
    a = np.array([0b1011, 0], np.uint64)
    ring = np.zeros((4, 2), np.uint64)
    ring[1] = [0b0001, np.uint64(0xFFFFFFFFFFFFFFFF)]
    ring[2] = a
    index = np.array([-1, 5, 6, -1], np.int64)
    out = np.empty(3, np.float32)
    hamming_window(a, ring, index, 5, 8, out)
    assert out[0] == pytest.approx(2 * (2 + 64) / 128)
    assert out[1] == 0.0 and np.isinf(out[2])


def test_sizes_give_sane_thumbnails() -> None:
    for (w, h), (tw, th) in {(1280, 720): (106, 60), (1920, 1080): (96, 54), (192, 108): (96, 54),
                             (40, 30): (40, 30)}.items():
        fp = Fingerprinter(w, h)
        assert (fp.thumb_width, fp.thumb_height) == (tw, th)
        assert fp.shrink(np.zeros((h, w), np.uint8)).shape == (th, tw)
