"""The options dataclass is the CLI: every field is a flag, documented in --help and in the README."""

import dataclasses
from fractions import Fraction
from pathlib import Path

from vidkompy_stream.cli import _parser
from vidkompy_stream.options import Options, read_ahead

README = Path(__file__).resolve().parent.parent / "README.md"


def flags() -> list[str]:
    return ["--" + f.name.replace("_", "-") if "args" not in f.metadata else f.metadata["args"][-1]
            for f in dataclasses.fields(Options)]


def test_every_option_is_in_help_and_readme() -> None:
    help_text = _parser().format_help()
    readme = README.read_text()
    for flag in flags():
        assert flag in help_text, flag
        assert flag in readme, f"README does not document {flag}"


def test_defaults_parse_to_the_dataclass_defaults() -> None:
    opts = _parser().parse_args(["--bg", "b.mp4"])
    assert opts == Options(bg="b.mp4")
    assert (opts.vcodec, opts.audio, opts.pix_fmt, opts.feather, opts.overwrite) == ("libx264", "auto", "yuv420p", 0,
                                                                                     False)


def test_read_ahead_by_default_only_with_a_given_timing() -> None:
    assert read_ahead(Options(bg="b.mp4")) == 0
    assert read_ahead(Options(bg="b.mp4", offset=Fraction(1))) == 16
    assert read_ahead(Options(bg="b.mp4", map_in="m.csv")) == 16
    assert read_ahead(Options(bg="b.mp4", offset=Fraction(1), read_ahead=0)) == 0
    assert read_ahead(Options(bg="b.mp4", read_ahead=4)) == 4
