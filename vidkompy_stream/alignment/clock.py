"""The clock line bg = offset + rate * fg, one model for the aligner and the refiner, and its fits.

fg and bg run on clocks of their own, so bg = offset + rate * fg (bg and fg in frames), up to the frames
either stream dropped, repeated or cut. The aligner pulls its path toward the line where the pixels are
unsure (`dtw`); the line is one `ClockLine` per stretch of the run, fitted from two kinds of evidence:

- before the refiner has any, from the aligner's confident decisions (`ClockLine.add`: a median offset and
  a ridge slope over the recent ones);
- then from the refiner's pixel costs, and the refiner steers the line (`ClockLine.steer`): its rate
  (`fit_rate`, below), its offset (`clock_offset` through the recent decisions, moved to where the rows' costs
  summed along the line are least, `evidence_offset`), the whole-frame steps fg's dropped or repeated frames
  put in it (`jump_clock`), and how hard it pulls (`clock_pull`).

The rate is measured from the pixel evidence, with its uncertainty, from the first rows of motion on. The
evidence is where the pixels put each fg frame: the sub-frame position p of the minimum of its refine cost row
(`cadence.subframe_minima`: a parabola through the minimum and its neighbours) with the parabola's curvature w
as its weight. Near its minimum a row costs about
C0 + w / 2 * (b - p)^2; if the costs carry noise of one scale T, p has variance T / w about the bg frame that
shows fg's picture, and that frame lies within half a frame of the exact line (nearest-frame rounding,
variance 1/12). So each row measures the line with variance 1/12 + T / w: sharp rows count for more, but
never for more than whole-frame rounding allows, and flat rows (a dark or still scene) for little. T is
measured from the rows' own residuals about the line.

`fit_rate` is weighted least squares with a Gaussian prior on the slope (the nominal rate, as wide as real
drift: up to the PAL speed-up's 4.2 %), over the rows near the line, so a dropped frame or a cut does not
bend it (e.g. Bishop 2006, "Pattern Recognition and Machine Learning", sec. 3.3, Bayesian linear regression).
A 4 % drift moves bg by a frame a second at 25 fps: the rate is measured once a second or two of motion has
been seen, where a fit over decisions alone needs far more of them to outweigh a prior held fixed. Most
pairs do not drift at all, so the measured rate is taken only once it differs significantly from the
nominal one (`Rate.drifts`), by Student's t test on the rows' effective degrees of freedom: T and the
rows' correlation are themselves estimated from the rows, so a dozen rows of a slow scene, whose standard
error looks small, must lie much farther from the nominal rate than a thousand (Student 1908, "The probable
error of a mean", Biometrika 6).
"""

import dataclasses
import math

import numpy as np

from ..kernels.dtw import fit_clock
from ..params import ClockParams, RateParams, RefineParams

#: Variance (frames^2) of where the right bg frame lies about the exact line: nearest-frame rounding.
ROUNDING_VARIANCE = 1.0 / 12.0
#: A normal distribution's standard deviation over its median absolute deviation.
MAD_TO_SD = 1.4826


@dataclasses.dataclass(frozen=True)
class Rate:
    """A measured rate (bg frames per fg frame), its standard error, the rows it rests on, and their
    effective degrees of freedom (rows less the line's two parameters, fewer when neighbouring rows err
    alike)."""

    value: float
    sd: float
    rows: int
    dof: float = 0.0
    steady: bool = True  #: the rows' earlier and later halves agree on the rate (`_halves_agree`)
    offset: float = math.nan  #: the fitted line's bg frame at fg frame 0

    def drifts(self, nominal: float, significance: float) -> bool:
        """Whether the evidence shows a drift: the rate lies farther from the nominal one than Student's t at
        the rows' degrees of freedom allows at the tail probability of `significance` normal standard
        errors. Most pairs do not drift, so a drift must be shown before the clock follows it (a test of the
        no-drift hypothesis, not a shrunk estimate that would tilt every clock a little)."""
        if self.dof <= 0.0 or not self.steady:
            return False
        return abs(self.value - nominal) > _t_quantile(significance, self.dof) * self.sd


