"""Rival placements judged on fg's first seconds: which of several places and times in bg fg really starts at.

A placement is settled on the templates of fg's first second. When that second is still (a static shot,
a slide) or the camera pans over a still scene, its pictures fit bg at several (x, y, time): the still
part fits at any time, and a pan shows the same picture at (x + v dt, t + dt). The first fit is then a
guess. Each placement the search accepts becomes a `Rival`, and bg frames read after it are compared, at
its place and on its clock, with fg frames from the following seconds (its *probes*): the true start
keeps matching as fg's picture changes, a look-alike drifts off as soon as the scene moves differently
from the pan's or the still part's alibi. This is verification by a sequence, not a single frame, the
idea behind temporal alignment by frame sequences (Caspi & Irani, "Spatio-temporal alignment of
sequences", IEEE TPAMI 24(11), 2002).

Each probe scores 1 - ZNCC of fg's shrunk picture and bg's shrunk crop under it; a rival's mismatch is
the mean over its probes at its best position and lag. Rivals are grouped by place (`winner`). At one
place, a later dating replaces an earlier one only when its mismatches are smaller by a share (a geometric
mean of their ratios, probe by probe, as across places): a small one for
two datings of one showing of fg's pictures (dates within the probes' span), a large one for another
showing (a replay or loop fits alike up to coding noise, which differs between showings, and the earliest
is taken; a later one must also fit better beyond chance). Across places the best fit wins, on a log scale
(probe by probe, the ratio of two mismatches): fg is at one place only.
"""

import dataclasses
import math
from collections.abc import Callable, Iterable

import cv2
import numpy as np

from ..alignment.clock import difference_standard_error
from ..kernels.match import shifted_block_sums
from ..kernels.similarity import unit_rows
from ..params import SearchParams
from .spatial import Placement

#: A probe's time within this many bg frames of a bg frame's is that frame's (float rounding of the clock).
EXACT = 1e-6
#: The least mismatch a probe is taken to have on a log scale (`fits_closer`): about float32 ZNCC's resolution.
RESOLUTION = 1e-6
#: The standard error of a median over that of a mean, under normal noise: sqrt(pi / 2).
MEDIAN_ERROR = math.sqrt(math.pi / 2.0)


@dataclasses.dataclass
class Probe:
    """One fg frame's picture (content box, shrunk, as a zero-mean unit vector), due on a rival's clock at
    bg frame `bg_frame`, or between it and the next (fg and bg frames need not fall at the same instants:
    the picture shown is that of either neighbour, whichever fits)."""

    bg_frame: int
    unit: np.ndarray
    between: bool = False

    @property
    def last(self) -> int:
        """The last bg frame it is compared with at lag 0."""
        return self.bg_frame + self.between


