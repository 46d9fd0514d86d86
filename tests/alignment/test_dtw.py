"""Online windowed DTW: exact recovery of known paths, clock-following in static stretches, agreement with
the offline optimum, and the streaming contract (monotone, one decision per frame, bounded windows/memory).

Tests taking `engine` hold for both online aligners (`dtw.BandAligner`'s subclasses: DTW and tunnel), the
same scenarios and assertions run on each; tunnel-only behaviour is in test_tunnel.py."""

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vidkompy_stream.alignment.dtw import DTWAligner, default_max_step, dtw_offline
from vidkompy_stream.alignment.tunnel import TunnelAligner
from vidkompy_stream.decision import Decision

CostFn = Callable[[int, int, int], np.ndarray]  # (fg frame, lo, hi) -> costs over bg [lo, hi)
#: Both online aligners, for the tests of what they share.
each_engine = pytest.mark.parametrize("engine", [DTWAligner, TunnelAligner], ids=["dtw", "tunnel"])


def true_path(n: int, rate: float, offset: float) -> np.ndarray:
    """Nearest-timestamp bg frame of every fg frame, ties to the later frame."""
    return np.floor(np.arange(n) * rate + offset + 0.5).astype(np.int64)


def graded(truth: np.ndarray, n_bg: int, seed: int, shot: Callable[[int, int], bool] | None = None) -> CostFn:
    """Cost 0.1 per bg frame away from the truth (capped at 0.5) plus noise < 0.02; inf past bg's end.

    With `shot(fg, bg)` False, the pair is in different shots (a cut lies between): cost 0.9 + noise.
    """
    rng = np.random.default_rng(seed)
    noise = (rng.random((truth.shape[0], int(truth.max()) + 400)) * 0.02).astype(np.float32)

    def costs(i: int, lo: int, hi: int) -> np.ndarray:
        b = np.arange(lo, hi)
        c = np.minimum(np.abs(b - truth[i]) * 0.1, 0.5).astype(np.float32) + noise[i, lo:hi]
        if shot is not None:
            c[[not shot(i, int(x)) for x in b]] = 0.9 + noise[i, lo:hi][[not shot(i, int(x)) for x in b]]
        c[b >= n_bg] = np.inf
        return c

    return costs


def run(aligner: DTWAligner, costs: CostFn, n: int, record_clock: list[float] | None = None) -> list[Decision]:
    """Stream n fg frames through the aligner, checking the contract on the way; returns all decisions."""
    out: list[Decision] = []
    lows: list[int] = []
    releases: list[tuple[int, int, int]] = []  # (release point, windows so far, decisions so far)
    for i in range(n):
        lo, hi = aligner.window(i)
        assert 0 <= lo and hi - lo == aligner.band
        assert not lows or lo >= lows[-1]
        lows.append(lo)
        if record_clock is not None:
            record_clock.append(aligner.expected(i))
        got = aligner.push(i, costs(i, lo, hi))
        assert all(d.fg_frame <= i - aligner.lookahead for d in got)
        out += got
        releases.append((aligner.release_point(), len(lows), len(out)))
    out += aligner.finish()
    check_decisions(out, n, aligner.max_step)
    bgs = [d.bg_frame for d in out]
    for point, n_windows, n_decided in releases:
        assert all(point <= x for x in lows[n_windows:]) and all(point <= x for x in bgs[n_decided:])
    return out


def check_decisions(out: list[Decision], n: int, max_step: int) -> None:
    """Every fg frame decided once, in order; bg never goes back nor jumps more than max_step."""
    assert [d.fg_frame for d in out] == list(range(n))
    b = np.array([d.bg_frame for d in out])
    steps = np.diff(b)
    assert np.all(b >= 0) and np.all(steps >= 0) and np.all(steps <= max_step)
    assert all(d.confidence is not None and 0.0 <= d.confidence <= 1.0 for d in out)


def bg_frames(out: list[Decision]) -> np.ndarray:
    return np.array([d.bg_frame for d in out])


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
@each_engine
def test_exact_recovery(engine: type, fg_fps: int, bg_fps: int, drift: float, start_error: int,
                        lookahead: int) -> None:
    rate = bg_fps / fg_fps
    n, offset = 600, 17.25
    truth = true_path(n, rate * drift, offset)
    aligner = engine(rate, int(truth[0]) + start_error, lookahead)
    out = run(aligner, graded(truth, 10**6, seed=fg_fps + bg_fps), n)
    assert np.array_equal(bg_frames(out), truth)
    assert aligner.rate_estimate == pytest.approx(rate * drift, rel=0.004)
    assert min(d.confidence for d in out) > 0.5


