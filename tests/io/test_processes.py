"""processes: how the run shares the cores (the child lifecycle is exercised end to end in test_cli and
test_robustness)."""

import os

import pytest

from vidkompy_stream.io.processes import threads_each


def test_threads_each_shares_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    for cores, each in ((1, 1), (2, 1), (4, 1), (8, 3), (16, 7)):
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid, n=cores: set(range(n)))
        assert threads_each() == each
