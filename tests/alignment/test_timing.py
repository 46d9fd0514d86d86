"""Given timing: nearest-timestamp bg frames for an offset, and mapping replay with its extrapolation."""

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vidkompy_stream.alignment.timing import MapTiming, OffsetTiming, nearest_bg_frame
from vidkompy_stream.decision import Decision


@pytest.mark.parametrize(
    ("fg_rate", "bg_rate", "offset", "expected"),
    [
        (Fraction(25), Fraction(25), Fraction(0), [0, 1, 2, 3, 4, 5]),
        (Fraction(25), Fraction(30), Fraction(2), [60, 61, 62, 64, 65, 66]),  # 1.2 bg frames per fg frame
        (Fraction(50), Fraction(25), Fraction(0), [0, 1, 1, 2, 2, 3]),  # ties go to the later frame
        (Fraction(24), Fraction(60), Fraction(1, 2), [30, 33, 35, 38, 40, 43]),
        (Fraction(30000, 1001), Fraction(25), Fraction(0), [0, 1, 2, 3, 3, 4]),
    ],
)
def test_nearest_bg_frame(fg_rate: Fraction, bg_rate: Fraction, offset: Fraction, expected: list[int]) -> None:
    assert [nearest_bg_frame(i, fg_rate, bg_rate, offset) for i in range(6)] == expected


@given(st.integers(0, 10**7), st.sampled_from([Fraction(24000, 1001), Fraction(25), Fraction(60)]),
       st.sampled_from([Fraction(30000, 1001), Fraction(25), Fraction(50)]), st.integers(-3000, 3000))
def test_nearest_is_nearest_even_hours_in(i: int, fg_rate: Fraction, bg_rate: Fraction, offset_ms: int) -> None:
    offset = Fraction(offset_ms, 1000)
    j = nearest_bg_frame(i, fg_rate, bg_rate, offset)
    t = i / fg_rate + offset
    assert abs(j / bg_rate - t) <= Fraction(1, 2) / bg_rate
    assert abs(j / bg_rate - t) < abs((j + 1) / bg_rate - t)
    assert abs(j / bg_rate - t) <= abs((j - 1) / bg_rate - t), "a tie goes to the later frame"


def test_negative_offset_holds_first_bg_frame(caplog: pytest.LogCaptureFixture) -> None:
    timing = OffsetTiming(Fraction(25), Fraction(25), Fraction(-2, 25))
    assert [timing.decide(i).bg_frame for i in range(5)] == [0, 0, 0, 1, 2]
    assert sum("before bg" in r.message for r in caplog.records) == 1


def test_map_timing_replays_then_follows_the_rates(caplog: pytest.LogCaptureFixture) -> None:
    rows = [Decision(0, 10, 0.9, 4, 6), Decision(1, 12, 0.8, 4, 6), Decision(2, 12, None, 4, 6)]
    timing = MapTiming(iter(rows), Fraction(25), Fraction(50), "map.csv")
    got = [timing.decide(i) for i in range(5)]
    assert got[:3] == rows
    assert [d.bg_frame for d in got[3:]] == [14, 16]  # 2 bg frames per fg frame from (2, 12) on
    assert (got[4].x, got[4].y, got[4].confidence) == (4, 6, None)
    assert sum("ends before fg frame 3" in r.message for r in caplog.records) == 1
