"""Losing bg and finding it again: fg was cut (an edit skipped part of the recording) or bg jumped.

The aligner follows fg through a band of bg frames around its clock. After a forward cut in fg the right bg
frames lie seconds ahead, outside the band, and every bg frame the band offers is unrelated to fg's picture:
the cheapest fingerprint cost of each row (about 0 for the same picture, about 1 for unrelated ones) jumps
to about 1. `LockWatch` notices when that lasts `patience` rows in a row, clearly above what the rows in lock
cost (rows whose fg frame is flat, a fade or a black frame, say nothing either way); with patience under the aligner's lookahead, no decision after the
cut has been committed yet. The caller then reads bg forward from the band, fingerprinting the crop under fg
as it goes and keeping only the newest frames, and `ForwardScan` scores each bg frame j as the start of the
lost fg frames' run (the mean cost of lost fg frame k against bg frame j + round(rate * k)); it stops at the
first clear minimum: a score as good as the rows in lock were (at least a match by the spatial search's own
standard, `SearchParams.min_score`) that stays the best while bg is read on over the bg frames that run spans. The aligner then starts afresh there.
A temporal search of this kind over the known placement is Dixon's (2005) "where is the performer now" step
of online time warping, done with the fingerprints the aligner already uses.
"""

import math

from ..params import LockParams


class LockWatch:
    """Counts pushed rows whose best bg frame does not show fg's picture; says when lock is lost.

    A row is lost when it costs more than lost_cost (it shows nothing like fg's picture) and clearly more than
    the rows in lock cost: `gate` standard deviations above their running mean, measured over the rows so far
    (footage whose fingerprints never match well, noise or flat gradients, sits near lost_cost all along, and
    keeps its clock). Lock must have been watched for `patience` rows before it can be lost."""

    def __init__(self, params: LockParams) -> None:
        self.params = params
        self.first: int | None = None  # fg frame of the first lost row of the current run
        self.run = 0  # lost rows in a row
        self.seen = 0  # rows in lock so far
        self.mean = 0.0  # running mean and mean absolute deviation of their costs
        self.deviation = 0.0
        self.lock_cost = params.lost_cost  # what a row in lock may cost at most, when lock was last lost

    def update(self, fg_index: int, best_cost: float, flat: bool) -> int | None:
        """Note row fg_index's cheapest cost; the first fg frame of the lost run once it is `patience` rows long."""
        if flat:
            return None
        sd = 1.25 * self.deviation  # of a normal distribution, from its mean absolute deviation
        bound = max(self.params.lost_cost, self.mean + self.params.gate * sd)
        lost = best_cost > bound
        if not lost or self.seen < self.params.patience:
            self.first, self.run = None, 0
            self.seen += 1
            step = 1.0 / min(self.seen, 4 * self.params.patience)
            self.deviation += (abs(best_cost - self.mean) - self.deviation) * step
            self.mean += (best_cost - self.mean) * step
            return None
        if self.first is None:
            self.first = fg_index
        self.run += 1
        if self.run < self.params.patience:
            return None
        first, self.first, self.run, self.seen, self.lock_cost = self.first, None, 0, 0, bound
        return first


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
