"""The result type of the whole tool: where one fg frame goes. The aligners make decisions, the compositor
follows them, `mapping` writes and reads them as CSV, the API returns them."""

import dataclasses
from collections.abc import Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class Decision:
    """Where fg frame `fg_frame` goes: over bg frame `bg_frame`, its top-left corner at (x, y); `confidence` in
    0..1 (None: not measured, a given timing)."""

    fg_frame: int
    bg_frame: int
    confidence: float | None = None
    x: int | None = None
    y: int | None = None


def margin_confidence(margin: np.ndarray | float, scale: float) -> np.ndarray:
    """A decision's confidence from its margin (the cost of the best other candidate less the chosen one's,
    in the costs' units): 1 - exp(-margin / scale), 0 for a margin of 0 or less (another fits as well, or
    nothing to compare with). One mapping for the aligners and the refiner, each with its costs' scale."""
    return 1.0 - np.exp(-np.maximum(margin, 0.0) / scale)


def bg_frames(decisions: Sequence[Decision]) -> np.ndarray:
    """The bg frame of each decision, as an int64 array."""
    return np.array([d.bg_frame for d in decisions], dtype=np.int64)


def confidences(decisions: Sequence[Decision]) -> np.ndarray:
    """The confidence of each decision, as a float array (NaN where not measured)."""
    return np.array([np.nan if d.confidence is None else d.confidence for d in decisions], dtype=np.float64)
