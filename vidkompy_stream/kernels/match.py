"""Template matching at a few positions, for the search's full-resolution polish.

The polish scores each template window (up to 256 px square) at the 25 positions within 2 px of a
centre, on every date it scans. OpenCV's `matchTemplate` correlates a template that large through the
discrete Fourier transform of the whole region, work sized for a large search area; at 25 positions
the direct sums are about 8 times cheaper (BENCHMARKS.md, session 12). Same measure (TM_CCOEFF_NORMED,
the zero-mean normalised cross-correlation), products summed in float32 per row (vectorised), rows in
float64.
"""

import numba
import numpy as np


@numba.njit(cache=True, fastmath=True)
def window_ncc(region: np.ndarray, template: np.ndarray, out: np.ndarray) -> None:
    """out[dy, dx] = zero-mean normalised cross-correlation of `template` with `region` at (dy, dx).

    region: uint8 (H, W); template: float32 (h, w), zero mean; out: float64 of at most (H - h + 1, W - w + 1),
    the positions scored. 0 where the region's patch or the template is flat."""
    h, w = template.shape
    n = h * w
    energy = 0.0
    for y in range(h):
        row = np.float32(0.0)
        for x in range(w):
            row += template[y, x] * template[y, x]
        energy += row
    for dy in range(out.shape[0]):
        for dx in range(out.shape[1]):
            product = 0.0
            total = 0
            squares = 0
            for y in range(h):
                row_product = np.float32(0.0)
                row_total = np.int32(0)
                row_squares = np.int32(0)
                for x in range(w):
                    v = region[dy + y, dx + x]
                    row_product += template[y, x] * np.float32(v)
                    row_total += np.int32(v)
                    row_squares += np.int32(v) * np.int32(v)
                product += row_product
                total += row_total
                squares += row_squares
            spread = n * squares - total * total  # n times the patch's sum of squared deviations, exact
            out[dy, dx] = product / np.sqrt(spread / n * energy) if spread > 0 and energy > 0.0 else 0.0
