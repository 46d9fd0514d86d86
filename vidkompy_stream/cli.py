"""Command line: parse the options dataclass, check them, run the job, map failures to exit codes.

Exit codes: 0 done; 1 runtime error (bad input, ffmpeg failure); 2 usage error; 130 interrupted
(SIGINT); 143 terminated (SIGTERM); 141 when whoever reads our stdout closed it (as a C filter killed
by SIGPIPE would). Errors are one line on stderr; -v adds tracebacks.
"""

import argparse
import functools
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

import argparse_dataclass
from tqdm import tqdm

from . import __version__
from .errors import NotFound, UsageError, VidkompyError
from .io.ffmpeg_tool import find_ffmpeg
from .options import Options, check

if TYPE_CHECKING:
    import numpy as np

    from .analysis import Track
    from .pipeline import Summary

PROG = "vidkompy-stream"
log = logging.getLogger("vidkompy_stream")

EXAMPLES = """\
examples:
  pipe form (y4m in on stdin, y4m out on stdout):
    ffmpeg -i fg.mp4 -f yuv4mpegpipe - | vidkompy-stream --bg bg.mp4 | ffmpeg -f yuv4mpegpipe -i - out.mp4
  bg from a process substitution:
    ffmpeg -i fg.mp4 -f yuv4mpegpipe - | vidkompy-stream --bg <(ffmpeg -nostdin -i bg.mp4 -f yuv4mpegpipe -) -o out.mp4
  file form (decoders, encoder and audio handled):
    vidkompy-stream --bg bg.mp4 --fg fg.mp4 -o out.mp4
  placement and timing known (no search):
    vidkompy-stream --bg bg.mp4 --fg fg.mp4 -o out.mp4 --x 320 --y 180 --offset 12.5
  fg recorded at a higher resolution than bg shows it (1920x1080 shown at 1280x720):
    vidkompy-stream --bg bg.mp4 --fg screen.mp4 --scale 2/3 -o out.mp4
  replay a saved mapping:
    vidkompy-stream --bg bg.mp4 --fg fg.mp4 --map-out map.csv -o a.mp4
    vidkompy-stream --bg bg.mp4 --fg fg.mp4 --map-in map.csv -o b.mp4 --feather 4
  check before a long encode: search and align only, a JSON summary on stdout and a picture of the run:
    vidkompy-stream --bg bg.mp4 --fg fg.mp4 --analyze --report run.png --map-out map.csv
  try it:
    vidkompy-stream --demo -o demo.mp4

exit codes: 0 done, 1 runtime error, 2 usage error, 130 interrupted, 143 terminated,
141 the reader of stdout closed it (as a C filter killed by SIGPIPE)
"""


class Terminated(Exception):
    """SIGTERM arrived: unwind like Ctrl-C so every child is stopped and partial output removed."""


