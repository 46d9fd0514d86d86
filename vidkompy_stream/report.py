"""--report: one picture of a run, for a user who would rather look than read a mapping file.

Three panels over fg time: bg time against fg time with the fitted clock line (`analysis.fit_clock`) and
the drift written on it; each frame's distance from that line in bg frames (drift the line does not
follow, dropped frames, jumps and re-acquisitions show as slopes and steps); the confidence per frame with
low-confidence stretches shaded. A header says where fg was placed, at which scale, how well the search
matched, where fg starts in bg and at which rate bg runs. Drawn with matplotlib's Agg backend (no display
needed), written under a temporary name and renamed into place.
"""

from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from .analysis import ClockFit, Track, runs
from .io.atomicfile import AtomicFile

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .pipeline import Summary


def _header(summary: "Summary", fit: ClockFit) -> str:
    nominal = float(summary.bg_rate / summary.fg_rate)
    start = fit.start / float(summary.bg_rate)
    lines = [f"fg at ({summary.x}, {summary.y}) in bg, scale {summary.scale}; {summary.frames} fg frames at "
             f"{float(summary.fg_rate):g} fps over bg at {float(summary.bg_rate):g} fps"]
    found = summary.search
    if found is not None:
        p = found.placement
        lines.append(f"search: score {p.score:.3f}, detail {p.detail:.3f}, margin {p.margin:.3f}, "
                     f"{p.agreeing} of {p.templates} templates agree")
    else:
        lines.append("placement and timing given (no search)")
    error = "" if np.isnan(fit.rate_error) else f" +- {fit.rate_error:.5f}"
    lines.append(f"start: bg time {start:+.3f} s at fg frame 0; rate {fit.rate:.5f}{error} bg frames per fg "
                 f"frame (nominal {nominal:.5f})")
    return "\n".join(lines)


def _pyplot() -> ModuleType:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    return pyplot


def _draw(summary: "Summary", track: Track, fit: ClockFit) -> "Figure":
    plt = _pyplot()
    fg_rate, bg_rate = float(summary.fg_rate), float(summary.bg_rate)
    t = track.fg / fg_rate
    drift = fit.rate / (bg_rate / fg_rate) - 1
    fig, (top, middle, bottom) = plt.subplots(3, 1, figsize=(11, 9), sharex=True,
                                              gridspec_kw={"height_ratios": [3, 2, 1.2]})
    top.plot(t, track.bg / bg_rate, lw=1.5, label="bg frame shown")
    top.plot(t, fit.clock(track.fg) / bg_rate, "k--", lw=0.8, label="fitted clock line")
    start = fit.start / bg_rate
    top.plot(t, start + t, ":", color="grey", lw=0.8, label="nominal clock (no drift) from the same start")
    top.set_ylabel("bg time (s)")
    top.set_title(f"drift {100 * drift:+.4f} % ({1e6 * drift:+.0f} ppm) against the nominal frame rates", fontsize=10)
    middle.step(t, fit.residual, where="mid", lw=0.8)
    middle.axhline(0, color="k", lw=0.5)
    middle.set_ylabel("off the line (bg frames)")
    confidence = track.confidence
    if np.all(np.isnan(confidence)):
        bottom.text(0.5, 0.5, "confidence not measured (given timing)", ha="center", va="center",
                    transform=bottom.transAxes)
    else:
        bottom.plot(t, confidence, lw=0.8)
        for a, b in runs(confidence < summary.low_below):
            bottom.axvspan(t[a], t[b - 1] + 1 / fg_rate, color="tab:red", alpha=0.25, lw=0)
    bottom.set_ylim(-0.05, 1.05)
    bottom.set_ylabel("confidence")
    bottom.set_xlabel(f"fg time (s); shaded: confidence below {summary.low_below:g}")
    for cut in fit.starts[1:]:
        for ax in (top, middle, bottom):
            ax.axvline(cut / fg_rate, color="tab:orange", lw=1)
    top.legend(loc="upper left", fontsize=8)
    fig.suptitle(_header(summary, fit), fontsize=9, x=0.01, ha="left")
    fig.tight_layout()
    return fig


def write_report(path: str, summary: "Summary", track: Track, fit: ClockFit) -> None:
    """Draw the run to the PNG `path`, complete or not at all."""
    fig = _draw(summary, track, fit)
    out = AtomicFile(path, "wb", "--report")
    try:
        fig.savefig(out.stream, dpi=100, format="png")
        out.commit()
    except BaseException:
        out.abort()
        raise
    finally:
        _pyplot().close(fig)
