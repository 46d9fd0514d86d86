"""The clock line fitted to a run's mapping: rate and start from rounded frames, cuts seen as jumps, frames off
any clock left out."""

import math
from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vidkompy_stream.analysis import Track, analyse, fit_clock, on_clock, runs
from vidkompy_stream.decision import Decision
from vidkompy_stream.pipeline import Summary


def track_of(bg: np.ndarray, confidence: float | None = 0.9) -> Track:
    track = Track()
    for i, j in enumerate(bg):
        track.add(Decision(i, int(j), confidence))
    return track


def summary(fg_rate: int = 25, bg_rate: int = 30, **fields: object) -> Summary:
    return Summary(fg_rate=Fraction(fg_rate), bg_rate=Fraction(bg_rate), **fields)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(rate=st.floats(0.4, 2.6), start=st.floats(0, 500), frames=st.integers(60, 2000))
def test_the_rate_of_rounded_frames_is_off_by_no_more_than_rounding_allows(rate: float, start: float,
                                                                            frames: int) -> None:
    """Rounding to whole frames moves each frame by at most 0.5, which moves a least-squares slope by at most
    0.5 * sum|x - mean| / sum (x - mean)^2 (about 1.5 / frames): a short run near a simple ratio is rounded
    the same way throughout, so that bound, not the standard error, is what holds for every rate."""
    bg = np.floor(start + rate * np.arange(frames) + 0.5).astype(np.int64)
    fit = fit_clock(track_of(bg), (), np.ones(frames, bool), 1.0)
    dx = np.arange(frames) - (frames - 1) / 2
    assert abs(fit.rate - rate) <= 0.5 * np.abs(dx).sum() / (dx @ dx) + 1e-9, (fit.rate, rate)
    assert fit.rate_error >= np.sqrt(1 / 12 / (dx @ dx)) - 1e-12, "rounding's spread at least"


def test_a_jump_the_aligner_followed_is_a_cut_and_its_wrong_frames_do_not_bend_the_line() -> None:
    """1 % drift at 25 -> 30 fps; a 0.5 s edit at fg frame 300 that the path took over three frames (one wrong
    on each side), and a 40 s edit at fg frame 600 that the aligner reported."""
    rate = 1.2 * 1.01
    fg = np.arange(900)
    bg = np.floor(70 + rate * fg + 0.5 + np.where(fg >= 300, 15, 0) + np.where(fg >= 600, 1200, 0)).astype(np.int64)
    bg[299] += 5
    bg[300] -= 6
    found = analyse(track_of(bg), summary(cuts=((600, int(bg[600])),)))
    assert list(found.starts) == [0, 300, 600]
    assert abs(found.rate - rate) < 2 * found.rate_error and found.rate_error < 1e-3, found.rate
    assert np.allclose(np.diff(found.offsets), [15, 1200], atol=0.5)
    assert abs(found.clock(np.zeros(1, np.int64))[0] - 70) < 0.5


def test_frames_held_before_and_after_bg_are_on_no_clock() -> None:
    bg = np.concatenate([np.zeros(10, np.int64), np.arange(1, 81), np.full(10, 80)])
    used = on_clock(track_of(bg), 0.3, held_at_end=10)
    assert not used[:9].any() and used[9:90].all() and not used[90:].any()
    low = track_of(bg, confidence=0.1)
    assert np.array_equal(on_clock(low, 0.3, 10), used), "too few sure frames: all frames on a clock count"


def test_a_given_timing_fits_its_own_line() -> None:
    offset = Fraction(7, 3)
    bg = np.array([math.floor((i / Fraction(25) + offset) * 30 + Fraction(1, 2)) for i in range(250)])
    found = analyse(track_of(bg, confidence=None), summary())
    assert abs(found.rate - 1.2) < 1e-3 and abs(found.clock(np.zeros(1, np.int64))[0] / 30 - 7 / 3) < 0.5 / 30


def test_runs_are_first_and_past_last() -> None:
    assert runs(np.array([0, 1, 1, 0, 1], bool)) == [(1, 3), (4, 5)]
    assert runs(np.zeros(3, bool)) == []