@dataclasses.dataclass
class Rival:
    """An accepted placement and the evidence gathered for it: each probe's mismatch at the placement's
    place and clock and at each position within `reach` px and `lag` bg frames of them (a settle on a still
    or soft picture may miss by a pixel or a few frames, which a sharp picture's probes hold against it;
    `SearchParams.rival_reach`)."""

    placement: Placement
    box: tuple[int, int, int, int]  # the probes' region in bg: x, y, width, height (full resolution)
    probes: list[Probe]  # in bg order
    reach: int = SearchParams.rival_reach
    lag: int = 0
    ordered: bool = True  # its templates matched in fg's order (`spatial.Placement.order`)
    date: float = 0.0  # bg frame of fg frame 0 on its clock
    scores: np.ndarray = dataclasses.field(init=False)  # 1 - ZNCC by probe, lag, dy, dx (NaN: not scored)
    next: int = 0  # probes before this one are done (every lag of theirs read or missed)
    _sums: np.ndarray | None = dataclasses.field(default=None, init=False, repr=False)  # `_shifted`'s, while due
    _means: np.ndarray | None = dataclasses.field(default=None, init=False, repr=False)  # means() of all, until `see`

    def __post_init__(self) -> None:
        side = 2 * self.reach + 1
        self.scores = np.full((len(self.probes), 2 * self.lag + 1, side, side), np.nan, np.float32)

    @property
    def due(self) -> bool:
        """Whether probes remain to be scored."""
        return self.next < len(self.probes)

    @property
    def first_due(self) -> int:
        """The first bg frame a probe still due is scored on."""
        return self.probes[self.next].bg_frame - self.lag

    def drop(self) -> None:
        """Score no more probes (out of the running)."""
        self.next = len(self.probes)
        self._sums = None

    def means(self, count: int | None = None) -> np.ndarray:
        """Mean mismatch of the first `count` probes (all) by lag, dy, dx; 1 where none was scored."""
        if count is None and self._means is not None:
            return self._means
        block = self.scores[:count]
        seen = np.isfinite(block).sum(axis=0)
        means = np.where(seen > 0, np.nansum(block, axis=0) / np.maximum(seen, 1), 1.0)
        if count is None:
            self._means = means
        return means

    @property
    def mismatch(self) -> float:
        """Mean mismatch at the best position and lag (1 with no probe scored: nothing speaks for it)."""
        return float(self.means().min())

    def mismatch_on(self, count: int) -> float:
        return float(self.means(count).min())

    def per_probe(self, count: int) -> np.ndarray:
        """The first `count` probes' mismatches at the lag and position where their mean is least (NaN: not
        scored)."""
        means = self.means(count)
        return self.scores[:count][(slice(None), *np.unravel_index(int(np.argmin(means)), means.shape))]

    def moved(self, significance: float) -> tuple[Placement, int]:
        """The placement at the position and lag (bg frames) its probes fit best, when that fits better than
        its own place and clock by more than `significance` standard errors over the probes; else as it is (a
        slow scene fits neighbouring frames alike, a drifting clock makes a moving picture look shifted, and
        a settle's seed pairs are exact to the frame and pixel on a moving picture)."""
        means = self.means()
        lag, dy, dx = np.unravel_index(int(np.argmin(means)), means.shape)
        gain = self.scores[:, self.lag, self.reach, self.reach] - self.scores[:, lag, dy, dx]
        gain = gain[np.isfinite(gain)]
        if len(gain) < 2 or gain.mean() <= significance * gain.std(ddof=1) / np.sqrt(len(gain)):
            return self.placement, 0
        placement = dataclasses.replace(self.placement, x=self.placement.x + int(dx) - self.reach,
                                        y=self.placement.y + int(dy) - self.reach)
        return placement, int(lag) - self.lag

    def see(self, index: int, table: np.ndarray, factor: int) -> None:
        """Score the probes due within `lag` of bg frame `index`, given its luma's summed-area table
        (`summed`); at each lag, a probe between two bg frames keeps the better of the two."""
        while self.due and self.probes[self.next].last + self.lag < index:
            self.next += 1
        near = []
        for k in range(self.next, len(self.probes)):
            if self.probes[k].bg_frame - self.lag > index:
                break
            near.append(k)
        if near:
            self._means = None
            side = 2 * self.reach + 1
            units = np.stack([self.probes[k].unit for k in near])
            fits = 1.0 - units @ self._shifted(table, factor).T  # mismatch by probe, position
            for k, row in zip(near, fits, strict=True):
                probe = self.probes[k]
                for lag in {index - probe.bg_frame, index - probe.last}:
                    if -self.lag <= lag <= self.lag:
                        cell = self.scores[k, lag + self.lag]
                        np.fmin(cell, row.reshape(side, side), out=cell)
        while self.due and self.probes[self.next].last + self.lag <= index:
            self.next += 1
        if not self.due:
            self._sums = None

    def _shifted(self, table: np.ndarray, factor: int) -> np.ndarray:
        """bg's crop under the box at each position within `reach`, shrunk by `factor` (block means, read off
        the frame's summed-area table: no full-resolution work per rival or position), as unit vectors (zero
        where the position leaves bg)."""
        side = 2 * self.reach + 1
        _, _, w, h = self.box
        if self._sums is None or self._sums.shape[1:] != (h // factor, w // factor):
            self._sums = np.empty((side * side, h // factor, w // factor), np.float32)
        inside = np.zeros(side * side, np.bool_)
        shifted_block_sums(table, self.box, factor, self.reach, self._sums, inside)
        self._sums[~inside] = 0.0
        rows = self._sums.reshape(side * side, -1)
        unit_rows(rows)
        return rows


def summed(luma: np.ndarray) -> np.ndarray:
    """A luma plane's summed-area table (Crow 1984), which `Rival.see` takes: any block's sum in 4 reads."""
    return cv2.integral(luma)


def make_rival(placement: Placement, box: tuple[int, int, int, int],
               probes: Iterable[tuple[float, np.ndarray]], lag: int, ordered: bool = True,
               date: float = 0.0, reach: int = SearchParams.rival_reach) -> Rival:
    """A rival for `placement` with probes (bg frame on its clock, the shrunk picture of the region `box` (x, y,
    width, height in bg) as a unit vector, `unit`: rivals that share a region share its vectors), scored
    within `lag` bg frames of that clock."""
    made = [Probe(math.floor(at + EXACT), vector, at - math.floor(at + EXACT) > EXACT) for at, vector in probes]
    ordered_probes = sorted(made, key=lambda p: p.bg_frame)
    return Rival(placement, box, ordered_probes, reach=reach, lag=lag, ordered=ordered, date=date)


def catch_up(rival: Rival, held: Callable[[int], np.ndarray | None], newest: int, factor: int) -> None:
    """Score the rival on the bg frames already read (up to `newest`) that it needs, from those still held
    (`held`: a frame's luma plane, or None)."""
    if not rival.due:
        return
    for index in range(rival.first_due, newest + 1):
        luma = held(index)
        if luma is not None:
            rival.see(index, summed(luma), factor)


def better(found: Rival, best: Rival, share: float, min_common: int) -> bool:
    """Whether a later rival beats the best so far: over the probes both have scored (one cut short by bg's end
    is judged on the same fg frames as the other), its mismatches are smaller by more than `share` of the best's,
    as a geometric mean of their ratios probe by probe (`fits_closer`: probes past a cut in fg, matched nowhere,
    leave the ratio near 1 rather than drown the fit before the cut). Pictures that recur match alike up to coding
    noise, and the earliest of them is taken. With fewer than `min_common` probes in common, the mean mismatches
    of all their probes are compared."""
    paired = _paired(found, best, min_common)
    if paired is None:
        return found.mismatch < best.mismatch * (1.0 - share)
    return _log_ratio(*paired) < math.log(1.0 - share)


def fits_better(found: Rival, best: Rival, significance: float, min_common: int) -> bool:
    """Whether a later rival fits the probes both have scored better than the best so far beyond chance:
    probe by probe (one fg picture against two places in bg), the median of the differences exceeds
    `significance` standard errors of a median of differences that scatter as two copies of the later
    rival's own coding noise would. Were both showings of fg's pictures, the differences would be such
    noise; a look-alike's excess has structure instead (it drifts off, or crosses the true showing when
    played backwards), which is no noise to measure them by. The later rival's noise is measured from
    its probe-to-probe second differences (`clock.difference_standard_error`): a dating a few frames off
    the showing mismatches more where the picture moves faster, a swell that is no noise either. A probe
    past a cut in fg (matched nowhere) barely moves that scale, as one probe that a coding glitch spoilt
    barely moves the median. Fewer than `min_common` probes in common (one rival cut short by bg's end) say
    nothing."""
    paired = _paired(found, best, min_common)
    if paired is None:
        return False
    mine, theirs = paired
    noise = MEDIAN_ERROR * math.sqrt(2.0) * difference_standard_error(mine)
    return float(np.median(theirs - mine)) > significance * noise


def _paired(found: Rival, best: Rival, min_common: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The two rivals' mismatches on the probes both have scored (None: fewer than `min_common`)."""
    count = min(found.next, best.next)
    mine, theirs = found.per_probe(count), best.per_probe(count)
    both = np.isfinite(mine) & np.isfinite(theirs)
    return (mine[both], theirs[both]) if int(both.sum()) >= min_common else None


def _dating(rivals: list[Rival], span: float, params: SearchParams) -> Rival:
    """Of rivals at one place, the earliest that no later one beats (`better`): by `params.better` when their
    dates lie within `span` bg frames (two datings of one showing of fg's pictures); by `params.better_far`, and beyond
    chance (`fits_better`), when farther apart (another showing: a replay or a loop fits alike up to coding
    noise, which alone may differ by half, and a share of two mismatches near zero is noise)."""
    best = rivals[0]
    for rival in rivals[1:]:
        near = abs(rival.date - best.date) <= span
        if (better(rival, best, params.better, params.min_common) if near
                else better(rival, best, params.better_far, params.min_common)
                and fits_better(rival, best, params.significance, params.min_common)):
            best = rival
    return best


def _places(rivals: list[Rival]) -> list[list[Rival]]:
    """Rivals grouped by place: each joins the first group whose first member lies within its `reach` px."""
    groups: list[list[Rival]] = []
    for rival in rivals:
        home = next((g for g in groups if abs(g[0].placement.x - rival.placement.x) <= rival.reach
                     and abs(g[0].placement.y - rival.placement.y) <= rival.reach), None)
        if home is None:
            groups.append([rival])
        else:
            home.append(rival)
    return groups


def winner(rivals: list[Rival], span: float, params: SearchParams) -> Rival | None:
    """The rival fg starts at, rivals given in the order found. At one place, rivals are datings of fg's
    pictures there, and the earliest showing is taken (`_dating`). Across places, fg is at one of them
    only (a pan over a still shows fg's picture at another place and time too, but its motion drifts from
    fg's over the next seconds): the place whose dating fits the probes both have scored best wins
    (`fits_closer`; at least `params.min_common`: a rival cut short by bg's end is not judged on a probe or
    two)."""
    datings = [_dating(group, span, params) for group in _places(rivals)]
    best = datings[0] if datings else None
    for rival in datings[1:]:
        if fits_closer(rival, best, params.min_common):
            best = rival
    return best


def fits_closer(found: Rival, best: Rival, min_common: int) -> bool:
    """Whether `found` fits the probes both have scored (at least `min_common`) closer than `best`: the mean
    log ratio of their mismatches, probe by probe, is below 0 (a geometric mean). A cut in fg within the
    probes' span leaves the probes after it matched at no rival, their mismatches large and differing at
    random; on the arithmetic mean that noise drowns the fit before the cut, while the ratio of two
    mismatched pictures' mismatches is near 1 and that of a fit to a misfit far from it."""
    paired = _paired(found, best, min_common)
    if paired is None:
        return False
    return _log_ratio(*paired) < 0.0


def _log_ratio(mine: np.ndarray, theirs: np.ndarray) -> float:
    """The mean log ratio of two rivals' mismatches, probe by probe: the log of their geometric means' ratio."""
    return float((np.log(np.maximum(mine, RESOLUTION)) - np.log(np.maximum(theirs, RESOLUTION))).mean())


def prune(rivals: list[Rival], params: SearchParams = SearchParams()) -> None:
    """Stop scoring rivals out of the running: once `params.prune_after` probes are done, one whose mismatch is
    `params.prune_worse` times that of the best so judged (a still opening makes a rival every second, and a
    moving scene then tells them apart within a fraction of the probes)."""
    judged = [rival for rival in rivals if rival.next >= params.prune_after]
    if len(judged) < 2:
        return
    best = min(rival.mismatch for rival in judged)
    for rival in judged:
        if rival.due and rival.mismatch > params.prune_worse * best:
            rival.drop()