def _slope(f: np.ndarray, p: np.ndarray, v: np.ndarray, prior: float,
           prior_var: float) -> tuple[float, float, float, float]:
    """Weighted slope of p over f (v: inverse variances) with a Gaussian prior: (slope, its variance, the line's
    value at f = 0, the residuals' effective degrees of freedom). The variance is widened when the residuals are
    larger than the weights say, and when they are correlated from row to row (a cadence's sawtooth, a slow
    wobble: fewer independent rows than rows), by the AR(1) factor (1 + r) / (1 - r) of their lag-one
    correlation r (Bretherton et al. 1999, "The effective number of spatial degrees of freedom of a
    time-varying field", J. Climate 12)."""
    fm, pm = (v @ f) / v.sum(), (v @ p) / v.sum()
    x, y = f - fm, p - pm
    sxx, sxy = float(v @ (x * x)), float(v @ (x * y))
    slope = (sxy + prior / prior_var) / (sxx + 1.0 / prior_var)
    residual = y - slope * x
    scale = max(1.0, float(v @ (residual * residual)) / max(1.0, len(f) - 2.0))
    correlated = ar1_factor(residual)
    scale *= correlated
    return slope, 1.0 / (sxx / scale + 1.0 / prior_var), pm - slope * fm, len(f) / correlated - 2.0


def ar1_factor(residual: np.ndarray) -> float:
    """How many rows count as one independent row: (1 + r) / (1 - r) of the residuals' lag-one correlation r,
    at least 1 and at most half the rows (Bretherton et al. 1999, J. Climate 12). A variance of a mean or a
    slope is widened by it, degrees of freedom divided."""
    centred = residual - residual.mean()
    power = float(centred @ centred)
    r = float(centred[1:] @ centred[:-1]) / power if power > 0 else 0.0
    return min(max(1.0, (1.0 + r) / max(1.0 - r, 1e-9)), len(residual) / 2.0)


def standard_error(values: np.ndarray) -> float:
    """The standard error of the mean of `values` (at least 2), their scatter about their mean widened by
    its lag-one correlation (`ar1_factor`)."""
    residual = values - values.mean()
    n = len(values)
    return math.sqrt(float(residual @ residual) / (n - 1) * ar1_factor(residual) / n)


def difference_standard_error(values: np.ndarray) -> float:
    """The standard error of the mean of `values` as white noise about a smooth trend would give:
    the noise's scale from the second differences of successive values (Gasser, Sroka & Jennen-Steinmetz
    1986, Biometrika 73(3): a second difference cancels a locally straight trend, leaving 6 times the noise's
    variance), by their median absolute deviation (scaled to a normal standard deviation), so that neither
    a slow drift of the values nor a value or two of another kind (a probe past a cut in fg, matched
    nowhere) counts as noise. Infinite for fewer than 5 values (fewer than 3 second differences have no
    spread to measure)."""
    if len(values) < 5:
        return math.inf
    pseudo = (values[:-2] - 2.0 * values[1:-1] + values[2:]) / math.sqrt(6.0)
    scale = MAD_TO_SD * float(np.median(np.abs(pseudo - float(np.median(pseudo)))))
    return scale / math.sqrt(len(values))


def gain_is_significant(gain: np.ndarray, significance: float) -> bool:
    """Whether paired differences (one row against two candidates) favour the second by more than
    `significance` standard errors of their mean. Fewer than 3 differences say nothing."""
    return len(gain) >= 3 and float(gain.mean()) > significance * standard_error(gain)


def _t_quantile(significance: float, dof: float) -> float:
    """Student's t quantile at `dof` degrees of freedom for the tail probability of `significance` normal
    standard errors (`special.stdtrit`, which `scipy.stats.t.ppf` calls: scipy.stats alone costs each process
    about a second and 50 MB to import). Imported here, at the first rate test: a run with given timing, which
    makes none, never loads scipy."""
    from scipy import special

    return float(special.stdtrit(dof, special.ndtr(significance)))


def _temperature(residual: np.ndarray, w: np.ndarray) -> float:
    """The pixel noise scale T from residuals about a line, by least squares of E[r^2] = 1/12 + T / w (what
    rounding leaves unexplained, in proportion to each row's flatness); at least a thousandth of the
    median row's T."""
    inverse = 1.0 / w
    t = float(inverse @ (residual * residual - ROUNDING_VARIANCE)) / float(inverse @ inverse)
    return max(t, 1e-3 * ROUNDING_VARIANCE * float(np.median(w)))


def _inverse_variance(temperature: float, w: np.ndarray) -> np.ndarray:
    """Each row's inverse variance about the line: 1 / (1/12 + T / w)."""
    return 1.0 / (ROUNDING_VARIANCE + temperature / w)


