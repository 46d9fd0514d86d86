"""Every setting of the search and the aligner, as frozen dataclasses (stumpy's `config` is the model).

One line per field: the unit, and what raising it trades. The measurements behind the values are in
BENCHMARKS.md ("The search's settings", "The refiner's settings"): the values were chosen on the tuning
half of the random scenario family (`scripts/family.py`), not on the named scenarios. The engine takes
them as arguments (`SearchParams` for `locate`, `AlignParams` and `RefineParams` for the aligner); the
defaults are what the command runs.
"""

import dataclasses
from fractions import Fraction

__all__ = ["SearchParams", "AlignParams", "RefineParams", "ClockParams", "LockParams", "RateParams", "REFINE_LEVELS"]


@dataclasses.dataclass(frozen=True)
class SearchParams:
    """Where fg sits in bg and when it starts (`spatial`, `placement`, `rivals`)."""

    coarse_width: int = 240  #: px: bg is shrunk by an integer factor to about this width for the coarse search
    min_score: float = 0.6  #: ZNCC: a placement scoring less is not found (a sanity floor; see `spatial`)
    min_detail: float = 0.25  #: ZNCC of Laplacians: a placement whose edges line up less is not found
    flat_std: float = 3.0  #: grey levels: a shrunk template or bg frame with less luma sd is flat (skipped)
    edge_std: float = 2.5  #: grey levels: an fg edge line with less sd may be a bar (if still and of one tone)
    box_frames: int = 5  #: frames `content_box` looks at, at most
    box_min_share: float = 0.5  #: bars leave at least this share of fg (less: a dark picture, compared whole)
    edge_slack: int = 4  #: px: a picture within this of bg's size is trimmed to this much less (blurred bar edges)
    mask_dark: int = 24  #: grey level: fg pixels at or below it in every frame, and ...
    mask_still: int = 4  #: grey levels: ... varying no more than this, are left out of the comparisons
    mask_min_content: float = 0.25  #: ... unless less than this share of the picture is left (a dark scene)
    mask_min_out: float = 0.005  #: ... and not when less than this share would be left out
    min_coarse_side: int = 16  #: px: a shrunk template's shorter side is kept at least this long
    refine_side: int = 256  #: px: the full-resolution refine searches a window of at most this square
    scale_slack: int = 8  #: px each way: position slack when a scale is refined around a coarse placement
    refine_tries: int = 3  #: coarse peaks refined per template, at most ...
    refine_spread: float = 0.05  #: ZNCC: ... those within this of its best
    duplicate_ncc: float = 0.98  #: ZNCC: a template this like an earlier one is a duplicate (a static shot)
    pool_px: int = 1  #: px: the joint position is polished within this, both axes
    date_reach: int = 2  #: bg frames: each template's frame is searched this far from the joint date
    date_scan: int = 30  #: bg frames: the joint polish scores dates this far each way (bounds the work) ...
    scan_px: int = 2  #: px: ... pooling the position within this of the previous date's
    agree_drop: float = 0.15  #: ZNCC: templates within this of the best at the joint place agree
    stride_scale: float = 0.5  #: the coarse stride is this * sqrt(n / 2) bg frames (n: frames searched)
    margin_radius: int = 3  #: coarse px: runner-up peaks for the margin lie farther than this
    templates: int = 6  #: templates taken from fg's first `template_seconds` of picture, at most
    template_seconds: Fraction = Fraction(1)  #: s of fg the templates are spread over
    max_flat_seconds: int = 5  #: s of flat fg opening (black, a fade) held before giving up on a picture
    lead_seconds: int = 5  #: s: fg may have started this long before bg (later seconds tried at bg's start)
    track_fps: int = 10  #: bg frames a second scored against the tracked templates
    track_templates: int = 3  #: templates tracked on every scored bg frame
    min_order: float = 0.9  #: `Placement.order` below this: fg's pictures out of order (a wrong time)
    order_drift: float = 0.05  #: relative: the order is measured at the best rate within this of nominal (4 % PAL)
    settle: int = 2  #: bg frames read past a candidate's stretch before it is settled
    outclassed: float = 0.15  #: ZNCC: a placement this much weaker than one struck elsewhere is a look-alike ...
    outclassed_px: int = 4  #: px: ... elsewhere meaning farther than this
    verify_seconds: Fraction = Fraction(3)  #: s of fg each accepted placement is checked against (`rivals`)
    better: float = 0.25  #: share: a later dating at one place wins when its mismatch is this much smaller ...
    better_far: float = 2 / 3  #: share: ... or this much, when more than `verify_seconds` apart
    lag_strides: int = 1  #: tracking strides: each probe is scored this far either side of its clock
    auto_scales: tuple[Fraction, ...] = tuple(Fraction(round(100 * 0.96**k), 100) for k in range(18))
    #: ^ scales --scale auto tracks (fg's width in bg over its own): 1 down to 1/2 in steps of about 4 %
    scale_reach: float = 0.03  #: share of fg's width: the winner's width is refined to the pixel within this
    scale_recheck: float = 0.005  #: share of fg's width: checked again within this once found at it
    auto_min_score: float = 0.93  #: ZNCC: at a measured scale a placement must score this ...
    auto_min_detail: float = 0.6  #: ... and this detail (zooming footage fits another scale at another time)
    significance: float = 3.0  #: standard errors by which another lag or a later showing must fit better
    min_common: int = 3  #: fewest probes two rivals must both have scored to be told apart
    rival_reach: int = 2  #: px: a rival's probes are scored this far either side of its place (a soft bg: 2-3)
    prune_after: int = 10  #: probes: a rival judged on this many is dropped when ...
    prune_worse: float = 3.0  #: ... its mismatch is this many times the best judged rival's (saves its scoring)


