"""Run the scenario suite: build each make_pair scenario, run each engine on it, score it, print a table.

Pairs are cached in --workdir (one folder per scenario; a folder with truth.json is reused, its truth
brought up to date) and each engine writes its output there under runs/. An engine is an entry in ENGINES: a
function that returns the command (argv and environment) running it on a pair. Every run is timed (wall
seconds) and its peak RSS sampled from /proc (the engine's main process, not its ffmpeg children), then
scored by score.py: the output video from its pixels (the table's numbers), and the --map-out CSV when the
engine writes one (in --json). A run that fails or cannot be scored is a row saying why, never a crash.

Engines:
  offset  the tool with the placement and timing a user could give by hand: --x/--y from the truth
          rect, and --offset = bg time of fg frame 0's truth bg frame (truth.lo[0] / bg fps) minus fg
          time of fg frame 0 (0): the best constant offset. Exact on constant-rate pairs; it cannot
          follow drift or dropped frames.
  dtw     the tool given nothing (its defaults): placement from the spatial search, timing from the
          online windowed DTW aligner, refined with pixels (--refine fast).
  dtw-coarse  the same with --refine off: the aligner's fingerprint decisions alone.
  tunnel  the same with --engine tunnel (refined too).
  tunnel-mask  the same with --engine tunnel-mask: fg's dark still areas left out of every comparison.
  baseline  told the truth rect and start (truth.offset), each fg frame picks the bg frame within +-20 of
          its nominal one that looks most like it (baseline.py); the composite is the tool replaying that map.
  peer    the prior art, vidkompy 1.2.5, in its own venv (peer.py); finds placement and timing itself.
          Runs with --peer (or --engines peer).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from fractions import Fraction

from _bench import RssSampler, print_table
from _common import Truth
from make_pair import PairSpec, build, current
from peer import PeerUnavailable, ensure_peer, peer_command
from scenarios import SCENARIOS, short_names
from score import score_map, score_video

from vidkompy_stream.errors import VidkompyError
from vidkompy_stream.io.ffmpeg_tool import find_ffmpeg

WORKDIR = "/tmp/vidkompy-suite"
TOOL = [sys.executable, "-m", "vidkompy_stream"]
BASELINE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "baseline.py")
#: The checkout these scripts are in: the tool and baseline.py run its package, whatever is installed (a frozen copy
#: of the repository runs its own code while the work tree changes).
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIB = 1024  # KiB per MiB


def own_code() -> dict[str, str]:
    """The environment with this checkout's package first on the import path."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}


@dataclasses.dataclass(frozen=True)
class Command:
    """How to run an engine on one pair; `map_out` is the CSV it writes, if any; `env` the environment it runs in
    (by default this checkout's code: `own_code`)."""

    argv: list[str]
    env: dict[str, str] | None = dataclasses.field(default_factory=own_code)
    map_out: str | None = None


#: an engine: (truth, output video path) -> the command that writes that video.
Engine = Callable[[Truth, str], Command]


def truth_offset(truth: Truth) -> Fraction:
    """The best constant --offset: bg time of fg frame 0's first truth bg frame, minus fg frame 0's time (0)."""
    return Fraction(int(truth.lo[0])) / truth.bg_fps


def offset_engine(truth: Truth, output: str) -> Command:
    """The tool with the truth placement and the best constant offset (see the module doc)."""
    x, y = truth.rect[:2]
    csv = os.path.splitext(output)[0] + ".csv"
    return Command([*TOOL, "--fg", truth.fg_path, "--bg", truth.bg_path, "--x", str(x), "--y", str(y),
                    "--offset", str(truth_offset(truth)), "--map-out", csv, "-o", output, "-y", "-q"],
                   map_out=csv)


def tool_engine(*extra: str) -> Engine:
    """The tool given nothing but `extra`: placement from its spatial search, timing from its aligner."""

    def engine(truth: Truth, output: str) -> Command:
        csv = os.path.splitext(output)[0] + ".csv"
        return Command([*TOOL, "--fg", truth.fg_path, "--bg", truth.bg_path, *extra, "--map-out", csv, "-o", output,
                        "-y", "-q"], map_out=csv)

    return engine


def baseline_engine(truth: Truth, output: str) -> Command:
    """baseline.py on the pair: its map, rendered by the tool (see the module doc)."""
    csv = os.path.splitext(output)[0] + ".csv"
    return Command([sys.executable, BASELINE, os.path.join(truth.folder, "truth.json"), "--map-out", csv,
                    "-o", output], map_out=csv)


def peer_engine(truth: Truth, output: str) -> Command:
    argv, env = peer_command(truth, output)
    return Command(argv, env)


ENGINES: dict[str, Engine] = {
    "offset": offset_engine,
    "dtw": tool_engine(),
    "dtw-coarse": tool_engine("--refine", "off"),
    "tunnel": tool_engine("--engine", "tunnel"),
    "tunnel-mask": tool_engine("--engine", "tunnel-mask"),
    "baseline": baseline_engine,
    "peer": peer_engine,
}


def pair(name: str, workdir: str, exe: str) -> Truth:
    """The scenario's pair, built into workdir/name unless its truth.json is already there (then its truth
    is brought up to date: `make_pair.current`)."""
    folder = os.path.join(workdir, name)
    path = os.path.join(folder, "truth.json")
    spec = PairSpec.from_params(SCENARIOS[name].params)
    if os.path.exists(path):
        return current(Truth.load(path), spec, exe)
    print(f"suite: building {name} ...", file=sys.stderr, flush=True)
    return build(spec, folder, exe)


