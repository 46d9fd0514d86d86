"""Compositor: paste (optionally feathered) fg planes into bg planes, with chroma sited correctly at odd offsets.

Everything that depends only on geometry is planned once in `Compositor.__init__`. Per plane, the window
of bg samples touched by fg splits into an opaque core that is an exact copy (a numpy slice assignment)
and the rest (one Numba kernel call with per-sample taps and alpha).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import VidkompyError
from ..kernels.blend import blend_taps


@dataclass(frozen=True)
class _Axis:
    """The plan along one axis of one plane: which bg samples are touched and how fg is sampled there.

    Window sample i is bg sample `start + i` and takes fg samples `k0[i]` and `k1[i]` (equal when an fg
    sample sits exactly on it). `lum` is the luma alpha profile over the window's luma pixels
    [start*s, min(stop*s, L)); `counts` is how many bg luma pixels each window sample's block has.
    `core` = [c0, c1) is the run of window samples that are fully opaque exact copies (k0 == k1);
    `affine` = [a0, a1) a run where both taps step by one per sample, so the kernel can slice them.
    """

    start: int
    stop: int
    k0: np.ndarray
    k1: np.ndarray
    lum: np.ndarray
    counts: np.ndarray
    core: tuple[int, int]
    affine: tuple[int, int]


def _ramp(d: np.ndarray, feather: int) -> np.ndarray:
    """Feather alpha round(255 * (d + 0.5) / feather) clipped to [0, 255], in exact integers (half rounds up).

    d < 0 (outside the rect) clips to 0, so the caller can apply it to a whole window of pixels.
    """
    return np.clip((255 * (2 * d + 1) + feather) // (2 * feather), 0, 255)


def _first_run(mask: np.ndarray) -> tuple[int, int]:
    """[start, stop) of the first run of True in mask; (0, 0) when there is none."""
    hits = np.flatnonzero(mask)
    if hits.size == 0:
        return 0, 0
    start = int(hits[0])
    breaks = np.flatnonzero(~mask[start:])
    return start, start + (int(breaks[0]) if breaks.size else mask.size - start)


def _plan_axis(bg_len: int, fg_len: int, offset: int, s: int, feather: int) -> _Axis:
    """Plan one axis: luma extents bg_len/fg_len, fg at luma `offset` (it may hang over either end of bg: the
    window is clipped to bg), subsampling s, feather in luma px."""
    n_fg = -(-fg_len // s)
    start = max(0, offset // s)
    stop = min(-(-bg_len // s), -(-(offset + fg_len) // s))
    idx = np.arange(stop - start)
    t = (start + idx) * s - offset  # each window sample's first luma pixel, in fg luma coordinates
    k0 = np.clip(t // s, 0, n_fg - 1).astype(np.uintp)
    k1 = np.clip(-(-t // s), 0, n_fg - 1).astype(np.uintp)

    p = np.arange(start * s, min(stop * s, bg_len)) - offset  # the window's luma pixels, fg coordinates
    lum = np.where((p >= 0) & (p < fg_len), 255, 0)
    if feather > 0:
        if offset > 0:
            lum = np.minimum(lum, _ramp(p, feather))
        if offset + fg_len < bg_len:
            lum = np.minimum(lum, _ramp(fg_len - 1 - p, feather))
    counts = np.minimum(s, bg_len - (start + idx) * s)

    # A block clipped by the frame edge pads as transparent and stays out of the core (the kernel does
    # it), so the core's blocks lie inside the rect, where no tap is clamped and k = i + const.
    padded = np.zeros((stop - start) * s, dtype=lum.dtype)
    padded[: lum.size] = lum
    core = _first_run((padded.reshape(-1, s).min(axis=1) == 255) & (k0 == k1))
    # Only a clamped edge tap breaks the step-by-one pattern, so the run around the middle covers the rest.
    d0, d1 = k0.astype(np.intp) - idx, k1.astype(np.intp) - idx
    mid = idx.size // 2
    affine = _first_run((d0 == d0[mid]) & (d1 == d1[mid]))
    return _Axis(start, stop, k0, k1, lum, counts, core, affine)


def _coverage(rows: _Axis, cols: _Axis, sy: int, sx: int) -> np.ndarray:
    """Per window sample: the mean luma alpha over its bg luma block (clipped to the frame), rounded half up."""
    lum = np.minimum(rows.lum[:, None], cols.lum[None, :]).astype(np.int32)
    if sy == sx == 1:
        return lum.astype(np.uint8)
    nr, nc = rows.stop - rows.start, cols.stop - cols.start
    padded = np.zeros((nr * sy, nc * sx), dtype=np.int32)
    padded[: lum.shape[0], : lum.shape[1]] = lum
    total = padded.reshape(nr, sy, nc, sx).sum(axis=(1, 3))
    count = rows.counts[:, None] * cols.counts[None, :]
    return ((2 * total + count) // (2 * count)).astype(np.uint8)


@dataclass(frozen=True)
class _PlanePlan:
    """Per-plane work for `paste`: expected shapes, then the parts that apply (None when not).

    `copy` is (dst slices, fg slices) of the exact opaque core; `blend` the `blend_taps` arguments after
    (dst, fg) for everything else in the window.
    """

    fg_shape: tuple[int, int]
    bg_shape: tuple[int, int]
    copy: tuple[tuple[slice, slice], tuple[slice, slice]] | None
    blend: tuple | None


def _plan_plane(
    fg_shape: tuple[int, int],
    bg_shape: tuple[int, int],
    luma_fg: tuple[int, int],
    luma_bg: tuple[int, int],
    sy: int,
    sx: int,
    x: int,
    y: int,
    feather: int,
) -> _PlanePlan:
    """Plan one plane with subsampling (sy, sx); geometry is always given in luma units."""
    rows = _plan_axis(luma_bg[0], luma_fg[0], y, sy, feather)
    cols = _plan_axis(luma_bg[1], luma_fg[1], x, sx, feather)
    (i0, i1), (j0, j1) = rows.core, cols.core
    copy = blend = None
    if i1 > i0 and j1 > j0:
        r, c = int(rows.k0[i0]), int(cols.k0[j0])
        copy = (
            (slice(rows.start + i0, rows.start + i1), slice(cols.start + j0, cols.start + j1)),
            (slice(r, r + i1 - i0), slice(c, c + j1 - j0)),
        )
    else:
        i0 = i1 = j0 = j1 = 0
    if (i0, i1, j0, j1) != (0, rows.stop - rows.start, 0, cols.stop - cols.start):
        blend = (
            rows.start, cols.start, rows.k0, rows.k1, cols.k0, cols.k1, *cols.affine,
            _coverage(rows, cols, sy, sx), i0, i1, j0, j1,
        )
    return _PlanePlan(tuple(fg_shape), tuple(bg_shape), copy, blend)


def _subsampling(luma: int, chroma: int, what: str) -> int:
    """1 or 2: the factor s with chroma == ceil(luma / s); 1 when both fit (luma == 1 makes them equal)."""
    if chroma == luma:
        return 1
    if chroma == -(-luma // 2):
        return 2
    raise VidkompyError(f"{what}: chroma size {chroma} is neither {luma} nor half of it")


class Compositor:
    """Paste fg onto bg at luma position (x, y), optionally with a feathered edge. fg may hang over bg's
    edges (negative x, y, or past the far edge: letterbox bars outside bg's picture); what lies outside is
    left out, as if bg were larger.

    Luma: fg is copied pixel for pixel. With `feather` = PX > 0, every fg edge that is not flush with the
    bg border gets an alpha ramp: a luma pixel at distance d from such an edge (d = 0 is the outermost
    row/column) has alpha (d + 0.5) / PX clipped to [0, 1], the minimum over the feathered edges,
    quantized to a = round(255 * alpha) (half up). Output is (fg*a + bg*(255-a) + 127) // 255, so a = 255
    copies fg exactly and pixels deeper than PX from every feathered edge are exact fg copies.

    Chroma (subsampled by s = 1 or 2 per axis): bg chroma sample m covers bg luma pixels [m*s, m*s + s),
    clipped to the frame. Every bg chroma sample whose block meets the fg rect takes the fg chroma at
    the same physical position, fg chroma coordinate (m*s - offset) / s per axis: an integer (even
    offset) copies that fg sample exactly, a half-integer (odd offset) takes the mean of the two
    neighbouring fg samples, clamped to the fg chroma extent. Rows and columns are separable, 1 or 2
    taps each; the up-to-4 samples are summed in integers and rounded half up once. The sample's alpha
    is its coverage: the mean of the luma alpha (0 outside the fg rect, 255 inside, the feather ramp
    near feathered edges) over its luma block, rounded half up; it is blended with the same integer
    formula. So at an odd offset a bg chroma sample half covered by fg is a 50/50 blend of bg chroma and
    the fg edge chroma, and a uniform fg keeps exactly its colour inside. Only the sample grids are
    used, not chroma siting, so this holds for any siting fg and bg share (420jpeg, mpeg2, paldv).
    """

    def __init__(
        self,
        fg_planes: Sequence[tuple[int, int]],
        bg_planes: Sequence[tuple[int, int]],
        x: int,
        y: int,
        feather: int = 0,
    ) -> None:
        if len(fg_planes) not in (1, 3) or len(fg_planes) != len(bg_planes):
            raise VidkompyError(
                f"fg has {len(fg_planes)} planes and bg {len(bg_planes)}: both must be mono (1) or YUV (3)"
            )
        (h, w), (bh, bw) = fg_planes[0], bg_planes[0]
        if w < 1 or h < 1:
            raise VidkompyError(f"fg {w}x{h} is empty")
        if x >= bw or y >= bh or x + w <= 0 or y + h <= 0:
            raise VidkompyError(f"fg {w}x{h} at x={x},y={y} lies outside bg {bw}x{bh}")
        if feather < 0:
            raise VidkompyError(f"feather must be >= 0, got {feather}")
        self._plans: list[_PlanePlan] = []
        for fg_shape, bg_shape in zip(fg_planes, bg_planes):
            # a 1-px extent fits either factor: take it from the other frame then (fg may be larger than bg)
            sy = _subsampling(bh, bg_shape[0], "bg height") if bh > 1 else _subsampling(h, fg_shape[0], "fg height")
            sx = _subsampling(bw, bg_shape[1], "bg width") if bw > 1 else _subsampling(w, fg_shape[1], "fg width")
            if tuple(fg_shape) != (-(-h // sy), -(-w // sx)):
                raise VidkompyError(f"fg planes {list(fg_planes)} and bg planes {list(bg_planes)} differ in layout")
            self._plans.append(_plan_plane(fg_shape, bg_shape, (h, w), (bh, bw), sy, sx, x, y, feather))

    def paste(self, dst: Sequence[np.ndarray], fg: Sequence[np.ndarray]) -> None:
        """Composite fg planes into the bg planes `dst` in place; per frame this allocates no frame arrays."""
        if len(dst) != len(self._plans) or len(fg) != len(self._plans):
            raise ValueError(f"expected {len(self._plans)} planes, got dst {len(dst)} and fg {len(fg)}")
        for plan, d, f in zip(self._plans, dst, fg):
            # The kernels do not bounds-check, so a wrong buffer must be caught here, not as memory corruption.
            if d.shape != plan.bg_shape or f.shape != plan.fg_shape or d.dtype != np.uint8 or f.dtype != np.uint8:
                raise ValueError(
                    f"planes dst {d.shape} {d.dtype} / fg {f.shape} {f.dtype}, "
                    f"expected uint8 {plan.bg_shape} / {plan.fg_shape}"
                )
            if plan.copy is not None:
                d[plan.copy[0]] = f[plan.copy[1]]
            if plan.blend is not None:
                blend_taps(d, f, *plan.blend)
