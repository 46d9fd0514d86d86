"""The clock line's fits. The rate from the pixel evidence, on rows shaped like the refiner's: where the
pixels put each fg frame (the bg frame showing its picture, i.e. the exact line rounded, plus sub-frame
noise) with a sharpness weight per row, some rows near-flat (a still or dark stretch: tiny weight, minimum
anywhere nearby). The line's offset through decisions and along pixel costs, its steps, its pull."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vidkompy_stream.alignment.clock import (
    clock_offset,
    clock_pull,
    difference_standard_error,
    evidence_offset,
    fit_rate,
    jump_clock,
    line_costs,
    predicts_better,
    row_weights,
)
from vidkompy_stream.params import RateParams, RefineParams

#: Rows of evidence within which a PAL-sized drift must be measured (2 s at 25 fps: a 4 % drift moves bg by
#: 2 frames in that time, and each row only dates fg to the nearest bg frame).
CONVERGED = 50
PARAMS = RateParams()


def evidence(rate: float, start: float, n: int, seed: int, flat: float = 0.3) -> tuple[np.ndarray, ...]:
    """fg frames, positions and weights of rows of the clock bg = start + rate * fg."""
    rng = np.random.default_rng(seed)
    fg = np.arange(n, dtype=np.float64)
    position = np.floor(start + rate * fg + 0.5) + rng.normal(0.0, 0.1, n)
    weight = rng.uniform(0.05, 1.0, n)
    is_flat = rng.random(n) < flat
    weight[is_flat] *= 0.01
    position[is_flat] += rng.uniform(-2.0, 2.0, is_flat.sum())
    return fg, position, weight


@pytest.mark.parametrize(("drift", "rows"), [(24 / 25, CONVERGED), (25 / 24, CONVERGED), (0.99, 4 * CONVERGED),
                                             (1.01, 4 * CONVERGED)])
@pytest.mark.parametrize("nominal", [1.0, 2.5, 0.8])
def test_a_drift_is_measured_once_it_has_moved_bg_two_frames(drift: float, rows: int, nominal: float) -> None:
    """From the nominal rate and the line through the first rows: a PAL-sized drift (4 %) within CONVERGED rows,
    1 % within four times as many (both: 2 frames of drift at rate 1). The rate is then significant and within
    a quarter of a frame over those rows of the truth."""
    rate = nominal * drift
    fg, position, weight = evidence(rate, 100.3, rows, seed=int(drift * 1e4 + nominal * 10))
    found = fit_rate(fg, position, weight, nominal, 100.3, nominal)
    assert found.drifts(nominal, PARAMS.significance), found
    assert abs(found.value - rate) * rows < 0.25, found
    assert abs(found.value - rate) < 3 * found.sd + 1e-9, found


@pytest.mark.parametrize("nominal", [1.0, 2.5, 0.8, 25 / 30])
def test_no_drift_is_seldom_taken_for_one(nominal: float) -> None:
    """Without drift, over 100 seeds and evidence of 25 to 200 rows, the nominal rate is kept nearly always."""
    false = sum(fit_rate(*evidence(nominal, 40.2, n, seed), nominal, 40.2, nominal).drifts(nominal,
                                                                                            PARAMS.significance)
                for seed in range(100) for n in (25, 50, 200))
    assert false <= 6, false


def test_a_small_drift_is_measured_over_longer_evidence() -> None:
    """0.1 % is a frame in 40 s at 25 fps: invisible in 2 s, measured over 600 rows."""
    fg, position, weight = evidence(1.001, 10.0, 600, seed=4)
    assert not fit_rate(fg[:CONVERGED], position[:CONVERGED], weight[:CONVERGED], 1.0, 10.0, 1.0).drifts(
        1.0, PARAMS.significance)
    found = fit_rate(fg, position, weight, 1.0, 10.0, 1.0)
    assert abs(found.value - 1.001) < 3e-4, found


def test_rows_off_the_line_do_not_bend_it() -> None:
    """Rows before a 3-frame jump (fg dropped frames), and a few stray ones, are left out."""
    fg, position, weight = evidence(2.4, 50.0, 300, seed=7)
    position[:100] -= 3 * 2.4
    position[[150, 170, 190]] += 6
    found = fit_rate(fg, position, weight, 2.4, 50.0, 2.5)
    assert abs(found.value - 2.4) < 1e-3, found
    assert found.rows < 250


def test_no_evidence_keeps_the_rate_given() -> None:
    found = fit_rate(np.arange(10.0), np.zeros(10), np.zeros(10), 1.02, 5.0, 1.0)
    assert found.value == 1.02 and found.rows == 0
    assert not found.drifts(1.02, PARAMS.significance)


def test_row_weights_trust_sharp_rows_over_flat_ones_that_stray() -> None:
    """Flat rows whose minima stray by a frame or two (a dark stretch) get under a third of the weight the
    sharp rows on the line get, measured from their residuals; rows without evidence get none."""
    fg, position, weight = evidence(2.5, 30.0, 200, seed=9, flat=0.5)
    weight[::17] = 0.0
    v = row_weights(fg, position, weight, 2.5, 30.0)
    flat = weight < 0.01
    assert np.all(v[weight == 0] == 0)
    assert np.median(v[flat & (weight > 0)]) < np.median(v[~flat]) / 3
    assert np.max(v) <= 12.0 + 1e-9, "never surer than whole-frame rounding"


def test_rows_that_bend_are_not_a_drift() -> None:
    """Rows on the nominal line whose later half runs 4 % slow (a bg stretch that ran slow, a slow scene's
    minima sliding), with rounding-sized noise: the line through all of them is a significant 2.4 % drift,
    but its two halves disagree, so no drift is taken; rows on one straight line at that rate are one."""
    rng = np.random.default_rng(5)
    fg = np.arange(120, dtype=np.float64)
    weight = np.full(120, 0.5)
    bent = 30 + np.where(fg < 60, fg, 60 + 0.95 * (fg - 60)) + rng.normal(0, 0.3, 120)
    found = fit_rate(fg, bent, weight, 1.0, 30.0, 1.0)
    assert abs(found.value - 1.0) > 3 * found.sd, "the whole fit does lean: the halves' test is what says no"
    assert not found.steady and not found.drifts(1.0, PARAMS.significance), found
    straight = 30 + 0.976 * fg + rng.normal(0, 0.3, 120)
    found = fit_rate(fg, straight, weight, 1.0, 30.0, 1.0)
    assert found.steady and found.drifts(1.0, PARAMS.significance), found


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), sigma=st.floats(0.002, 0.05), trend=st.floats(0.0, 0.5))
def test_the_noise_of_values_on_a_smooth_trend_is_measured_without_the_trend(seed: int, sigma: float,
                                                                             trend: float) -> None:
    """A near-miss dating's mismatches rise and fall with the motion (a smooth trend, up to 10 times the
    noise's scale and more) with coding noise on top. The standard error must be that of the noise alone:
    over 25 such series of 31 values, the median estimate is within a third of sigma / sqrt(31) (one series
    alone scatters by about that much). Two probes past a cut (fitting nothing, mismatch 1) widen it by
    less than half, where a plain standard deviation would grow twentyfold."""
    rng = np.random.default_rng(seed)
    n = 31
    clean, cut = [], []
    for _ in range(25):
        values = trend * np.sin(np.linspace(0.0, np.pi, n)) + rng.normal(0.0, sigma, n)
        clean.append(difference_standard_error(values) * np.sqrt(n) / sigma)
        values[rng.choice(n, 2, replace=False)] = 1.0
        cut.append(difference_standard_error(values) * np.sqrt(n) / sigma)
    assert 0.75 < float(np.median(clean)) < 1.33
    assert float(np.median(cut)) < 1.5 * 1.33


def test_too_few_values_have_no_measurable_noise() -> None:
    """Four values leave two second differences, no spread: the standard error is infinite (nothing is
    significant against it), not zero."""
    assert difference_standard_error(np.array([0.1, 0.3, 0.2, 0.4])) == np.inf
    assert np.isfinite(difference_standard_error(np.array([0.1, 0.3, 0.2, 0.4, 0.25])))


def held_out_test(rate: float, fitted_on: tuple[np.ndarray, ...], later: tuple[np.ndarray, ...],
                  nominal: float = 1.0) -> bool:
    """Fit `fitted_on`'s rows; whether `later`'s rows, held out, bear its rate out over the nominal one."""
    fg, position, weight = (np.r_[a, b] for a, b in zip(fitted_on, later))
    held_out = np.r_[np.zeros(len(fitted_on[0]), bool), np.ones(len(later[0]), bool)]
    found = fit_rate(fg[~held_out], position[~held_out], weight[~held_out], rate, 100.3, nominal)
    v = row_weights(fg, position, weight, found.value, found.offset)
    return predicts_better(fg, position, v, held_out, found, nominal)


@pytest.mark.parametrize("seed", range(5))
def test_a_true_drift_is_borne_out_by_the_rows_that_follow(seed: int) -> None:
    """A PAL speed-up fitted on CONVERGED rows: the next second of rows favours it over the nominal rate."""
    fg, position, weight = evidence(25 / 24, 100.3, CONVERGED + 24, seed)
    first, later = (a[:CONVERGED] for a in (fg, position, weight)), (a[CONVERGED:] for a in (fg, position, weight))
    assert held_out_test(25 / 24, tuple(first), tuple(later))


@pytest.mark.parametrize("seed", range(5))
def test_a_keyframe_that_tilts_a_fit_is_not_borne_out(seed: int) -> None:
    """No drift, but four sharp rows near the end of the fitted rows sit a frame late (a keyframe sharper than
    the bg frames before it draws them) and the rows after them are near-flat: the fit may call that a drift;
    the second of rows that follows, on the nominal line, does not bear it out."""
    fg, position, weight = evidence(1.0, 100.3, 36 + 24, seed, flat=0.0)
    position[16:20] += 1.0
    weight[16:20] = 1.0
    weight[20:36] *= 0.01
    position[20:36] += np.linspace(0.5, 2.0, 16)
    first, later = (a[:36] for a in (fg, position, weight)), (a[36:] for a in (fg, position, weight))
    assert not held_out_test(1.0, tuple(first), tuple(later))


# ------------------------------------------------------------- the line's offset, steps and pull

REFINE = RefineParams()  # the defaults the functions use


@pytest.mark.parametrize("rate", [0.834, 1.0, 2.4])
@pytest.mark.parametrize("offset", [50.0, 50.3, 50.5, 50.8])
def test_clock_offset_puts_the_line_through_a_staircase(rate: float, offset: float) -> None:
    """Decisions that are a clock rounded (the right bg frames of a constant-rate pair): the line found
    rounds back to (nearly) all of them, and where the rate is fractional, so that the decisions show
    the clock's phase, it is within a tenth of a frame of the clock."""
    fg = np.arange(100)
    bg = np.floor(offset + rate * fg + 0.5)
    found = clock_offset(fg, bg, rate)
    assert np.mean(np.floor(found + rate * fg + 0.5) == bg) >= 0.95
    if rate != 1.0:  # the decisions show the phase in steps of 1 / (the rate's period): 0.2 at rate 2.4
        assert abs(found - offset) <= 0.1 + 1e-9
    assert clock_offset(fg[:REFINE.min_decisions - 1], bg[:REFINE.min_decisions - 1], rate) is None


