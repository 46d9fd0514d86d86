"""Cadence: a clock for fg and bg that were both converted from one source at a third frame rate.

When fg (24 fps) and bg (60 fps) both show the frames of a 25 fps source, fg frame i shows the source frame
nearest its time and bg shows each source frame 2 or 3 times. The bg frames showing fg's picture are those
of that source frame, and their centre wanders up to +-1.2 bg frames about any straight clock line (fg
skips a source frame each second): where motion is too slow for the pixels to tell neighbouring source
frames apart, a straight line picks the wrong side at the ends of that sawtooth. A cadence puts fg frame i
at the bg centre of source frame round(q * i + phase), q = source rate / fg rate: the sawtooth itself.

It is fitted to where the pixels put each fg frame, not to the refiner's decisions (which the clock pulls):
the sub-frame position of each cost row's minimum (a parabola through it and its neighbours, weighted by
its curvature, so flat rows of static footage count for nothing). The common frame rates are tried, each
at `phases` phases, and a cadence is kept only when it explains those positions much better (`cadence_better`) than the
plain clocks do (the straight line, and the bg frames nearest to it); converted footage is rare, so by
default there is none.
"""

import dataclasses
from fractions import Fraction

import numpy as np

from ..params import AlignParams


@dataclasses.dataclass(frozen=True)
class Cadence:
    """fg frame i sits at bg frame offset + step * round(q * i + phase)."""

    source_rate: Fraction
    q: float
    step: float
    phase: float
    offset: float

    def clock(self, fg: np.ndarray) -> np.ndarray:
        return self.offset + self.step * np.floor(self.q * np.asarray(fg, np.float64) + self.phase + 0.5)


def subframe_minima(costs: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of a banded cost matrix (row i covers bg frames lo[i] + k): the bg position of the cost's
    minimum to a fraction of a frame (the vertex of the parabola through it and its two neighbours) and the
    parabola's curvature as its weight; weight 0 where the minimum is at the band's edge or not finite."""
    n, width = costs.shape
    position, weight = np.zeros(n), np.zeros(n)
    if width < 3:
        return position, weight
    best = np.clip(np.argmin(costs, axis=1), 1, width - 2)  # at the edge: not a minimum of the row
    rows = np.arange(n)
    left, mid, right = costs[rows, best - 1], costs[rows, best], costs[rows, best + 1]
    with np.errstate(invalid="ignore"):  # inf - inf where neighbours are missing: not finite, skipped
        curvature = left + right - 2 * mid
    ok = np.isfinite(curvature) & (curvature > 0) & (mid <= left) & (mid <= right)
    position[ok] = lo[ok] + best[ok] + 0.5 * (left[ok] - right[ok]) / curvature[ok]
    weight[ok] = curvature[ok]
    return position, weight


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted median of each row of values (one weight per column)."""
    order = np.argsort(values, axis=-1)
    cumulative = np.cumsum(weights[order], axis=-1)
    middle = np.argmax(cumulative >= cumulative[..., -1:] / 2, axis=-1)
    return np.take_along_axis(values, np.take_along_axis(order, middle[..., None], axis=-1), axis=-1)[..., 0]


def _spread(model: np.ndarray, position: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (weighted medians) and weighted mean distances of the positions from each row of model."""
    residual = position - model
    offset = _weighted_median(residual, weight)
    return offset, np.abs(residual - offset[..., None]) @ weight / weight.sum()


def _fit(source: Fraction, fg: np.ndarray, position: np.ndarray, weight: np.ndarray, rate: float,
         fg_rate: Fraction, phases: int) -> tuple[Cadence, float]:
    """The best phase of one source rate's cadence, and its weighted mean distance to the positions."""
    q = float(source / fg_rate)
    step = rate / q
    shifts = np.arange(phases) / phases
    models = step * np.floor(q * fg[None, :] + shifts[:, None] + 0.5)
    offsets, spreads = _spread(models, position, weight)
    k = int(np.argmin(spreads))
    return Cadence(source, q, step, float(shifts[k]), float(offsets[k])), float(spreads[k])


def fit_cadence(fg: np.ndarray, position: np.ndarray, weight: np.ndarray, rate: float, fg_rate: Fraction,
                bg_rate: Fraction, params: AlignParams = AlignParams()) -> Cadence | None:
    """The cadence of a common source that best explains the sub-frame positions of fg frames `fg`
    (`rate`: bg frames per fg frame), or None: too few positions, or a plain clock does as well.

    The plain clocks are cadences too: a source at fg's rate is the straight line, one at bg's rate the
    nearest bg frame to it. Only sources slower than bg (which bg repeats) can make a sawtooth."""
    keep = weight > 0
    fg, position, weight = np.asarray(fg, np.float64)[keep], position[keep], weight[keep]
    if len(fg) < params.min_rows:
        return None
    plain = min(_fit(source, fg, position, weight, rate, fg_rate, params.phases)[1] for source in (fg_rate, bg_rate))
    fits = [_fit(source, fg, position, weight, rate, fg_rate, params.phases) for source in params.source_rates
            if source < bg_rate and source != fg_rate]
    best = min(fits, key=lambda fit: fit[1], default=None)
    return best[0] if best is not None and best[1] < params.cadence_better * plain else None
