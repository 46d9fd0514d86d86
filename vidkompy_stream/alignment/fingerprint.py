"""Frame fingerprints for temporal alignment: which bg frame does this fg frame show?

A fingerprint is computed from a small luma thumbnail of the frame (fg, or the bg crop under the fg rect):
the crop is box-shrunk by an integer factor f with INTER_AREA (halving steps, then one odd step: OpenCV's
fast paths), f chosen so the thumbnail has about `AlignParams.thumb_area` (96x54) pixels. From it, in one
Numba pass (`kernels.similarity.thumb_features`):

* gradient vector: 3x3 Sobel gx and gy of the thumbnail interior (Sobel & Feldman 1968), zero-mean,
  unit-norm (weight `AlignParams.w_grad`);
* thumbnail vector: the luma itself, zero-mean, unit-norm (weight `AlignParams.w_thumb`).

cost = sum of weight * (1 - ZNCC): ~0 for the same content, ~1 for unrelated content. Zero-mean normalised
cross-correlation (e.g. Lewis 1995, "Fast normalized cross-correlation", Vision Interface) is blind to luma
gain and offset, so a graded or differently exposed bg costs nothing; a frame with no contrast matches only
another flat frame. Why these two: the aligner must tell *adjacent* frames apart, which only pixel-level
features do. The gradient carries the edges that move between frames and ignores smooth shading (it holds on
letterboxed and soft pictures); the thumbnail carries content with weak edges, so the cost never rests on one
feature. Perceptual hashes (pHash, average and block-mean hashes; Zauner 2010, "Implementation and
benchmarking of perceptual image hash functions") are built to match a picture *despite* small changes, and
64 bits cannot tell neighbouring frames apart; luma histograms are blind to motion. The box shrink already
equalises fg's sharpness with a soft bg's. The comparisons behind these choices, and the fingerprints' speed,
are in BENCHMARKS.md ("Fingerprints").
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