def _last_line(path: str) -> str:
    with open(path, errors="replace") as f:
        lines = [line.strip() for line in f if line.strip()]
    return lines[-1][:160] if lines else "no message"


def run_engine(engine: str, truth: Truth, output: str, timeout: float = 1800.0) -> dict[str, object]:
    """Run one engine on one pair, time it, sample its RSS, score it; a row of the suite's table."""
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        os.remove(output)  # a stale output must not be scored as this run's
    cmd = ENGINES[engine](truth, output)
    log = os.path.splitext(output)[0] + ".log"
    row: dict[str, object] = {"engine": engine, "status": "ok", "command": subprocess.list2cmdline(cmd.argv)}
    with open(log, "w") as err, RssSampler() as sampler:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd.argv, env=cmd.env, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        sampler.watch(engine, proc.pid)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()  # SIGTERM first: the tool stops and reaps its own ffmpeg children
            try:
                code = proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
            row["status"] = f"timed out after {timeout:g} s"
        row["seconds"] = round(time.perf_counter() - started, 2)
    row["peak_rss_mib"] = round(max(sampler.peak_hwm(engine), sampler.peak_rss.get(engine, 0)) / MIB, 1)
    if row["status"] != "ok":
        return row
    if code != 0 or not os.path.exists(output):
        row["status"] = f"failed (exit {code}): {_last_line(log)}"
        return row
    try:
        row["video"] = score_video(truth, output, find_ffmpeg())
        if cmd.map_out:
            row["map"] = score_map(truth, cmd.map_out)
    except (VidkompyError, OSError, ValueError) as exc:
        row["status"] = f"score failed: {exc}"
    return row


def _pct(value: object) -> str:
    return "-" if value is None else f"{100 * float(value):.2f}"  # type: ignore[arg-type]


def print_rows(rows: list[dict[str, object]]) -> None:
    """The human table: timing scores from the output pixels, fg PSNR (luma, mean dB), wall seconds, peak RSS,
    and the exact rate of the engine's own --map-out CSV when it writes one."""
    cells = []
    for r in rows:
        v: dict[str, object] = r.get("video") or {}  # type: ignore[assignment]
        m: dict[str, object] = r.get("map") or {}  # type: ignore[assignment]
        psnr = v.get("fg_psnr_mean")
        cells.append([r.get("scenario", "-"), r["engine"], _pct(v.get("exact_rate")), _pct(v.get("within1_rate")),
                      v.get("max_error", "-"), "-" if psnr is None else f"{psnr:.2f}", r.get("seconds", "-"),
                      r.get("peak_rss_mib", "-"), _pct(m.get("exact_rate")), r["status"]])
    print_table(["scenario", "engine", "exact %", "within-1 %", "max err", "fg PSNR", "seconds", "peak MiB",
                 "map exact %", "status"], cells)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 2)[2],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", metavar="DIR", default=WORKDIR, help=f"pairs and outputs (default {WORKDIR})")
    ap.add_argument("--long", action="store_true", help="add the long scenarios (minutes of video each)")
    ap.add_argument("--only", metavar="A,B", help="just these scenarios (comma separated)")
    ap.add_argument("--engines", metavar="A,B", default="offset",
                    help=f"engines to run, of {', '.join(ENGINES)} (default offset)")
    ap.add_argument("--peer", action="store_true",
                    help="add the peer engine (vidkompy 1.2.5 in its own venv, installed on first use)")
    ap.add_argument("--timeout", metavar="SEC", type=float, default=1800.0, help="per run (default 1800)")
    ap.add_argument("--json", action="store_true", help="print all rows as JSON")
    args = ap.parse_args(argv)
    names = args.only.split(",") if args.only else short_names() + (
        [n for n, s in SCENARIOS.items() if s.long] if args.long else [])
    engines = args.engines.split(",") + (["peer"] if args.peer and "peer" not in args.engines.split(",") else [])
    unknown = [n for n in names if n not in SCENARIOS] + [e for e in engines if e not in ENGINES]
    if unknown:
        ap.error(f"unknown scenario or engine: {', '.join(unknown)}")
    peer_problem = None
    if "peer" in engines:
        try:
            ensure_peer()
        except PeerUnavailable as exc:
            peer_problem = f"peer unavailable: {exc}"
            print(f"suite: {peer_problem}", file=sys.stderr)
    exe = find_ffmpeg()
    rows: list[dict[str, object]] = []
    started = time.perf_counter()
    for name in names:
        truth = pair(name, args.workdir, exe)
        for engine in engines:
            print(f"suite: {name} / {engine} ...", file=sys.stderr, flush=True)
            if engine == "peer" and peer_problem:
                row: dict[str, object] = {"engine": engine, "status": peer_problem}
            else:
                row = run_engine(engine, truth, os.path.join(truth.folder, "runs", f"{engine}.mp4"), args.timeout)
            rows.append({"scenario": name, **row})
            if row["status"] != "ok":
                print(f"suite: {name} / {engine}: {row['status']}", file=sys.stderr)
    total = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps({"rows": rows, "seconds": total}, indent=1))
    else:
        print_rows(rows)
        print(f"\nsuite wall time {total} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
