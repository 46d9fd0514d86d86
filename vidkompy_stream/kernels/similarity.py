"""Fingerprint kernels: build a frame's normalised thumbnail and gradient vectors, and cost a window of candidates.

The aligner compares one fg frame with a window of bg frames many times per frame, so the cost of one pair must
be a few microseconds: each fingerprint is a pair of flat float32 vectors that are zero-mean and unit-norm, and
the cost of a pair is then 1 - dot(a, b) (one minus the ZNCC), which ignores luma gain and offset. Dots are
summed in float32 with fastmath so that Numba vectorises them. Hamming distance of perceptual hashes (uint64
words, SWAR popcount that LLVM lowers to popcnt) is here too: the benchmark measures hashes against the
thumbnails with it, although the default fingerprint does not use them (see fingerprint.py for the numbers).
All kernels are serial and array-in/array-out; a ring slot whose stored index is not the asked frame costs +inf.
"""

import numba
import numpy as np

FLAT_THUMB = 1  # flag bit: the thumbnail has (almost) no contrast, so its normalised vector is all zero
FLAT_GRAD = 2  # flag bit: the gradient vector has (almost) no energy
#: grey levels: a picture with less luma RMS is flat, its unit vector all zero (a guard against dividing by
#: rounding noise, not a setting: any picture with two grey levels has far more).
FLAT_RMS = 1e-3


@numba.njit(cache=True, inline="always")
def _held_slot(idx: int, cap: int, b_index: np.ndarray) -> int:
    """The ring slot holding frame `idx`, or -1 when no slot does (not read yet, overwritten, or idx < 0)."""
    slot = idx % cap
    return slot if idx >= 0 and b_index[slot] == idx else -1


@numba.njit(cache=True, inline="always")
def _popcount64(x: np.uint64) -> np.uint64:
    """Set bits of a 64-bit word (SWAR; LLVM turns this into one popcnt where the CPU has it)."""
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


@numba.njit(cache=True)
def hamming_window(a: np.ndarray, b: np.ndarray, b_index: np.ndarray, lo: int, hi: int, out: np.ndarray) -> None:
    """out[k] = 2 * Hamming(a, b[slot of lo+k]) / bits (0 same, ~1 unrelated), +inf where the slot lacks lo+k.

    a is uint64[H], b the ring uint64[capacity, H], b_index the absolute frame held by each slot (-1 empty).
    """
    cap = b_index.shape[0]
    words = a.shape[0]
    scale = np.float32(2.0 / (64.0 * max(words, 1)))
    for k in range(hi - lo):
        slot = _held_slot(lo + k, cap, b_index)
        if slot < 0:
            out[k] = np.inf
            continue
        d = np.uint64(0)
        for w in range(words):
            d += _popcount64(a[w] ^ b[slot, w])
        out[k] = np.float32(d) * scale


@numba.njit(cache=True, fastmath=True)
def dot(a: np.ndarray, b: np.ndarray) -> np.float32:
    """Dot product of two float32 vectors, summed in float32 (vectorised)."""
    s = np.float32(0.0)
    for i in range(a.shape[0]):
        s += a[i] * b[i]
    return s


@numba.njit(cache=True, inline="always")
def _zncc_cost(a: np.ndarray, b: np.ndarray, a_flat: bool, b_flat: bool) -> np.float32:
    """1 - ZNCC of two normalised vectors, clipped at 0; two flat vectors cost 0, one flat costs 1."""
    if a_flat or b_flat:
        return np.float32(0.0) if (a_flat and b_flat) else np.float32(1.0)
    return max(np.float32(0.0), np.float32(1.0) - dot(a, b))


@numba.njit(cache=True)
def window_costs(
    a_thumb: np.ndarray,
    a_grad: np.ndarray,
    a_flags: int,
    b_thumb: np.ndarray,
    b_grad: np.ndarray,
    b_flags: np.ndarray,
    b_index: np.ndarray,
    lo: int,
    hi: int,
    w_thumb: float,
    w_grad: float,
    out: np.ndarray,
) -> None:
    """out[k] = w_thumb * (1 - ZNCC of thumbnails) + w_grad * (1 - ZNCC of gradients) against frame lo + k.

    a_* is the fg fingerprint (vectors and flag bits); b_* the bg ring (rows per slot, b_index = frame per slot).
    A zero weight skips its component. Slots not holding frame lo + k (or negative frames) get +inf.
    """
    cap = b_index.shape[0]
    a_ft = (a_flags & FLAT_THUMB) != 0
    a_fg = (a_flags & FLAT_GRAD) != 0
    wt = np.float32(w_thumb)
    wg = np.float32(w_grad)
    for k in range(hi - lo):
        slot = _held_slot(lo + k, cap, b_index)
        if slot < 0:
            out[k] = np.inf
            continue
        f = b_flags[slot]
        c = np.float32(0.0)
        if wt != 0:
            c += wt * _zncc_cost(a_thumb, b_thumb[slot], a_ft, (f & FLAT_THUMB) != 0)
        if wg != 0:
            c += wg * _zncc_cost(a_grad, b_grad[slot], a_fg, (f & FLAT_GRAD) != 0)
        out[k] = c


