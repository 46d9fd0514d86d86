"""Losing bg and finding it again: fg was cut (an edit skipped part of the recording) or bg jumped.

The aligner follows fg through a band of bg frames around its clock. After a forward cut in fg the right bg
frames lie seconds ahead, outside the band, and every bg frame the band offers shows another moment: the
cheapest fingerprint cost of each row (about 0 for the same picture, about 1 for unrelated ones) jumps, to
about 1, or to a fraction of it when the band shows a look-alike (a talking head a few seconds away).
`LockWatch` notices when that lasts `patience` rows in a row, clearly above what the rows in lock cost (rows
whose fg frame is flat, a fade or a black frame, say nothing either way); with patience under the aligner's
lookahead, no decision after the cut has been committed yet. The caller then reads bg forward from the band,
fingerprinting the crop under fg as it goes and keeping only the newest frames, and `ForwardScan` scores each
bg frame j as the start of the lost fg frames' run (the mean cost of lost fg frame k against bg frame
j + round(rate * k)); it stops at the first clear minimum: a score as good as the rows in lock were that stays
the best while bg is read on over the bg frames that run spans. The aligner then starts afresh there. A bg file
is read ahead by a second decoder, so a search that finds nothing better leaves the run where it was (the
picture had only got harder to match); that is what lets the watch take look-alikes for losses.
A temporal search of this kind over the known placement is Dixon's (2005) "where is the performer now" step
of online time warping, done with the fingerprints the aligner already uses.
"""

import math

import numpy as np

from ..params import LockParams


class LockWatch:
    """Counts pushed rows whose best bg frame does not show fg's picture; says when lock is lost.

    A row is lost when it costs more than lost_cost (it shows nothing like fg's picture) and clearly more than
    the rows in lock cost: `gate` standard deviations above their running mean, measured over the rows so far
    (footage whose fingerprints never match well, noise or flat gradients, sits near lost_cost all along, and
    keeps its clock). Lock must have been watched for `patience` rows before it can be lost. With `sensitive`
    (the caller can look ahead in bg without moving the run's own bg: a file) a row is also lost when it costs
    `ratio` times what rows in lock cost and at least `min_lost`: an edit that lands on a look-alike (the same
    face a few seconds away) costs far more than lock did, though less than lost_cost; a look-ahead that finds
    nothing better says the picture only got harder to match (`accept`)."""

    def __init__(self, params: LockParams, sensitive: bool = False) -> None:
        self.params, self.sensitive = params, sensitive
        self.first: int | None = None  # fg frame of the first lost row of the current run
        self.run = 0  # lost rows in a row
        self.seen = 0  # rows in lock so far
        self.mean = 0.0  # running mean and mean absolute deviation of their costs
        self.deviation = 0.0
        self.lock_cost = params.lost_cost  # what a row in lock may cost at most, when lock was last lost
        self.lost_costs: list[float] = []  # of the current lost run

    def update(self, fg_index: int, best_cost: float, flat: bool) -> int | None:
        """Note row fg_index's cheapest cost; the first fg frame of the lost run once it is `patience` rows long.
        A flat fg frame, or a row with no bg frame to compare (bg has ended), says nothing."""
        if flat or not math.isfinite(best_cost):
            return None
        bound = self.bound()
        lost = best_cost > bound
        if not lost or self.seen < self.params.patience:
            self.first, self.run, self.lost_costs = None, 0, []
            self.seen += 1
            step = 1.0 / min(self.seen, 4 * self.params.patience)
            self.deviation += (abs(best_cost - self.mean) - self.deviation) * step
            self.mean += (best_cost - self.mean) * step
            return None
        if self.first is None:
            self.first = fg_index
        self.run += 1
        self.lost_costs.append(best_cost)
        if self.run < self.params.patience:
            return None
        first, self.first, self.run, self.seen, self.lock_cost = self.first, None, 0, 0, bound
        return first

    def bound(self) -> float:
        """What a row may cost and still count as in lock."""
        p = self.params
        gated = self.mean + p.gate * 1.25 * self.deviation  # sd of a normal, from its mean absolute deviation
        coarse = max(p.lost_cost, gated)
        return min(coarse, max(p.ratio * self.mean, gated, p.min_lost)) if self.sensitive else coarse

    def accept(self) -> None:
        """The lost run just reported was fg's picture after all, only harder to match (nothing ahead matched
        better): what rows in lock cost is that run's level from now on, and lock is watched again at once."""
        costs = np.asarray(self.lost_costs)
        level = float(np.median(costs))
        self.mean, self.deviation = level, max(self.deviation, float(np.abs(costs - level).mean()))
        self.seen, self.lost_costs = self.params.patience, []


class ForwardScan:
    """Scores bg frames as where fg goes on, in bg order; says where once a clear match has been passed."""

    def __init__(self, lost_cost: float, confirm: int) -> None:
        """confirm: bg frames read past the best score before it is taken (the span of the lost run)."""
        self.lost_cost, self.confirm = lost_cost, max(1, confirm)
        self.best = math.inf
        self.best_frame: int | None = None

    def offer(self, bg_frame: int, score: float) -> int | None:
        """Take bg frame bg_frame's score (increasing frames); the bg frame found, once it is clear."""
        if score < self.best:
            self.best, self.best_frame = score, bg_frame
        if self.best_frame is not None and self.best <= self.lost_cost and bg_frame - self.best_frame >= self.confirm:
            return self.best_frame
        return None