def fit_rate(fg: np.ndarray, position: np.ndarray, weight: np.ndarray, rate: float, offset: float, nominal: float,
             params: RateParams = RateParams()) -> Rate:
    """The rate of the line through the evidence rows near the line bg = offset + rate * fg (weight 0: no
    evidence); with no rows near it, `rate` itself with the prior's uncertainty. The rows' pixel noise scale
    is taken as rounding's at the median row at first, then measured from the residuals (`_temperature`)."""
    keep = weight > 0
    f, p, w = (np.asarray(a, np.float64)[keep] for a in (fg, position, weight))
    prior_var = (params.drift * nominal) ** 2
    found = Rate(rate, float(np.sqrt(prior_var)), 0, offset=offset)
    if f.size < 2:
        return found
    temperature = ROUNDING_VARIANCE * float(np.quantile(w, 0.9))
    used = None  # the rows of the last fit
    for k in range(params.passes):  # the first pass wide: the line given may be off, the evidence is not
        near = np.abs(p - offset - rate * f) <= params.tolerance * (3 if k == 0 else 1)
        if near.sum() < 2:
            break
        rate, variance, offset, dof = _slope(f[near], p[near], _inverse_variance(temperature, w[near]), nominal,
                                             prior_var)
        temperature = _temperature(p[near] - offset - rate * f[near], w[near])
        found, used = Rate(rate, float(np.sqrt(variance)), int(near.sum()), dof, offset=offset), near
    if used is None:
        return found
    steady = _halves_agree(f[used], p[used], _inverse_variance(temperature, w[used]), params.significance)
    return dataclasses.replace(found, steady=steady)


def predicts_better(fg: np.ndarray, position: np.ndarray, inverse_variance: np.ndarray, held_out: np.ndarray,
                    fitted: Rate, nominal: float, params: RateParams = RateParams()) -> bool:
    """Whether rows left out of a fit (`held_out`) favour its rate over the nominal one, each line through the
    other rows: the mean of each held-out row's log-likelihood ratio, inverse_variance * (r_nominal^2 -
    r_fitted^2) / 2, against its noise about a smooth trend (`difference_standard_error`: the ratio grows
    row by row as the lines part, which is no noise), its squared residuals capped at `tolerance`^2 so that
    a row on neither line (a drop, a wrong minimum) cannot decide alone. A fit can find a drift in rows it was
    chosen to explain (a keyframe that pulls a few rows one way, a still stretch whose minima wander); rows it
    has not seen must bear it out: the prequential view of model choice (Dawid 1984, "Statistical theory: the
    prequential approach", J. R. Statist. Soc. A 147)."""
    f, p, v = fg[held_out], position[held_out], inverse_variance[held_out]
    old = ~held_out & (inverse_variance > 0)
    old &= np.abs(position - fitted.offset - fitted.value * fg) <= params.tolerance
    if old.sum() < 2:
        return False
    cap = params.tolerance ** 2
    squared = []
    for slope in (fitted.value, nominal):
        offset = float(np.average(position[old] - slope * fg[old], weights=inverse_variance[old]))
        squared.append(np.minimum((p - offset - slope * f) ** 2, cap))
    keep = v > 0
    gain = 0.5 * v[keep] * (squared[1][keep] - squared[0][keep])
    return bool(gain.size) and float(gain.mean()) > params.significance * difference_standard_error(gain)


def _halves_agree(f: np.ndarray, p: np.ndarray, v: np.ndarray, significance: float) -> bool:
    """Whether the rows' earlier and later halves (by fg frame) measure one rate: their slopes (flat prior)
    differ by less than Student's t at `significance` normal standard errors of the difference. Where they do
    not, no straight line explains the rows (a freeze, a cadence's steps, rows from two places), and what
    the whole fit calls a drift is not one: a goodness-of-fit check of the drift model (e.g. Chow 1960,
    "Tests of equality between sets of coefficients in two linear regressions", Econometrica 28)."""
    middle = np.median(f)
    halves = [(f <= middle), (f > middle)]
    if min(int(h.sum()) for h in halves) < 3:
        return True
    fits = [_slope(f[h], p[h], v[h], 0.0, np.inf) for h in halves]
    (a, var_a, _, dof_a), (b, var_b, _, dof_b) = fits
    dof = min(dof_a, dof_b)
    if dof <= 0.0:
        return True
    return abs(a - b) <= _t_quantile(significance, dof) * np.sqrt(var_a + var_b)


