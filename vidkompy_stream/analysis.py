"""What a run found, in numbers: the per-frame mapping kept compactly, the clock line fitted to it, and the
summary `--analyze` prints (and `--report` draws).

The clock line is bg frame = offset_s + rate * fg frame: one rate for the whole run and one offset per
segment between cuts (an edit in fg moves the offset, not the clock), fitted by least squares to the
frames decided with confidence (frames shown over bg frame 0 before bg begins, or over bg's last frame
after it ends, are not on any clock). The cuts are those the aligner found after losing fg, and the jumps
in the mapping it followed without losing it: steps of the mapping's distance from a robust first line
(the median of one-second slopes, Theil 1950 / Sen 1968 in spirit) larger than dropped frames make. Its
residual is each frame's distance from its clock in bg frames: drift left in it, dropped frames and small
jumps show as steps.
"""

import array
import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from .decision import Decision

if TYPE_CHECKING:
    from .pipeline import Summary


class Track:
    """Every decision of a run, 20 bytes a frame (an hour at 25 fps: under 2 MB)."""

    def __init__(self) -> None:
        self._fg, self._bg = array.array("q"), array.array("q")
        self._confidence = array.array("d")
        self._x, self._y = array.array("q"), array.array("q")

    def add(self, d: Decision) -> None:
        self._fg.append(d.fg_frame)
        self._bg.append(d.bg_frame)
        self._confidence.append(np.nan if d.confidence is None else d.confidence)
        self._x.append(-1 if d.x is None else d.x)
        self._y.append(-1 if d.y is None else d.y)

    def __len__(self) -> int:
        return len(self._fg)

    @property
    def fg(self) -> np.ndarray:
        return np.frombuffer(self._fg, np.int64)

    @property
    def bg(self) -> np.ndarray:
        return np.frombuffer(self._bg, np.int64)

    @property
    def confidence(self) -> np.ndarray:
        """0..1 per frame; NaN where not measured (a given timing)."""
        return np.frombuffer(self._confidence, np.float64)


@dataclasses.dataclass(frozen=True)
class ClockFit:
    """bg frame = offsets[segment] + rate * fg frame; `rate_error`: one standard error, the residuals' spread taken
    as at least frame rounding's. Rounding errors are not independent: over a short run at a rate near a simple
    ratio, every frame is rounded alike and the rate can be off by up to about 1.5 / frames."""

    rate: float
    rate_error: float
    starts: np.ndarray  # first fg frame of each segment
    offsets: np.ndarray  # each segment's bg frame at fg frame 0
    residual: np.ndarray  # per frame: bg frame shown less its clock (bg frames)
    used: np.ndarray  # per frame: whether the fit used it

    @property
    def start(self) -> float:
        """The clock line's bg frame at fg frame 0 (its first stretch)."""
        return float(self.offsets[0])

    def clock(self, fg: np.ndarray) -> np.ndarray:
        """The clock line's bg frame at each fg frame (each on its segment's offset)."""
        segment = np.searchsorted(self.starts, fg, side="right") - 1
        return self.offsets[segment] + self.rate * fg


@dataclasses.dataclass(frozen=True)
class LineParams:
    """How the clock line is fitted."""

    window_seconds: float = 1.0  #: s of fg: the spans whose slopes give the first line, and around each jump
    jump: float = 2.0  #: bg frames: a step of the median distance from the line this large starts a segment
    off_clock: float = 1.0  #: bg frames: frames farther from the first fit are left out of the second (frame
    #: rounding keeps frames on their clock within 0.5)


def on_clock(track: Track, low: float, held_at_end: int) -> np.ndarray:
    """The frames a clock line can be fitted to: not held before bg begins or after it ends, and decided with
    confidence at least `low` where confidence was measured (all of them if too few are)."""
    n, bg = len(track), track.bg
    used = np.ones(n, bool)
    lead = int(np.argmax(bg > 0)) if bg.size and bg.max() > 0 else n
    used[: max(0, lead - 1)] = False  # frames over bg frame 0 before bg begins: the last of them may be on time
    if held_at_end:
        used[n - held_at_end:] = False
    sure = ~(track.confidence < low)  # NaN (not measured) counts as sure
    return used & sure if np.count_nonzero(used & sure) >= 2 else used


def fit_clock(track: Track, cuts: tuple[int, ...], used: np.ndarray, nominal: float) -> ClockFit:
    """Least squares of bg frame on fg frame over the `used` frames, one rate and an offset per segment between
    `cuts` (fg frames where the aligner found fg again elsewhere): the within-segment estimator (each segment's
    means removed). The nominal rate when the used frames span no time; a segment without used frames is
    put through its first frame."""
    fg, bg = track.fg.astype(np.float64), track.bg.astype(np.float64)
    starts = np.array(sorted({0, *cuts}), np.int64)
    segment = np.searchsorted(starts, track.fg, side="right") - 1
    count = np.bincount(segment[used], minlength=len(starts))
    mean_fg = np.bincount(segment[used], fg[used], len(starts)) / np.maximum(count, 1)
    mean_bg = np.bincount(segment[used], bg[used], len(starts)) / np.maximum(count, 1)
    dx, dy = fg[used] - mean_fg[segment[used]], bg[used] - mean_bg[segment[used]]
    spread = float(dx @ dx)
    rate, error = (float(dx @ dy) / spread, 0.0) if spread > 0 else (nominal, float("nan"))
    offsets = mean_bg - rate * mean_fg
    firsts = np.searchsorted(segment, np.arange(len(starts)))  # each segment's first frame (fg frames ascend)
    for s in np.flatnonzero(count == 0):
        offsets[s] = bg[firsts[s]] - rate * fg[firsts[s]] if firsts[s] < len(fg) else 0.0
    residual = bg - (offsets[segment] + rate * fg)
    if spread > 0:  # rounding to whole frames hides up to +-0.5 (sd 1/sqrt(12)) even where no residual shows it
        dof = max(1, int(used.sum()) - 1 - int(np.count_nonzero(count)))
        variance = max(float(residual[used] @ residual[used]) / dof, 1 / 12)
        error = float(np.sqrt(variance / spread))
    return ClockFit(rate, error, starts, offsets, residual, used)


