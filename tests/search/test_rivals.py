"""Rival placements judged on fg's next seconds (`vidkompy_stream.search.rivals`), on frames made here."""

import dataclasses

import cv2
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vidkompy_stream.kernels.similarity import unit
from vidkompy_stream.params import SearchParams
from vidkompy_stream.search.rivals import Rival, catch_up, make_rival, winner
from vidkompy_stream.search.spatial import Placement, shrink

SIGNIFICANCE = SearchParams.significance
#: A later dating wins when its mismatch is a quarter smaller nearby, half as large farther off.
PARAMS = SearchParams(better=0.25, better_far=0.5)

FACTOR = 2
BOX = (50, 60, 64, 48)  # x, y, width, height of fg's picture in bg
START = 10  # bg frame of fg frame 0


def _bg_frames(count: int = 40) -> list[np.ndarray]:
    """Frames unlike each other (smoothed noise), each a picture only one time shows."""
    rng = np.random.default_rng(7)
    return [cv2.GaussianBlur(rng.integers(0, 256, (160, 200), dtype=np.uint8), (5, 5), 1.5) for _ in range(count)]


def _rival(frames: list[np.ndarray], x: int, start: int, lag: int = 2) -> Rival:
    """A rival placing fg at x (y as in BOX) with fg frame 0 at bg frame `start`, probed on fg frames 0..19."""
    bx, by, w, h = BOX
    probes = [(start + k, unit(shrink(frames[START + k][by:by + h, bx:bx + w], FACTOR))) for k in range(0, 20, 2)]
    placement = Placement(x, by, 0.99, 0.1, 0, start, 3, 3, 0.9)
    return make_rival(placement, (x, by, w, h), probes, lag)


def _judge(rival: Rival, frames: list[np.ndarray]) -> Rival:
    catch_up(rival, lambda k: frames[k] if 0 <= k < len(frames) else None, len(frames) - 1, FACTOR)
    return rival


@settings(deadline=None, max_examples=40)  # the first example loads the kernel
@given(st.integers(0, 150), st.integers(0, 110), st.integers(1, 8), st.integers(0, 3))
def test_each_shifted_crop_is_bgs_block_means_there_as_a_unit_vector(x: int, y: int, factor: int, reach: int) -> None:
    """What a probe is compared with at each position within `reach`: bg's crop under the box moved there,
    shrunk to block means and made zero-mean and unit-length (zero where the box leaves bg), as the probes
    are; read off the summed-area table, it must equal the crops cut and shrunk directly."""
    luma = _bg_frames(1)[0]
    box = (x, y, 48, 40)
    rival = make_rival(Placement(x, y, 0.99, 0.1, 0, 0, 3, 3, 0.9), box, [], 0, reach=reach)
    got = rival._shifted(cv2.integral(luma), factor)
    rows, cols = box[3] // factor, box[2] // factor
    for k, (dy, dx) in enumerate(np.ndindex(2 * reach + 1, 2 * reach + 1)):
        top, left = y + dy - reach, x + dx - reach
        if top < 0 or left < 0 or top + box[3] > luma.shape[0] or left + box[2] > luma.shape[1]:
            assert not got[k].any()
            continue
        crop = luma[top:top + rows * factor, left:left + cols * factor].astype(np.float64)
        means = crop.reshape(rows, factor, cols, factor).mean(axis=(1, 3)).ravel()
        means -= means.mean()
        np.testing.assert_allclose(got[k], means / np.linalg.norm(means), atol=1e-5)


def test_the_true_start_fits_and_a_pixel_or_a_frame_off_is_moved_onto_it() -> None:
    frames = _bg_frames()
    right = _judge(_rival(frames, BOX[0], START), frames)
    assert right.mismatch < 0.01 and right.moved(SIGNIFICANCE)[0].x == BOX[0] and right.moved(SIGNIFICANCE)[1] == 0
    shifted = _judge(_rival(frames, BOX[0] + 1, START + 1), frames)
    placement, lag = shifted.moved(SIGNIFICANCE)
    assert shifted.mismatch < 0.01
    assert (placement.x, lag) == (BOX[0], -1), "moved back by the pixel and the frame it was off"


def test_a_start_off_by_more_than_the_lag_does_not_fit() -> None:
    frames = _bg_frames()
    wrong = _judge(_rival(frames, BOX[0], START + 5), frames)
    assert wrong.mismatch > 0.5