@pytest.mark.parametrize(("fg_fps", "bg_fps"), [(25, 30), (24, 60), (50, 25), (30000 / 1001, 25)])
@each_engine
def test_static_stretch_follows_the_clock(engine: type, fg_fps: float, bg_fps: float) -> None:
    rate = bg_fps / fg_fps
    n, still = 400, range(200, 240)
    truth = true_path(n, rate, 40.25)
    content = graded(truth, 10**6, seed=7)

    def costs(i: int, lo: int, hi: int) -> np.ndarray:
        return np.full(hi - lo, 0.3, np.float32) if i in still else content(i, lo, hi)

    out = run(engine(rate, int(truth[0]), 25), costs, n)
    b = bg_frames(out)
    inside = np.array(still)
    assert np.all(np.abs(b[inside] - truth[inside]) <= 1)
    outside = np.setdiff1d(np.arange(n), inside)
    assert np.array_equal(b[outside], truth[outside])
    steps = np.diff(b[inside])  # no stalls or jumps: the clock's own floor/ceil steps
    assert np.all(steps >= math.floor(rate)) and np.all(steps <= math.ceil(rate))
    assert max(out[i].confidence for i in still[1:-1]) < 0.5 < min(out[i].confidence for i in outside)


def test_per_step_rate_penalty_would_lag() -> None:
    """Why a pull to the clock line, not to the step: |step - 1.2| summed prefers all-1 steps."""
    per_step = lambda steps: sum(abs(s - 1.2) for s in steps)  # noqa: E731
    assert per_step([1, 1, 1, 1, 1]) < per_step([1, 1, 1, 1, 2])
    clock = 0.3 + 1.2 * np.arange(6)
    line = lambda b: float(np.abs(np.array(b) - clock).sum())  # noqa: E731
    assert line([0, 1, 2, 4, 5, 6]) < line([0, 1, 2, 3, 4, 5])


@each_engine
def test_cut_stays_exact_on_both_sides(engine: type) -> None:
    rate, n = 1.2, 400
    truth = true_path(n, rate, 9.25)
    cut_bg = int(truth[150]) + 1  # bg frame where the second shot starts; fg 151 is its first frame there
    same_shot = lambda i, b: (truth[i] >= cut_bg) == (b >= cut_bg)  # noqa: E731
    out = run(engine(rate, int(truth[0]) + 2, 20), graded(truth, 10**6, seed=3, shot=same_shot), n)
    assert np.array_equal(bg_frames(out), truth)