def _window_rate(fg: np.ndarray, bg: np.ndarray, window: int) -> float | None:
    """The median of the least-squares slopes over consecutive spans of `window` frames: a span holding a
    jump is one outlier among many."""
    spans = len(fg) // window
    if spans == 0:
        return None
    x = fg[: spans * window].reshape(spans, window).astype(np.float64)
    y = bg[: spans * window].reshape(spans, window).astype(np.float64)
    dx, dy = x - x.mean(axis=1, keepdims=True), y - y.mean(axis=1, keepdims=True)
    spread = (dx * dx).sum(axis=1)
    slopes = (dx * dy).sum(axis=1)[spread > 0] / spread[spread > 0]
    return float(np.median(slopes)) if slopes.size else None


def find_jumps(fg: np.ndarray, bg: np.ndarray, rate: float, window: int, jump: float) -> list[int]:
    """fg frames where the median of bg - rate * fg over the next `window` frames differs from that over the
    previous `window` frames by more than `jump` bg frames. The medians say where (a wrong frame or two do
    not move them); within each run of such frames the step is put where the means differ most (the medians
    differ alike over half a window about a clean step, the means peak at it)."""
    if len(fg) < 2 * window:
        return []
    distance = bg - rate * fg.astype(np.float64)
    windows = np.lib.stride_tricks.sliding_window_view(distance, window)
    medians, means = np.median(windows, axis=1), windows.mean(axis=1)
    step = medians[window:] - medians[:-window]  # step[k]: frames window + k on against the window before
    mean_step = np.abs(means[window:] - means[:-window])
    return [int(fg[window + a + int(np.argmax(mean_step[a:b]))]) for a, b in runs(np.abs(step) > jump)]


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last + 1) of each run of True in `mask`."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def analyse(track: Track, summary: "Summary", params: LineParams = LineParams()) -> ClockFit:
    """The clock line of a run: frames on a clock, cuts found by the aligner or seen as jumps, the fit."""
    nominal = float(summary.bg_rate / summary.fg_rate)
    used = on_clock(track, summary.low_below, summary.bg_held)
    window = max(5, round(params.window_seconds * float(summary.fg_rate)))
    fg, bg = track.fg[used], track.bg[used]
    first = _window_rate(fg, bg, window)
    jumps = find_jumps(fg, bg, first, window, params.jump) if first is not None else []
    cuts = tuple(sorted({i for i, _ in summary.cuts} | {j for j in jumps if all(abs(j - i) >= window
                                                                              for i, _ in summary.cuts)}))
    fit = fit_clock(track, cuts, used, nominal)
    near = used & (np.abs(fit.residual) <= params.off_clock)  # refitted without frames off their clock
    return fit_clock(track, cuts, near, nominal) if np.count_nonzero(near) >= 2 else fit


def summary_dict(summary: "Summary", track: Track, fit: ClockFit) -> dict[str, object]:
    """The JSON `--analyze` prints: placement, scale, start, rate and drift, frames, low-confidence count, cuts."""
    nominal = float(summary.bg_rate / summary.fg_rate)
    search = summary.search
    return {
        "x": summary.x, "y": summary.y, "scale": str(summary.scale),
        "fg_rate": str(summary.fg_rate), "bg_rate": str(summary.bg_rate),
        "offset": round(fit.start / float(summary.bg_rate), 6),
        "rate": round(fit.rate, 7), "rate_error": None if np.isnan(fit.rate_error) else round(fit.rate_error, 7),
        "nominal_rate": round(nominal, 7), "drift": round(fit.rate / nominal - 1, 7),
        "drift_ppm": round(1e6 * (fit.rate / nominal - 1), 1),
        "frames": summary.frames, "low_confidence": summary.low_confidence, "low_confidence_below": summary.low_below,
        "cuts": [{"fg_frame": int(i), "bg_frame": int(track.bg[i]), "jump": round(float(b - a), 2)}
                 for i, a, b in zip(fit.starts[1:], fit.offsets[:-1], fit.offsets[1:], strict=True)],
        "search": None if search is None else {
            "score": round(search.placement.score, 4), "detail": round(search.placement.detail, 4),
            "margin": round(search.placement.margin, 4), "offset": round(float(search.offset), 6)},
        "bg_frames_held": summary.bg_held, "seconds": round(summary.seconds, 3),
    }