@numba.njit(cache=True, inline="always")
def _normalise(v: np.ndarray, n: int, min_rms: float) -> bool:
    """Make v[:n] zero-mean and unit-norm in place; if its RMS is below min_rms zero it and return True (flat)."""
    s = 0.0
    for i in range(n):
        s += v[i]
    mean = s / max(n, 1)
    ss = 0.0
    for i in range(n):
        t = v[i] - mean
        v[i] = t
        ss += t * t
    if n == 0 or ss < min_rms * min_rms * n:
        v[:n] = 0.0
        return True
    scale = 1.0 / np.sqrt(ss)
    for i in range(n):
        v[i] = v[i] * scale
    return False


@numba.njit(cache=True, fastmath=True)
def normalised(patch: np.ndarray, out: np.ndarray, min_rms: float) -> bool:
    """Fill out (h*w float32) with the 2-D `patch` (uint8 or float32, any strides) made zero-mean and unit-norm,
    so that 1 - dot of two such vectors is 1 - ZNCC; all zero and True (flat) when its RMS is below min_rms."""
    h, w = patch.shape
    k = 0
    for i in range(h):
        for j in range(w):
            out[k] = patch[i, j]
            k += 1
    return _normalise(out, h * w, min_rms)


@numba.njit(cache=True, fastmath=True)
def unit(patch: np.ndarray, min_rms: float = FLAT_RMS) -> np.ndarray:
    """A 2-D picture as a zero-mean, unit-norm float32 vector (`normalised`; all zero when flat): the dot of
    two is their ZNCC, the one measure of likeness of the refiner, the rivals and the search's polish."""
    out = np.empty(patch.size, np.float32)
    normalised(patch, out, min_rms)
    return out


@numba.njit(cache=True, fastmath=True)
def unit_rows(rows: np.ndarray, min_rms: float = FLAT_RMS) -> None:
    """Each row of the float32 matrix `rows` made as `unit` makes a picture, in place."""
    for r in range(rows.shape[0]):
        _normalise(rows[r], rows.shape[1], min_rms)


def zncc(a: np.ndarray, b: np.ndarray) -> float:
    """The zero-mean normalised cross-correlation of two same-shape pictures (OpenCV's TM_CCOEFF_NORMED at
    one position): the dot of their `unit` vectors, clipped to [-1, 1] (a float32 sum can round past 1); 0 if
    either is flat or empty, or if their shapes differ."""
    if a.size == 0 or a.shape != b.shape:
        return 0.0
    return min(1.0, max(-1.0, float(dot(unit(a), unit(b)))))


@numba.njit(cache=True, fastmath=True)
def thumb_features(small: np.ndarray, thumb: np.ndarray, grad: np.ndarray) -> int:
    """Fill thumb (h*w) with the normalised luma of `small` and grad with its normalised 3x3 Sobel gx, gy.

    small is a 2-D uint8 thumbnail (h, w >= 3); grad has 2*(h-2)*(w-2) entries: gx of the interior pixels row
    by row, then gy. Both vectors are zero-mean and unit-norm, so luma gain and offset drop out. Returns the
    flag bits FLAT_THUMB / FLAT_GRAD for vectors too flat to normalise (they are left all zero).
    """
    flags = FLAT_THUMB if normalised(small, thumb, 0.25) else 0
    h, w = small.shape
    m = (h - 2) * (w - 2)
    k = 0
    for i in range(1, h - 1):
        for j in range(1, w - 1):
            a = np.float32(small[i - 1, j - 1])
            b = np.float32(small[i - 1, j])
            c = np.float32(small[i - 1, j + 1])
            d = np.float32(small[i, j - 1])
            e = np.float32(small[i, j + 1])
            f = np.float32(small[i + 1, j - 1])
            g = np.float32(small[i + 1, j])
            q = np.float32(small[i + 1, j + 1])
            grad[k] = (c + 2 * e + q) - (a + 2 * d + f)
            grad[m + k] = (f + 2 * g + q) - (a + 2 * b + c)
            k += 1
    if _normalise(grad, 2 * m, 0.5):
        flags |= FLAT_GRAD
    return flags
