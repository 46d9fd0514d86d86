"""Template matching at a few positions: the search's full-resolution polish, and the rivals' probes.

The polish scores each template window (up to 256 px square) at the 25 positions within 2 px of a
centre, on every date it scans. OpenCV's `matchTemplate` correlates a template that large through the
discrete Fourier transform of the whole region, work sized for a large search area; at 25 positions
the direct sums are about 8 times cheaper (BENCHMARKS.md, session 12). Same measure (TM_CCOEFF_NORMED,
the zero-mean normalised cross-correlation), products summed in float32 per row (vectorised), rows in
float64. A rival's probes compare shrunk pictures with bg's crop under the probe box at the 25 positions
within 2 px: the block sums of all 25 are read off the frame's summed-area table in one loop, without
the per-position array slicing that cost more than the sums themselves (BENCHMARKS.md, "Search").
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


@numba.njit(cache=True)
def shifted_block_sums(table: np.ndarray, box: tuple[int, int, int, int], factor: int, reach: int,
                       out: np.ndarray, inside: np.ndarray) -> None:
    """out[k] = the sums of the `factor`-square blocks of `box` (x, y, width, height) moved by (dx, dy), for
    (dy, dx) the k-th of the (2 * reach + 1)^2 shifts in row-major order, read off the summed-area table
    `table` (one row and column longer than the frame; Crow 1984): four reads a block, whatever `factor`.
    out is (shifts, height // factor, width // factor); inside[k] says whether the k-th shift keeps the box in
    the frame (out[k] is left as it is where it does not)."""
    x, y, w, h = box
    rows, cols = out.shape[1], out.shape[2]
    side = 2 * reach + 1
    for k in range(side * side):
        top = y + k // side - reach
        left = x + k % side - reach
        inside[k] = top >= 0 and left >= 0 and top + h < table.shape[0] and left + w < table.shape[1]
        if not inside[k]:
            continue
        for i in range(rows):
            above, below = top + i * factor, top + (i + 1) * factor
            for j in range(cols):
                west, east = left + j * factor, left + (j + 1) * factor
                out[k, i, j] = table[below, east] - table[above, east] - table[below, west] + table[above, west]
