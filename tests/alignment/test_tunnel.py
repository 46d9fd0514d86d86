"""Tunnel aligner: what only it does (the merge rule beating a look-alike frame, the anchor through a stretch
matching nothing, bg ending). Exact recovery of known paths, static stretches, cuts, dropped bg frames and the
streaming contract (monotone, steps 0..K, one decision per frame, bounded windows and memory) are the tests of
test_dtw.py that take `engine`: they run on both aligners."""

import numpy as np
import pytest

from tests.alignment.test_dtw import bg_frames, graded, matrix_costs, run, true_path
from vidkompy_stream.alignment.dtw import DTWAligner
from vidkompy_stream.alignment.tunnel import TunnelAligner


@pytest.mark.parametrize("lookahead", [0, 20])
def test_bg_ends_before_fg(lookahead: int) -> None:
    rate, n, n_bg = 1.2, 300, 250
    nominal = true_path(n, rate, 5.25)
    content = graded(np.minimum(nominal, n_bg - 1), n_bg, seed=11)

    def costs(i: int, lo: int, hi: int) -> np.ndarray:
        c = content(i, lo, hi)
        if nominal[i] >= n_bg:
            c[np.isfinite(c)] = 0.6
        return c

    out = run(TunnelAligner(rate, 5, lookahead), costs, n)
    assert np.array_equal(bg_frames(out), np.minimum(nominal, n_bg - 1))  # the last frame is held
    assert all(d.confidence == 0.0 for d in out if nominal[d.fg_frame] > n_bg)


@pytest.mark.parametrize("engine", [TunnelAligner, DTWAligner])
def test_lookalike_frame_ahead_does_not_capture_the_path(engine: type) -> None:
    """A blurry fg frame whose cheapest cell is a look-alike 2 bg frames ahead (rate 0.5, K = 2): the forward
    pass takes it and is stuck ahead for 3 rows; the backward pass, coming from the future, is not. The
    disagreement run's total decides for the backward pass, so the commit is exact, as with DTW."""
    rate, n = 0.5, 120
    truth = true_path(n, rate, 20.25)
    i = next(j for j in range(60, n) if truth[j] == truth[j - 1])  # a step-0 row: truth + 2 is in reach
    content = graded(truth, 10**6, seed=5)
    decoy = int(truth[i]) + 2

    def costs(j: int, lo: int, hi: int) -> np.ndarray:
        c = content(j, lo, hi)
        if j == i:
            c[int(truth[i]) - lo] = 0.05
            c[decoy - lo] = 0.0
        return c

    forward_range = np.arange(truth[i - 1], truth[i - 1] + 3)
    row = costs(i, 0, decoy + 10)[forward_range] + 0.01 * np.abs(forward_range - (20.25 + rate * i))
    assert forward_range[np.argmin(row)] == decoy  # a greedy forward pass from the truth would take it
    out = run(engine(rate, int(truth[0]), 10), costs, n)
    assert np.array_equal(bg_frames(out), truth)


@pytest.mark.parametrize("rate", [0.5, 1.2, 2.5])
def test_stretch_matching_nothing_does_not_lose_the_track(rate: float) -> None:
    """300 fg frames showing nothing of bg (random costs 0.5..0.8): each pass's greedy picks wander, but the
    tunnel keeps the anchor near the clock line and such rows do not steer the clock (their margin against
    the whole window is small), so the path is exact again soon after the stretch."""
    n, junk = 1200, range(400, 700)
    truth = true_path(n, rate, 10.25)
    content = graded(truth, 10**6, seed=9)
    rng = np.random.default_rng(9)

    def costs(i: int, lo: int, hi: int) -> np.ndarray:
        return (0.5 + rng.random(hi - lo) * 0.3).astype(np.float32) if i in junk else content(i, lo, hi)

    aligner = TunnelAligner(rate, int(truth[0]), 20)
    b = bg_frames(run(aligner, costs, n))
    assert np.array_equal(b[: junk.start - 1], truth[: junk.start - 1])  # the last one sees only junk ahead
    assert np.array_equal(b[junk.stop + 30 :], truth[junk.stop + 30 :])
    assert np.abs(b - truth).max() <= 3 * aligner.radius  # wanders inside the tunnel, not away


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("rate", [0.5, 1.2, 2.5])
def test_random_matrix_with_whole_lookahead(seed: int, rate: float) -> None:
    """Unstructured costs, the whole stream in the lookahead: still one monotone decision per frame."""
    rng = np.random.default_rng(seed)
    n_fg, n_bg = 30, int(30 * rate) + 10
    matrix = rng.random((n_fg, n_bg)).astype(np.float32)
    run(TunnelAligner(rate, n_bg // 2, n_fg, band=2 * n_bg + 8), matrix_costs(matrix), n_fg)
