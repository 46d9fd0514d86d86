"""Pixel refinement: `resolve` on constructed banded cost matrices, and end to end on a bg that repeats
source frames (near-duplicate neighbours), where only pixels and the clock can tell the candidates apart.

Unit part: rows cover bg frames lo[i] + k; the truth is put where the costs say, and `resolve` must find
it, follow the clock where costs tie, honour the root, and report confidence from the row's cost margin.

End to end: a lavfi scene (zooming Mandelbrot set with Conway's life over it: every frame differs) is
rendered losslessly at 25 fps; bg is that scene at 60 fps (`fps=60`: each source frame shown 2-3 times),
fg a crop of it from 2 s on at 24 fps. Both are first written lossless, every frame is matched to the
scene frame it came from by exact equality (so the truth does not depend on how the fps filter rounds),
then bg is encoded lossy (x264 crf 30) and fg well (crf 16). The right bg frames for fg frame i are all
bg frames that show fg frame i's scene frame.
"""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.conftest import (
    RunTool,
    ffmpeg_run,
    life_scene,
    luma_frames,
    make_y4m,
    read_y4m_frames,
    scene_index,
)
from vidkompy_stream.alignment.refine import resolve
from vidkompy_stream.params import RefineParams

INF = np.inf
PARAMS = RefineParams()  # the defaults the functions use


def band_frames(lo: np.ndarray, width: int) -> np.ndarray:
    """(n, width) bg frame index of every cell of a banded matrix."""
    return lo[:, None] + np.arange(width)[None, :]


def assert_valid_path(path: np.ndarray, lo: np.ndarray, width: int, max_step: int) -> None:
    assert path.shape == lo.shape
    assert np.all(path >= lo) and np.all(path < lo + width), (path, lo)
    steps = np.diff(path)
    assert np.all(steps >= 0) and np.all(steps <= max_step), steps


def test_coarse_path_off_by_one_is_corrected_by_pixels() -> None:
    """The aligner put fg frames 4..7 one bg frame late (and its clock follows it there): the pixel costs
    favour the true frame by 0.06, far more than the clock's 0.005 per frame, so the truth wins."""
    n, r, k = 12, 2, 3
    truth = 10 + np.arange(n)
    coarse = truth.copy()
    coarse[4:8] += 1
    lo = np.maximum.accumulate(coarse - r)
    frames = band_frames(lo, 2 * r + 1)
    costs = np.where(frames == truth[:, None], 0.02, 0.08)
    for root in (-1, 9):
        path, confidence = resolve(costs, lo, root, k, 1.0, coarse.astype(float))
        np.testing.assert_array_equal(path, truth)
        assert np.all(confidence > 0.99), confidence  # margin 0.06 = 6 confidence scales


def test_coarse_path_off_by_one_on_near_duplicates_uses_the_margin_not_the_clock() -> None:
    """Neighbours that are nearly the same picture: a margin of 4 clock-pull units still decides, and
    the confidence reports it as a small (but not zero) margin."""
    n, r = 10, 2
    truth = 30 + 2 * np.arange(n)  # bg repeats: two bg frames per fg frame
    coarse = truth + 1
    lo = np.maximum.accumulate(coarse - r)
    frames = band_frames(lo, 2 * r + 1)
    margin = 4 * PARAMS.clock_pull
    costs = np.where(frames == truth[:, None], 0.10, 0.10 + margin)
    path, confidence = resolve(costs, lo, -1, 4, 2.0, coarse.astype(float))
    np.testing.assert_array_equal(path, truth)
    expected = 1.0 - np.exp(-margin / PARAMS.confidence_scale)
    np.testing.assert_allclose(confidence, expected, rtol=1e-6)


@pytest.mark.parametrize("rate", [1.0, 1.2, 2.5, 0.8])
@pytest.mark.parametrize("root", [-1, "clock"])
def test_static_stretch_follows_the_clock(rate: float, root: int | str) -> None:
    """All costs equal (a static picture): the path is the clock line rounded, within +-1, monotone,
    steps 0..max_step, and nothing is confident."""
    n, r = 30, 2
    max_step = int(np.ceil(rate * 1.5)) + 1
    clock = 7.3 + rate * np.arange(n)
    lo = np.maximum.accumulate(np.maximum(0, np.round(clock).astype(np.int64) - r))
    width = 2 * r + 1
    start = -1 if root == -1 else int(np.floor(clock[0])) - 1
    costs = np.full((n, width), 0.25)
    path, confidence = resolve(costs, lo, start, max_step, rate, clock)
    assert_valid_path(path, lo, width, max_step)
    assert np.all(np.abs(path - clock) <= 1.0), np.c_[path, clock]
    assert np.mean(np.abs(path - clock) <= 0.5 + 1e-9) >= 0.9, np.c_[path, clock]
    np.testing.assert_array_equal(confidence, 0.0)


