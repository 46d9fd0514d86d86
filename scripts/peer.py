"""The prior art, vidkompy 1.2.5, run on a make_pair pair in its own virtual environment, timed and scored.

vidkompy 1.2.5 finds placement and timing itself (`python -m vidkompy BG FG -o OUT`), so it gets no hints.
It lives in a separate venv (default /tmp/vidkompy-peer-venv), created and filled from PyPI the first
time it is needed, so its pins (numpy, opencv-contrib, numba...) never touch ours.

It needs `ffprobe` and `ffmpeg` on PATH (ffmpeg-python's probe and its final mux). This machine has
neither, so the venv gets a `shim/` folder put first on the peer's PATH only: `ffmpeg` links to the
binary we use (imageio-ffmpeg's), and `ffprobe` is a small script that answers ffmpeg-python's
`ffprobe -show_format -show_streams -of json FILE` from `ffmpeg -i FILE` (size, frame rate, duration,
frame count by a stream copy). Only the peer's metadata step goes through it.

Used by suite.py --peer; alone: python scripts/peer.py PAIR/truth.json OUT.mp4 [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from _common import Truth

from vidkompy_stream.io.ffmpeg_tool import find_ffmpeg

PEER_SPEC = "vidkompy==1.2.5"
PEER_VENV = "/tmp/vidkompy-peer-venv"

#: the ffprobe stand-in; {ffmpeg} is filled in when it is written. Run by the peer venv's python.
FFPROBE_SHIM = r'''#!{python}
"""ffprobe stand-in for ffmpeg-python's probe(): JSON streams/format from `ffmpeg -i` (see peer.py)."""
import json, re, subprocess, sys
from fractions import Fraction

FFMPEG = {ffmpeg!r}
path = sys.argv[-1]
run = subprocess.run([FFMPEG, "-hide_banner", "-nostdin", "-i", path, "-map", "0:v:0?", "-c", "copy",
                      "-f", "null", "-"], capture_output=True, text=True)
text = run.stderr
if "Input #0" not in text:
    sys.stderr.write(text)
    sys.exit(1)
streams = []
for line in text.split("Output #0")[0].splitlines():
    m = re.search(r"Stream #0:(\d+).*?: (Video|Audio): (\w+)", line)
    if not m:
        continue
    s = {{"index": int(m.group(1)), "codec_type": m.group(2).lower(), "codec_name": m.group(3)}}
    if s["codec_type"] == "video":
        w, h = re.search(r", (\d+)x(\d+)", line).groups()
        fps = Fraction(re.search(r"([\d.]+) (?:fps|tbr)", line).group(1))
        ntsc = fps * Fraction(1001, 1000)
        if fps.denominator != 1 and abs(ntsc - round(ntsc)) < Fraction(1, 100):
            fps = Fraction(round(ntsc) * 1000, 1001)
        counts = re.findall(r"frame=\s*(\d+)", text)
        s.update(width=int(w), height=int(h), r_frame_rate=f"{{fps.numerator}}/{{fps.denominator}}",
                 nb_frames=counts[-1] if counts else "0")
    else:
        rate = re.search(r"(\d+) Hz", line)
        s.update(sample_rate=rate.group(1) if rate else "0", channels=2 if "stereo" in line else 1)
    streams.append(s)
d = re.search(r"Duration: (\d+):(\d+):([\d.]+)", text)
duration = int(d.group(1)) * 3600 + int(d.group(2)) * 60 + float(d.group(3)) if d else 0.0
json.dump({{"streams": streams, "format": {{"filename": path, "duration": str(duration)}}}}, sys.stdout)
'''


class PeerUnavailable(RuntimeError):
    """The peer could not be installed."""


def peer_python(venv: str = PEER_VENV) -> str:
    return os.path.join(venv, "bin", "python")


def ensure_peer(venv: str = PEER_VENV) -> str:
    """The peer venv's python, after creating the venv and installing the peer if it is missing."""
    python = peer_python(venv)
    probe = [python, "-c", "import vidkompy"]
    if os.path.exists(python) and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    print(f"peer: installing {PEER_SPEC} into {venv} (a separate venv, one time, a minute or two) ...",
          file=sys.stderr, flush=True)
    for cmd in ([sys.executable, "-m", "venv", venv], [python, "-m", "pip", "install", "-q", PEER_SPEC]):
        done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:
            tail = " ".join(done.stderr.strip().splitlines()[-2:])
            raise PeerUnavailable(f"{' '.join(cmd[:4])} failed ({done.returncode}): {tail}")
    if subprocess.run(probe, capture_output=True).returncode != 0:
        raise PeerUnavailable(f"{PEER_SPEC} installed into {venv} but does not import")
    return python


def shim_dir(venv: str = PEER_VENV) -> str:
    """The folder with the peer's `ffmpeg` and `ffprobe` (see the module doc), (re)written each call."""
    folder = os.path.join(venv, "shim")
    os.makedirs(folder, exist_ok=True)
    exe = find_ffmpeg()
    link = os.path.join(folder, "ffmpeg")
    if os.path.lexists(link):
        os.remove(link)
    os.symlink(exe, link)
    probe = os.path.join(folder, "ffprobe")
    with open(probe, "w") as out:
        out.write(FFPROBE_SHIM.format(python=peer_python(venv), ffmpeg=exe))
    os.chmod(probe, 0o755)
    return folder


def peer_command(truth: Truth, output: str, venv: str = PEER_VENV) -> tuple[list[str], dict[str, str]]:
    """argv and environment that run the peer on the pair; it finds placement and timing itself."""
    env = {**os.environ, "PATH": shim_dir(venv) + os.pathsep + os.environ.get("PATH", "")}
    return [peer_python(venv), "-m", "vidkompy", truth.bg_path, truth.fg_path, "-o", output], env


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("truth", help="truth.json of a make_pair pair")
    ap.add_argument("output", help="where the peer writes its composite (mp4)")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args(argv)
    from suite import (  # suite imports this module: import back lazily
        print_rows,
        run_engine,
    )

    try:
        ensure_peer()
    except PeerUnavailable as exc:
        print(f"peer: {exc}", file=sys.stderr)
        return 1
    truth = Truth.load(args.truth)
    row = run_engine("peer", truth, args.output)
    if args.json:
        print(json.dumps(row, indent=1))
    else:
        print_rows([row])
    return 0 if row["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
