"""The streaming engine: push fg and bg frames as they come, take the decisions as they are made.

stumpy's `stumpi` is the model: a class fed one observation at a time (`update`), its results read-only
attributes with a trailing underscore. Underneath runs the pipeline of the command and of `align` (search,
aligner, refiner, no compositing) in a worker thread that pulls the frames pushed so far: each call hands
its frame over and returns once the worker waits for a frame nobody has pushed yet, with the decisions made
meanwhile. The worker never runs while the caller does, so the decisions are `align`'s on the same frames,
and which call returns a decision depends only on the order of the pushes.
"""

import threading
from collections import deque
from collections.abc import Iterator
from fractions import Fraction

import numpy as np

from .api import frame_rate, options_from
from .decision import Decision, bg_frames, confidences
from .errors import UsageError
from .io.arrays import array_source
from .params import AlignParams, SearchParams
from .pipeline import Job, run

ROLES = ("fg", "bg")


class _Handoff:
    """Frames pushed by the caller and pulled by the worker, which runs only while the caller waits."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.queues: dict[str, deque[np.ndarray]] = {role: deque() for role in ROLES}
        self.ended = dict.fromkeys(ROLES, False)
        self.waiting: str | None = None  # the role the worker waits for
        self.done = False

    def _starved(self, role: str) -> bool:
        """No `role` frame to take, and more may come."""
        return not self.queues[role] and not self.ended[role]

    def pull(self, role: str) -> np.ndarray | None:
        """The worker's next `role` frame, waiting for a push; None once `role` has ended."""
        with self.cond:
            while self._starved(role):
                self.waiting = role
                self.cond.notify_all()
                self.cond.wait()
            self.waiting = None
            return self.queues[role].popleft() if self.queues[role] else None

    def frames(self, role: str) -> Iterator[np.ndarray]:
        while (frame := self.pull(role)) is not None:
            yield frame

    def put(self, role: str, frame: np.ndarray | None) -> None:
        """Queue a frame (None: `role` ends) without waiting."""
        with self.cond:
            if frame is None:
                self.ended[role] = True
            else:
                self.queues[role].append(frame)
            self.cond.notify_all()

    def settle(self) -> None:
        """Wait until the worker is done, or waits for a frame that has not been pushed."""
        with self.cond:
            while not self.done and not (self.waiting is not None and self._starved(self.waiting)):
                self.cond.wait()

    def finish(self) -> None:
        with self.cond:
            self.done = True
            self.cond.notify_all()


class Aligner:
    """Align fg with bg from frames pushed one at a time: `push_bg` each bg frame, `update` with each fg frame,
    `finish` when fg ends; each returns the decisions made since the last call (fg frame i's comes once
    the lookahead after it has been seen and the bg frames it needs have been pushed).

    Frames are uint8 arrays, H x W (grey) or H x W x 3 (RGB), as for `align`; the rates are frames per
    second; `search` and `params` the engine's settings, and options the command's, as for `align` (``x``,
    ``y``, ``offset`` when known). Frames pushed
    ahead of need wait in the engine: push bg about in step with fg (the search reads up to
    ``search_seconds`` of bg before the first decision), and memory stays bounded as in `align`.

    Attributes (read-only, trailing underscore): ``path_`` (bg frame of every fg frame decided so far),
    ``confidence_``, ``placement_`` (x, y once found), ``rate_`` (bg frames per fg frame, the aligner's
    current estimate), ``offset_`` (bg time = fg time + offset at fg frame 0, in seconds).

    Examples
    --------
    >>> import cv2, numpy as np
    >>> import vidkompy_stream as vk
    >>> rng = np.random.default_rng(1)
    >>> moving, still = (cv2.GaussianBlur(rng.integers(0, 256, (400, 700), np.uint8), (0, 0), 2) for _ in "ab")
    >>> bg = [moving[2 * t:2 * t + 180, 3 * t:3 * t + 320] // 2 + still[:180, :320] // 2 for t in range(60)]
    >>> engine = vk.Aligner(fg_rate=25, bg_rate=25)
    >>> decided = []
    >>> for t, frame in enumerate(bg):
    ...     decided += engine.push_bg(frame)
    ...     if t >= 8:
    ...         decided += engine.update(frame[50:140, 90:210])
    >>> decided += engine.finish()
    >>> engine.placement_, [d.bg_frame for d in decided[:3]], len(engine.path_)
    ((90, 50), [8, 9, 10], 52)
    """

    def __init__(self, fg_rate: float | str | Fraction, bg_rate: float | str | Fraction, *,
                 search: SearchParams = SearchParams(), params: AlignParams = AlignParams(),
                 **options: object) -> None:
        self._opts = options_from(None, None, None, options)
        self._params = (search, params)
        self._rates = {"fg": frame_rate("fg", fg_rate), "bg": frame_rate("bg", bg_rate)}
        self._handoff = _Handoff()
        self._decisions: list[Decision] = []
        self._new = 0
        self._job: Job | None = None
        self._error: BaseException | None = None
        self._worker: threading.Thread | None = None

    @property
    def path_(self) -> np.ndarray:
        return bg_frames(self._decisions)

    @property
    def confidence_(self) -> np.ndarray:
        return confidences(self._decisions)

    @property
    def placement_(self) -> tuple[int, int] | None:
        return None if self._job is None else self._job.position

    @property
    def rate_(self) -> float | None:
        return None if self._job is None else self._job.timing.rate

    @property
    def offset_(self) -> Fraction | None:
        return None if self._job is None else self._job.offset

    def push_bg(self, frame: np.ndarray) -> list[Decision]:
        """Hand over the next bg frame."""
        return self._push("bg", np.asarray(frame))

    def update(self, fg_frame: np.ndarray) -> list[Decision]:
        """Hand over the next fg frame; the decisions made since the last call."""
        return self._push("fg", np.asarray(fg_frame))

    def finish(self) -> list[Decision]:
        """fg (and bg) ended: decide the rest."""
        for role in ROLES:
            self._handoff.put(role, None)
        self._start()
        if self._worker is not None:
            self._worker.join()
        return self._collect()

    def _push(self, role: str, frame: np.ndarray) -> list[Decision]:
        if self._handoff.ended[role]:
            raise UsageError(f"{role} frame pushed after finish()")
        self._handoff.put(role, frame)
        self._start()
        return self._collect()

    def _start(self) -> None:
        """Start the worker once both streams have their first frame (the formats come from them)."""
        h = self._handoff
        if self._worker is None and all(h.queues[role] or h.ended[role] for role in ROLES):
            self._worker = threading.Thread(target=self._work, name="vidkompy-engine", daemon=True)
            self._worker.start()

    def _work(self) -> None:
        try:
            sources = {role: array_source(role, self._handoff.frames(role), self._rates[role]) for role in ROLES}
            run(self._opts, "", sources, self._decisions.append, self._started,  # no ffmpeg runs: no exe
                search=self._params[0], align=self._params[1])
        except BaseException as exc:  # raised in the caller's thread, by its next call
            self._error = exc
        finally:
            self._handoff.finish()

    def _started(self, job: Job) -> None:
        self._job = job

    def _collect(self) -> list[Decision]:
        if self._worker is not None:
            self._handoff.settle()
        if self._error is not None:
            raise self._error
        new, self._new = self._decisions[self._new:], len(self._decisions)
        return new
