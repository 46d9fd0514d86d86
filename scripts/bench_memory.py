"""Memory benchmark: peak RSS of vidkompy-stream must not grow with the length of the input.

Each run streams synthetic 1080p inputs through pipes, so no long file is ever written: bg is ffmpeg's
testsrc2 (30 fps) written as y4m into a FIFO given as --bg, fg is the centred 2/3 crop of the same source
2 s later at 25 fps, fed as y4m on stdin (--fg -); the output y4m goes to /dev/null:

  ffmpeg -f lavfi -i testsrc2=... -f yuv4mpegpipe FIFO &
  ffmpeg -f lavfi -i testsrc2=... -vf trim,fps,crop -f yuv4mpegpipe - | vidkompy-stream --fg - --bg FIFO -o - >/dev/null

By default the tool is given --x/--y/--offset (the streaming layer alone); --aligned gives it nothing,
so the spatial search, the aligner and the refiner run too (their buffers are the lookahead's).

--files runs the file form instead: bg and fg are files (bench_speed.py's textured pair at --size, one per
length, cached in --workdir), which the tool decodes itself. With both inputs files the search reads its
whole horizon and judges look-alike placements on fg's next seconds, which a pipe's search does not: this
is the form most runs take, and its peak is the search's. The tool's decoders are its children and are
not counted in its RSS.

The tool runs in-process through a small wrapper that reports getrusage(RUSAGE_SELF).ru_maxrss at exit;
/proc/PID/status is also sampled (VmRSS peak, last VmHWM) for the tool and, summed, for the two ffmpeg
feeders (in this pipe form the tool spawns no ffmpeg children of its own). The ratio of the tool's peak
RSS for the longest input to the shortest should be ~1.0.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from _bench import (
    Geometry,
    RssSampler,
    count_frames,
    note,
    parse_size,
    print_json,
    print_table,
    progress_frames,
    workdir,
)
from bench_speed import make_inputs

WRAPPER = """\
import json, resource, sys
from vidkompy_stream.cli import run
code = run(sys.argv[2:])
with open(sys.argv[1], "w") as f:
    json.dump({"code": code, "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}, f)
sys.exit(code)
"""
MIB = 1024  # KiB per MiB


def run_once(geo: Geometry, minutes: float, interval: float, aligned: bool) -> dict[str, object]:
    """Stream `minutes` of fg through the tool; return frames, wall time and peak RSS figures (MiB)."""
    seconds = minutes * 60
    with tempfile.TemporaryDirectory(prefix="vidkompy-mem-") as tmp:
        fifo, report, progress = (os.path.join(tmp, name) for name in ("bg.y4m", "rusage.json", "fg.progress"))
        os.mkfifo(fifo)
        bg_cmd, fg_cmd = geo.feeders(seconds, fifo, progress, textured=aligned)
        given = ["-q"] if aligned else geo.tool_args()
        tool_cmd = [sys.executable, "-c", WRAPPER, report, "--fg", "-", "--bg", fifo, *given, "-o", "-"]
        with RssSampler(interval) as sampler:
            started = time.perf_counter()
            # bg runs a little longer than fg needs, so it ends on a broken pipe: its stderr is expected noise
            quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
            bg = subprocess.Popen(bg_cmd, **quiet)
            fg = subprocess.Popen(fg_cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
            tool = subprocess.Popen(tool_cmd, stdin=fg.stdout, stdout=subprocess.DEVNULL)
            fg.stdout.close()  # type: ignore[union-attr]
            sampler.watch("tool", tool.pid)
            sampler.watch("feeders", bg.pid)
            sampler.watch("feeders", fg.pid)
            code = tool.wait()
            elapsed = time.perf_counter() - started
            fg.wait()
            try:
                bg.wait(timeout=10)
            except subprocess.TimeoutExpired:
                bg.kill()
                bg.wait()
        frames = progress_frames(progress)
        return _row(minutes, frames, elapsed, code, report, sampler)


def run_files(geo: Geometry, minutes: float, interval: float, aligned: bool, folder: str) -> dict[str, object]:
    """The tool on bench_speed's pair of `minutes` (files it decodes itself, cached in `folder`); the same
    figures as `run_once`."""
    bg, fg = make_inputs(geo, minutes * 60, folder)
    given = ["-q"] if aligned else geo.tool_args()
    with tempfile.TemporaryDirectory(prefix="vidkompy-mem-") as tmp:
        report = os.path.join(tmp, "rusage.json")
        tool_cmd = [sys.executable, "-c", WRAPPER, report, "--fg", fg, "--bg", bg, *given, "-o", "-"]
        with RssSampler(interval) as sampler:
            started = time.perf_counter()
            tool = subprocess.Popen(tool_cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
            sampler.watch("tool", tool.pid)
            code = tool.wait()
            elapsed = time.perf_counter() - started
        return _row(minutes, count_frames(fg), elapsed, code, report, sampler, feeders=False)


def _row(minutes: float, frames: int, elapsed: float, code: int, report: str, sampler: RssSampler,
         feeders: bool = True) -> dict[str, object]:
    """One run's figures (MiB) from the wrapper's report and the sampler (`feeders`: ffmpeg feeders were
    watched); exits if the tool failed."""
    if code != 0:
        raise SystemExit(f"vidkompy-stream failed with exit code {code}")
    with open(report) as f:
        maxrss = json.load(f)["maxrss_kib"]
    return {
        "minutes": minutes, "frames": frames, "seconds": round(elapsed, 2), "fps": round(frames / elapsed, 2),
        "tool_maxrss_mib": round(maxrss / MIB, 1),
        "tool_sampled_rss_mib": round(sampler.peak_rss.get("tool", 0) / MIB, 1),
        "tool_vmhwm_mib": round(sampler.peak_hwm("tool") / MIB, 1),
        "feeders_sampled_rss_mib": round(sampler.peak_rss.get("feeders", 0) / MIB, 1) if feeders else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", default="1,10",
                        help="input lengths in minutes, comma separated (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="use --minutes 0.5,2")
    parser.add_argument("--size", default="1920x1080", help="bg size WxH (default: %(default)s)")
    parser.add_argument("--interval", type=float, default=0.05, help="RSS sampling period, s (default: %(default)s)")
    parser.add_argument("--aligned", action="store_true",
                        help="give the tool nothing (spatial search, aligner, refinement) instead of --x/--y/--offset")
    parser.add_argument("--files", action="store_true",
                        help="the file form: bench_speed's pair of each length as files (see above)")
    parser.add_argument("--workdir", default="/tmp/vidkompy-bench",
                        help="where --files' pairs are cached (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args()
    minutes = [0.5, 2.0] if args.quick else [float(m) for m in args.minutes.split(",")]
    geo = Geometry(*parse_size(args.size))

    def measure(m: float) -> dict[str, object]:
        if args.files:
            return run_files(geo, m, args.interval, args.aligned, workdir(args.workdir))
        return run_once(geo, m, args.interval, args.aligned)

    note("warm-up run (Numba JIT cache)")
    run_once(geo, 2 / 60, args.interval, args.aligned)
    rows = []
    for m in minutes:
        note(f"{geo.label}, {m:g} min{' (files)' if args.files else ''} ...")
        rows.append(measure(m))
        note(f"  {rows[-1]}")
    ratio = round(rows[-1]["tool_maxrss_mib"] / rows[0]["tool_maxrss_mib"], 3)  # type: ignore[operator]
    if args.json:
        print_json({"size": geo.label, "results": rows, "maxrss_ratio_longest_to_shortest": ratio})
        return
    print_table(
        ["input", "frames", "seconds", "fps", "tool maxrss MiB", "tool VmRSS peak", "tool VmHWM", "ffmpeg feeders"],
        [[f"{geo.label} {r['minutes']:g} min", r["frames"], r["seconds"], r["fps"], r["tool_maxrss_mib"],
          r["tool_sampled_rss_mib"], r["tool_vmhwm_mib"], r["feeders_sampled_rss_mib"] or "-"] for r in rows],
    )
    print(f"tool peak RSS, {minutes[-1]:g} min / {minutes[0]:g} min: {ratio:.3f}")


if __name__ == "__main__":
    main()