def test_the_earliest_of_equal_fits_wins_and_a_clearly_better_later_one_replaces_it() -> None:
    frames = _bg_frames()
    early_wrong = _judge(_rival(frames, BOX[0], START + 8), frames)
    right = _judge(_rival(frames, BOX[0], START), frames)
    again = _judge(_rival(frames, BOX[0], START), frames)
    assert winner([early_wrong, right, again], 3, PARAMS) is right
    assert winner([right, again], 3, PARAMS) is right
    assert winner([], 3, PARAMS) is None


def test_probes_outside_the_frames_read_are_not_counted() -> None:
    frames = _bg_frames()
    rival = _judge(_rival(frames, BOX[0], START), frames[:16])  # bg ends at frame 15: later probes never scored
    assert 0 < rival.next < 10 and rival.mismatch < 0.01


def _noisy(rival: Rival, level: float, seed: int) -> Rival:
    """The rival with every scored cell replaced by `level` plus a little noise (probe by probe)."""
    rng = np.random.default_rng(seed)
    rival.scores = np.where(np.isfinite(rival.scores), level + rng.normal(0.0, 0.002, rival.scores.shape), np.nan)
    return rival


def test_a_later_showing_must_fit_far_better_than_a_nearby_dating() -> None:
    """At one place, rivals dated within `span` of each other are two datings of one showing: the better
    one wins by `share`; a rival far later is another showing (a replay), which must beat the first by
    `far_share`."""
    frames = _bg_frames()
    first = _judge(_rival(frames, BOX[0], START), frames)
    again = dataclasses.replace(first, placement=dataclasses.replace(first.placement, bg_frame=START + 200))
    again.scores = first.scores * 0.6  # fits 40 % better
    again.date = first.date + 200
    assert winner([first, again], 30, PARAMS) is first, "a replay 40 % better is not another start"
    again.date = first.date + 10
    assert winner([first, again], 30, PARAMS) is again, "a dating 40 % better, near by, is"


def test_of_two_places_the_one_that_fits_better_wins_whenever_it_was_found() -> None:
    """A pan over a still shows fg's first picture at another place and time too; found first and far
    earlier, such a look-alike still loses to the place whose dating fits fg's next seconds better."""
    frames = _bg_frames()
    right = _judge(_rival(frames, BOX[0], START), frames)
    alike = _noisy(_judge(_rival(frames, BOX[0] + 9, START), frames), 0.03, 3)
    right = _noisy(right, 0.02, 4)
    right.date = alike.date + 300
    assert winner([alike, right], 30, PARAMS) is right
    assert winner([right, alike], 30, PARAMS) is right


def test_a_rival_cut_short_by_bgs_end_is_not_judged_on_a_probe_or_two() -> None:
    """A look-alike found near bg's end has scored one probe; that it fits that one better says nothing."""
    frames = _bg_frames()
    right = _noisy(_judge(_rival(frames, BOX[0], START), frames), 0.02, 5)
    short = _noisy(_judge(_rival(frames, BOX[0] + 9, START), frames), 0.001, 6)
    short.next = 1
    short.scores[1:] = np.nan
    short.date = right.date + 300
    assert winner([right, short], 30, PARAMS) is right


def _per_probe(rival: Rival, values: np.ndarray) -> Rival:
    """The rival with probe k's mismatch `values[k]` at every lag and position it scored."""
    rival.scores = np.where(np.isfinite(rival.scores), values[:, None, None, None], np.nan)
    return rival


def test_a_later_showing_must_also_fit_better_beyond_chance() -> None:
    """Two showings fit alike but for one probe the first fits badly (a coding glitch): the later is
    better by the far share on the mean, not beyond chance probe by probe, and the earliest showing is
    kept; one that fits better on every probe replaces it."""
    frames = _bg_frames()
    first = _judge(_rival(frames, BOX[0], START), frames)
    mask = first.scores.copy()
    glitch = np.full(len(first.probes), 0.0002)
    glitch[3] = 0.02
    first = _per_probe(first, glitch)
    later = dataclasses.replace(first)
    later.scores, later.next, later.date = mask, first.next, first.date + 200
    later = _per_probe(later, np.full(len(first.probes), 0.0002))
    assert later.mismatch < first.mismatch / 3, "better by the far share"
    assert winner([first, later], 30, PARAMS) is first
    first = _per_probe(first, np.full(len(first.probes), 0.003))
    later = _per_probe(later, 0.0003 + np.random.default_rng(9).normal(0.0, 0.0001, len(first.probes)))
    assert winner([first, later], 30, PARAMS) is later