@pytest.mark.parametrize(
    "cheap_frame", [7, 8, 9, 16, 17],
    ids=["two-below-root", "one-below-root", "just-below", "just-above-reach", "far-above"],
)
def test_first_row_honours_root(cheap_frame: int) -> None:
    """Root 10, max step 3: row 0 may only use bg frames 10..13, however cheap a frame outside is."""
    root, max_step, width = 10, 3, 11
    lo = np.array([7, 8, 9, 10])
    costs = np.full((4, width), 0.3)
    frames = band_frames(lo, width)
    costs[0, frames[0] == cheap_frame] = 0.0  # the pixels point outside the root's reach
    path, confidence = resolve(costs, lo, root, max_step, 1.0, np.array([11.0, 12.0, 13.0, 14.0]))
    assert root <= path[0] <= root + max_step, path
    assert_valid_path(path, lo, width, max_step)
    assert 0.0 <= confidence.min() and confidence.max() <= 1.0
    # without a root, the same costs do put row 0 on the cheap frame: the root is what kept it in range
    free, _ = resolve(costs, lo, -1, max_step, 1.0, np.array([11.0, 12.0, 13.0, 14.0]))
    assert free[0] == cheap_frame


def test_first_row_honours_root_at_both_ends_of_its_reach() -> None:
    """The cheapest frame inside [root, root + max_step] is taken, at either end."""
    root, max_step, width = 20, 2, 9
    lo = np.array([17, 18])
    for target in (20, 22):
        costs = np.full((2, width), 0.4)
        costs[0, target - lo[0]] = 0.0
        costs[1, :] = 0.1
        path, confidence = resolve(costs, lo, root, max_step, 1.0, np.array([21.0, 22.0]))
        assert path[0] == target and confidence[0] > 0.99


def test_first_row_honours_root_when_its_reachable_candidates_are_missing() -> None:
    costs = np.array([[0.0, 0.0, INF, INF, INF], [0.1] * 5, [0.1] * 5])
    lo = np.array([8, 9, 10])
    path, confidence = resolve(costs, lo, 10, 2, 1.0, np.array([8.0, 9.0, 10.0]))
    assert 10 <= path[0] <= 12, path


def test_confidence_is_zero_on_ties_and_high_on_clear_wins() -> None:
    """Row 0: two candidates tie exactly; row 1: one wins by 0.1; row 2: wins by half a confidence scale."""
    lo = np.array([0, 1, 2])
    costs = np.array([
        [0.5, 0.1, 0.1, 0.5, 0.5],
        [0.5, 0.5, 0.0, 0.1, 0.5],
        [0.5, 0.5, 0.2, 0.2 + PARAMS.confidence_scale / 2, 0.5],
    ])
    path, confidence = resolve(costs, lo, -1, 3, 1.0, np.array([1.5, 3.0, 4.0]))
    assert path[0] in (1, 2) and path[1] == 3 and path[2] == 4
    assert confidence[0] < 1e-9
    assert confidence[1] > 0.999
    assert confidence[2] == pytest.approx(1.0 - np.exp(-0.5), abs=1e-6)


def test_rows_without_any_finite_candidate_follow_the_clock() -> None:
    """Rows 3..5 have no bg frame to compare (missing or already dropped), as does the last row (bg
    ended): the clock decides them, the neighbours keep their pixel decisions, confidence is 0 there."""
    n, r = 10, 2
    truth = 50 + np.arange(n)
    lo = truth - r
    frames = band_frames(lo, 2 * r + 1)
    costs = np.where(frames == truth[:, None], 0.0, 0.2)
    costs[3:6] = INF
    costs[-1] = INF
    clock = truth.astype(float) + 0.2
    path, confidence = resolve(costs, lo, 49, 2, 1.0, clock)
    assert_valid_path(path, lo, 2 * r + 1, 2)
    np.testing.assert_array_equal(path, truth)
    np.testing.assert_array_equal(confidence[[3, 4, 5, 9]], 0.0)
    assert np.all(np.delete(confidence, [3, 4, 5, 9]) > 0.99)
    # every row empty: still a clock-following path, nothing confident, no exception
    path, confidence = resolve(np.full((n, 5), INF), lo, 49, 2, 1.0, clock)
    assert_valid_path(path, lo, 5, 2)
    assert np.all(np.abs(path - clock) <= 1.0) and not confidence.any()


# ------------------------------------------------------------------------------------- properties