@dataclasses.dataclass(frozen=True)
class RateParams:
    """How the clock's rate is fitted to the evidence (`clock.fit_rate`)."""

    drift: float = 0.05  #: prior sd of the rate, relative to the nominal rate (PAL speed-up: 0.042)
    tolerance: float = 1.5  #: bg frames: rows farther from the line are not used (a drop, a cut, a wrong minimum)
    passes: int = 4  #: refits, each keeping the rows near the line found by the last
    significance: float = 3.0  #: a drift's two-sided tail probability, as the normal's standard errors (3: 0.27 %)


@dataclasses.dataclass(frozen=True)
class ClockParams:
    """How the aligner fits its clock line to its own confident decisions, until the refiner's pixel evidence
    steers it (`clock.ClockLine`)."""

    history: int = 512  #: decisions: the rate is fitted over the last this many used
    recent: int = 25  #: decisions: the offset is the median of the last this many used
    min_confidence: float = 0.5  #: less confident decisions (still stretches, held frames) are not used
    tolerance: float = 4.0  #: bg frames: decisions farther from the line do not fit the rate
    refit_every: int = 8  #: decisions used between refits
    prior_weight: float = 1.0e4  #: fg frames^2: the ridge's pull of the rate toward the nominal one
    max_drift: float = 0.05  #: the rate is kept within nominal * (1 +- this)


@dataclasses.dataclass(frozen=True)
class LockParams:
    """When lock is lost, and how far ahead bg is searched for fg (`reacquire`)."""

    lost_cost: float = 1.0 - SearchParams.min_score  #: a row whose cheapest bg frame costs more does not show fg
    patience: int = 6  #: lost rows in a row that make lock lost (kept under the aligner's lookahead)
    gate: float = 3.0  #: ... and more than this many standard deviations above what rows in lock cost
    #: with a look-ahead that leaves the run's bg in place (a bg file), a row is also lost when it costs this many
    #: times what rows in lock cost on average (and past the gate) ... (tuning half: 3 against 6, 2 up, 0 down)
    ratio: float = 3.0
    min_lost: float = 0.15  #: ... and at least this much (a closer match still shows fg's picture)


