"""Shared helpers for the benchmark scripts (not part of the package, not tests).

ffmpeg command lines, the synthetic test content (a moving `testsrc2` bg and a cropped, later, 25 fps fg
cut from the same source), running process pipelines with a wall clock, peak-RSS sampling from /proc,
and printing results as a table or JSON.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from vidkompy_stream.io.ffmpeg_tool import find_ffmpeg

#: the tool, run by the interpreter running the benchmark (so the same environment is measured).
TOOL = [sys.executable, "-m", "vidkompy_stream"]
BG_RATE = 30
FG_RATE = 25
OFFSET = 2  # seconds: fg starts this much later in the source than bg


def ff(*args: str) -> list[str]:
    """A quiet ffmpeg command line that never reads the terminal."""
    return [find_ffmpeg(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", *args]


def parse_size(text: str) -> tuple[int, int]:
    w, _, h = text.partition("x")
    return int(w), int(h)


def even(n: float) -> int:
    return int(n) // 2 * 2


@dataclass(frozen=True)
class Geometry:
    """bg size and where the fg crop (2/3 of each side, centred at even offsets) sits in it."""

    width: int
    height: int

    @property
    def fg_size(self) -> tuple[int, int]:
        return even(self.width * 2 / 3), even(self.height * 2 / 3)

    @property
    def position(self) -> tuple[int, int]:
        fw, fh = self.fg_size
        return even((self.width - fw) / 2), even((self.height - fh) / 2)

    @property
    def label(self) -> str:
        return f"{self.width}x{self.height}"

    def source(self, seconds: float, textured: bool = True) -> str:
        """The lavfi source both inputs are cut from: a moving test pattern at bg size and rate. testsrc2
        alone repeats itself and moves as a whole, so a crop of it fits many places and times; `textured`
        blends Conway's life (seeded: every run renders the same) over it, so every place and frame
        differs and the aligned cases align. Plain testsrc2 renders ~5x faster (for long given-timing runs)."""
        size = f"size={self.label}:rate={BG_RATE}"
        if not textured:
            return f"testsrc2={size}:duration={seconds:g}"
        return (f"testsrc2={size}[t];life={size}:mold=10:ratio=0.1:seed=7:death_color=black:life_color=white,"
                f"format=yuv420p[l];[t][l]blend=all_mode=addition:all_opacity=0.35,trim=duration={seconds:g}[out0]")

    def fg_filter(self) -> str:
        """Source -> fg: start OFFSET s later, resample to FG_RATE, crop."""
        (fw, fh), (x, y) = self.fg_size, self.position
        return f"trim=start={OFFSET},setpts=PTS-STARTPTS,fps={FG_RATE},crop={fw}:{fh}:{x}:{y}"

    def feeders(self, seconds: float, fifo: str, progress: str, textured: bool) -> tuple[list[str], list[str]]:
        """Live lavfi inputs for long streaming runs: bg (one second longer than fg needs) as y4m into
        `fifo`, and fg as y4m on stdout, its frame count in `progress`."""
        bg = ff("-y", "-f", "lavfi", "-i", self.source(seconds + OFFSET + 1, textured), "-f", "yuv4mpegpipe", fifo)
        fg = ff("-progress", progress, "-f", "lavfi", "-i", self.source(seconds + OFFSET, textured),
                "-vf", self.fg_filter(), "-f", "yuv4mpegpipe", "-")
        return bg, fg

    def tool_args(self) -> list[str]:
        x, y = self.position
        return ["--x", str(x), "--y", str(y), "--offset", str(OFFSET), "-q"]


def run_checked(cmd: Sequence[str], **kwargs: object) -> None:
    done = subprocess.run(list(cmd), **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {subprocess.list2cmdline(cmd)}")


def time_pipeline(stages: Sequence[Sequence[str]], stdin: int | None = subprocess.DEVNULL) -> float:
    """Run stages chained stdout -> stdin, the last one's stdout to /dev/null; return wall seconds."""
    started = time.perf_counter()
    procs: list[subprocess.Popen[bytes]] = []
    for i, cmd in enumerate(stages):
        feed = procs[-1].stdout if procs else stdin
        out = subprocess.DEVNULL if i == len(stages) - 1 else subprocess.PIPE
        procs.append(subprocess.Popen(list(cmd), stdin=feed, stdout=out))
        if len(procs) > 1:
            procs[-2].stdout.close()  # type: ignore[union-attr]  # the next stage owns it now
    codes = [p.wait() for p in procs]
    seconds = time.perf_counter() - started
    for cmd, code in zip(stages, codes):
        if code != 0:
            raise SystemExit(f"failed ({code}): {subprocess.list2cmdline(cmd)}")
    return seconds


def last_progress_frame(path: str) -> int | None:
    """The last frame count an ffmpeg `-progress FILE` report gives so far; None before there is one."""
    try:
        with open(path) as f:
            counts = re.findall(r"^frame=(\d+)$", f.read(), re.M)
    except OSError:
        return None
    return int(counts[-1]) if counts else None


def progress_frames(path: str) -> int:
    """The frame count of a finished ffmpeg `-progress FILE` report."""
    frames = last_progress_frame(path)
    if frames is None:
        raise SystemExit(f"no frame count in ffmpeg progress file {path}")
    return frames


def timed_ffmpeg(args: Sequence[str]) -> tuple[float, int]:
    """Run ffmpeg with `args` (output options and target last); return (wall seconds, frames written)."""
    with tempfile.NamedTemporaryFile("r", suffix=".progress") as prog:
        seconds = time_pipeline([ff("-progress", prog.name, *args)])
        return seconds, progress_frames(prog.name)


def count_frames(path: str) -> int:
    """Video frames in a media file (stream copy to the null muxer: no decoding)."""
    return timed_ffmpeg(["-i", path, "-map", "0:v:0", "-c", "copy", "-f", "null", "-"])[1]


def status_kib(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM of a live process in KiB; {} once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            text = f.read()
    except OSError:
        return {}
    return {k: int(v) for k, v in re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", text, re.M)}


class RssSampler:
    """Polls /proc/PID/status of named processes on a thread; keeps the peak VmRSS and last VmHWM seen."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.pids: dict[str, list[int]] = {}
        self.peak_rss: dict[str, int] = {}
        self.hwm: dict[str, dict[int, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def watch(self, name: str, pid: int) -> None:
        """Add a process; several processes under one name are summed (peak of the sum)."""
        self.pids.setdefault(name, []).append(pid)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            for name, pids in list(self.pids.items()):
                total = 0
                for pid in pids:
                    status = status_kib(pid)
                    total += status.get("VmRSS", 0)
                    if "VmHWM" in status:
                        self.hwm.setdefault(name, {})[pid] = status["VmHWM"]
                self.peak_rss[name] = max(self.peak_rss.get(name, 0), total)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak_hwm(self, name: str) -> int:
        """Largest VmHWM (kernel-tracked peak RSS) last seen for any process under `name`, KiB."""
        return max(self.hwm.get(name, {0: 0}).values())


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Left-aligned first column, right-aligned numbers."""
    cells = [[str(h) for h in headers]] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def print_json(data: object) -> None:
    json.dump(data, sys.stdout, indent=2)
    print()


def note(message: str) -> None:
    """Progress chatter on stderr, so --json output on stdout stays clean."""
    print(message, file=sys.stderr, flush=True)


def workdir(path: str) -> str:
    os.makedirs(path, exist_ok=True)
    return path
