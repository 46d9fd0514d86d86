"""Tunnel aligner: exact recovery of known paths, the merge rule beating a look-alike frame, and the streaming
contract shared with DTW (monotone, steps 0..K, one decision per frame, bounded windows and memory)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_dtw import bg_frames, graded, matrix_costs, run, true_path
from vidkompy_stream.dtw import DTWAligner
from vidkompy_stream.tunnel import TunnelAligner


@pytest.mark.parametrize(
    ("fg_fps", "bg_fps", "drift", "start_error", "lookahead"),
    [
        (25, 30, 1.0, 0, 20),
        (25, 30, 1.0, 3, 20),
        (25, 30, 1.0, -3, 0),
        (24, 60, 1.0, 3, 30),
        (24, 60, 1.0, -3, 5),
        (50, 25, 1.0, -3, 20),
        (50, 25, 1.0, 3, 1),
        (25, 30, 0.98, 2, 20),
        (25, 30, 1.02, -2, 20),
        (24, 60, 1.02, 0, 10),
        (30, 30, 0.98, 0, 10),
    ],
)
def test_exact_recovery(fg_fps: int, bg_fps: int, drift: float, start_error: int, lookahead: int) -> None:
    rate = bg_fps / fg_fps
    n, offset = 600, 17.25
    truth = true_path(n, rate * drift, offset)
    aligner = TunnelAligner(rate, int(truth[0]) + start_error, lookahead)
    out = run(aligner, graded(truth, 10**6, seed=fg_fps + bg_fps), n)
    assert np.array_equal(bg_frames(out), truth)
    assert aligner.rate_estimate == pytest.approx(rate * drift, rel=0.004)
    assert min(d.confidence for d in out) > 0.5


@pytest.mark.parametrize(("fg_fps", "bg_fps"), [(25, 30), (24, 60), (50, 25), (30000 / 1001, 25)])
def test_static_stretch_follows_the_clock(fg_fps: float, bg_fps: float) -> None:
    rate = bg_fps / fg_fps
    n, still = 400, range(200, 240)
    truth = true_path(n, rate, 40.25)
    content = graded(truth, 10**6, seed=7)

    def costs(i: int, lo: int, hi: int) -> np.ndarray:
        return np.full(hi - lo, 0.3, np.float32) if i in still else content(i, lo, hi)

    out = run(TunnelAligner(rate, int(truth[0]), 25), costs, n)
    b = bg_frames(out)
    inside = np.array(still)
    assert np.all(np.abs(b[inside] - truth[inside]) <= 1)
    outside = np.setdiff1d(np.arange(n), inside)
    assert np.array_equal(b[outside], truth[outside])
    steps = np.diff(b[inside])
    assert np.all(steps >= math.floor(rate)) and np.all(steps <= math.ceil(rate))
    assert max(out[i].confidence for i in still[1:-1]) < 0.5 < min(out[i].confidence for i in outside)


def test_cut_stays_exact_on_both_sides() -> None:
    rate, n = 1.2, 400
    truth = true_path(n, rate, 9.25)
    cut_bg = int(truth[150]) + 1
    same_shot = lambda i, b: (truth[i] >= cut_bg) == (b >= cut_bg)  # noqa: E731
    out = run(TunnelAligner(rate, int(truth[0]) + 2, 20), graded(truth, 10**6, seed=3, shot=same_shot), n)
    assert np.array_equal(bg_frames(out), truth)


@pytest.mark.parametrize(("shift", "every"), [(-1, 37), (+1, 53), (-1, 25)])
def test_bg_dropping_or_repeating_frames(shift: int, every: int) -> None:
    rate, n = 1.2, 600
    truth = true_path(n, rate, 30.25) + shift * (np.arange(n) // every)
    aligner = TunnelAligner(rate, int(truth[0]), 20)
    out = run(aligner, graded(truth, 10**6, seed=every), n)
    assert np.array_equal(bg_frames(out), truth)
    assert aligner.rate_estimate == pytest.approx(rate + shift / every, rel=0.01)


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


def test_memory_does_not_grow_with_the_stream() -> None:
    rate, n = 1.2, 20000
    truth = true_path(n, rate, 4.25)
    aligner = TunnelAligner(rate, 4, 10, band=24)
    noise = np.random.default_rng(0).random((64, 24)).astype(np.float32) * 0.02

    def snapshot() -> dict[str, tuple]:
        found = {}
        for owner in (aligner, aligner.clock):
            for name, value in vars(owner).items():
                if isinstance(value, np.ndarray):
                    found[f"{type(owner).__name__}.{name}"] = (id(value), value.shape)
                elif isinstance(value, list | dict | set | tuple) and name != "_window":
                    found[f"{type(owner).__name__}.{name}"] = (len(value),)
        return found

    before = None
    decided = 0
    for i in range(n):
        lo, hi = aligner.window(i)
        assert hi - lo == 24 and aligner.release_point() <= lo
        c = np.minimum(np.abs(np.arange(lo, hi) - truth[i]) * 0.1, 0.5).astype(np.float32) + noise[i % 64]
        for d in aligner.push(i, c):
            assert d.fg_frame == decided and d.bg_frame == truth[decided]
            decided += 1
        if i == 100:
            before = snapshot()
    assert snapshot() == before
    decided += len(aligner.finish())
    assert decided == n


def test_contract_violations_raise() -> None:
    aligner = TunnelAligner(1.2, 10, 2)
    with pytest.raises(ValueError):
        aligner.push(0, np.zeros(aligner.band, np.float32))
    with pytest.raises(ValueError):
        aligner.window(1)
    lo, hi = aligner.window(0)
    with pytest.raises(ValueError):
        aligner.push(0, np.zeros(hi - lo - 1, np.float32))
    with pytest.raises(ValueError):
        TunnelAligner(2.5, 0, 5, band=4)
    aligner.push(0, np.zeros(hi - lo, np.float32))
    assert len(aligner.finish()) == 1 and aligner.finish() == []
    with pytest.raises(RuntimeError):
        aligner.window(1)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    rate=st.sampled_from([0.5, 1.0, 1.2, 2.5]),
    lookahead=st.integers(0, 8),
    n_fg=st.integers(1, 40),
    bg_end=st.one_of(st.none(), st.integers(1, 60)),
    band=st.sampled_from([None, 12, 30]),
    start=st.integers(0, 30),
)
def test_random_costs_keep_the_contract(seed: int, rate: float, lookahead: int, n_fg: int, bg_end: int | None,
                                        band: int | None, start: int) -> None:
    """`run` checks: windows band-wide, non-decreasing, never below the release point; every fg frame decided
    once, in order, only once L newer rows are in; bg monotone with steps 0..K; confidence in [0, 1]."""
    rng = np.random.default_rng(seed)
    spiky = rng.random() < 0.5

    def costs(i: int, lo: int, hi: int) -> np.ndarray:
        c = rng.random(hi - lo).astype(np.float32)
        if spiky:
            c[rng.random(hi - lo) < 0.3] = np.inf
        if bg_end is not None:
            c[np.arange(lo, hi) >= bg_end] = np.inf
        return c

    aligner = TunnelAligner(rate, start, lookahead, band=band)
    run(aligner, costs, n_fg)
    assert aligner.release_point() >= 0
