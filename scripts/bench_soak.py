"""Soak benchmark: one long 720p pipeline run, peak RSS sampled over time (it must stay flat), and the
child processes left afterwards (must be none).

Nothing long is written to disk: bg is ffmpeg's testsrc2 (30 fps) written as y4m into a FIFO given as
--bg, fg is the centred 2/3 crop of the same source 2 s later at 25 fps, piped as y4m on stdin; the
output y4m goes to /dev/null. The tool gets --x/--y/--offset (the streaming layer; `--aligned` gives it
nothing, so the search, aligner and refiner run too). Every `--interval` seconds the tool's VmRSS, and
the summed VmRSS of its own children (none in this pipe form), are read from /proc; the table gives the
peak per minute, and the ratio of the last 10 minutes' peak to the first 10 minutes' (the last and first
fifth for runs under 20 minutes) should be ~1.0. Minutes are minutes of fg fed (the feeder's progress).

  python scripts/bench_soak.py --minutes 2         # quick check that it works
  nice -n 10 python scripts/bench_soak.py          # the 60-minute soak
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time

from _bench import FG_RATE, TOOL, Geometry, last_progress_frame, note, parse_size, print_table, status_kib

MIB = 1024  # KiB per MiB


def children_of(pid: int) -> list[int]:
    """Live direct children of `pid` (from /proc/PID/task/*/children)."""
    kids: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return kids
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids += [int(k) for k in f.read().split()]
        except OSError:
            continue
    return kids


def tagged(tag: str) -> list[int]:
    """Live processes whose environment carries VIDKOMPY_SOAK=tag (the tool and anything it started)."""
    needle = f"VIDKOMPY_SOAK={tag}".encode()
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    found.append(int(pid))
        except OSError:
            continue
    return found


def soak(geo: Geometry, minutes: float, interval: float, aligned: bool) -> None:
    seconds = minutes * 60
    tag = f"{os.getpid()}-{time.time_ns()}"
    with tempfile.TemporaryDirectory(prefix="vidkompy-soak-") as tmp:
        fifo = os.path.join(tmp, "bg.y4m")
        os.mkfifo(fifo)
        progress = os.path.join(tmp, "fg.progress")
        bg_cmd, fg_cmd = geo.feeders(seconds, fifo, progress, textured=aligned)
        given = ["-q"] if aligned else geo.tool_args()
        quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        # bg runs a little longer than fg needs, so it ends on a broken pipe: its stderr is expected noise
        bg = subprocess.Popen(bg_cmd, **quiet)
        fg = subprocess.Popen(fg_cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        tool = subprocess.Popen([*TOOL, "--fg", "-", "--bg", fifo, *given, "-o", "-"], stdin=fg.stdout,
                                stdout=subprocess.DEVNULL, env={**os.environ, "VIDKOMPY_SOAK": tag})
        fg.stdout.close()  # type: ignore[union-attr]
        started = time.monotonic()
        samples: list[tuple[float, int, int]] = []  # (fg seconds fed, tool KiB, its children KiB)
        while tool.poll() is None:
            kids = sum(status_kib(k).get("VmRSS", 0) for k in children_of(tool.pid))
            fed = (last_progress_frame(progress) or 0) / FG_RATE
            samples.append((fed, status_kib(tool.pid).get("VmRSS", 0), kids))
            time.sleep(interval)
        wall = time.monotonic() - started
        codes = (tool.returncode, fg.wait(), bg.wait())
    left = tagged(tag)
    samples = [s for s in samples if s[1]]
    per_minute: dict[int, list[tuple[float, int, int]]] = {}
    for s in samples:
        per_minute.setdefault(int(s[0] // 60), []).append(s)
    rows = [(m + 1, len(v), max(s[1] for s in v) / MIB, max(s[2] for s in v) / MIB)
            for m, v in sorted(per_minute.items())]
    print(f"{geo.label}, {minutes:g} min of fg at 25 fps ({'aligned' if aligned else '--x/--y/--offset'}), "
          f"wall {wall / 60:.1f} min, exit codes tool/fg/bg {codes}")
    print_table(["fg minute", "samples", "tool RSS MiB (peak)", "children RSS MiB"], rows)
    window = 10 if len(rows) >= 20 else max(1, len(rows) // 5)
    first = max(r[2] for r in rows[:window])
    last = max(r[2] for r in rows[-window:])
    print(f"peak RSS, last {window} min / first {window} min: {last:.1f} / {first:.1f} MiB = {last / first:.3f}")
    print(f"overall peak {max(r[2] for r in rows):.1f} MiB; processes left afterwards: {len(left)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0, help="length of fg (default: 60)")
    parser.add_argument("--size", default="1280x720", help="bg size (default: 1280x720)")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between RSS samples (default: 5)")
    parser.add_argument("--aligned", action="store_true", help="give the tool no placement or timing")
    args = parser.parse_args()
    note(f"soak: {args.minutes:g} min at {args.size}...")
    soak(Geometry(*parse_size(args.size)), args.minutes, args.interval, args.aligned)


if __name__ == "__main__":
    main()
