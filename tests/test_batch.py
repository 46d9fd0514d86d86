"""Batches on Dask distributed: a local cluster of two process workers running real pairs, a failed pair
that does not stop the others, a re-run that skips what is done, a worker killed mid-task."""

import csv
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import decode
from vidkompy_stream.batch import Pair, batch, read_manifest
from vidkompy_stream.batchcli import run as run_batch
from vidkompy_stream.demo import DemoScene, make_pair
from vidkompy_stream.errors import UsageError

distributed = pytest.importorskip("distributed")
SCENE = DemoScene(bg_seconds=4, fg_seconds=2, start=1)


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  env={"OPENBLAS_NUM_THREADS": "1"}) as local:
        yield local


@pytest.fixture(scope="module")
def pair_files(ffmpeg_exe: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    made = make_pair(ffmpeg_exe, str(tmp_path_factory.mktemp("batch")), SCENE)
    return made.fg, made.bg


def results_of(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_a_failed_pair_does_not_stop_the_others_and_a_rerun_skips_the_done(
        cluster: object, pair_files: tuple[str, str], ffmpeg_exe: str, tmp_path: Path) -> None:
    fg, bg = pair_files
    manifest = tmp_path / "pairs.csv"
    manifest.write_text("fg,bg,output,crf,feather\n" + "".join(f"{fg},{bg},out/{n}.mp4,23,{n}\n" for n in range(3))
                        + f"{fg},missing.mp4,out/3.mp4,,\n")
    (tmp_path / "out").mkdir()
    args = [str(manifest), "--results", str(tmp_path / "results.csv"), "--scheduler",
            cluster.scheduler_address, "-q"]  # type: ignore[attr-defined]
    assert run_batch(args) == 1
    rows = results_of(tmp_path / "results.csv")
    assert [r["status"] for r in rows] == ["ok", "ok", "ok", "failed"]
    assert "missing.mp4" in rows[3]["error"] and "\n" not in rows[3]["error"]
    w, h, x, y = SCENE.crop
    for r in rows[:3]:
        assert (int(r["frames"]), int(r["x"]), int(r["y"])) == (SCENE.fg_seconds * SCENE.fg_rate, x, y)
        fmt, frames = decode(ffmpeg_exe, Path(r["output"]))
        assert (fmt.width, fmt.height, len(frames)) == (*SCENE.size, int(r["frames"]))
    assert run_batch(args) == 1
    again = results_of(tmp_path / "results.csv")
    assert [r["status"] for r in again] == ["skipped", "skipped", "skipped", "failed"]
    assert all(r["seconds"] == "" for r in again[:3]), "a skipped pair is not run"


def test_a_task_whose_worker_dies_is_run_again(cluster: object, pair_files: tuple[str, str], ffmpeg_exe: str,
                                               tmp_path: Path) -> None:
    fg, bg = pair_files
    pairs = [Pair(fg, bg, str(tmp_path / "a.mp4"), {"refine": "full", "lookahead": "1"})]
    with distributed.Client(cluster) as client:
        done: list[object] = []
        runner = threading.Thread(target=lambda: done.append(batch(pairs, client)))
        runner.start()
        deadline = time.monotonic() + 60
        while not any(client.processing().values()) and time.monotonic() < deadline:
            time.sleep(0.05)
        busy = next(address for address, tasks in client.processing().items() if tasks)
        time.sleep(0.5)  # the job is under way (its decoders started)
        os.kill(client.run(os.getpid, workers=[busy])[busy], signal.SIGKILL)
        runner.join(timeout=120)
    assert done and [r.status for r in done[0]] == ["ok"], done  # type: ignore[attr-defined]
    fmt, frames = decode(ffmpeg_exe, tmp_path / "a.mp4")
    assert len(frames) == SCENE.fg_seconds * SCENE.fg_rate


def test_manifests_are_csv_or_json_lines_with_options_as_columns(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("fg,bg,output,offset,overwrite,search-seconds\na.mp4,b.mp4,o.mp4,1.5,yes,\n")
    (pair,) = read_manifest(str(tmp_path / "m.csv"))
    assert pair.fg == str(tmp_path / "a.mp4") and pair.options == {"offset": "1.5", "overwrite": True}
    (tmp_path / "m.jsonl").write_text('{"fg": "/x/a.mp4", "bg": "b.mp4", "output": "o.mp4", "crf": 20}\n\n')
    (pair,) = read_manifest(str(tmp_path / "m.jsonl"))
    assert pair.fg == "/x/a.mp4" and pair.bg == str(tmp_path / "b.mp4") and pair.options == {"crf": 20}
    (tmp_path / "bad.csv").write_text("fg,output\na.mp4,o.mp4\n")
    with pytest.raises(UsageError, match="no bg"):
        read_manifest(str(tmp_path / "bad.csv"))


def test_usage_errors_exit_2_and_name_the_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_batch([str(tmp_path / "m.csv")]) == 2
    assert "--results" in capsys.readouterr().err
    assert run_batch([str(tmp_path / "none.csv"), "--results", str(tmp_path / "r.csv"), "--workers", "1"]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_without_dask_the_command_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "distributed" else real(name, *a))
    assert run_batch([str(tmp_path / "m.csv"), "--results", str(tmp_path / "r.csv")]) == 1
    assert "pip install 'vidkompy-stream[dask]'" in capsys.readouterr().err


def test_a_pair_in_three_segments_is_joined_into_the_single_runs_frames(
        cluster: object, ffmpeg_exe: str, tmp_path: Path) -> None:
    """fg 6 s in segments of 2 s: three tasks after the first one's search; every fg frame in the joined output
    (one stream copy, fg's audio over the whole), over the same bg frame as in one run (the truth, here)."""
    scene = DemoScene(bg_seconds=10, fg_seconds=6, start=2)
    made = make_pair(ffmpeg_exe, str(tmp_path), scene)
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"fg,bg,output,map_out\n{made.fg},{made.bg},joined.mp4,joined.csv\n")
    args = [str(manifest), "--results", str(tmp_path / "results.csv"), "--segment-seconds", "2", "--scheduler",
            cluster.scheduler_address, "-q"]  # type: ignore[attr-defined]
    assert run_batch(args) == 0
    (row,) = results_of(tmp_path / "results.csv")
    assert row["status"] == "ok" and int(row["frames"]) == len(made.truth)
    shown = [int(line.split(",")[1]) for line in (tmp_path / "joined.csv").read_text().splitlines()
             if line[0].isdigit()]
    assert shown == made.truth.tolist()
    fmt, frames = decode(ffmpeg_exe, tmp_path / "joined.mp4")
    assert (fmt.width, fmt.height, fmt.rate, len(frames)) == (*scene.size, scene.fg_rate, len(made.truth))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no parts left behind"


def test_any_failure_of_a_pair_is_its_row(pair_files: tuple[str, str], tmp_path: Path) -> None:
    from vidkompy_stream.batch import run_pair

    fg, bg = pair_files
    unknown = run_pair(1, Pair(fg, bg, str(tmp_path / "a.mp4"), {"nonsense": 1}), {})
    assert unknown.status == "failed" and "unexpected option(s) nonsense" in unknown.error
    bad = run_pair(2, Pair(fg, bg, str(tmp_path / "b.mp4"), {"offset": "soon"}), {})
    assert bad.status == "failed" and "not a number of seconds" in bad.error
    assert not list(tmp_path.iterdir())