def row_weights(fg: np.ndarray, position: np.ndarray, weight: np.ndarray, rate: float, offset: float,
                tolerance: float = RateParams.tolerance) -> np.ndarray:
    """Each row's inverse variance about the line bg = offset + rate * fg, 1 / (1/12 + T / w), with T measured
    from the rows near the line (0 where a row has no evidence)."""
    out = np.zeros(len(weight))
    keep = weight > 0
    near = keep & (np.abs(position - offset - rate * fg) <= tolerance)
    if near.sum() < 2:
        return np.asarray(weight, np.float64).copy()
    residual = position[near] - offset - rate * fg[near]
    temperature = _temperature(residual - np.average(residual, weights=weight[near]), weight[near])
    out[keep] = _inverse_variance(temperature, weight[keep])
    return out


class ClockLine:
    """Robust running fit of the clock line bg = offset + rate * fg from committed, confident decisions.

    The offset is the median of (bg - rate * fg) over the last `recent` accepted points, so a dropped bg
    frame moves it by one after a dozen frames and outliers do not move it at all. The rate is a ridge
    least-squares slope over the last `history` points that lie within `tolerance` frames of the line,
    pulled toward the nominal rate (prior_weight, in frames^2 of fg spread) and clamped to nominal *
    (1 +- max_drift). Refitted every `refit_every` accepted points (a Numba kernel, O(history)).
    Decisions below `min_confidence` (static stretches, held frames) are not used. Settings: `ClockParams`.
    """

    def __init__(self, rate: float, start: float, params: ClockParams = ClockParams()) -> None:
        self.nominal = float(rate)
        self.rate = float(rate)
        self.offset = float(start)
        self.params = params
        self._fg = np.zeros(params.history, np.float64)
        self._bg = np.zeros(params.history, np.float64)
        self._count = 0  # accepted points so far (ring position = count % history)
        self.steered = False  # a finer clock (the refiner's) sets the line: commits no longer refit it

    def expected(self, fg: int) -> float:
        """The clock line's bg position for fg frame `fg`."""
        return self.offset + self.rate * fg

    def add(self, fg: int, bg: int, confidence: float) -> bool:
        """Offer a committed decision; returns whether it was confident enough to be used."""
        if confidence < self.params.min_confidence:
            return False
        n = self._fg.shape[0]
        self._fg[self._count % n] = fg
        self._bg[self._count % n] = bg
        self._count += 1
        if self._count % self.params.refit_every == 0 and not self.steered:
            self._refit()
        return True

    def steer(self, rate: float, offset: float) -> None:
        """Take the line bg = offset + rate * fg from a finer clock; from now on only it moves the line."""
        self.rate, self.offset, self.steered = float(rate), float(offset), True

    def _refit(self) -> None:
        p = self.params
        rate, offset = fit_clock(self._fg, self._bg, self._count, p.recent, self.rate, self.nominal, p.tolerance,
                                 p.prior_weight, p.max_drift)
        self.rate, self.offset = float(rate), float(offset)


def clock_offset(fg: np.ndarray, bg: np.ndarray, rate: float, params: RefineParams = RefineParams()) -> float | None:
    """Offset a of the line bg = a + rate * fg through recent decisions (oldest first): the mean of the
    offsets within `tolerance` of the median of the last `recent`; None with fewer than `min_decisions`."""
    if len(fg) < params.min_decisions:
        return None
    offsets = np.asarray(bg, np.float64) - rate * np.asarray(fg, np.float64)
    middle = np.median(offsets[-params.recent:])
    return float(offsets[np.abs(offsets - middle) <= params.tolerance].mean())


def line_costs(fg: np.ndarray, lo: np.ndarray, costs: np.ndarray, rate: float,
               offsets: np.ndarray) -> np.ndarray:
    """Each row's pixel cost where the line bg = offset + rate * fg crosses it, for each of `offsets` (a
    (len(offsets), rows) array): read off by linear interpolation between the row's candidates (lo[i] + k
    for column k), and the row's largest cost where the line leaves its band or a candidate is missing."""
    costs = np.asarray(costs, np.float64)
    width = costs.shape[1]
    worst = np.where(np.isfinite(costs), costs, -np.inf).max(axis=1)
    worst = np.where(np.isfinite(worst), worst, 1.0)
    costs = np.where(np.isfinite(costs), costs, worst[:, None])
    where = np.asarray(offsets, np.float64)[:, None] + rate * np.asarray(fg, np.float64)[None, :] - lo[None, :]
    inside = (where >= 0.0) & (where <= width - 1)
    left = np.clip(np.floor(where).astype(np.int64), 0, width - 2)
    frac = np.clip(where - left, 0.0, 1.0)
    index = np.arange(len(costs))[None, :]
    along = (1.0 - frac) * costs[index, left] + frac * costs[index, left + 1]
    return np.where(inside, along, worst[None, :])


