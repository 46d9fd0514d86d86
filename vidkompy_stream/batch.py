"""Batches of pairs on Dask distributed: one task per pair, each the command's whole job on a worker.

The model is stumpy's `stumped(client, ...)`: the caller's Dask client, or a `LocalCluster` sized to the
machine. A pair is a task that runs `overlay` (the command's job: its ffmpeg children run on the worker); a
pair that fails becomes a `failed` result with the command's one-line error and does not stop the others;
a task lost with its worker is run again (Dask's `retries`, and the scheduler's reassignment of a lost
worker's tasks). Outputs appear under their name only when complete (`io.atomicfile`), so a pair whose
output exists is done: a re-run skips it.
"""

import contextlib
import csv
import dataclasses
import functools
import io
import json
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from fractions import Fraction
from typing import Any

from .errors import UsageError, VidkompyError

#: Manifest columns that are not options.
PAIR_COLUMNS = ("fg", "bg", "output")
#: Options that name files: taken from the manifest's folder, as fg, bg and output are.
PATH_OPTIONS = ("map_in", "map_out", "report")
RESULT_COLUMNS = ("pair", "fg", "bg", "output", "status", "frames", "x", "y", "rate", "low_confidence", "seconds",
                  "error")
_TRUE, _FALSE = {"1", "true", "yes", "y", "on"}, {"", "0", "false", "no", "n", "off"}


@dataclasses.dataclass(frozen=True)
class Pair:
    """One job of a batch: fg, bg and the output, and the command's options for it (long names, underscores)."""

    fg: str
    bg: str
    output: str
    options: Mapping[str, object] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Result:
    """What became of one pair: `status` ok, failed (with the one-line `error`) or skipped (output present)."""

    pair: int
    fg: str
    bg: str
    output: str
    status: str
    frames: int | None = None
    x: int | None = None
    y: int | None = None
    rate: float | None = None
    low_confidence: int | None = None
    seconds: float | None = None
    error: str = ""


def _option(name: str, text: str) -> object:
    """A manifest cell as `overlay` takes it: yes/no columns as booleans, the rest as text (parsed there)."""
    from .options import Options

    kind = next((f.type for f in dataclasses.fields(Options) if f.name == name), None)
    if kind is bool:
        if text.strip().lower() not in _TRUE | _FALSE:
            raise UsageError(f"manifest column {name}: {text!r} is not yes or no")
        return text.strip().lower() in _TRUE
    return text


def _pair(row: Mapping[str, Any], where: str) -> Pair:
    missing = [c for c in PAIR_COLUMNS if not str(row.get(c) or "").strip()]
    if missing:
        raise UsageError(f"{where}: no {', '.join(missing)}")
    names = {k: k.strip().replace("-", "_") for k in row if k not in PAIR_COLUMNS}
    options = {names[k]: v if isinstance(v, (bool, int, float)) else _option(names[k], str(v))
               for k, v in row.items() if k in names and v not in (None, "")}
    return Pair(str(row["fg"]).strip(), str(row["bg"]).strip(), str(row["output"]).strip(), options)


def read_manifest(path: str) -> list[Pair]:
    """Pairs from a CSV file with a header (fg,bg,output, then any option as a column) or JSON lines (one object
    per line with the same keys); relative paths (of inputs, outputs, mappings and reports) are taken from the
    manifest's folder."""
    try:
        with open(path, newline="") as f:
            text = f.read()
    except OSError as exc:
        raise VidkompyError(f"manifest: cannot read {path}: {exc.strerror}") from None
    if text.lstrip().startswith("{"):
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise UsageError(f"{path} line {n}: not JSON ({exc.msg})") from None
    else:
        rows = list(csv.DictReader(io.StringIO(text)))
    folder = os.path.dirname(os.path.abspath(path))
    pairs = [_pair(row, f"{path} pair {n}") for n, row in enumerate(rows, 1)]
    return [dataclasses.replace(p, fg=os.path.join(folder, p.fg), bg=os.path.join(folder, p.bg),
                                output=os.path.join(folder, p.output),
                                options={k: os.path.join(folder, str(v)) if k in PATH_OPTIONS else v
                                         for k, v in p.options.items()}) for p in pairs]


def _job(pair: Pair, options: dict[str, object], segment_seconds: Fraction | None) -> Any:
    """The pair's job on this worker: `overlay`, or in segments run as further tasks when fg is longer."""
    from .api import options_from, overlay
    from .io.ffmpeg_tool import find_ffmpeg
    from .io.inputs import probe
    from .segments import run_segmented

    if segment_seconds is None:
        return overlay(pair.fg, pair.bg, pair.output, **options)
    opts = options_from(pair.fg, pair.bg, pair.output, options)
    seconds = probe(find_ffmpeg(opts.ffmpeg), pair.fg, "fg").duration or 0.0
    if seconds <= segment_seconds:
        return overlay(pair.fg, pair.bg, pair.output, **options)
    from distributed import worker_client

    with worker_client() as client:
        return run_segmented(opts, seconds, segment_seconds, functools.partial(client.submit, pure=False),
                             client.gather)


