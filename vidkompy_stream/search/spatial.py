"""Spatial alignment: where fg sits inside bg, found without knowing when fg starts.

Array in, array out: luma planes (2-D uint8) go in, a `Placement` comes out. Nothing here reads files
or keeps state; the streaming layer decides which frames to hand over.

Method (coarse to fine):

1. Templates. Each given fg frame loses its flat edge rows/columns (letterbox or pillarbox bars, or any
   uniform border: removing a uniform strip leaves a true sub-picture, so the offset is simply added
   back). Frames whose remaining picture is near-uniform (black, fades, flat colour) are skipped.
2. Coarse search. bg and templates are shrunk by one integer factor (`shrink`, INTER_AREA) so bg is
   about `coarse_width` px wide. Each template is matched (`cv2.matchTemplate`, TM_CCOEFF_NORMED: blind
   to brightness and contrast differences) against every k-th small bg frame, k ~ sqrt(n / 2), then
   against every frame within k of the frame where it peaked. Cost: about 2 * sqrt(2 n) matches per
   template instead of n.
3. Refine. Each template's coarse peak is searched again at full resolution within +-(factor + 2) px on
   the bg frame where it peaked (a textured window of at most `refine_side` px square is searched, then
   the whole template is scored at the position found).
4. Joint choice. Each template's refined position is a candidate; for each, all templates are scored
   together on one timeline (template t on the bg frame at date + t's fg index * rate) and the
   (position, date) with the best mean wins: when the picture moves as a whole (a scroll) each
   template alone fits many (place, time) pairs, and only the timeline tells which is right. Position
   and date are then polished together at full resolution with all templates pooled, every date within
   `date_scan` scored (a slow pan fits a ridge of look-alikes at coarse scale); templates within
   `agree_drop` of the best count as agreeing; each one's exact bg frame (+-1 checked) gives a seed pair.
5. Check. A smooth template (a wall, sky, a blurred pan) fits some place of some frame among hundreds
   with a high score, and near-identical templates (a static shot) agree on the same wrong place, so
   neither the score nor the vote tells found from not found. `detail` does: the correlation of the
   Laplacians (edges and texture, not shading) of fg and of bg under it, both shrunk.
   Not found = score < min_score or detail < min_detail: true placements and unrelated pictures overlap in
   score but not in detail (BENCHMARKS.md, "Spatial search": the table that chose the defaults, min_score
   0.6 as a sanity floor and min_detail 0.25). Coarse to fine template matching of this kind is classic
   (e.g. Lewis 1995, "Fast normalized cross-correlation"; Laplacian band-pass: Burt & Adelson 1983).

Two entry points: `locate` takes full-resolution bg frames (simple, for tests and short clips);
`locate_small` takes bg frames already shrunk with `shrink(luma, factor)` plus a `get_full(bg_index)`
callable that returns full-resolution frames for the few frames the refine step needs, so a streaming
caller keeps all small frames (e.g. 240x135 = 32 KB each) but needs full frames only on request
(it may return None for frames it no longer has: the refine then uses the template's next-best frame).

Scale: fg is assumed to be at bg's scale (1 fg pixel = 1 bg pixel). A later `--scale auto` can resize
the templates before step 2 and search over a few scales; nothing below assumes scale 1 except that the
templates are used as given.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import NotFound, VidkompyError
from ..kernels.match import window_ncc
from ..kernels.similarity import zncc
from ..params import SearchParams

#: The settings the command runs with.
DEFAULT = SearchParams()

@dataclass(frozen=True)
class Placement:
    """Where fg sits in bg, how sure we are, and a temporal seed.

    x, y: fg's top-left corner in bg luma pixels (negative or past the edge only when fg's own flat
        bars, e.g. letterbox, hang outside bg).
    score: peak TM_CCOEFF_NORMED at full resolution, mean over the agreeing templates (1 = identical up
        to brightness/contrast; a sharp fg over a soft bg scores below 1).
    margin: coarse-scale peak minus the best other peak farther than `margin_radius` coarse px away, on
        the winning template's correlation map at its best bg frame (small: the picture is ambiguous).
    fg_frame, bg_frame: the best matching (fg index, bg index) pair, as given by the caller's indices.
    agreeing, templates: templates that voted for (x, y) / usable templates (flat frames and
        near-duplicates of an earlier template, e.g. a static shot, are not counted).
    detail: correlation of the Laplacians of fg and of bg under it, both shrunk by max(2, factor), mean
        over the agreeing templates: high only if edges and texture line up, not just smooth shading.
    pairs: (fg frame, bg frame) where each agreeing template matches best, the seed pair first: each
        is exact to the frame, and together they pin the offset between the clocks well below a frame.
    order: the templates' mean coarse score on the best timeline (a date, and a rate within
        `SearchParams.order_drift` of the nominal one: a PAL speed-up moves a second's last template by a
        frame), over the mean of each one's best score at that position at any date: about 1 when bg shows
        fg's frames in fg's order (a static shot too); well below 1 when each matches on its own but at
        inconsistent times (fg's pictures replayed backwards, shuffled), where the seed would be a wrong time.
    """

    x: int
    y: int
    score: float
    margin: float
    fg_frame: int
    bg_frame: int
    agreeing: int
    templates: int
    detail: float
    pairs: tuple[tuple[int, int], ...] = ()
    order: float = 0.0


@dataclass
class Template:
    """One fg frame prepared for matching (see `make_templates`)."""

    fg_index: int
    full: np.ndarray  # full-resolution fg content (flat edges cropped), uint8
    ox: int  # where `full` starts in the fg frame
    oy: int
    small: np.ndarray  # shrink(full, factor)


def choose_factor(bg_width: int, fg_width: int, fg_height: int, params: SearchParams = DEFAULT) -> int:
    """Integer shrink factor for the coarse search: bg about `coarse_width` wide, shrunk fg not too small.

    The streaming layer calls this once (both headers known) and then `shrink`s every bg frame with it.
    """
    if params.coarse_width <= 0:
        raise ValueError(f"coarse_width must be positive, not {params.coarse_width}")
    factor = max(1, round(bg_width / params.coarse_width))
    return max(1, min(factor, min(fg_width, fg_height) // params.min_coarse_side))


def shrink(luma: np.ndarray, factor: int, steps: Sequence[np.ndarray] = ()) -> np.ndarray:
    """Downscale a luma plane by an integer factor (INTER_AREA box average; trailing rows/columns that
    do not fill a whole block are dropped, so small pixel (i, j) is the mean of full-res block
    [i*factor, (i+1)*factor) x [j*factor, (j+1)*factor), to within one level: each halving rounds).
    Even factors go by halvings first: OpenCV's 2x2 INTER_AREA path is 5-8x cheaper than one step by 4
    (0.07 against 0.55 ms for a 1280x720 crop here). Factor 1 returns the frame as is. `steps`: buffers
    for the steps' results (`shrink_steps`), for a caller that shrinks many frames of one size; the result
    is then the last of them, overwritten by the next call."""
    if factor == 1:
        return luma
    h, w = luma.shape[0] // factor, luma.shape[1] // factor
    if h < 1 or w < 1:
        raise ValueError(f"frame {luma.shape[1]}x{luma.shape[0]} is smaller than the shrink factor {factor}")
    img, buffers = luma[: h * factor, : w * factor], iter(steps)
    while factor % 2 == 0:
        factor //= 2
        img = cv2.resize(img, (w * factor, h * factor), dst=next(buffers, None), interpolation=cv2.INTER_AREA)
    return img if factor == 1 else cv2.resize(img, (w, h), dst=next(buffers, None), interpolation=cv2.INTER_AREA)


def shrink_steps(width: int, height: int, factor: int) -> list[np.ndarray]:
    """Buffers for `shrink`'s steps of a width x height plane by `factor`: one per halving, and one for the
    odd rest."""
    steps, rest = [], factor
    while rest > 1:
        rest //= 2 if rest % 2 == 0 else rest
        steps.append(np.empty((height // factor * rest, width // factor * rest), np.uint8))
    return steps


def locate(
    fg_frames: Sequence[np.ndarray],
    fg_indices: Sequence[int],
    bg_frames: Sequence[np.ndarray],
    bg_indices: Sequence[int],
    *,
    rate: float,
    params: SearchParams = DEFAULT,
) -> Placement:
    """Find fg in bg from full-resolution luma frames.

    fg_frames: a few fg frames (5-8, spread over fg's first seconds), indices in `fg_indices`.
    bg_frames: bg frames covering the time fg's frames may appear at, indices in `bg_indices`
        (increasing). Pass consecutive frames: the seed bg_frame is then exact to +-1 frame; every k-th
        frame also works, with a seed good to about +-k/2 frames and a lower score for moving content.
    min_score, min_detail: raise VidkompyError("fg not found ...") if the score or the detail of the
        best match is lower; min_score <= 0 accepts any match (forced: no check at all).
    coarse_width: target width of the shrunk bg (the shrink factor is the nearest integer).
    Holds one shrunk copy of every bg frame; see `locate_small` to avoid keeping full frames around.
    Raises VidkompyError if no fg frame is usable (all near-uniform) or fg is larger than bg.
    """
    if len(bg_frames) != len(bg_indices):
        raise ValueError(f"{len(bg_frames)} bg frames but {len(bg_indices)} bg indices")
    if not bg_frames:
        raise ValueError("no bg frames to search")
    (height, width), (fg_height, fg_width) = bg_frames[0].shape, fg_frames[0].shape
    if fg_width > width or fg_height > height:
        raise VidkompyError(
            f"fg ({fg_width}x{fg_height}) is larger than bg ({width}x{height}): fg must be a part of bg's picture"
        )
    factor = choose_factor(width, fg_width, fg_height, params)
    small = [shrink(frame, factor) for frame in bg_frames]
    full = dict(zip(bg_indices, bg_frames))
    return locate_small(
        fg_frames, fg_indices, small, bg_indices, full.get, factor=factor, rate=rate, params=params
    )


def locate_small(
    fg_frames: Sequence[np.ndarray],
    fg_indices: Sequence[int],
    bg_small: Sequence[np.ndarray],
    bg_indices: Sequence[int],
    get_full: Callable[[int], np.ndarray | None],
    *,
    factor: int,
    rate: float,
    params: SearchParams = DEFAULT,
    check: bool = True,
) -> Placement:
    """Find fg in bg from shrunk bg frames, fetching full-resolution bg frames only to refine.

    bg_small[i] = shrink(bg luma of frame bg_indices[i], factor), with `factor` from `choose_factor`.
    get_full(bg_index) -> full-resolution bg luma, or None if the caller no longer has that frame. It is
    asked for up to `refine_tries` frames per template (its best coarse matches; for a None the next-best
    is asked instead), 2 * `date_reach` + 1 around each template's date on the joint timeline, and those
    within `date_scan` of it (the joint polish: a streaming caller passes the stretch it holds).
    rate: bg frames per fg frame (bg fps / fg fps), for the joint timeline.
    Everything else as in `locate`.
    """
    if len(fg_frames) != len(fg_indices):
        raise ValueError(f"{len(fg_frames)} fg frames but {len(fg_indices)} fg indices")
    if len(bg_small) != len(bg_indices):
        raise ValueError(f"{len(bg_small)} bg frames but {len(bg_indices)} bg indices")
    if not fg_frames or not bg_small:
        raise ValueError("need at least one fg frame and one bg frame")
    small_h, small_w = bg_small[0].shape
    templates = make_templates(fg_frames, fg_indices, factor, small_w, small_h, params)
    return locate_templates(templates, bg_small, bg_indices, get_full, factor=factor, rate=rate, params=params,
                            check=check)


def locate_templates(
    templates: Sequence[Template],
    bg_small: Sequence[np.ndarray],
    bg_indices: Sequence[int],
    get_full: Callable[[int], np.ndarray | None],
    *,
    factor: int,
    rate: float,
    params: SearchParams = DEFAULT,
    check: bool = True,
    peaks: MutableMapping[tuple[int, int], tuple[float, int, int]] | None = None,
) -> Placement:
    """`locate_small` with its templates made (`make_templates`; at least one): a caller that settles the same
    templates on many stretches of bg makes them once. peaks: the coarse peaks (`coarse_peak`) of templates on
    bg frames already scored, by (fg index, bg index), read and added to (a frame's shrunk copy and a
    template's are the same in every stretch)."""
    if not templates:
        raise VidkompyError(
            "fg has no usable frame to match: all sampled fg frames are nearly uniform (black, fade or flat)",
            "sample later fg frames or give --x/--y"
        )
    flat = np.array([is_flat(frame, params) for frame in bg_small])
    votes = []
    for tpl in templates:
        ranked = _coarse(tpl, bg_small, bg_indices, flat, params, {} if peaks is None else peaks)
        vote = _refine(tpl, ranked, bg_indices, get_full, factor, params)
        if vote is not None:
            votes.append(vote)
    if not votes:
        raise VidkompyError("fg not found in bg: no bg frame to compare with (all bg frames flat or unavailable)")
    best, agreeing, order = _joint(votes, bg_small, bg_indices, get_full, factor, rate, params)
    score = float(np.mean([vote.score for vote in agreeing]))
    detail = float(np.mean([vote.detail for vote in agreeing]))
    pairs = tuple((vote.template.fg_index, _seed_frame(vote, bg_indices, get_full)) for vote in agreeing)
    margin = _margin(best, bg_small, params)
    found = Placement(
        best.x, best.y, score, margin, pairs[0][0], pairs[0][1], len(agreeing), len(templates), detail, pairs, order
    )
    if check:
        verify(found, params.min_score, params.min_detail)
    return found


def verify(found: Placement, min_score: float, min_detail: float) -> None:
    """Raise NotFound("fg not found ...") when the score or the detail is too low, or when no
    majority of the templates agrees on the position (a partial fit: the right picture at a wrong time,
    or a look-alike); min_score <= 0 accepts anything (forced)."""
    if min_score <= 0:
        return
    if found.score < min_score:
        why = f"need {min_score:.2f}"
    elif found.detail < min_detail:
        why = f"but detail {found.detail:.2f}, need {min_detail:.2f}"
    elif 2 * found.agreeing <= found.templates:
        why = f"but only {found.agreeing} of {found.templates} fg frames agree on it"
    else:
        return
    raise NotFound("fg not found in bg", f"best match {found.score:.2f} at x={found.x},y={found.y}, {why}",
                   best=found.score)


def is_flat(small: np.ndarray, params: SearchParams = DEFAULT) -> bool:
    """Whether a shrunk frame is too uniform to match (black, a fade, a flat or very dim picture): normalised
    correlation stretches any faint shading on it to full contrast, so a score there means nothing."""
    return cv2.meanStdDev(small)[1][0, 0] < params.flat_std


def coarse_peak(bg_small: np.ndarray, template: Template) -> tuple[float, int, int]:
    """(score, cx, cy): the template's best TM_CCOEFF_NORMED match on one shrunk bg frame, in shrunk px.
    For a streaming caller that scores templates against bg frames as they arrive."""
    return _peak(cv2.matchTemplate(bg_small, template.small, cv2.TM_CCOEFF_NORMED))


# --- internals -------------------------------------------------------------------------------------


@dataclass
class _Vote:
    template: Template
    x: int  # fg top-left in bg (full res)
    y: int
    score: float  # full-resolution NCC of the whole template there
    pos: int  # position in bg lists of the frame it was scored on
    detail: float  # Laplacian correlation there (see Placement.detail)
    ranked: list[tuple[float, int, int, int]]  # coarse (score, list position, cx, cy), best first


def _bar_run(means: np.ndarray, stds: np.ndarray, params: SearchParams) -> int:
    """How many lines at each end of a (frames, lines) profile are bar: uniform in every frame (std under
    `edge_std`), unchanged across frames and of the edge line's tone (within `mask_still`), and as many at both
    ends (letterbox and pillarbox bars centre the picture): a bar is one still colour on both sides, where dark
    or still picture content varies along the edge, over time, or from one side to the other."""
    mean = means.mean(axis=0)
    bar = (stds < params.edge_std).all(axis=0) & (np.ptp(means, axis=0) <= params.mask_still)
    runs = []
    for line, tone in ((bar, mean), (bar[::-1], mean[::-1])):
        toned = line & (np.abs(tone - tone[0]) <= params.mask_still)
        runs.append(len(toned) if toned.all() else int(np.argmin(toned)))
    return min(runs)


def _profiles(planes: list[np.ndarray], dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Per frame, the luma mean and standard deviation of each row (dim=1) or column (dim=0)."""
    stats = []
    for block in planes:
        mean = cv2.reduce(block, dim, cv2.REDUCE_AVG).ravel()
        square = cv2.reduce(cv2.multiply(block, block), dim, cv2.REDUCE_AVG).ravel()
        stats.append((mean, np.sqrt(np.maximum(square - mean * mean, 0))))
    return np.array([m for m, _ in stats]), np.array([s for _, s in stats])


def content_box(frames: Sequence[np.ndarray], params: SearchParams = DEFAULT) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of fg's picture inside its own bars (letterbox, pillarbox), which bg does not share,
    from a few same-shape luma frames; (0, 0, 0, 0) if nothing is left. Only still, uniform, one-tone lines
    along the edges are bars (`_bar_run`), and they leave at least `box_min_share` of the frame: a dark or still
    picture is compared whole."""
    planes = [f.astype(np.float32) for f in frames[:: max(1, len(frames) // params.box_frames)]]
    height, width = planes[0].shape
    box = (0, 0, width, height)
    for _ in range(3):  # rows then columns, until stable: pillarbox bars make edge rows look textured
        x0, y0, x1, y1 = box
        bars = _bar_run(*_profiles([p[y0:y1, x0:x1] for p in planes], 1), params)
        if 2 * bars >= y1 - y0:
            return 0, 0, 0, 0
        y0, y1 = y0 + bars, y1 - bars
        bars = _bar_run(*_profiles([p[y0:y1, x0:x1] for p in planes], 0), params)
        if 2 * bars >= x1 - x0:
            return 0, 0, 0, 0
        x0, x1 = x0 + bars, x1 - bars
        if (x0, y0, x1, y1) == box:
            break
        box = (x0, y0, x1, y1)
    x0, y0, x1, y1 = box
    return box if (x1 - x0) * (y1 - y0) >= params.box_min_share * width * height else (0, 0, width, height)


def content_mask(frames: Sequence[np.ndarray], params: SearchParams = DEFAULT) -> np.ndarray | None:
    """Which pixels of fg's picture show content, from a few of its frames (same-shape 2-D uint8 luma): not
    those dark and still in all of them, which bg need not share. None when less than `mask_min_out` would be
    left out, or less than `mask_min_content` left in."""
    if not frames:
        return None
    stack = np.stack(frames)
    top = stack.max(axis=0)
    content = (top > params.mask_dark) | (top - stack.min(axis=0) > params.mask_still)
    share = float(content.mean())
    return None if share > 1.0 - params.mask_min_out or share < params.mask_min_content else content


def fill_masked(small: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`small` with the pixels outside `mask` set to the mean of those inside: once made zero-mean they are
    zero, so a ZNCC of two filled images is the ZNCC of their masked pixels alone (up to rounding)."""
    fill = np.uint8(round(float(small[mask].mean()))) if mask.any() else np.uint8(0)
    return np.where(mask, small, fill)


def _trim(start: int, stop: int, room: int, slack: int) -> tuple[int, int]:
    """[start, stop) narrowed evenly to room - `edge_slack` when it is longer, by up to room + `edge_slack`: the
    rows where a letterbox bar meets a picture as tall as bg, blurred by compression, are not picture, and
    templates that fill bg exactly would not fit at a pixel's offset."""
    excess = stop - start - (room - slack)
    if 0 < excess <= 2 * slack:
        return start + excess // 2, stop - (excess - excess // 2)
    return start, stop


def make_templates(
    fg_frames: Sequence[np.ndarray], fg_indices: Sequence[int], factor: int, small_w: int, small_h: int,
    params: SearchParams = DEFAULT,
) -> list[Template]:
    """Usable templates: flat edges cropped, big enough, textured, not larger than bg (small_w x small_h
    shrunk px), and not a near-duplicate of an earlier one."""
    found: list[Template] = []
    for frame, index in zip(fg_frames, fg_indices):
        if frame.ndim != 2:
            raise ValueError(f"fg frame {index} is not a 2-D luma plane (shape {frame.shape})")
    if not fg_frames:
        return found
    x0, y0, x1, y1 = content_box(fg_frames, params)
    x0, x1 = _trim(x0, x1, small_w * factor, params.edge_slack)
    y0, y1 = _trim(y0, y1, small_h * factor, params.edge_slack)
    if (x1 - x0) < 2 * factor or (y1 - y0) < 2 * factor:
        return found
    for frame, index in zip(fg_frames, fg_indices):
        full = frame[y0:y1, x0:x1]
        small = shrink(full, factor)
        if small.shape[0] > small_h or small.shape[1] > small_w:
            raise VidkompyError(
                f"fg picture ({x1 - x0}x{y1 - y0}) is larger than bg (about {small_w * factor}x"
                f"{small_h * factor}): fg must be a part of bg's picture"
            )
        if min(small.shape) < 4 or is_flat(small, params):
            continue
        if any(zncc(other.small, small) >= params.duplicate_ncc for other in found):
            continue
        found.append(Template(int(index), full, x0, y0, small))
    return found


def _peak(result: np.ndarray) -> tuple[float, int, int]:
    _, best, _, (cx, cy) = cv2.minMaxLoc(result)
    return best, cx, cy


def _coarse(tpl: Template, bg_small: Sequence[np.ndarray], bg_indices: Sequence[int], flat: np.ndarray,
            params: SearchParams, peaks: MutableMapping[tuple[int, int], tuple[float, int, int]],
            ) -> list[tuple[float, int, int, int]]:
    """Coarse peaks of one template as (score, list position, cx, cy), best first, over every k-th
    bg frame and then every frame within k of the best of those (`peaks`: as in `locate_templates`)."""
    n = len(bg_small)
    stride = max(1, round(math.sqrt(n / 2) * params.stride_scale))
    scored: dict[int, tuple[float, int, int, int]] = {}

    def match(pos: int) -> None:
        if pos not in scored and not flat[pos]:
            key = (tpl.fg_index, bg_indices[pos])
            if key not in peaks:
                peaks[key] = coarse_peak(bg_small[pos], tpl)
            best, cx, cy = peaks[key]
            scored[pos] = (best, pos, cx, cy)

    for pos in range(stride // 2, n, stride):
        match(pos)
    if not scored:  # every sampled frame was flat: try them all
        for pos in range(n):
            match(pos)
    if not scored:
        return []
    centre = max(scored.values())[1]
    for pos in range(max(0, centre - stride + 1), min(n, centre + stride)):
        match(pos)
    return sorted(scored.values(), reverse=True)


def _detail(tpl: np.ndarray, patch: np.ndarray, factor: int) -> float:
    """NCC of the 3x3 Laplacians of template and bg patch, both shrunk by max(2, factor): a band-pass
    comparison (edges and texture at the coarse scale), blind to smooth shading and to fine detail that
    a soft bg lacks."""
    k = max(2, factor)
    a, b = shrink(tpl, k).astype(np.float32), shrink(patch, k).astype(np.float32)
    return zncc(cv2.Laplacian(a, cv2.CV_32F), cv2.Laplacian(b, cv2.CV_32F))


def refine_scale(pairs: Sequence[tuple[np.ndarray, np.ndarray]], x: int, y: int, width: int,
                 reach: int, params: SearchParams = DEFAULT) -> tuple[int, float]:
    """The width (bg px) that unscaled fg frames have in bg, within `reach` px of `width`, their width at a
    coarse scale where they were found with their top-left corner at (x, y).

    pairs: (fg luma, luma of the bg frame showing it). Each candidate width is scored by TM_CCOEFF_NORMED of
    the fg frames resized to it (INTER_AREA) against bg around the same centre (+-`scale_slack` px), at full
    resolution, summed over the pairs: first every `reach // 8` px, then every px around the best.
    Returns (width, mean peak score)."""
    fh, fw = pairs[0][0].shape
    cx, cy = x + width / 2, y + width * fh / fw / 2

    def score(w: int) -> float:
        h = max(1, round(fh * w / fw))
        x0, y0 = max(0, round(cx - w / 2) - params.scale_slack), max(0, round(cy - h / 2) - params.scale_slack)
        total = 0.0
        for fg, bg in pairs:
            roi = bg[y0 : y0 + h + 2 * params.scale_slack, x0 : x0 + w + 2 * params.scale_slack]
            if roi.shape[0] < h or roi.shape[1] < w or w < 2 or h < 2:
                return -np.inf
            tpl = cv2.resize(fg, (w, h), interpolation=cv2.INTER_AREA)
            total += _peak(cv2.matchTemplate(roi, tpl, cv2.TM_CCOEFF_NORMED))[0]
        return total / len(pairs)

    step = max(1, reach // 8)
    scored = {w: score(w) for w in range(width - reach, width + reach + 1, step)}
    middle = max(scored, key=scored.__getitem__)
    scored.update({w: score(w) for w in range(middle - step + 1, middle + step) if w not in scored})
    best = max(scored, key=scored.__getitem__)
    return best, scored[best]


def _refine_window(tpl: np.ndarray, side: int) -> tuple[int, int, int, int]:
    """(sx, sy, sw, sh): the part of the template searched at full resolution; the whole template if it
    is small, else the most textured of 9 windows of at most `refine_side` px square."""
    th, tw = tpl.shape
    sw, sh = min(tw, side), min(th, side)
    if (sw, sh) == (tw, th):
        return 0, 0, tw, th
    best = (-1.0, 0, 0)
    for sy in np.linspace(0, th - sh, 3).astype(int):
        for sx in np.linspace(0, tw - sw, 3).astype(int):
            std = cv2.meanStdDev(tpl[sy : sy + sh, sx : sx + sw])[1][0, 0]
            best = max(best, (std, int(sx), int(sy)))
    return best[1], best[2], sw, sh


def _refine(
    tpl: Template,
    ranked: list[tuple[float, int, int, int]],
    bg_indices: Sequence[int],
    get_full: Callable[[int], np.ndarray | None],
    factor: int,
    params: SearchParams,
) -> _Vote | None:
    """Full-resolution position of one template: the best (by the searched window's peak) of its
    `refine_tries` best coarse peaks within `refine_spread` of the best (in a pan, neighbouring frames peak
    almost as high at shifted positions), on bg frames that get_full provides; then the whole template
    is scored there."""
    th, tw = tpl.full.shape
    sx, sy, sw, sh = _refine_window(tpl.full, params.refine_side)
    reach = factor + 2
    best = None
    tries = 0
    for coarse, pos, cx, cy in ranked:
        if tries == params.refine_tries or (tries and coarse < ranked[0][0] - params.refine_spread):
            break
        full = get_full(bg_indices[pos])
        if full is None:
            continue
        tries += 1
        height, width = full.shape
        # range of template top-left positions to try, keeping the whole template inside bg
        xa, xb = max(0, cx * factor - reach), min(width - tw, cx * factor + reach)
        ya, yb = max(0, cy * factor - reach), min(height - th, cy * factor + reach)
        if xb < xa or yb < ya:
            continue
        roi = full[ya + sy : yb + sy + sh, xa + sx : xb + sx + sw]
        peak, dx, dy = _peak(cv2.matchTemplate(roi, tpl.full[sy : sy + sh, sx : sx + sw], cv2.TM_CCOEFF_NORMED))
        if best is None or peak > best[0]:
            best = (peak, xa + dx, ya + dy, pos, full)
    if best is None:
        return None
    _, x, y, pos, full = best
    patch = full[y : y + th, x : x + tw]
    return _Vote(tpl, x - tpl.ox, y - tpl.oy, zncc(patch, tpl.full), pos, _detail(tpl.full, patch, factor), ranked)


def _timeline(tpl: Template, bg_small: Sequence[np.ndarray], x: int, y: int, factor: int) -> np.ndarray:
    """Coarse NCC of a template with each shrunk bg frame's patch where fg at full-res (x, y) puts it
    (all -1 where the patch leaves the frame); one batched product over the frames."""
    cx, cy = (x + tpl.ox) // factor, (y + tpl.oy) // factor
    th, tw = tpl.small.shape
    height, width = bg_small[0].shape
    if cx < 0 or cy < 0 or cx + tw > width or cy + th > height:
        return np.full(len(bg_small), -1.0)
    patches = np.stack([frame[cy : cy + th, cx : cx + tw] for frame in bg_small]).reshape(len(bg_small), -1)
    a = patches.astype(np.float32)
    a -= a.mean(axis=1, keepdims=True)
    b = tpl.small.astype(np.float32).ravel()
    b -= b.mean()
    den = np.sqrt(np.einsum("ij,ij->i", a, a) * float(b @ b))
    return np.where(den > 1e-6, (a @ b) / np.maximum(den, 1e-6), 0.0)


def _nearest(indices: np.ndarray, targets: np.ndarray, gap: int) -> np.ndarray:
    """List positions of the bg frames nearest each target (same shape), -1 where none is within gap / 2."""
    right = np.clip(np.searchsorted(indices, targets), 0, len(indices) - 1)
    left = np.maximum(right - 1, 0)
    pick = np.where(np.abs(indices[left] - targets) <= np.abs(indices[right] - targets), left, right)
    return np.where(2 * np.abs(indices[pick] - targets) <= gap, pick, -1)


def _on_timeline(fg_indices: Sequence[int], indices: np.ndarray, gap: int, rate: float) -> np.ndarray:
    """For each date (from the earliest that puts a template on a bg frame given), the list position of the bg
    frame each template falls on when template t is at bg frame date + t's fg index * rate (dates x templates;
    -1: no bg frame within gap / 2)."""
    shifts = np.array([round(k * rate) for k in fg_indices])
    dates = np.arange(int(indices[0]) - int(shifts.max()), int(indices[-1]) + 1)
    return _nearest(indices, dates[:, None] + shifts[None, :], gap)


def _timeline_means(rows: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The templates' mean score (rows: templates x bg frames) on each date's timeline (`_on_timeline`); -inf
    where fewer than half of them fall on a bg frame."""
    present = at >= 0
    usable = 2 * present.sum(axis=1) > len(rows)
    values = np.where(present, rows[np.arange(len(rows))[None, :], np.maximum(at, 0)], 0.0)
    return np.where(usable, values.sum(axis=1) / np.maximum(present.sum(axis=1), 1), -np.inf)


def _joint(
    votes: list[_Vote],
    bg_small: Sequence[np.ndarray],
    bg_indices: Sequence[int],
    get_full: Callable[[int], np.ndarray | None],
    factor: int,
    rate: float,
    params: SearchParams,
) -> tuple[_Vote, list[_Vote], float]:
    """Position and time together: each vote's position is tried for all templates at once, on one
    timeline (template t at bg frame date + t's fg index * rate), and the (position, date) with the best
    mean coarse score wins. Votes alone can disagree when the picture moves as a whole (a scroll, a
    pan): each template then fits a different place at a different time, and only the timeline tells
    which. Returns the winner, the templates that agree (full-resolution score within `agree_drop` of
    the best, at the position pooled over them), and the order (see Placement.order)."""
    indices = np.asarray(bg_indices)
    gap = max(1, int(np.median(np.diff(indices)))) if len(indices) > 1 else 1
    fg_indices = [v.template.fg_index for v in votes]
    at = _on_timeline(fg_indices, indices, gap, rate)  # dates x templates, -1: no frame
    best = None
    tried: list[tuple[int, int]] = []
    for x, y in dict.fromkeys((v.x, v.y) for v in votes):
        if any(abs(x - tx) <= params.pool_px and abs(y - ty) <= params.pool_px for tx, ty in tried):
            continue  # the polish below reaches it
        tried.append((x, y))
        rows = np.array([_timeline(v.template, bg_small, x, y, factor) for v in votes])  # templates x frames
        means = _timeline_means(rows, at)
        d = int(np.argmax(means))
        if np.isfinite(means[d]) and (best is None or means[d] > best[0]):
            best = (float(means[d]), x, y, [int(k) for k in at[d]], rows)
    if best is None:
        return _pool(votes[0], votes, bg_indices, get_full, factor, params.pool_px, params.refine_side) + (0.0,)
    _, x, y, at, rows = best
    each = float(rows.max(axis=1).mean())
    mean = max(float(_timeline_means(rows, _on_timeline(fg_indices, indices, gap, r)).max())
               for r in rate * (1.0 + np.linspace(-params.order_drift, params.order_drift, 11)))
    placed = [dataclasses.replace(v, x=x, y=y, pos=k) for v, k in zip(votes, at) if k >= 0]
    placed = [dataclasses.replace(v, pos=_nearby_frame(v, bg_indices, get_full, params.date_reach, params.refine_side))
              for v in placed]
    lead, pooled = _polish(placed, bg_indices, get_full, factor, params)
    agreeing = [v for v in pooled if v.score >= lead.score - params.agree_drop]
    return lead, agreeing, mean / each if each > 0 else 0.0


def _polish(
    placed: list[_Vote], bg_indices: Sequence[int], get_full: Callable[[int], np.ndarray | None], factor: int,
    params: SearchParams,
) -> tuple[_Vote, list[_Vote]]:
    """Position and time polished together at full resolution: all templates moved together to each date
    within `date_scan` bg frames that the bg frames given allow, their windows' scores summed at each
    position within `scan_px` of a centre (`_pooled_scores`); the date and position where that sum is
    highest win, and the templates are scored whole there (`_pool`). Where the picture's only change from
    frame to frame is fine (a slow pan over a still, grain, a scrolling texture), a shrunk picture fits a
    ridge of (place, date) pairs alike and its best is a look-alike; at full resolution only the truth
    fits, and its neighbours on the ridge fit no better than the rest, so a step-by-step climb would not
    find it. The scan follows the ridge: going out from the joint date one frame at a time, each date is
    pooled around the position that fitted the date before it best."""
    first, last = min(v.pos for v in placed), max(v.pos for v in placed)
    windows = _windows(placed, params.refine_side)
    best = (-np.inf, placed)
    later = range(0, min(params.date_scan + 1, len(bg_indices) - last))
    earlier = range(-1, -min(params.date_scan, first) - 1, -1)
    for dts in (later, earlier):
        x, y = placed[0].x, placed[0].y
        for dt in dts:
            shifted = [dataclasses.replace(v, x=x, y=y, pos=v.pos + dt) for v in placed]
            total, _ = _pooled_scores(shifted[0], shifted, bg_indices, get_full, params.scan_px, windows)
            dy, dx = np.unravel_index(int(np.argmax(total)), total.shape)
            x, y = x + int(dx) - params.scan_px, y + int(dy) - params.scan_px
            if float(total.max()) > best[0] + 1e-6:
                best = (float(total.max()), [dataclasses.replace(v, x=x, y=y) for v in shifted])
    return _pool(best[1][0], best[1], bg_indices, get_full, factor, params.scan_px, params.refine_side)


@dataclass(frozen=True)
class _Window:
    """A template's part scored at full resolution (`_refine_window`: at (sx, sy), sw x sh px in the
    template) and its pixels made zero-mean float32, as `window_ncc` takes them."""

    sx: int
    sy: int
    sw: int
    sh: int
    centred: np.ndarray


def _windows(group: list[_Vote], side: int) -> list[_Window]:
    """Each vote's template window, cut and centred once for every date and position it is scored at."""
    out = []
    for vote in group:
        sx, sy, sw, sh = _refine_window(vote.template.full, side)
        window = vote.template.full[sy : sy + sh, sx : sx + sw].astype(np.float32)
        out.append(_Window(sx, sy, sw, sh, window - window.mean()))
    return out


def _nearby_frame(
    vote: _Vote, bg_indices: Sequence[int], get_full: Callable[[int], np.ndarray | None], reach: int, side: int
) -> int:
    """List position, within `reach` of the vote's, of the bg frame where the vote's template best
    matches at the vote's position, at full resolution (its most textured window, for speed): the
    coarse timeline dates fg only to a frame or two where the picture changes slowly."""
    tpl = vote.template
    sx, sy, sw, sh = _refine_window(tpl.full, side)
    x, y = vote.x + tpl.ox + sx, vote.y + tpl.oy + sy
    window = tpl.full[sy : sy + sh, sx : sx + sw]
    best = (-2.0, vote.pos)
    for pos in range(max(0, vote.pos - reach), min(len(bg_indices), vote.pos + reach + 1)):
        full = get_full(bg_indices[pos])
        if full is not None and x >= 0 and y >= 0:
            patch = full[y : y + sh, x : x + sw]
            if patch.shape == window.shape:
                best = max(best, (zncc(patch, window), pos))
    return best[1]


def _pooled_scores(
    best: _Vote, group: list[_Vote], bg_indices: Sequence[int], get_full: Callable[[int], np.ndarray | None],
    reach: int, windows: list[_Window],
) -> tuple[np.ndarray, list[np.ndarray | None]]:
    """The group's full-resolution scores (each template's window of `windows`, from `_windows`, on its own
    bg frame) summed at each position within `reach` px of `best`'s, by (dy, dx) (-inf where a
    template would leave bg), and the bg frames they were scored on."""
    total = np.zeros((2 * reach + 1, 2 * reach + 1), np.float64)
    fulls = []
    for vote, window in zip(group, windows):
        tpl = vote.template
        full = get_full(bg_indices[vote.pos])
        fulls.append(full)
        sx, sy, sw, sh = window.sx, window.sy, window.sw, window.sh
        x0, y0 = best.x + tpl.ox + sx - reach, best.y + tpl.oy + sy - reach
        result = np.full(total.shape, -1.0)
        if full is not None:
            ya, xa = max(0, y0), max(0, x0)
            roi = full[ya : y0 + sh + 2 * reach, xa : x0 + sw + 2 * reach]
            if roi.shape[0] >= sh and roi.shape[1] >= sw:
                got = np.empty((roi.shape[0] - sh + 1, roi.shape[1] - sw + 1))
                window_ncc(roi, window.centred, got)
                result[ya - y0 : ya - y0 + got.shape[0], xa - x0 : xa - x0 + got.shape[1]] = got
            result[~_inside(best.x + tpl.ox - reach, best.y + tpl.oy - reach, tpl.full.shape, full.shape,
                            total.shape)] = -np.inf
        total += result
    return total, fulls


def _pool(
    best: _Vote,
    group: list[_Vote],
    bg_indices: Sequence[int],
    get_full: Callable[[int], np.ndarray | None],
    factor: int,
    reach: int,
    side: int,
) -> tuple[_Vote, list[_Vote]]:
    """The position within `reach` px of `best` where the group's full-resolution scores sum highest
    (`_pooled_scores`), and the votes re-scored there (whole-template score and detail), best first. One
    template alone can peak a pixel off on low-contrast footage; together they do not."""
    total, fulls = _pooled_scores(best, group, bg_indices, get_full, reach, _windows(group, side))
    dy, dx = np.unravel_index(int(np.argmax(total)), total.shape)
    x, y = best.x + int(dx) - reach, best.y + int(dy) - reach
    pooled = []
    for vote, full in zip(group, fulls):
        tpl = vote.template
        th, tw = tpl.full.shape
        patch = None if full is None else full[y + tpl.oy : y + tpl.oy + th, x + tpl.ox : x + tpl.ox + tw]
        fits = patch is not None and patch.shape == (th, tw) and y + tpl.oy >= 0 and x + tpl.ox >= 0
        score, detail = (zncc(patch, tpl.full), _detail(tpl.full, patch, factor)) if fits else (-1.0, 0.0)
        pooled.append(dataclasses.replace(vote, x=x, y=y, score=score, detail=detail))
    pooled.sort(key=lambda v: v.score, reverse=True)
    return pooled[0], pooled


def _inside(left: int, top: int, size: tuple[int, int], frame: tuple[int, int],
            grid: tuple[int, int]) -> np.ndarray:
    """Which offsets (dy, dx) of a grid, from a `size` (h, w) patch at (left, top), keep it whole inside a
    `frame` (h, w): a window of the patch may fit where the patch does not (fg flush with bg's edge)."""
    xs, ys = left + np.arange(grid[1]), top + np.arange(grid[0])
    return (((ys >= 0) & (ys + size[0] <= frame[0]))[:, None]
            & ((xs >= 0) & (xs + size[1] <= frame[1]))[None, :])


def _seed_frame(best: _Vote, bg_indices: Sequence[int], get_full: Callable[[int], np.ndarray | None]) -> int:
    """The bg frame (of the vote's frame and its two list neighbours) where the vote's template
    scores highest at the vote's position, at full resolution."""
    tpl = best.template
    th, tw = tpl.full.shape
    x, y = best.x + tpl.ox, best.y + tpl.oy
    top = (best.score, best.pos)
    for pos in (best.pos - 1, best.pos + 1):
        if 0 <= pos < len(bg_indices):
            full = get_full(bg_indices[pos])
            if full is not None:
                top = max(top, (zncc(full[y : y + th, x : x + tw], tpl.full), pos))
    return int(bg_indices[top[1]])


def _margin(best: _Vote, bg_small: Sequence[np.ndarray], params: SearchParams) -> float:
    """Coarse peak minus the best other local peak farther than `margin_radius` coarse px, on the
    winner's correlation map at its bg frame. Without such a peak (a map barely larger than the radius,
    fg almost as large as bg) the highest value that far is used; with nothing that far (fg within
    `margin_radius` coarse px of bg's size) the runner-up counts as 0."""
    result = cv2.matchTemplate(bg_small[best.pos], best.template.small, cv2.TM_CCOEFF_NORMED)
    peak, cx, cy = _peak(result)
    ys, xs = np.mgrid[: result.shape[0], : result.shape[1]]
    far = (np.abs(xs - cx) > params.margin_radius) | (np.abs(ys - cy) > params.margin_radius)
    if not far.any():
        return float(peak)
    peaks = far & (result >= cv2.dilate(result, np.ones((3, 3), np.uint8)))
    return float(peak - (result[peaks].max() if peaks.any() else result[far].max()))
