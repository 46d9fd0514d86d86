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


def bg_frames(decisions: Sequence[Decision]) -> np.ndarray:
    """The bg frame of each decision, as an int64 array."""
    return np.array([d.bg_frame for d in decisions], dtype=np.int64)


def confidences(decisions: Sequence[Decision]) -> np.ndarray:
    """The confidence of each decision, as a float array (NaN where not measured)."""
    return np.array([np.nan if d.confidence is None else d.confidence for d in decisions], dtype=np.float64)