class _Parser(argparse_dataclass.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _parser() -> _Parser:
    return _Parser(
        Options,
        prog=PROG,
        description="Overlay a foreground video onto the background video that contains it, streaming: "
        "one output frame per fg frame, at fg's frame rate, bg's frame size.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def parse(argv: Sequence[str] | None) -> Options:
    return _parser().parse_args(argv)


def validate(opts: Options) -> None:
    """Check option combinations and fill context-dependent defaults; raise UsageError."""
    if opts.demo:
        if opts.fg is not None or opts.bg is not None:
            raise UsageError("--demo makes its own inputs; do not give --fg or --bg")
    else:
        if opts.fg is None:
            if sys.stdin.isatty():
                raise UsageError("no fg: give --fg FILE or pipe y4m into stdin")
            opts.fg = "-"
        if opts.bg is None:
            raise UsageError("--bg is required")
        if opts.fg == "-" and opts.bg == "-":
            raise UsageError("only one input can be stdin")
    if opts.output is None and not opts.analyze:
        if sys.stdout.isatty():
            raise UsageError("no output: give -o FILE, or pipe stdout into ffmpeg (-o - writes y4m)")
        opts.output = "-"
    if opts.quiet and opts.verbose:
        raise UsageError("-q and -v contradict each other")
    check(opts)


class _TqdmHandler(logging.Handler):
    """Log lines on stderr that do not tear the progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        prefix = "" if record.levelno == logging.INFO else f"{record.levelname.lower()}: "
        tqdm.write(f"{PROG}: {prefix}{record.getMessage()}", file=sys.stderr)


def setup_logging(quiet: bool, verbose: bool) -> None:
    log.handlers[:] = [_TqdmHandler()]
    log.propagate = False
    log.setLevel(logging.DEBUG if verbose else logging.ERROR if quiet else logging.INFO)


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's final flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _single_threaded_blas() -> None:
    """Keep numpy's OpenBLAS to one thread unless the user set it (read when numpy loads, so before that).
    Its idle threads spin in sched_yield after every call, even a 5000-element dot: on 2 cores that cost
    ~0.9 s of CPU per minute of 720p, taken from the decoders. The user's setting wins."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def error_text(exc: VidkompyError) -> str:
    """The one-line message: a weak match gets the options that may help."""
    if isinstance(exc, NotFound) and exc.why and exc.advice is None:
        exc = exc.advised("check the inputs, give --x/--y, or --force")
    return exc.command_text()


def _track(opts: Options) -> "Track | None":
    """A record of every decision, when something is made of them after the run."""
    if not (opts.demo or opts.analyze or opts.report):
        return None
    from .analysis import Track

    return Track()


def _conclude(opts: Options, summary: "Summary", track: "Track | None", truth: "np.ndarray | None") -> None:
    """The closing log line; then the report, the JSON summary and the demo's score, as asked."""
    what = "analyzed" if opts.analyze else f"wrote {'y4m to stdout' if opts.output == '-' else opts.output}:"
    log.info("%s %d frames in %.1f s (%.1f fps), fg at (%d, %d), %d bg frames read%s", what, summary.frames,
             summary.seconds, summary.frames / max(summary.seconds, 1e-9), summary.x, summary.y,
             summary.bg_frames_read, f", last bg frame held for {summary.bg_held}" if summary.bg_held else "")
    if track is None:
        return
    from .analysis import analyse, summary_dict

    fit = analyse(track, summary)
    if opts.report:
        from .report import write_report

        write_report(opts.report, summary, track, fit)
        log.info("report: %s", opts.report)
    if opts.analyze:
        print(json.dumps(summary_dict(summary, track, fit), indent=2), flush=True)
    if truth is not None:
        from .demo import score

        score(track.bg, truth).log()


def run(argv: Sequence[str] | None = None) -> int:
    """The whole command; returns the exit code."""
    verbose = False
    try:
        opts = parse(argv)
        verbose = opts.verbose
        if opts.version:
            print(f"{PROG} {__version__}")
            return 0
        setup_logging(opts.quiet, opts.verbose)
        validate(opts)
        exe = find_ffmpeg(opts.ffmpeg)
        _single_threaded_blas()
        from .pipeline import run as run_pipeline

        track = _track(opts)
        run = functools.partial(run_pipeline, record=track.add if track is not None else None)
        truth = None
        if opts.demo:
            from .demo import run_demo

            summary, truth = run_demo(opts, exe, run)
        else:
            summary = run(opts, exe)
        _conclude(opts, summary, track, truth)
        return 0
    except UsageError as exc:
        print(f"{PROG}: error: {exc.command_text()} (see --help)", file=sys.stderr)
        return exc.exit_code
    except VidkompyError as exc:
        if verbose:
            log.exception("error")
        print(f"{PROG}: error: {error_text(exc)}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        _silence_stdout()
        return 128 + signal.SIGPIPE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    except Terminated:
        print(f"{PROG}: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except Exception as exc:
        if verbose:
            log.exception("internal error")
        print(f"{PROG}: internal error: {type(exc).__name__}: {exc} (run with -v for details)", file=sys.stderr)
        return 1


def main(argv: Sequence[str] | None = None) -> NoReturn:
    signal.signal(signal.SIGTERM, _on_sigterm)
    # Python raises KeyboardInterrupt on SIGINT only if SIGINT was not ignored when it started; a parent that
    # ignores it (a shell job, a supervisor) would leave an interrupt unanswered: answer it always
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(run(argv))