def test_a_cut_within_the_probes_does_not_hand_the_start_to_a_look_alike() -> None:
    """fg cuts away after its 3rd probe: the right place fits the probes before the cut and no place fits
    those after, where the look-alike happens to mismatch a little less. Its arithmetic mean is then the
    smaller, but probe by probe it fits no better after the cut and far worse before it."""
    frames = _bg_frames()
    right = _judge(_rival(frames, BOX[0], START), frames)
    alike = _judge(_rival(frames, BOX[0] + 9, START), frames)
    n, rng = len(right.probes), np.random.default_rng(3)
    after = rng.uniform(0.4, 0.7, n)
    right = _per_probe(right, np.where(np.arange(n) < 3, 0.001, after))
    alike = _per_probe(alike, np.where(np.arange(n) < 3, 0.08, after - 0.1))
    alike.date = right.date + 300
    assert alike.mismatch < right.mismatch, "the look-alike has the smaller mean"
    assert winner([right, alike], 30, PARAMS) is right
    assert winner([alike, right], 30, PARAMS) is right


def _two_showings(gap: int) -> tuple[Rival, Rival, int]:
    """Two rivals at one place, the later `gap` bg frames after the first, scored on the same probes (their
    mismatches then set by `_per_probe`), and the number of probes."""
    frames = _bg_frames()
    first = _judge(_rival(frames, BOX[0], START), frames)
    later = dataclasses.replace(first)
    later.scores, later.next, later.date = first.scores.copy(), first.next, first.date + gap
    return first, later, len(first.probes)


def test_a_reversed_showing_that_crosses_the_true_one_loses_to_it() -> None:
    """A ping-pong plays fg's pictures backwards too: that showing fits worst at the ends of the probes and
    as well as the true one where the two cross (a V of differences, structure rather than noise). The true
    showing, found later at the same place, fits every probe at coding noise and replaces it."""
    first, later, n = _two_showings(200)
    first = _per_probe(first, 0.25 * np.abs(np.linspace(-1.0, 1.0, n)))
    later = _per_probe(later, 0.0006 + np.random.default_rng(4).normal(0.0, 0.0001, n))
    assert winner([first, later], 30, PARAMS) is later


def test_a_probe_past_a_cut_is_not_taken_for_the_later_showings_noise() -> None:
    """fg cuts away at its last probe, which then fits neither showing; the later, true one fits every
    probe before it at coding noise, the first does not, and the later still replaces it."""
    first, later, n = _two_showings(200)
    rng = np.random.default_rng(5)
    first = _per_probe(first, np.append(np.linspace(0.04, 0.25, n - 1), 0.78))
    later = _per_probe(later, np.append(0.002 + rng.normal(0.0, 0.0005, n - 1), 0.76))
    assert winner([first, later], 30, PARAMS) is later


def test_a_later_near_miss_whose_mismatch_swells_with_the_motion_replaces_a_far_worse_first() -> None:
    """The later rival dates fg a few frames off the true showing: its mismatches rise and fall smoothly
    with the motion (lag-one correlation near 1) far below the first's everywhere. That swell is no coding
    noise: measured as such it would hide a 4-fold better fit (check seed 39's first 3 s)."""
    first, later, n = _two_showings(100)
    rng = np.random.default_rng(6)
    swell = 0.09 + 0.08 * np.sin(np.linspace(0.0, 2.0 * np.pi, n))
    first = _per_probe(first, 0.33 + rng.normal(0.0, 0.01, n))
    later = _per_probe(later, swell + rng.normal(0.0, 0.002, n))
    assert winner([first, later], 30, SearchParams(better=0.25, better_far=2 / 3)) is later


def test_a_later_showing_that_fits_until_a_cut_in_fg_replaces_a_look_alike() -> None:
    """fg cuts away halfway through the probes (check seed 178: two cuts in fg's first 2 s). The later rival, the
    true showing, fits the probes before the cut at coding noise; after it neither fits (about 0.3 each, at
    random). On the arithmetic mean the later is not half the first's mismatch (the probes after the cut drown
    it); probe by probe it fits 30 times better before the cut and alike after, and replaces the look-alike."""
    first, later, n = _two_showings(200)
    rng = np.random.default_rng(8)
    before = np.arange(n) < n // 2
    first = _per_probe(first, 0.3 + rng.normal(0.0, 0.02, n))
    later = _per_probe(later, np.where(before, 0.01 + rng.normal(0.0, 0.001, n), 0.3 + rng.normal(0.0, 0.02, n)))
    assert later.mismatch > first.mismatch * (1 - PARAMS.better_far), "not better by the far share on the mean"
    assert winner([first, later], 30, PARAMS) is later
