"""vidkompy-stream-batch: every pair of a manifest on Dask distributed, results to a CSV file.

Exit codes: 0 every pair ok or skipped; 1 a pair failed, or a runtime error (no dask, an unreadable
manifest, a scheduler that does not answer); 2 usage error; 130 interrupted. No `from __future__ import
annotations` and `Optional[X]`, not `X | None`: argparse-dataclass reads the field types at runtime.
"""

import argparse
import dataclasses
import importlib.util
import signal
import sys
from collections.abc import Sequence
from dataclasses import field
from typing import NoReturn, Optional

import argparse_dataclass

from .errors import UsageError, VidkompyError

PROG = "vidkompy-stream-batch"

EXAMPLES = """\
manifest (CSV with a header; fg,bg,output first, then any vidkompy-stream option as a column; or JSON lines
with the same keys); relative paths are taken from the manifest's folder, and must be on storage every
worker sees:
    fg,bg,output,offset,crf
    talk1/slides.mp4,talk1/camera.mp4,out/talk1.mp4,,20
    talk2/slides.mp4,talk2/camera.mp4,out/talk2.mp4,12.5,

examples:
  on this machine (a local cluster, one job per worker):
    vidkompy-stream-batch talks.csv --results results.csv
  on a cluster (its scheduler's address):
    vidkompy-stream-batch talks.csv --results results.csv --scheduler tcp://10.0.0.5:8786
  one long recording across the workers, in 10-minute segments:
    vidkompy-stream-batch lecture.csv --results results.csv --segment-seconds 600
  run again after a failure or an interruption: pairs whose output exists are skipped
"""


@dataclasses.dataclass
class BatchOptions:
    manifest: str = field(metadata={"args": ["manifest"], "metavar": "MANIFEST",
                                    "help": "CSV or JSON lines: fg, bg, output and per-pair options"})
    results: str = field(default="", metadata={"metavar": "CSV", "help": "where the per-pair results go (required)"})
    scheduler: Optional[str] = field(default=None, metadata={
        "metavar": "ADDRESS", "help": "a running Dask scheduler (default: a local cluster on this machine)"})
    workers: Optional[int] = field(default=None, metadata={
        "metavar": "N", "help": "local cluster: worker processes (default: one per two cores)"})
    threads_per_worker: int = field(default=1, metadata={
        "metavar": "T", "help": "local cluster: jobs each worker runs at once (default: 1)"})
    segment_seconds: Optional[float] = field(default=None, metadata={
        "metavar": "S", "help": "cut a pair with more than S seconds of fg into segments of S seconds, each its own "
        "task (fg and bg media files), and join the parts without re-encoding (default: one task per pair)"})
    quiet: bool = field(default=False, metadata={"args": ["-q", "--quiet"], "help": "print nothing but errors"})


class _Parser(argparse_dataclass.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _parse(argv: Sequence[str] | None) -> BatchOptions:
    parser = _Parser(BatchOptions, prog=PROG, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
                     description="Run vidkompy-stream on every pair of a manifest, on Dask distributed.")
    opts = parser.parse_args(argv)
    if not opts.results:
        raise UsageError("--results CSV is required")
    if opts.scheduler and opts.workers:
        raise UsageError("--workers sizes a local cluster; a --scheduler brings its own workers")
    if (opts.workers is not None and opts.workers < 1) or opts.threads_per_worker < 1:
        raise UsageError("--workers and --threads-per-worker must be at least 1")
    if opts.segment_seconds is not None and opts.segment_seconds <= 0:
        raise UsageError("--segment-seconds must be positive")
    if importlib.util.find_spec("distributed") is None:
        raise VidkompyError("needs Dask distributed: python3 -m pip install 'vidkompy-stream[dask]'")
    return opts


def run(argv: Sequence[str] | None = None) -> int:
    """The whole command; returns the exit code."""
    try:
        opts = _parse(argv)
        from .batch import batch, connect, read_manifest, write_results

        pairs = read_manifest(opts.manifest)
        with connect(opts.scheduler, opts.workers, opts.threads_per_worker) as client:
            results = batch(pairs, client, progress=not opts.quiet and sys.stderr.isatty(),
                            segment_seconds=opts.segment_seconds)
        write_results(opts.results, results)
        failed = [r for r in results if r.status == "failed"]
        for r in failed:
            print(f"{PROG}: pair {r.pair} ({r.output}) failed: {r.error}", file=sys.stderr)
        if not opts.quiet:
            counts = {s: sum(r.status == s for r in results) for s in ("ok", "skipped", "failed")}
            print(f"{PROG}: {len(results)} pairs: {counts['ok']} ok, {counts['skipped']} skipped, "
                  f"{counts['failed']} failed; results in {opts.results}", file=sys.stderr)
        return 1 if failed else 0
    except UsageError as exc:
        print(f"{PROG}: error: {exc} (see --help)", file=sys.stderr)
        return 2
    except VidkompyError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT


def main(argv: Sequence[str] | None = None) -> NoReturn:
    sys.exit(run(argv))
