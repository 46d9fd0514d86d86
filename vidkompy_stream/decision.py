"""The result type of the whole tool: where one fg frame goes. The aligners make decisions, the compositor
follows them, `mapping` writes and reads them as CSV, the API returns them."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Decision:
    """Where fg frame `fg_frame` goes: over bg frame `bg_frame`, its top-left corner at (x, y); `confidence` in
    0..1 (None: not measured, a given timing)."""

    fg_frame: int
    bg_frame: int
    confidence: float | None = None
    x: int | None = None
    y: int | None = None
