"""Benchmark the frame fingerprints: speed, and how well the cost finds the true bg frame on real pairs.

(1) Speed: fingerprints/s for 720p- and 1080p-size crops (non-contiguous views into a bigger plane, one core)
and the cost of a window of 100 candidates.
(2) Accuracy: for every scenario folder (default: all of /tmp/vidkompy-suite with a truth.json), fingerprint
every fg frame and the bg crop under the fg rect of every bg frame, then for each fg frame take the argmin of
the cost over bg frames [lo-3, hi+3]. "nn" = share of fg frames whose argmin lies in [lo, hi]; "margin" =
mean of (best cost outside [lo, hi]) - (best cost inside), negative when wrong. Printed for the chosen
combination and for each component alone (pHash/aHash in 2*Hamming/64 units, histogram in half-L1 units), so
the weights in vidkompy_stream/alignment/fingerprint.py are justified by numbers.

    python3 scripts/bench_fingerprint.py [--speed-only | --no-speed] [SCENARIO_DIR ...]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import Truth  # noqa: E402

from vidkompy_stream.alignment.fingerprint import Fingerprinter, FingerprintStore, costs  # noqa: E402
from vidkompy_stream.io.ffmpeg_tool import find_ffmpeg  # noqa: E402
from vidkompy_stream.kernels.similarity import hamming_window  # noqa: E402

SUITE = "/tmp/vidkompy-suite"
PAD = 3
HIST_BINS = 12
COMPONENTS = ("chosen", "grad", "thumb", "phash", "ahash", "hist")


def textured_plane(width: int, height: int, seed: int = 1) -> np.ndarray:
    """A deterministic plane with image-like texture (smoothed noise) for the speed test."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, size=(height // 4 + 1, width // 4 + 1), dtype=np.uint8)
    big = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    return cv2.GaussianBlur(big, (0, 0), 1.0)


def bench_speed() -> None:
    cv2.setNumThreads(1)
    for name, (w, h), (pw, ph) in (("720p", (1280, 720), (1920, 1080)), ("1080p", (1920, 1080), (2560, 1440))):
        plane = textured_plane(pw, ph)
        crop = plane[37 : 37 + h, 53 : 53 + w]  # a non-contiguous view, as the bg crop is
        fp = Fingerprinter(w, h)
        store = FingerprintStore(fp, 256)
        for i in range(256):  # warm up (JIT) and fill the ring
            fp.compute(crop, store, i)
        n = 1000
        t0 = time.perf_counter()
        for i in range(n):
            fp.compute(crop, store, 256 + i)
        dt = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(n):
            fp.shrink(crop)
        dts = time.perf_counter() - t0
        out = np.empty(100, np.float32)
        reps = 2000
        costs(store, 256 + n - 1, store, 256 + n - 100, 256 + n, out)  # load the compiled kernel
        t0 = time.perf_counter()
        for _ in range(reps):
            costs(store, 256 + n - 1, store, 256 + n - 100, 256 + n, out)
        dc = time.perf_counter() - t0
        print(f"{name}: thumbnail {fp.thumb_width}x{fp.thumb_height} (factor {fp.factor}), "
              f"{n / dt:.0f} fingerprints/s ({dt / n * 1e3:.3f} ms; shrink alone {dts / n * 1e3:.3f} ms), "
              f"costs of 100 candidates {dc / reps * 1e6:.0f} us, store {store.nbytes / 256 / 1024:.0f} KiB/frame")


def frames(exe: str, path: str, width: int, height: int):
    """Yield the luma planes of a video, one at a time (uint8 height x width)."""
    proc = subprocess.Popen([exe, "-v", "error", "-nostdin", "-i", path, "-f", "rawvideo", "-pix_fmt", "gray", "-"],
                            stdout=subprocess.PIPE)
    size = width * height
    try:
        while True:
            buf = proc.stdout.read(size)
            if len(buf) < size:
                break
            yield np.frombuffer(buf, np.uint8).reshape(height, width)
    finally:
        proc.stdout.close()
        proc.wait()


def video_size(exe: str, path: str) -> tuple[int, int]:
    """Width and height of a video's first stream, from ffmpeg's stream description."""
    import re

    info = subprocess.run([exe, "-hide_banner", "-i", path], capture_output=True).stderr.decode(errors="replace")
    m = re.search(r"Video:.*?, (\d{2,5})x(\d{2,5})", info)
    if not m:
        raise RuntimeError(f"cannot read the size of {path}")
    return int(m.group(1)), int(m.group(2))


