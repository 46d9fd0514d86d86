"""ffmpeg child processes: spawned in their own session, stderr always drained, always reaped.

Every child of a run belongs to one `ChildGroup`; leaving the group's context (normally, on an error,
on Ctrl-C or SIGTERM) closes the pipes, terminates whatever still runs and reaps it, so no ffmpeg
outlives us. Children run in a new session so that the terminal's Ctrl-C reaches only us: we decide
how each child ends (an encoder is finished cleanly, decoders are stopped), instead of racing them.
"""

import collections
import fcntl
import logging
import os
import re
import signal
import subprocess
import threading
from collections.abc import Sequence
from typing import IO

from ..errors import VidkompyError
from .readahead import ReadAhead

log = logging.getLogger(__name__)

F_SETPIPE_SZ = 1031
PIPE_SIZE = 1 << 20
STDERR_TAIL = 20
STOP_GRACE = 3.0


def threads_each() -> int:
    """Threads for each of the run's busy workers (the two decoders, and the tool's own OpenCV calls): they
    share the cores. Threads that find no free core cost CPU of their own, taken from the others: on 2
    cores, ffmpeg's default frame threads took 12.4 s of decoder CPU for a minute of 720p against 11.5 s
    with one each, and OpenCV's pool spinning in sched_yield after each small resize ~2 s (perf)."""
    return max(1, (len(os.sched_getaffinity(0)) - 1) // 2)


def enlarge_pipe(stream: IO[bytes] | None) -> None:
    """Ask the kernel for a 1 MiB pipe buffer: fewer wake-ups per frame (~9% faster at 1080p)."""
    if stream is None:
        return
    try:
        fcntl.fcntl(stream.fileno(), F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:
        pass


def strip_context(line: str) -> str:
    """ffmpeg's message without its leading `[component @ 0x...]` tags."""
    return re.sub(r"^(\[[^\]]*\] ?)+", "", line)


class Child:
    """One ffmpeg subprocess, its stderr drained by a thread into a short tail for error messages."""

    def __init__(self, role: str, cmd: Sequence[str], stdin: int | IO[bytes] | None, stdout: int | None,
                 read_ahead: int = 0) -> None:
        self.role = role
        self.cmd = list(cmd)
        log.debug("%s: %s", role, subprocess.list2cmdline(self.cmd))
        self.proc = subprocess.Popen(
            self.cmd, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, start_new_session=True
        )
        enlarge_pipe(self.proc.stdout)
        enlarge_pipe(self.proc.stdin)
        #: what the child's output is read from: its stdout, or `read_ahead` pipe-fulls of it read ahead by a thread
        self.output: IO[bytes] | ReadAhead | None = self.proc.stdout
        if read_ahead and self.proc.stdout is not None:
            self.output = ReadAhead(self.proc.stdout, PIPE_SIZE, read_ahead)
        self.tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL)
        self._drainer = threading.Thread(target=self._drain, name=f"{role}-stderr", daemon=True)
        self._drainer.start()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                self.tail.append(line)
                log.debug("%s: ffmpeg: %s", self.role, line)

    def last_error(self) -> str:
        """The most telling line ffmpeg printed, for a one-line error message."""
        self._drainer.join(timeout=1.0)
        for line in reversed(self.tail):
            if "error" in line.lower() or "invalid" in line.lower() or "no such" in line.lower():
                return line
        return self.tail[-1] if self.tail else f"exit code {self.proc.returncode}"

    def failure(self) -> str:
        """Why the (exited) child failed, for a one-line error: the signal that killed it, else its message."""
        code = self.proc.returncode
        if code is not None and code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return strip_context(self.last_error())

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the child to exit and its stderr to be drained; return the exit code."""
        code = self.proc.wait(timeout)
        self._drainer.join(timeout=1.0)
        return code

    def stop(self) -> None:
        """Close our ends of its pipes, then terminate and reap it (kill after a grace period)."""
        if isinstance(self.output, ReadAhead):
            self.output.close()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._drainer.join(timeout=1.0)


class ChildGroup:
    """Owns every child of a run; leaving the context stops and reaps them all."""

    def __init__(self) -> None:
        self.children: list[Child] = []

    def spawn(self, role: str, cmd: Sequence[str], *, stdin: int | IO[bytes] | None = subprocess.DEVNULL,
              stdout: int | None = subprocess.PIPE, read_ahead: int = 0) -> Child:
        try:
            child = Child(role, cmd, stdin, stdout, read_ahead)
        except OSError as exc:
            raise VidkompyError(f"{role}: cannot run {cmd[0]}: {exc.strerror}") from None
        self.children.append(child)
        return child

    def stop_all(self) -> None:
        for child in reversed(self.children):
            child.stop()
        self.children.clear()

    def __enter__(self) -> "ChildGroup":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()
