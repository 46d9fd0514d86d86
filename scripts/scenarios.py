"""Named make_pair scenarios: the situations the tool must handle, as data.

Each scenario is a set of make_pair parameters (see `make_pair.PairSpec` for their meaning and units).
Short scenarios are 10-25 s at 480p-720p so the whole short suite generates in minutes on two cores;
`long` ones (10 min at 720p, 3 min at 1080p) are for soak runs and skipped by default.
Build one: python scripts/make_pair.py --scenario NAME --out DIR
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Scenario:
    about: str
    params: dict[str, object]
    long: bool = False


SD = "854x480"
HD = "1280x720"

SCENARIOS: dict[str, Scenario] = {
    "offset_12s": Scenario(
        "fg begins 12 s into bg (a long lead-in: bg ping-pongs the 10 s clip)",
        {"sources": ["bikes"], "size": SD, "start": 12.0, "fg_seconds": 10.0, "crop": [320, 96, 320, 240]},
    ),
    "offset_1s": Scenario(
        "fg begins 1 s into bg, 720p big buck bunny (ping-ponged: 5 s clip)",
        {"sources": ["bigbuckbunny"], "size": HD, "start": 1.0, "fg_seconds": 12.0, "crop": [400, 200, 480, 270]},
    ),
    "drift_slow": Scenario(
        "fg clock runs 2% slow (speed 0.98): fg repeats a source frame every 50 frames",
        {"sources": ["bikes"], "size": SD, "start": 3.0, "fg_seconds": 15.0, "speed": 0.98,
         "crop": [200, 120, 400, 240]},
    ),
    "drift_fast": Scenario(
        "fg clock runs 2% fast (speed 1.02): fg skips a source frame every 50 frames",
        {"sources": ["bikes"], "size": SD, "start": 3.0, "fg_seconds": 15.0, "speed": 1.02,
         "crop": [200, 120, 400, 240]},
    ),
    "drift_tiny": Scenario(
        "fg clock 0.3% fast over 20 s: barely more than one frame of drift, the hard case for a fixed offset",
        {"sources": ["bikes"], "size": SD, "start": 4.0, "fg_seconds": 20.0, "speed": 1.003,
         "crop": [240, 100, 360, 270]},
    ),
    "fps_25_30": Scenario(
        "fg 25 fps over bg 30 fps (bg repeats every 5th source frame)",
        {"sources": ["bikes"], "size": SD, "start": 2.0, "fg_seconds": 12.0, "fg_fps": "25", "bg_fps": "30",
         "crop": [300, 80, 384, 216]},
    ),
    "fps_24_60": Scenario(
        "fg 24 fps over bg 60 fps: fg skips a source frame per second, bg shows each 2-3 times",
        {"sources": ["bikes"], "size": SD, "start": 2.0, "fg_seconds": 12.0, "fg_fps": "24", "bg_fps": "60",
         "crop": [300, 80, 384, 216]},
    ),
    "fps_50_25": Scenario(
        "fg 50 fps over bg 25 fps: two fg frames per bg frame",
        {"sources": ["bikes"], "size": SD, "start": 2.0, "fg_seconds": 10.0, "fg_fps": "50", "bg_fps": "25",
         "crop": [300, 80, 384, 216]},
    ),
    "fps_ntsc_25": Scenario(
        "fg 30000/1001 fps over bg 25 fps, 720p",
        {"sources": ["bigbuckbunny"], "size": HD, "start": 2.0, "fg_seconds": 12.0, "fg_fps": "30000/1001",
         "bg_fps": "25", "crop": [320, 180, 640, 360]},
    ),
    "fps_2997_over_25": Scenario(
        "a 29.97 fps scene: fg shows every frame, bg at 25 fps skips one in six (inexact truth: nearest bg frames)",
        {"sources": ["carphone_pristine"], "size": "704x576", "start": 2.0, "fg_seconds": 12.0, "bg_fps": "25",
         "crop": [192, 144, 320, 240]},
    ),
    "dark": Scenario(
        "dark, low-contrast footage (scene luma x0.35 - 10); bg a little darker still",
        {"sources": ["bikes"], "size": SD, "start": 3.0, "fg_seconds": 12.0, "scene_contrast": 0.35,
         "scene_brightness": -10.0, "bg_brightness": -6.0, "crop": [220, 120, 400, 226]},
    ),
    "bg_exposure": Scenario(
        "bg brighter and flatter than fg (another camera's exposure)",
        {"sources": ["bikes"], "size": SD, "start": 3.0, "fg_seconds": 12.0, "bg_brightness": 25.0,
         "bg_contrast": 0.8, "crop": [220, 120, 400, 226]},
    ),
    "static": Scenario(
        "static stretches: the source freezes for 3 s and again for 2 s",
        {"sources": ["bikes"], "size": SD, "start": 2.0, "fg_seconds": 14.0, "freeze": [[4.0, 3.0], [11.0, 2.0]],
         "crop": [260, 110, 352, 240]},
    ),
    "scene_cut": Scenario(
        "scene cuts: bikes then big buck bunny, ping-ponged (a cut every pass)",
        {"sources": ["bikes", "bigbuckbunny"], "size": SD, "start": 6.0, "fg_seconds": 14.0,
         "crop": [260, 110, 352, 240]},
    ),
    "edge_topleft": Scenario(
        "fg flush with bg's top-left corner",
        {"sources": ["bikes"], "size": SD, "start": 2.0, "fg_seconds": 10.0, "crop": [0, 0, 400, 226]},
    ),
    "edge_bottomright": Scenario(
        "fg flush with bg's bottom-right corner",
        {"sources": ["bikes"], "size": SD, "start": 2.0, "fg_seconds": 10.0, "crop": [454, 254, 400, 226]},
    ),
    "small_fg": Scenario(
        "small fg: 192x108, 5% of the bg area",
        {"sources": ["bikes"], "size": SD, "start": 2.0, "fg_seconds": 10.0, "crop": [500, 200, 192, 108]},
    ),
    "large_fg": Scenario(
        "large fg: 810x456, 90% of the bg area (thin bg border left to compare)",
        {"sources": ["bikes"], "size": SD, "start": 2.0, "fg_seconds": 10.0, "crop": [22, 12, 810, 456]},
    ),
    "letterbox": Scenario(
        "fg letterboxed: 36 px black bars inside the top and bottom of the crop",
        {"sources": ["bikes"], "size": SD, "start": 2.0, "fg_seconds": 10.0, "letterbox": 36,
         "crop": [200, 60, 448, 336]},
    ),
    "dropped": Scenario(
        "fg drops frames: 1 at clock frame 40, 3 at 120, 5 at 200",
        {"sources": ["bikes"], "size": SD, "start": 2.0, "fg_seconds": 12.0, "drops": [[40, 1], [120, 3], [200, 5]],
         "crop": [260, 110, 352, 240]},
    ),
    "long_720p_10min": Scenario(
        "10 min 720p bg (ping-pong of big buck bunny), fg 9.5 min starting 20 s in",
        {"sources": ["bigbuckbunny"], "size": HD, "start": 20.0, "fg_seconds": 570.0, "tail": 10.0,
         "crop": [320, 180, 640, 360]},
        long=True,
    ),
    "long_1080p_3min": Scenario(
        "3 min 1080p bg (big buck bunny upscaled), fg 50 fps over bg 25 fps for 2.8 min",
        {"sources": ["bigbuckbunny"], "size": "1920x1080", "start": 5.0, "fg_seconds": 170.0, "tail": 5.0,
         "fg_fps": "50", "bg_fps": "25", "crop": [480, 270, 960, 540]},
        long=True,
    ),
}


def short_names() -> list[str]:
    """The scenarios a default benchmark run builds (everything not marked long)."""
    return [name for name, s in SCENARIOS.items() if not s.long]