@st.composite
def banded_problems(draw: st.DrawFn, row0_reachable: bool) -> tuple:
    """Random banded costs with +inf holes, non-decreasing lo (steps 0..max_step, as the refiner's coarse
    decisions give), a root whose reach the first band meets, a clock near the band, a rate."""
    n = draw(st.integers(1, 14))
    width = draw(st.integers(1, 7))
    max_step = draw(st.integers(1, 4))
    lo0 = draw(st.integers(0, 30))
    steps = draw(st.lists(st.integers(0, max_step), min_size=n - 1, max_size=n - 1))
    lo = np.array([lo0, *(lo0 + np.cumsum(steps, dtype=np.int64))], np.int64)[:n]
    cell = st.one_of(st.floats(0.0, 2.0, allow_nan=False), st.just(INF))
    costs = np.array(draw(st.lists(cell, min_size=n * width, max_size=n * width)), np.float64).reshape(n, width)
    root = draw(st.one_of(st.just(-1), st.integers(max(0, lo0 - max_step), lo0 + width - 1)))
    if row0_reachable and root >= 0:
        reach = [k for k in range(width) if root <= lo0 + k <= root + max_step]
        if not np.isfinite(costs[0, reach]).any():
            costs[0, draw(st.sampled_from(reach))] = draw(st.floats(0.0, 2.0))
    clock = lo + draw(st.lists(st.floats(-3.0, width + 3.0), min_size=n, max_size=n))
    rate = draw(st.floats(0.25, 3.0))
    return costs, lo, root, max_step, rate, np.asarray(clock, np.float64)


def check_resolve_properties(problem: tuple) -> None:
    costs, lo, root, max_step, rate, clock = problem
    path, confidence = resolve(costs, lo, root, max_step, rate, clock)
    assert_valid_path(path, lo, costs.shape[1], max_step)
    if root >= 0:
        assert root <= path[0] <= root + max_step, (path[0], root)
    assert confidence.shape == path.shape
    assert np.all(np.isfinite(confidence)) and np.all((confidence >= 0.0) & (confidence <= 1.0)), confidence


def test_a_jump_longer_than_the_coarse_step_is_taken_at_once() -> None:
    """fg dropped 3 frames: bg must advance 4 between two fg frames. The coarse path (steps of at most 3)
    spreads it over two frames; the refiner, allowed steps up to 3 + 2r, puts every frame right."""
    n, r = 12, 2
    truth = 100 + np.arange(n)
    truth[6:] += 3
    coarse = np.minimum(truth, np.maximum.accumulate(np.r_[truth[0], truth[:-1] + 3]))
    lo = np.maximum.accumulate(coarse - r)
    frames = band_frames(lo, 2 * r + 1)
    costs = np.where(frames == truth[:, None], 0.0, 0.1)
    path, _ = resolve(costs, lo, 99, 3 + 2 * r, 1.0, truth.astype(float))
    np.testing.assert_array_equal(path, truth)



@settings(max_examples=50, deadline=None, derandomize=True)
@given(banded_problems(row0_reachable=True))
def test_resolve_properties(problem: tuple) -> None:
    """Monotone, in each row's band, steps 0..K, first row in [root, root + K], confidences in [0, 1];
    row 0 has at least one finite candidate within the root's reach (the other rows any holes)."""
    check_resolve_properties(problem)


@settings(max_examples=50, deadline=None, derandomize=True)
@given(banded_problems(row0_reachable=False))
@example((np.array([[0.0, 0.0, INF, INF, INF], [0.1] * 5, [0.1] * 5]), np.array([8, 9, 10]), 10, 2, 1.0,
          np.array([8.0, 9.0, 10.0])))
def test_resolve_properties_any_holes(problem: tuple) -> None:
    """The same properties with holes anywhere, row 0's reachable cells included."""
    check_resolve_properties(problem)


# ------------------------------------------------------------------------------------ end to end

W, H, RATE, SECONDS = 320, 180, 25, 7.6
BG_RATE, FG_RATE, START, FG_SECONDS = 60, 24, 2, 5
CROP = (80, 40, 160, 96)  # x, y, w, h (even: chroma crops exactly too)
SCENE = life_scene(W, H, RATE, round(RATE * SECONDS))