def evidence_offset(fg: np.ndarray, lo: np.ndarray, costs: np.ndarray, rate: float, guess: float,
                    reach: float = RefineParams.tolerance, step: float = 0.05,
                    significance: float = RateParams.significance) -> float:
    """Offset a of the line bg = a + rate * fg that the rows' pixel costs favour: the one within `reach`
    frames of `guess` with the least mean cost along the line (`line_costs`), when the rows' costs along it
    are lower than along the guess's by more than `significance` standard errors; else the guess.

    The decisions a line is usually put through follow the line wherever the pixels are unsure (a slow or
    still stretch), so a line through them keeps whatever offset it had; and each row's own minimum is
    noisy on a soft picture (the best of a few near-equal candidates). Summed along a line, the rows'
    costs keep their information and their noise averages out (the profile-likelihood view of a shift
    estimate: the line that best explains every row at once). The test is paired, row by row
    (`clock.gain_is_significant`): on a still stretch the costs favour no line, and noise alone must not
    move the clock."""
    steps = int(round(reach / step))
    candidates = guess + step * np.arange(-steps, steps + 1)
    along = line_costs(fg, np.asarray(lo, np.float64), costs, rate, candidates)
    best = int(np.argmin(along.mean(axis=1)))
    moved = best != steps and gain_is_significant(along[steps] - along[best], significance)
    return float(candidates[best]) if moved else guess


def jump_clock(fg: np.ndarray, lo: np.ndarray, costs: np.ndarray, rate: float, offset: float, first: int,
               params: RefineParams = RefineParams(), significance: float = RateParams.significance) -> np.ndarray:
    """The clock position of each row from `first` on (the rows before it: recent decisions' rows near the
    line): the line offset + rate * fg, moved from one row on by a whole number of fg frames (up to `jump`
    either way) where the rows from there on are cheaper along the moved line than along the line itself by
    more than `significance` standard errors (`clock.gain_is_significant`, over at least `min_jump_rows`
    rows) and, on average, by at least half what the rows before it (at least `min_decisions` of them: a
    line to step from) lose by the move; of those, the move that gains most.

    A dropped or repeated fg frame moves bg's clock by a whole fg frame at once. A line through the recent
    decisions follows such a step only once most of them are past it, and the pull to the line holds every
    row before that on the old line where the pixels are unsure; a step the segment's own rows show is taken
    where they show it (a change point of the offset, as in Killick, Fearnhead & Eckley 2012, "Optimal
    detection of changepoints with a linear computational cost", JASA 107, with one change per segment). A
    step moves the line from where the rows before it fit to where the rows after it fit, so each side
    favours its own about as much; a bg that lags (an encoder skipped the blocks that changed little) favours
    the later frame a little everywhere, and a still stretch favours nothing, which is no step."""
    clock = offset + rate * np.asarray(fg[first:], np.float64)
    steps = np.array([k for k in range(-params.jump, params.jump + 1) if k], np.float64) * rate
    along = line_costs(fg, np.asarray(lo, np.float64), costs, rate, offset + np.r_[0.0, steps])
    best: tuple[float, int, float] | None = None
    for step, moved in zip(steps, along[1:]):
        gain = along[0] - moved
        for at in range(max(first, params.min_decisions), len(gain) - params.min_jump_rows + 1):
            total = float(gain[at:].sum())
            before = float(gain[:at].mean()) if at else 0.0
            if ((best is None or total > best[0]) and total / (len(gain) - at) >= -before / 2
                    and gain_is_significant(gain[at:], significance)):
                best = (total, at - first, float(step))
    if best is not None:
        clock[best[1]:] += best[2]
    return clock


def clock_pull(fg: np.ndarray, bg: np.ndarray, rate: float, offset: float,
               params: RefineParams = RefineParams()) -> float:
    """The pull to the line offset + rate * fg: `clock_pull` times `rounding_spread` / (mean distance of the
    recent decisions within `tolerance` of it), kept within [1, `pull_gain`] times: at a whole-number rate
    the line is exact, and may outvote more pixel noise."""
    residual = np.abs(bg - offset - rate * fg)
    near = residual[residual <= params.tolerance]
    spread = float(near.mean()) if near.size else params.rounding_spread
    return params.clock_pull * min(params.pull_gain, max(1.0, params.rounding_spread / max(spread, 1e-9)))
