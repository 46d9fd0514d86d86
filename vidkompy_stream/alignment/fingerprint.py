"""Frame fingerprints for temporal alignment: which bg frame does this fg frame show?

A fingerprint is computed from a small luma thumbnail of the frame (fg, or the bg crop under the fg rect):
the crop is box-shrunk by an integer factor f with INTER_AREA (halving steps, then one odd step: OpenCV's fast
paths; one non-integer step costs ~7x more), f chosen so the thumbnail has about `AlignParams.thumb_area` = 96x54 pixels
(720p: f=12, 106x60; 1080p: f=20, 96x54). From it, in one Numba pass (kernels/similarity.py):

* gradient vector: 3x3 Sobel gx and gy of the thumbnail interior, zero-mean, unit-norm (weight `AlignParams.w_grad` = 0.7);
* thumbnail vector: the luma itself, zero-mean, unit-norm (weight `AlignParams.w_thumb` = 0.3).

cost = sum of weight * (1 - ZNCC): ~0 for the same content, ~1 for unrelated content, blind to luma gain and
offset (a frame with no contrast matches only another flat frame). Measured by scripts/bench_fingerprint.py on
the 20 scenarios of /tmp/vidkompy-suite (bg crf 33): "nn" = share of fg frames whose argmin over bg frames
[lo-3, hi+3] is a true frame; margin = mean (best wrong cost - best true cost).

    component alone        mean nn   min nn  scenarios >= 99 %   mean margin
    chosen 0.7g + 0.3t      97.0 %   82.8 %   13/20              0.113
    gradient                97.0 %   82.8 %   13/20              0.134
    thumbnail               96.6 %   83.3 %   13/20              0.061   (letterbox 90.8 %; at 32x18: mean 94.2)
    pHash (cv2.img_hash)    69.1 %   30.8 %    0/20              0.103   (2*Hamming/64)
    AverageHash             65.7 %   28.0 %    0/20              0.061
    BlockMeanHash 256 bit   79.1 %   28.8 %    0/20              (and ~270 us/frame: it resizes to 256x256)
    12-bin z-score hist     44.8 %    8.4 %    0/20              0.007   (dark: 12.7 %)

Kept: the gradient (most discriminating; on letterbox it reaches 99.2 % where the plain thumbnail gets 90.8 %
and a full-resolution pixel ZNCC 92.4 %) plus the thumbnail (same nn rate; it carries the cost on content
with weak edges and keeps the chosen cost from resting on a single feature). Dropped: every perceptual hash
(64 bits cannot tell adjacent frames apart; pHash or aHash at weight 0.1 lowered the mean nn rate by ~1 point,
fps_ntsc_25 by up to 9) and the histogram (z-scored so a bg brightness shift cannot move it, it is still
blind to motion; at weight 0.1 it cost 0.5 points). A Gaussian blur to match bg softness hurt (-2 points):
the box shrink already equalises sharpness. Thumbnail size: 16x9 92.1 %, 32x18 94.2 %, 64x36 96.2 %,
96x54 96.8 % (mean nn, python prototype).

Per scenario (chosen): 99.6-99.7 % on bg_exposure, drift_*, dropped, edge_bottomright, fps_24_60, fps_25_30,
fps_50_25, large_fg, offset_12s, static; letterbox 99.2; edge_topleft 98.8; dark 98.7; small_fg 98.0;
fps_2997_over_25 97.8 (inexact truth); offset_1s 84.3, scene_cut 85.7, fps_ntsc_25 82.8. The single miss in
the 99.6 % cases is the ping-pong turn of the 250-frame bikes source (bg 248 and 250 show the same source
frame). The big-buck-bunny scenarios hold runs of near-duplicate source frames: a full-resolution pixel ZNCC
gets only 85 % there too, so those are ties that no fingerprint can break.

Speed (one core, busy 2-core machine): 720p crop ~0.32 ms (~3100 fingerprints/s), 1080p ~0.5 ms (~2000/s),
most of it the shrink. A fingerprint is ~60-72 KiB of float32; costs() for 100 candidates takes 0.15-0.5 ms,
bound by memory bandwidth when the window is not in cache (~1.5 us per candidate when it is).
"""

from __future__ import annotations

import math

import numpy as np

from ..kernels.similarity import thumb_features, window_costs
from ..params import AlignParams
from ..search.spatial import shrink, shrink_steps