@pytest.mark.parametrize("rate", [0.8, 1.0, 1.6667])
@pytest.mark.parametrize("offset", [20.0, 20.3, 20.7])
def test_evidence_offset_finds_the_line_that_noisy_rows_share(rate: float, offset: float) -> None:
    """Rows whose costs are a shallow bowl about the true line under noise larger than the bowl's first
    step (each row's own minimum is off by a frame or more as often as not), in bands not centred on the
    line: summed along lines, the costs put the offset where it rounds to the true line's frames, from a
    guess most of a frame off (within a third of a frame where the rate is fractional, so that the rows
    show the line's phase; at a whole-number rate every offset between two frames reads alike)."""
    rng = np.random.default_rng(int(offset * 100 + rate * 10))
    fg = np.arange(300, dtype=np.float64)
    line = offset + rate * fg
    lo = np.floor(line + 0.5) - 2 + rng.integers(-1, 2, fg.size)
    cells = lo[:, None] + np.arange(5)[None, :]
    costs = 0.002 * (cells - line[:, None]) ** 2 + rng.normal(0.0, 0.004, cells.shape)
    assert np.mean(np.abs(np.take_along_axis(cells, costs.argmin(axis=1)[:, None], 1)[:, 0] - line) > 0.5) > 0.4
    found = evidence_offset(fg, lo, costs, rate, offset + 0.8)
    if rate == 1.0:
        assert np.mean(np.floor(found + rate * fg + 0.5) == np.floor(line + 0.5)) >= 0.95
    else:  # the estimate's spread at this noise: about 0.1 frame (over 30 draws)
        assert abs(found - offset) <= 0.35