@pytest.mark.parametrize(("shift", "every"), [(-1, 37), (+1, 53), (-1, 25)])
@each_engine
def test_bg_dropping_or_repeating_frames(engine: type, shift: int, every: int) -> None:
    """Each dropped bg frame moves the rest of bg one index earlier (a repeated one, one later)."""
    rate, n = 1.2, 600
    base = true_path(n, rate, 30.25)
    truth = base + shift * (np.arange(n) // every)
    aligner = engine(rate, int(truth[0]), 20)
    out = run(aligner, graded(truth, 10**6, seed=every), n)
    assert np.array_equal(bg_frames(out), truth)
    effective = rate + shift / every
    assert aligner.rate_estimate == pytest.approx(effective, rel=0.01)


def test_bg_ends_before_fg() -> None:
    rate, n, n_bg = 1.2, 300, 250
    nominal = true_path(n, rate, 5.25)
    content = graded(np.minimum(nominal, n_bg - 1), n_bg, seed=11)

    def costs(i: int, lo: int, hi: int) -> np.ndarray:
        c = content(i, lo, hi)
        if nominal[i] >= n_bg:  # nothing in bg shows this fg frame any more
            c[np.isfinite(c)] = 0.6
        return c

    out = run(DTWAligner(rate, 5, 20), costs, n)
    assert np.array_equal(bg_frames(out), np.minimum(nominal, n_bg - 1))
    assert all(d.confidence == 0.0 for d in out if nominal[d.fg_frame] > n_bg)


def matrix_costs(matrix: np.ndarray) -> CostFn:
    """Costs read from an (n_fg, n_bg) matrix; inf past its last column."""

    def costs(i: int, lo: int, hi: int) -> np.ndarray:
        c = np.full(hi - lo, np.inf, np.float32)
        avail = matrix[i, lo : min(hi, matrix.shape[1])]
        c[: avail.shape[0]] = avail
        return c

    return costs


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("rate", [0.5, 1.2, 2.5])
def test_online_equals_offline_when_lookahead_covers_everything(seed: int, rate: float) -> None:
    rng = np.random.default_rng(seed)
    n_fg, n_bg = 30, int(30 * rate) + 10
    matrix = rng.random((n_fg, n_bg)).astype(np.float32)
    aligner = DTWAligner(rate, n_bg // 2, n_fg, band=2 * n_bg + 8)
    clock: list[float] = []
    out = run(aligner, matrix_costs(matrix), n_fg, clock)
    expected = dtw_offline(matrix, rate, rate_penalty=aligner.rate_penalty, clock=np.array(clock))
    assert np.array_equal(bg_frames(out), expected)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(("rate", "lookahead"), [(0.5, 3), (1.2, 5), (1.2, 0), (2.5, 4)])
def test_each_commit_is_the_offline_optimum_given_earlier_commits(seed: int, rate: float, lookahead: int) -> None:
    """Commit i = row i of the offline optimum over rows 0..i+L with rows < i pinned to their commits."""
    rng = np.random.default_rng(100 + seed)
    n_fg, n_bg = 24, int(24 * rate) + 8
    truth = true_path(n_fg, rate, 3.25)
    dist = np.abs(np.arange(n_bg)[None, :] - truth[:, None])
    matrix = (np.minimum(dist * 0.05, 0.5) + rng.random((n_fg, n_bg)) * 0.3).astype(np.float32)  # weak, noisy
    aligner = DTWAligner(rate, 3, lookahead, band=2 * n_bg + 8)
    clock: list[float] = []
    out = run(aligner, matrix_costs(matrix), n_fg, clock)
    b = bg_frames(out)
    for i in range(n_fg - lookahead):  # the rest are committed together by finish()
        pinned = matrix[: i + lookahead + 1].astype(np.float64)
        for j in range(i):
            keep = pinned[j, b[j]]
            pinned[j] = np.inf
            pinned[j, b[j]] = keep
        path = dtw_offline(pinned, rate, rate_penalty=aligner.rate_penalty, clock=np.array(clock[: i + lookahead + 1]))
        assert path[i] == b[i], f"commit {i}"
    tail = matrix[n_fg - lookahead - 1 :].copy() if lookahead else None
    if tail is not None:  # finish() = offline over the pending rows, rooted at the last regular commit
        tail[0] = np.inf
        tail[0, b[n_fg - lookahead - 1]] = 0.0
        path = dtw_offline(tail, rate, rate_penalty=aligner.rate_penalty, clock=np.array(clock[n_fg - lookahead - 1 :]))
        assert np.array_equal(path[1:], b[n_fg - lookahead :])


def test_dtw_offline_small_cases() -> None:
    inf = np.inf
    costs = np.array(
        [
            [5, 0, 5, 5, 5, 5],
            [5, 5, 0, 5, 5, 5],
            [5, 5, 0, 5, 5, 5],  # step 0
            [5, 5, 5, 5, 0, inf],  # step 2
            [5, 5, 5, 5, 5, 0],
        ],
        np.float32,
    )
    assert dtw_offline(costs, 1.0, max_step=2).tolist() == [1, 2, 2, 4, 5]
    assert dtw_offline(costs, 1.0, max_step=1).tolist() == [1, 2, 3, 4, 5]  # no step of 2: row 2 pays
    assert dtw_offline(costs[:3], 1.0, max_step=2).tolist() == [1, 2, 2]  # open end
    # Banded form: the same matrix seen through a 4-wide band that starts at 0, 0, 1, 2, 2.
    lo = np.array([0, 0, 1, 2, 2])
    band = np.stack([np.pad(costs[i].astype(np.float64), (0, 4), constant_values=inf)[lo[i] : lo[i] + 4]
                     for i in range(5)])
    assert dtw_offline(band, 1.0, max_step=2, lo=lo).tolist() == [1, 2, 2, 4, 5]
    # All costs equal: the clock line decides, fractional rate included.
    flat = np.ones((10, 20), np.float32)
    path = dtw_offline(flat, 1.2, rate_penalty=0.01, offset=2.25)
    assert path.tolist() == true_path(10, 1.2, 2.25).tolist()


@each_engine
def test_memory_does_not_grow_with_the_stream(engine: type) -> None:
    rate, n = 1.2, 20000
    truth = true_path(n, rate, 4.25)
    aligner = engine(rate, 4, 10, band=24)
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


@each_engine
def test_contract_violations_raise(engine: type) -> None:
    aligner = engine(1.2, 10, 2)
    with pytest.raises(ValueError):
        aligner.push(0, np.zeros(aligner.band, np.float32))  # no window() first
    with pytest.raises(ValueError):
        aligner.window(1)  # out of order
    lo, hi = aligner.window(0)
    with pytest.raises(ValueError):
        aligner.push(0, np.zeros(hi - lo - 1, np.float32))
    with pytest.raises(ValueError):
        engine(2.5, 0, 5, band=4)
    aligner.push(0, np.zeros(hi - lo, np.float32))
    assert len(aligner.finish()) == 1 and aligner.finish() == []
    with pytest.raises(RuntimeError):
        aligner.window(1)
    assert default_max_step(1.2) == 3 and default_max_step(2.5) == 5 and default_max_step(0.5) == 2


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
@each_engine
def test_random_costs_keep_the_contract(engine: type, seed: int, rate: float, lookahead: int, n_fg: int,
                                        bg_end: int | None, band: int | None, start: int) -> None:
    """`run` checks: windows band-wide, non-decreasing, never below the release point; every fg frame decided
    once, in order, only once L newer rows are in; bg monotone with steps 0..K; confidence in [0, 1]."""
    rng = np.random.default_rng(seed)
    spiky = rng.random() < 0.5

    def costs(i: int, lo: int, hi: int) -> np.ndarray:
        c = rng.random(hi - lo).astype(np.float32)
        if spiky:
            c[rng.random(hi - lo) < 0.3] = np.inf  # holes in the costs, not only past bg's end
        if bg_end is not None:
            c[np.arange(lo, hi) >= bg_end] = np.inf
        return c

    aligner = engine(rate, start, lookahead, band=band)
    run(aligner, costs, n_fg)
    assert aligner.release_point() >= 0
