"""Where a run's decided frames go: the output frame made (`compose.follow`), written to the sink (y4m on
stdout or to a file, or an encoder with fg's or bg's audio), and the decision written to --map-out."""

import dataclasses
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from .compose.follow import BgFollower, Composer, layout_converter
from .decision import Decision
from .errors import VidkompyError
from .io.inputs import Source
from .io.mapping import MappingWriter
from .io.outputs import AudioSource, EncoderSettings, EncoderSink, Sink, Y4MFileSink, Y4MSink, pick_audio
from .io.processes import ChildGroup
from .io.y4m import Y4MFormat
from .options import Options
from .params import REFINE_LEVELS, RefineParams
from .search.placement import Found

if TYPE_CHECKING:
    from .pipeline import Job

log = logging.getLogger(__name__)


def choose_audio(opts: Options, fg: Source, bg: Source, offset: float) -> AudioSource | None:
    """Audio for the file form: fg's own, else bg's from `offset` s (bg time at fg frame 0)."""
    return pick_audio(opts.audio,
                      AudioSource(fg.media, 0.0, "fg") if fg.media and fg.info and fg.info.has_audio else None,
                      AudioSource(bg.media, offset, "bg") if bg.media and bg.info and bg.info.has_audio else None)


def _placement_comment(found: Found) -> str:
    """The --map-out comment line recording what the search found (`read_mapping` skips comments)."""
    p = found.placement
    return (f"placement x={p.x} y={p.y} score={p.score:.4f} detail={p.detail:.4f} margin={p.margin:.4f} "
            f"templates={p.agreeing}/{p.templates} seed_fg={p.fg_frame} seed_bg={p.bg_frame} "
            f"offset={found.offset}")


class Output:
    """Where decided frames go: bg followed to the decided frame, fg pasted over it, the frame written to the
    sink (opened at the first frame, once the timing knows where fg starts in bg, for bg's audio), the
    decision to --map-out and to `record`. Without an output (`opts.output` None) nothing is composited:
    only the decisions are kept."""

    def __init__(self, opts: Options, exe: str, group: ChildGroup, job: "Job",
                 record: Callable[[Decision], None] | None) -> None:
        self.opts, self.exe, self.group, self.job, self.record = opts, exe, group, job, record
        fgf, bgf = job.fg.reader.format, job.bg.reader.format
        self.converter = layout_converter(fgf, bgf)
        self.composer = Composer(self.converter.format if self.converter else fgf, bgf, opts.feather, job.position)
        self.format = dataclasses.replace(bgf, rate=fgf.rate)
        self.follower = BgFollower(job.bg_ring, job.bg.spec)
        self.out = self.format.new_frame() if opts.output is not None else None
        self.position = job.position
        self.sink: Sink | None = None
        self.frames = 0
        self.low_below = REFINE_LEVELS.get(opts.refine, RefineParams()).low_confidence
        self.low_confidence = 0
        self.map_out = MappingWriter(opts.map_out) if opts.map_out else None
        if self.map_out is not None and job.scale != 1:
            self.map_out.comment(f"scale {job.scale} (fg resized before x,y apply; replay with --scale {job.scale})")
        if self.map_out is not None and job.found is not None:
            self.map_out.comment(_placement_comment(job.found))

    def emit(self, decision: Decision) -> None:
        i, fg_ring = decision.fg_frame, self.job.fg_ring
        j = self.follower.copy_frame(decision.bg_frame, self.out, i)
        if decision.x is not None and decision.y is not None:
            self.position = (decision.x, decision.y)
        if self.out is not None:
            fg_frame = fg_ring.frame(i)
            self.composer.paste(self.out, self.converter.convert(fg_frame) if self.converter else fg_frame,
                                self.position)
            if self.sink is None:
                log.debug("first output frame after reading %d fg and %d bg frames", fg_ring.end,
                          self.follower.ring.end)
                self.sink = _open_sink(self.opts, self.exe, self.format, self.group, self.job.fg, self.job.bg,
                                       float(self.job.offset))
            self.sink.write(self.out)
        final = Decision(i, j, decision.confidence, *self.position)
        if final.confidence is not None and final.confidence < self.low_below:
            self.low_confidence += 1
        if self.map_out is not None:
            self.map_out.write(final)
        if self.record is not None:
            self.record(final)
        fg_ring.release_before(i + 1)
        self.frames += 1

    def finish(self) -> None:
        if self.frames == 0:
            raise VidkompyError(f"fg has no frames: {self.job.fg.spec}")
        self.job.fg.finish()
        if self.follower.ring.eof:
            self.job.bg.finish()
        if self.sink is not None:
            self.sink.finish()
        if self.map_out is not None:
            self.map_out.commit()

    def abort(self) -> None:
        if self.sink is not None:
            self.sink.abort()
        if self.map_out is not None:
            self.map_out.abort()


def _open_sink(opts: Options, exe: str, fmt: Y4MFormat, group: ChildGroup, fg: Source, bg: Source,
               audio_offset: float) -> Sink:
    """Opened at the first frame, once the timing knows where fg starts in bg (for bg audio)."""
    if opts.output == "-":
        return Y4MSink(sys.stdout.buffer, fmt)
    if opts.output.lower().endswith(".y4m"):
        if opts.audio in ("fg", "bg"):
            raise VidkompyError(f"--audio {opts.audio}: a .y4m output carries no audio (use another container)")
        return Y4MFileSink(opts.output, fmt)
    audio = choose_audio(opts, fg, bg, audio_offset)
    if audio is not None:
        log.info("audio from %s (%s, from %.3f s)", audio.role, audio.path, audio.offset)
    settings = EncoderSettings(opts.vcodec, opts.crf, opts.preset, opts.encoder_args)
    return EncoderSink(exe, opts.output, fmt, group, settings, audio)