class Fingerprinter:
    """Turns luma crops of one size (width x height) into fingerprints stored in a FingerprintStore."""

    def __init__(self, width: int, height: int, thumb_area: int = AlignParams.thumb_area) -> None:
        if width < 3 or height < 3:
            raise ValueError(f"fingerprint needs a crop of at least 3x3, got {width}x{height}")
        self.width = int(width)
        self.height = int(height)
        f = max(1, int(math.sqrt(self.width * self.height / thumb_area)))
        if f >= 8:  # prefer factors 2^k * odd with k >= 2: halving steps are ~3x cheaper than one big step
            f -= f % 4
        elif f >= 4:
            f -= f % 2
        while f > 1 and (self.width // f < 3 or self.height // f < 3):
            f -= 1
        self.factor = f
        self.thumb_width = self.width // f
        self.thumb_height = self.height // f
        self.thumb_size = self.thumb_width * self.thumb_height
        self.grad_size = 2 * (self.thumb_width - 2) * (self.thumb_height - 2)
        self._steps = shrink_steps(self.width, self.height, f)  # `shrink`'s buffers, made once

    def shrink(self, luma: np.ndarray) -> np.ndarray:
        """The thumbnail of `luma`: a box mean over f x f blocks (the last width % f columns and height % f rows
        are left out). Returns an internal buffer that the next call overwrites (a view of luma when f == 1)."""
        if luma.ndim != 2 or luma.shape != (self.height, self.width) or luma.dtype != np.uint8:
            raise ValueError(f"expected uint8 luma of shape {(self.height, self.width)}, got {luma.dtype} {luma.shape}")
        return shrink(luma if luma.strides[1] == 1 else np.ascontiguousarray(luma), self.factor, self._steps)

    def compute(self, luma: np.ndarray, store: FingerprintStore, index: int) -> None:
        """Fingerprint `luma` (uint8, height x width, any strides) into `store` as absolute frame `index`."""
        if store.fingerprinter.thumb_size != self.thumb_size or store.fingerprinter.grad_size != self.grad_size:
            raise ValueError("store was made for a fingerprinter of another size")
        if index < 0:
            raise ValueError(f"frame index must be >= 0, got {index}")
        small = self.shrink(luma)
        slot = index % store.capacity
        store.index[slot] = -1  # invalid while being rewritten
        store.flags[slot] = thumb_features(small, store.thumb[slot], store.grad[slot])
        store.index[slot] = index


class FingerprintStore:
    """A ring of fingerprints: frame `index` lives in slot index % capacity; `index[slot]` says which frame
    a slot holds (-1: empty), so a cost lookup can tell a stale or missing frame from the one asked for."""

    def __init__(self, fingerprinter: Fingerprinter, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.fingerprinter = fingerprinter
        self.capacity = int(capacity)
        self.thumb = np.zeros((self.capacity, fingerprinter.thumb_size), dtype=np.float32)
        self.grad = np.zeros((self.capacity, fingerprinter.grad_size), dtype=np.float32)
        self.flags = np.zeros(self.capacity, dtype=np.int64)
        self.index = np.full(self.capacity, -1, dtype=np.int64)

    def holds(self, index: int) -> bool:
        """Whether frame `index` is currently in the ring."""
        return index >= 0 and int(self.index[index % self.capacity]) == index

    @property
    def nbytes(self) -> int:
        return self.thumb.nbytes + self.grad.nbytes + self.flags.nbytes + self.index.nbytes


def costs(
    fg: FingerprintStore,
    fg_index: int,
    bg: FingerprintStore,
    lo: int,
    hi: int,
    out: np.ndarray,
    w_thumb: float = AlignParams.w_thumb,
    w_grad: float = AlignParams.w_grad,
) -> np.ndarray:
    """out[k] = cost of fg frame fg_index against bg frame lo + k, k in range(hi - lo); returns out[:hi - lo].

    float32, ~0 for the same content, ~1 unrelated, +inf where bg does not hold frame lo + k. Raises KeyError
    if fg does not hold fg_index. The weights default to `AlignParams`'.
    """
    n = max(0, hi - lo)
    if out.dtype != np.float32 or out.ndim != 1 or out.shape[0] < n:
        raise ValueError(f"out must be float32[>= {n}], got {out.dtype} {out.shape}")
    a, b = fg.fingerprinter, bg.fingerprinter
    if (a.thumb_size, a.grad_size) != (b.thumb_size, b.grad_size):
        raise ValueError("fg and bg fingerprints have different sizes")
    if not fg.holds(fg_index):
        raise KeyError(f"fg frame {fg_index} is not in the fingerprint store")
    slot = fg_index % fg.capacity
    window_costs(fg.thumb[slot], fg.grad[slot], int(fg.flags[slot]), bg.thumb, bg.grad, bg.flags, bg.index,
                 int(lo), int(lo) + n, float(w_thumb), float(w_grad), out)
    return out[:n]