def _why(exc: Exception) -> str:
    """A pair's failure in one line: the command's message, a bad option's, or an internal error's name."""
    from .cli import error_text

    if isinstance(exc, VidkompyError):
        return error_text(exc)
    if isinstance(exc, (TypeError, ValueError)):
        return str(exc)
    return f"internal error: {type(exc).__name__}: {exc}"


def run_pair(index: int, pair: Pair, defaults: Mapping[str, object],
             segment_seconds: Fraction | None = None) -> Result:
    """One pair's job, as the command runs it (on a Dask worker): never raises for the pair's own failures."""
    options = {**defaults, **pair.options}
    base = Result(index, pair.fg, pair.bg, pair.output, "ok")
    if os.path.exists(pair.output) and not options.get("overwrite"):
        return dataclasses.replace(base, status="skipped")
    started = time.monotonic()
    try:
        summary = _job(pair, options, segment_seconds)
    except Exception as exc:  # the pair's failure, whatever it is, is its row: the batch goes on
        return dataclasses.replace(base, status="failed", error=_why(exc), seconds=round(time.monotonic() - started, 3))
    return dataclasses.replace(base, frames=summary.frames, x=summary.x, y=summary.y, rate=round(summary.rate, 7),
                               low_confidence=summary.low_confidence, seconds=round(time.monotonic() - started, 3))


@contextlib.contextmanager
def connect(scheduler: str | None = None, workers: int | None = None, threads_per_worker: int = 1) -> Iterator[Any]:
    """A Dask client: to the `scheduler` at that address, else to a `LocalCluster` of process workers made for
    the batch and closed after it (`workers`: by default one per two cores, as a job keeps two decoders and the
    aligner busy; its workers keep numpy's BLAS to one thread, as the command does)."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=30)
        except OSError as exc:
            raise VidkompyError(f"scheduler {scheduler}: {exc}") from None
        with client:
            yield client
        return
    count = workers or max(1, len(os.sched_getaffinity(0)) // 2)
    with LocalCluster(n_workers=count, threads_per_worker=threads_per_worker, processes=True,
                      dashboard_address=None, env={"OPENBLAS_NUM_THREADS": "1"}) as cluster, Client(cluster) as client:
        yield client


def batch(pairs: Iterable[Pair | Mapping[str, object]], client: Any = None, *, retries: int = 2,
          progress: bool = False, segment_seconds: float | Fraction | None = None, **options: object) -> list[Result]:
    """Run every pair on Dask (the `client` given, else a local cluster made for the batch and closed after).

    Parameters
    ----------
    pairs
        `Pair`s, or mappings with ``fg``, ``bg``, ``output`` and any of the command's options.
    client : distributed.Client, optional
        Where the tasks run; paths must be on storage every worker sees.
    retries : int
        How often a task whose worker was lost is run again.
    progress : bool
        A progress bar over pairs on stderr.
    segment_seconds : float, optional
        A pair with more fg than this is cut into segments of this many seconds, each its own task (fg and bg
        media files; `segments`), joined without re-encoding.
    **options
        The command's options for every pair (a pair's own options win).

    Returns
    -------
    list of Result
        One per pair, in the order given: ``status`` ok, failed (``error``: the command's message) or skipped.
    """
    from distributed import as_completed
    from tqdm import tqdm

    jobs = [p if isinstance(p, Pair) else _pair(p, f"pair {n}") for n, p in enumerate(pairs, 1)]
    if client is None:
        with connect() as own:
            return batch(jobs, own, retries=retries, progress=progress, segment_seconds=segment_seconds, **options)
    seconds = None if segment_seconds is None else Fraction(str(segment_seconds))
    futures = [client.submit(run_pair, n, p, options, seconds, retries=retries, pure=False)
               for n, p in enumerate(jobs, 1)]
    order = {f.key: n for n, f in enumerate(futures)}
    results: list[Result | None] = [None] * len(jobs)
    with tqdm(total=len(jobs), unit="pair", disable=not progress, leave=False) as bar:
        for future in as_completed(futures):
            n = order[future.key]
            try:
                results[n] = future.result()
            except Exception as exc:  # the task itself was lost (its workers died, retries spent)
                pair = jobs[n]
                results[n] = Result(n + 1, pair.fg, pair.bg, pair.output, "failed",
                                    error=f"task lost: {type(exc).__name__}: {exc}")
            bar.update()
    return [r for r in results if r is not None]


def write_results(path: str, results: Sequence[Result]) -> None:
    """The results as CSV, complete or not at all."""
    from .io.atomicfile import AtomicFile

    out = AtomicFile(path, "w", "--results", newline="")
    try:
        writer = csv.DictWriter(out.stream, RESULT_COLUMNS)
        writer.writeheader()
        for r in results:
            writer.writerow({k: "" if v is None else v for k, v in dataclasses.asdict(r).items()})
        out.commit()
    except BaseException:
        out.abort()
        raise