@pytest.mark.parametrize("seed", range(5))
def test_evidence_offset_keeps_the_guess_where_the_rows_favour_no_line(seed: int) -> None:
    """A still stretch: every candidate of every row costs the same up to noise. Noise alone does not move
    the clock (the least mean along some line is always lower than the guess's, by chance)."""
    rng = np.random.default_rng(seed)
    fg = np.arange(100, dtype=np.float64)
    lo = np.floor(20.3 + fg + 0.5) - 2
    costs = 0.05 + rng.normal(0.0, 0.004, (fg.size, 5))
    assert evidence_offset(fg, lo, costs, 1.0, 20.3) == 20.3


def test_line_costs_read_between_candidates_and_charge_the_worst_outside_the_band() -> None:
    costs = np.array([[0.3, 0.1, 0.5], [0.2, np.inf, 0.4]])
    lo = np.array([10.0, 11.0])
    fg = np.array([0.0, 1.0])
    along = line_costs(fg, lo, costs, 1.0, np.array([10.5, 13.5]))
    assert along[0] == pytest.approx([0.2, 0.3])  # halfway between neighbours; a missing one read as the row's worst
    assert along[1] == pytest.approx([0.5, 0.4])  # outside both bands: each row's worst


def test_clock_offset_follows_a_jump_once_most_recent_decisions_do() -> None:
    """bg jumps 3 frames ahead (fg dropped frames): the old line holds while most of the last `recent`
    decisions are before the jump, then only the decisions after the jump count; a stray wrong decision
    (8 frames off) is never averaged in."""
    fg = np.arange(100)
    bg = 10.0 + fg
    bg[60] += 8
    after = bg.copy()
    after[100 - REFINE.recent // 2 - 1:] += 3  # the majority of the last `recent` is after the jump
    before = bg.copy()
    before[100 - REFINE.recent // 2:] += 3  # the majority is still before it
    assert clock_offset(fg, bg, 1.0) == 10.0
    assert clock_offset(fg, after, 1.0) == 13.0
    assert clock_offset(fg, before, 1.0) == 10.0


def step_rows(step_at: int, step: int, seed: int, still_at: int = 36, lean: float = 0.0, n: int = 36,
              r: int = 2) -> tuple[np.ndarray, ...]:
    """Rows of a rate-1 clock bg = 100 + fg: each row costs 0.02 a frame from its truth plus noise (sd 0.002),
    the truth moved by `step` frames from row `step_at` on; from row `still_at` on a still stretch: 0.001 a
    frame and noise 0.0001, the frame after the truth `lean` cheaper (a lagging bg). Band of +-r around the
    truth."""
    rng = np.random.default_rng(seed)
    fg = np.arange(n, dtype=np.float64)
    truth = 100 + np.arange(n)
    truth[step_at:] += step
    lo = truth - r
    frames = lo[:, None] + np.arange(2 * r + 1)[None, :]
    still = (np.arange(n) >= still_at)[:, None]
    off = np.abs(frames - truth[:, None])
    costs = np.where(still, 0.001 * off + rng.normal(0.0, 1e-4, frames.shape),
                     0.02 * off + rng.normal(0.0, 0.002, frames.shape))
    costs[still[:, 0]] -= lean * (frames == truth[:, None] + 1)[still[:, 0]]
    return fg, lo.astype(np.float64), costs


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("step", [2, -1])
def test_jump_clock_steps_where_the_segment_shows_a_drop_or_a_repeat(seed: int, step: int) -> None:
    """24 rows of history on the line, a 12-row segment whose rows from its 5th on sit `step` frames off
    (fg dropped or repeated frames): the clock steps there, by `step`, and only there."""
    fg, lo, costs = step_rows(28, step, seed)
    clock = jump_clock(fg, lo, costs, 1.0, 100.0, 24)
    np.testing.assert_allclose(clock, 100.0 + fg[24:] + np.where(fg[24:] >= 28, step, 0))


@pytest.mark.parametrize("seed", range(5))
def test_jump_clock_keeps_the_line_through_a_still_stretch_that_leans_late(seed: int) -> None:
    """History in motion on the line; the segment a still stretch where the frame after the truth fits a
    little better in every row (a lagging bg: 0.0013 a row, far beyond the rows' noise): no step. Nor in
    rows without any lean or step."""
    for lean in (0.0013, 0.0):
        fg, lo, costs = step_rows(36, 0, seed, still_at=24, lean=lean)
        np.testing.assert_allclose(jump_clock(fg, lo, costs, 1.0, 100.0, 24), 100.0 + fg[24:])


def test_clock_pull_is_stronger_only_where_decisions_sit_on_the_line() -> None:
    fg = np.arange(100, dtype=np.float64)
    on_line = 10.0 + fg  # a whole-number rate: every decision exactly on the line
    assert clock_pull(fg, on_line, 1.0, 10.0) == pytest.approx(REFINE.pull_gain * REFINE.clock_pull)
    rounded = np.round(5.0 + 1.2 * fg)  # nearest-timestamp frames of rate 1.2: residuals spread over +-0.5
    assert clock_pull(fg, rounded, 1.2, 5.0) == pytest.approx(REFINE.clock_pull, rel=0.05)
    assert clock_pull(fg, on_line + 7, 1.0, 10.0) == REFINE.clock_pull, "nothing near the line: the base pull"
