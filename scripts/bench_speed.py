"""Speed benchmark: vidkompy-stream against a plain ffmpeg overlay on the same inputs.

For each bg size, a bg/fg pair is generated once and cached in --workdir: bg = testsrc2 at that size,
30 fps, libx264 crf 30 veryfast; fg = the centred 2/3 crop of the same source starting 2 s later, 25 fps,
crf 18. Then, best of --repeat runs each, taken round robin (after one warm-up run of the tool, so
Numba's JIT cache is hot):

  y4m: ffmpeg  ffmpeg -i bg -i fg -filter_complex GRAPH -f yuv4mpegpipe -
  y4m: ours    vidkompy-stream --fg fg --bg bg --offset 2 -o -                    (decoders spawned by the tool)
               ("--read-ahead 0" has no read-ahead: the decoders' pipes read only as frames are needed)
  y4m: pipe    ffmpeg -i fg -f yuv4mpegpipe - | vidkompy-stream --bg bg ... -o -   (fg fed on stdin)
  y4m: aligned vidkompy-stream --fg fg --bg bg -o -   (nothing given: spatial search, DTW, refinement;
               "no refine" adds --refine off)
  analyze      vidkompy-stream --fg fg --bg bg --analyze  (the same search and alignment, no video: its
               ratio is against "y4m: aligned", and should be 2 or more: half the full run's time or less)
  mp4: ffmpeg  the same overlay, encoded libx264 veryfast crf 18
  mp4: ours    vidkompy-stream ... -o out.mp4                                    (same encoder settings)

GRAPH = "[0:v]trim=start=2,setpts=PTS-STARTPTS,fps=25[b];[b][1:v]overlay=X:Y:shortest=1": the overlay on
fg's clock, which emits the very frames ours does (bit-identical y4m, one per fg frame), after decoding
the same frames of both inputs. y4m goes to /dev/null; fps = output frames / wall seconds. The number
to track is the ratio of ours' fps to ffmpeg's for the same output kind (absolute times drift): of the
best runs, and the median over rounds of each round's ratio (a case against the baseline run a minute
apart in the same round), which a single lucky or unlucky run moves less on a VM whose speed drifts.
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Callable

from _bench import (FG_RATE, OFFSET, TOOL, Geometry, count_frames, ff, note, parse_size, print_json, print_table,
                    run_checked, time_pipeline, timed_ffmpeg, workdir)

X264 = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
#: (case, baseline case its fps is compared with)
RATIOS = [("y4m: ours", "y4m: ffmpeg"), ("y4m: ours --read-ahead 0", "y4m: ffmpeg"),
          ("y4m: pipe", "y4m: ffmpeg"), ("y4m: aligned", "y4m: ffmpeg"),
          ("y4m: aligned, no refine", "y4m: ffmpeg"), ("mp4: ours", "mp4: ffmpeg"), ("analyze", "y4m: aligned")]


def make_inputs(geo: Geometry, seconds: float, folder: str) -> tuple[str, str]:
    """bg.mp4 and fg.mp4 for `geo`, generated unless cached (written under a temporary name first)."""
    paths = []
    for role, vf, crf in (("bg", None, "30"), ("fg", geo.fg_filter(), "18")):
        path = os.path.join(folder, f"{role}_{geo.label}_{seconds:g}s_textured.mp4")
        if not os.path.exists(path):
            note(f"generating {path}")
            tmp = path + ".part.mp4"
            filters = ["-vf", vf] if vf else []
            run_checked(ff("-y", "-f", "lavfi", "-i", geo.source(seconds), *filters, *X264, "-crf", crf, tmp))
            os.replace(tmp, path)
        paths.append(path)
    return paths[0], paths[1]


def overlay_graph(geo: Geometry) -> str:
    """ffmpeg's overlay on fg's clock: bg from OFFSET s on, resampled to FG_RATE, ending with fg."""
    x, y = geo.position
    return (f"[0:v]trim=start={OFFSET},setpts=PTS-STARTPTS,fps={FG_RATE}[b];"
            f"[b][1:v]overlay={x}:{y}:shortest=1")


def cases(geo: Geometry, bg: str, fg: str, folder: str) -> dict[str, Callable[[], tuple[float, int]]]:
    """Each case runs once and returns (wall seconds, output frames)."""
    fg_frames = count_frames(fg)
    ours = [*TOOL, "--bg", bg, *geo.tool_args()]
    inputs = ["-i", bg, "-i", fg, "-filter_complex", overlay_graph(geo)]
    out_ffmpeg = os.path.join(folder, f"out_ffmpeg_{geo.label}.mp4")
    out_ours = os.path.join(folder, f"out_ours_{geo.label}.mp4")
    return {
        "y4m: ffmpeg": lambda: timed_ffmpeg([*inputs, "-f", "yuv4mpegpipe", "-"]),
        "y4m: ours": lambda: (time_pipeline([[*ours, "--fg", fg, "-o", "-"]]), fg_frames),
        "y4m: ours --read-ahead 0": lambda: (time_pipeline([[*ours, "--fg", fg, "--read-ahead", "0", "-o", "-"]]),
                                             fg_frames),
        "y4m: pipe": lambda: (time_pipeline([ff("-i", fg, "-f", "yuv4mpegpipe", "-"), [*ours, "-o", "-"]]), fg_frames),
        "y4m: aligned": lambda: (time_pipeline([[*TOOL, "--bg", bg, "--fg", fg, "-q", "-o", "-"]]), fg_frames),
        "y4m: aligned, no refine": lambda: (
            time_pipeline([[*TOOL, "--bg", bg, "--fg", fg, "-q", "--refine", "off", "-o", "-"]]), fg_frames),
        "analyze": lambda: (time_pipeline([[*TOOL, "--bg", bg, "--fg", fg, "-q", "--analyze"]]), fg_frames),
        "mp4: ffmpeg": lambda: timed_ffmpeg(["-y", *inputs, *X264, "-crf", "18", out_ffmpeg]),
        "mp4: ours": lambda: (time_pipeline([[*ours, "--fg", fg, "-y", "-o", out_ours]]), fg_frames),
    }


def bench_size(geo: Geometry, seconds: float, repeat: int, folder: str,
               only: list[str] | None = None) -> list[dict[str, object]]:
    bg, fg = make_inputs(geo, seconds, folder)
    every = cases(geo, bg, fg, folder)
    if only is not None and (unknown := set(only) - set(every)):
        raise SystemExit(f"bench_speed: unknown cases: {', '.join(sorted(unknown))} (cases: {', '.join(every)})")
    runs = {name: run for name, run in every.items() if only is None or name in only}
    note(f"{geo.label}: warm-up run")
    every["y4m: ours"]()
    timings: dict[str, list[tuple[float, int]]] = {name: [] for name in runs}
    for i in range(repeat):  # round robin, so a disturbance in the machine's load hits every case alike
        for name, run in runs.items():
            timings[name].append(run())
            note(f"{geo.label} {name} run {i + 1}/{repeat}: {timings[name][-1][0]:.2f} s")
    rows: list[dict[str, object]] = []
    for name, runs_of_case in timings.items():
        best, frames = min(runs_of_case)
        rows.append({"size": geo.label, "case": name, "frames": frames, "seconds": round(best, 3),
                     "fps": round(frames / best, 2), "all_seconds": [round(t, 3) for t, _ in runs_of_case]})
    by_case = {row["case"]: row for row in rows}
    for ours, base in RATIOS:
        if ours not in by_case or base not in by_case:
            continue
        by_case[ours]["ratio"] = round(by_case[ours]["fps"] / by_case[base]["fps"], 3)  # type: ignore[operator]
        rounds = [(fo / to) / (fb / tb) for (to, fo), (tb, fb) in zip(timings[ours], timings[base])]
        by_case[ours]["round_ratio"] = round(statistics.median(rounds), 3)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--workdir", default="/tmp/vidkompy-bench", help="where inputs are cached (default: %(default)s)")
    add("--seconds", type=float, default=60, help="bg length; fg is 2 s shorter (default: %(default)s)")
    add("--sizes", default="1280x720,1920x1080", help="bg sizes WxH, comma separated (default: %(default)s)")
    add("--repeat", type=int, default=3, help="runs per case, the fastest counts (default: %(default)s)")
    add("--cases", help="only these cases, comma separated, e.g. 'y4m: ffmpeg,y4m: ours' (default: all)")
    add("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args()
    only = args.cases.split(",") if args.cases else None
    folder = workdir(args.workdir)
    rows = [row for size in args.sizes.split(",")
            for row in bench_size(Geometry(*parse_size(size)), args.seconds, args.repeat, folder, only)]
    if args.json:
        print_json({"seconds": args.seconds, "fg_rate": FG_RATE, "repeat": args.repeat, "results": rows})
        return
    print_table(["size / case", "frames", "best s", "fps", "ours/ffmpeg fps", "median of rounds"],
                [[f"{r['size']} {r['case']}", r["frames"], r["seconds"], r["fps"], r.get("ratio", ""),
                  r.get("round_ratio", "")] for r in rows])


if __name__ == "__main__":
    main()