@pytest.fixture(scope="module")
def repeating_pair(ffmpeg_exe: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("refine")
    scene_path = make_y4m(ffmpeg_exe, folder / "scene.y4m", SCENE)
    bg_raw, fg_raw = folder / "bg.y4m", folder / "fg.y4m"
    ffmpeg_run(ffmpeg_exe, "-i", str(scene_path), "-vf", f"fps={BG_RATE}", "-f", "yuv4mpegpipe", str(bg_raw))
    x, y, w, h = CROP
    ffmpeg_run(ffmpeg_exe, "-i", str(scene_path), "-vf",
               f"trim=start={START},setpts=PTS-STARTPTS,crop={w}:{h}:{x}:{y}:exact=1,fps={FG_RATE},"
               f"trim=duration={FG_SECONDS}", "-f", "yuv4mpegpipe", str(fg_raw))
    scene = luma_frames(scene_path)
    whole = scene_index(scene, (slice(None), slice(None)))
    crop = scene_index(scene, (slice(y, y + h), slice(x, x + w)))
    bg_source = np.array([whole[f.tobytes()] for f in luma_frames(bg_raw)])
    fg_source = np.array([crop[f.tobytes()] for f in luma_frames(fg_raw)])
    runs = np.diff(np.flatnonzero(np.diff(bg_source)))
    assert set(runs.tolist()) == {2, 3}, "bg shows each source frame 2 or 3 times"
    assert len(fg_source) == FG_RATE * FG_SECONDS
    bg, fg = folder / "bg.mp4", folder / "fg.mp4"
    ffmpeg_run(ffmpeg_exe, "-i", str(bg_raw), "-c:v", "libx264", "-preset", "ultrafast", "-crf", "30", str(bg))
    ffmpeg_run(ffmpeg_exe, "-i", str(fg_raw), "-c:v", "libx264", "-preset", "ultrafast", "-crf", "16", str(fg))
    return {"bg": bg, "fg": fg, "bg_source": bg_source, "fg_source": fg_source}


def read_map(path: Path) -> list[list[str]]:
    lines = path.read_text().splitlines()
    assert lines[0] == "fg_frame,bg_frame,confidence,x,y"
    return [line.split(",") for line in lines[1:] if not line.startswith("#")]


def score(rows: list[list[str]], bg_source: np.ndarray, fg_source: np.ndarray) -> tuple[float, int, list]:
    """Fraction of fg frames over a bg frame showing their source frame; the largest distance (in bg
    frames) to such a frame; the wrong rows as (fg, bg, right bg frames)."""
    distances, wrong = [], []
    for i, row in enumerate(rows):
        assert int(row[0]) == i
        j = int(row[1])
        right = np.flatnonzero(bg_source == fg_source[i])
        assert right.size, f"fg frame {i}'s source frame is not in bg"
        d = int(np.abs(right - j).min())
        distances.append(d)
        if d:
            wrong.append((i, j, right.tolist()))
    return distances.count(0) / len(rows), max(distances), wrong


def test_near_duplicate_neighbours_end_to_end(run_tool: RunTool, repeating_pair: dict[str, object],
                                              tmp_path: Path) -> None:
    """bg at 60 fps repeats each 25 fps source frame 2-3 times (lossy), fg at 24 fps: --refine fast puts
    >= 99 % of fg frames over a bg frame showing their source frame, every one within a frame of it, and
    does no worse than --refine off."""
    results = {}
    n = len(repeating_pair["fg_source"])
    for level in ("off", "fast"):
        done = run_tool(["--fg", str(repeating_pair["fg"]), "--bg", str(repeating_pair["bg"]), "--refine", level,
                         "--map-out", f"map_{level}.csv", "-o", "-"])
        assert done.returncode == 0, done.stderr.decode()
        _, frames = read_y4m_frames(done.stdout)
        assert len(frames) == n
        rows = read_map(tmp_path / f"map_{level}.csv")
        assert len(rows) == n
        assert {(int(r[3]), int(r[4])) for r in rows} == {CROP[:2]}
        results[level] = score(rows, repeating_pair["bg_source"], repeating_pair["fg_source"])
    summary = (f"right source frame: off {results['off'][0]:.1%} (max {results['off'][1]} off), "
               f"fast {results['fast'][0]:.1%} (max {results['fast'][1]} off); "
               f"wrong with fast (fg, bg, right): {results['fast'][2][:6]}")
    rate, worst, _ = results["fast"]
    assert rate >= 0.99, summary
    assert worst <= 1, summary
    assert rate >= results["off"][0], summary


@pytest.mark.parametrize("cap, follows", [(1.0, True), (10.0, False)])
def test_a_dropped_frame_shown_clearly_outvotes_the_capped_pull(cap: float, follows: bool) -> None:
    """fg drops 3 frames at row 6; every row's right bg frame costs 0.012 less than any other. At the pull's
    strongest (clock_pull x pull_gain), a pull that grows with the distance (cap 10 frames) holds the rows
    after the drop near the old clock; capped at one frame, it only decides between near-equal frames."""
    rows = np.arange(12)
    right = 100 + rows + np.where(rows >= 6, 3, 0)
    lo = right - 2
    costs = np.full((rows.size, 5), 0.015)
    costs[:, 2] = 0.003
    pull = PARAMS.clock_pull * PARAMS.pull_gain
    path, _ = resolve(costs, lo, -1, 7, 1.0, (100 + rows).astype(float), pull, PARAMS.confidence_scale, cap)
    assert np.array_equal(path, right) == follows
    assert np.array_equal(path[:6], right[:6])