@dataclasses.dataclass(frozen=True)
class AlignParams:
    """The online aligner: fingerprints, the DTW band and its clock, the cadence fit (`aligner`, `dtw`,
    `fingerprint`, `cadence`)."""

    min_content: int = 16  #: px: fg's picture inside its bars must be at least this each way to be compared alone
    band_min: int = 24  #: bg frames: the narrowest aligner band
    small_width: int = 240  #: px: without refinement, crops are shrunk to about this width to be fingerprinted
    rate_log_seconds: int = 10  #: fg s between -v logs of the aligner's rate
    penalty: float = 0.01  #: cost per bg frame off the clock line (more: the clock outvotes the pictures)
    penalty_cap: float = 10.0  #: bg frames: the pull stops growing here, so a wrong clock cannot outvote content
    confidence_scale: float = 0.05  #: cost margin at which a decision's confidence reaches 1 - 1/e
    thumb_area: int = 96 * 54  #: px: the fingerprint's thumbnail holds about this many (1x-1.3x)
    w_grad: float = 0.7  #: weight of the gradient ZNCC cost in a fingerprint's cost
    w_thumb: float = 0.3  #: weight of the thumbnail ZNCC cost
    source_rates: tuple[Fraction, ...] = tuple(Fraction(r) for r in ("24000/1001", "24", "25", "30000/1001", "30",
                                                                     "50", "60000/1001", "60"))
    #: ^ source frame rates the cadence fit tries (film, PAL, NTSC, and their doubles)
    phases: int = 48  #: phases tried per source rate, evenly over one source frame
    rows: int = 240  #: fg frames: the cadence is fitted to the last this many positions (10 s at 24 fps)
    min_rows: int = 48  #: rows with a clear minimum before a cadence is fitted (2 s at 24 fps)
    cadence_better: float = 0.6  #: a cadence is kept when its residual is below this share of the line's
    rate: RateParams = RateParams()  #: the rate fit
    clock: ClockParams = ClockParams()  #: the aligner's own clock fit
    lock: LockParams = LockParams()  #: loss of lock


@dataclasses.dataclass(frozen=True)
class RefineParams:
    """How the refiner re-decides the aligner's frames (a --refine level is one of these:
    `REFINE_LEVELS`)."""

    width: int = 240  #: px: crops are shrunk to about this width before scoring (wider sees finer detail, costs more)
    radius: int = 2  #: bg frames either side of the aligner's choice that are scored
    segment: int = 12  #: fg frames re-solved at once (the refiner's latency, in fg frames)
    confidence_scale: float = 0.01  #: pixel-cost margin at which a decision's confidence reaches 1 - 1/e
    clock_pull: float = 0.003  #: pixel cost per bg frame off the clock line: more lets the clock outvote the pixels
    pull_gain: float = 3.0  #: the pull grows up to this many times where recent decisions sit on the line
    penalty_cap: float = 1.0  #: bg frames: the line's pull stops growing here (tuning, 10 -> 1: 112 -> 110 < 99.5 %)
    rounding_spread: float = 0.25  #: bg frames: mean |bg - line| of nearest-timestamp rounding (+-0.5 uniform)
    history: int = 100  #: decisions the clock's offset is measured over (steadier, slower to follow a drop)
    slope_history: int = 600  #: fg frames whose pixel minima measure the clock's rate (24 s at 25 fps)
    recent: int = 25  #: latest decisions whose median picks the offsets kept (odd: the median is one of them)
    tolerance: float = 1.0  #: bg frames: offsets this near the median are kept; the evidence search's reach
    min_decisions: int = 8  #: fewest decisions a clock offset is taken from (fewer: the aligner's clock)
    passes: int = 4  #: most solves of a segment, each with the line refitted through its own path
    jump: int = 3  #: fg frames: the clock's largest step in a segment (the family drops up to 3; tuning: 2, 6 a wash)
    min_jump_rows: int = 4  #: fewest rows after a clock step that must show it (tuning: 8 moved 113 -> 114 pairs)
    flat_rms: float = 1e-3  #: grey levels: a crop with less luma RMS is flat (costs 1 against everything)
    low_confidence: float = 0.3  #: confidence below which frames are counted, and their runs logged with -v


#: The --refine levels.
REFINE_LEVELS = {"fast": RefineParams(), "full": RefineParams(width=480, radius=3)}