class Side:
    """Fingerprints of one video (all frames) plus the extra per-component features used only here."""

    def __init__(self, fp: Fingerprinter, count: int) -> None:
        self.fp = fp
        self.store = FingerprintStore(fp, max(count, 1))
        self.phash = np.zeros((max(count, 1), 1), np.uint64)
        self.ahash = np.zeros((max(count, 1), 1), np.uint64)
        self.hist = np.zeros((max(count, 1), HIST_BINS), np.float32)
        self.n = 0
        self._ph = cv2.img_hash.PHash_create()
        self._ah = cv2.img_hash.AverageHash_create()

    def add(self, luma: np.ndarray) -> None:
        i = self.n
        if i >= self.store.capacity:
            return
        self.fp.compute(luma, self.store, i)
        small = np.ascontiguousarray(self.fp.shrink(luma))
        self.phash[i, 0] = self._ph.compute(small)[0].view(np.uint64)[0]
        self.ahash[i, 0] = self._ah.compute(small)[0].view(np.uint64)[0]
        z = small.astype(np.float32)
        z = (z - z.mean()) / (z.std() + 1e-6)
        h = np.histogram(np.clip(z, -2.999, 2.999), bins=HIST_BINS, range=(-3, 3))[0].astype(np.float32)
        self.hist[i] = h / max(h.sum(), 1)
        self.n += 1


def window(component: str, fg: Side, i: int, bg: Side, lo: int, hi: int, out: np.ndarray) -> np.ndarray:
    n = hi - lo
    if component == "chosen":
        return costs(fg.store, i, bg.store, lo, hi, out)
    if component == "grad":
        return costs(fg.store, i, bg.store, lo, hi, out, w_thumb=0.0, w_grad=1.0)
    if component == "thumb":
        return costs(fg.store, i, bg.store, lo, hi, out, w_thumb=1.0, w_grad=0.0)
    if component in ("phash", "ahash"):
        words = getattr(fg, component)
        hamming_window(words[i], getattr(bg, component), bg.store.index, lo, hi, out)
        return out[:n]
    if component == "hist":
        out[:n] = np.inf
        ok = (np.arange(lo, hi) >= 0) & (np.arange(lo, hi) < bg.n)
        idx = np.arange(lo, hi)[ok]
        out[:n][ok] = 0.5 * np.abs(bg.hist[idx] - fg.hist[i]).sum(axis=1)
        return out[:n]
    raise ValueError(component)


def scenario(folder: str, exe: str) -> dict[str, tuple[float, float]]:
    truth = Truth.load(os.path.join(folder, "truth.json"))
    x, y, w, h = truth.rect
    fp = Fingerprinter(w, h)
    fw, fh = video_size(exe, truth.fg_path)
    bw, bh = video_size(exe, truth.bg_path)
    if (fw, fh) != (w, h):
        raise RuntimeError(f"{folder}: fg is {fw}x{fh}, rect is {w}x{h}")
    fg = Side(fp, truth.fg_frames)
    bg = Side(fp, truth.bg_frames)
    for luma in frames(exe, truth.fg_path, fw, fh):
        fg.add(luma)
    for luma in frames(exe, truth.bg_path, bw, bh):
        bg.add(luma[y : y + h, x : x + w])
    result = {}
    out = np.empty(int((truth.hi - truth.lo).max()) + 2 * PAD + 1, np.float32)
    for comp in COMPONENTS:
        ok = 0
        margins = []
        for i in range(fg.n):
            lo, hi = int(truth.lo[i]), int(truth.hi[i])
            a = max(0, lo - PAD)
            b = min(bg.n - 1, hi + PAD)
            c = window(comp, fg, i, bg, a, b + 1, out).astype(np.float64)
            inside = np.zeros(c.size, bool)
            inside[lo - a : hi - a + 1] = True
            best_in = c[inside].min()
            best_out = c[~inside].min() if (~inside).any() else np.inf
            ok += lo <= a + int(np.argmin(c)) <= hi
            if np.isfinite(best_out) and np.isfinite(best_in):
                margins.append(best_out - best_in)
        result[comp] = (ok / max(fg.n, 1), float(np.mean(margins)) if margins else float("nan"))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="*", help=f"scenario folders (default: all in {SUITE})")
    parser.add_argument("--speed-only", action="store_true")
    parser.add_argument("--no-speed", action="store_true")
    args = parser.parse_args()
    if not args.no_speed:
        bench_speed()
    if args.speed_only:
        return
    folders = args.scenarios or sorted(
        os.path.join(SUITE, d) for d in os.listdir(SUITE) if os.path.isfile(os.path.join(SUITE, d, "truth.json"))
    ) if os.path.isdir(SUITE) or args.scenarios else []
    exe = find_ffmpeg()
    print(f"{'scenario':18s}" + "".join(f"{c:>15s}" for c in COMPONENTS) + "   (nn % / mean margin)")
    table = []
    for folder in folders:
        r = scenario(folder, exe)
        table.append(r)
        print(f"{os.path.basename(folder.rstrip('/')):18s}" + "".join(
            f"{r[c][0] * 100:8.1f}/{r[c][1]:6.3f}" for c in COMPONENTS), flush=True)
    if table:
        print(f"{'MEAN':18s}" + "".join(
            f"{np.mean([r[c][0] for r in table]) * 100:8.1f}/{np.mean([r[c][1] for r in table]):6.3f}"
            for c in COMPONENTS))
        print(f"{'MIN':18s}" + "".join(f"{min(r[c][0] for r in table) * 100:8.1f}       " for c in COMPONENTS))
        print(f"{'>= 99 %':18s}" + "".join(f"{sum(r[c][0] >= 0.99 for r in table):8d}/{len(table):<6d}"
                                            for c in COMPONENTS))


if __name__ == "__main__":
    main()
