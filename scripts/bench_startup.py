"""Start-up benchmark: latency (input frames consumed before the first output frame) and time to the first
output frame on a cold and on a warm Numba cache, against ffmpeg's own overlay in the same run.

The tool runs with --feather 4 so that its Numba kernel is used (and compiled, when the cache is cold).
Cold: NUMBA_CACHE_DIR points at an empty folder, so every kernel is compiled. Warm: the same folder again.
The time to first frame is measured from spawning the process to the first complete y4m frame on its
stdout; the rest of the output is drained. Latency in frames comes from the tool's `-v` log.

    python scripts/bench_startup.py [--size 1280x720] [--seconds 10] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _bench import (  # noqa: E402
    TOOL,
    Geometry,
    ff,
    note,
    parse_size,
    print_json,
    print_table,
    workdir,
)
from bench_speed import make_inputs, overlay_graph  # noqa: E402

from vidkompy_stream.io.y4m import parse_header  # noqa: E402

FIRST = re.compile(r"first output frame after reading (\d+) fg and (\d+) bg frames")


def first_frame(cmd: Sequence[str], env: dict[str, str]) -> tuple[float, str]:
    """Seconds from spawn to the first whole y4m frame on stdout, and the process's stderr."""
    started = time.perf_counter()
    proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env=env)
    assert proc.stdout is not None and proc.stderr is not None
    fmt = parse_header(proc.stdout.readline())
    proc.stdout.readline()  # FRAME
    got = len(proc.stdout.read(fmt.frame_size))
    seconds = time.perf_counter() - started
    if got != fmt.frame_size:
        raise SystemExit(f"no whole first frame from {subprocess.list2cmdline(cmd)}")
    while proc.stdout.read(1 << 20):
        pass
    err = proc.stderr.read().decode(errors="replace")
    if proc.wait() != 0:
        raise SystemExit(f"failed: {subprocess.list2cmdline(cmd)}\n{err}")
    return seconds, err


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3, help="best of N for each case")
    parser.add_argument("--workdir", default="/tmp/vidkompy-bench")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    geo = Geometry(*parse_size(args.size))
    bg, fg = make_inputs(geo, args.seconds, workdir(args.workdir))
    quiet = [a for a in geo.tool_args() if a != "-q"]  # -v instead: the latency comes from the debug log
    # --feather makes every frame go through the Numba blend kernel (a plain paste is a numpy slice copy)
    ours = [*TOOL, "--fg", fg, "--bg", bg, *quiet, "--feather", "4", "-v", "-o", "-"]
    baseline = ff("-i", bg, "-i", fg, "-filter_complex", overlay_graph(geo), "-f", "yuv4mpegpipe", "-")
    results: dict[str, float] = {}
    latency = ""
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
            env = {**os.environ, "NUMBA_CACHE_DIR": cache}
            for case, cmd in (("ours, cold Numba cache", ours), ("ours, warm Numba cache", ours),
                              ("ffmpeg overlay", baseline)):
                seconds, err = first_frame(cmd, env)
                results[case] = min(results.get(case, seconds), seconds)
                found = FIRST.search(err)
                if found:
                    latency = f"{found.group(1)} fg + {found.group(2)} bg frames"
        note(f"round done: {results}")
    base = results["ffmpeg overlay"]
    rows = [(case, round(s, 3), round(s / base, 2)) for case, s in results.items()]
    if args.json:
        print_json({"size": geo.label, "first_frame_seconds": results, "latency": latency})
    else:
        print_table(["case", "first frame s", "x ffmpeg"], rows)
        print(f"latency (given timing): first output frame after reading {latency}")


if __name__ == "__main__":
    main()
