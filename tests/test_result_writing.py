"""Writing one result file: its exact text, its name, and what it does with whatever is already
in the folder (a planted link, stale temporaries, every name taken)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kbench import results
from kbench.errors import ResultError
from tests.test_results import _result


def test_json_is_indented_by_one_and_writes_other_objects_as_text() -> None:
    assert results.dump_json({"a": [1, Path("x")]}) == '{\n "a": [\n  1,\n  "x"\n ]\n}\n'


def test_json_never_holds_a_nan() -> None:
    with pytest.raises(ValueError):
        results.dump_json({"x": float("nan")})


def test_a_nonfinite_document_root_is_named_as_the_root() -> None:
    found: list[str] = []
    assert results._finite(float("inf"), "", found) is None
    assert found == ["/"]


def test_run_ids_are_time_device_and_six_hex_digits() -> None:
    created = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert re.fullmatch(r"20260102T030405Z-cpu-[0-9a-f]{6}", results.new_run_id(created, "cpu"))


def test_now_is_in_utc() -> None:
    assert results.utc_now().utcoffset() == timedelta(0)


@pytest.mark.parametrize(("field", "what"), [("run_id", "run id"), ("suite", "suite id")])
def test_a_bad_name_is_refused_naming_which_name(tmp_path: Path, field: str, what: str) -> None:
    result = _result()
    setattr(result, field, "a/b")
    with pytest.raises(ResultError, match=f"^{what} 'a/b' cannot be part of a path"):
        results.write(result, tmp_path)


def test_two_dots_anywhere_in_a_name_are_refused() -> None:
    with pytest.raises(ResultError):
        results.safe_name("a..b", "run id")
    assert results.safe_name("a.b", "run id") == "a.b"


def test_a_link_planted_at_the_temporary_name_is_never_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    doc = {"run_id": "r1"}
    (tmp_path / f".r1.{os.getpid()}.tmp").symlink_to(victim)
    with pytest.raises(FileExistsError):
        results.write_new(tmp_path, doc)
    assert victim.read_text() == "keep me"
    assert not (tmp_path / "r1.json").exists()


def test_an_exclusive_write_refuses_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("old")
    with pytest.raises(FileExistsError):
        results.write_synced(path, "new", exclusive=True)
    results.write_synced(path, "new", exclusive=False)
    assert path.read_text() == "new"


def test_ninety_nine_names_are_tried_then_the_write_is_refused(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text("{}")
    for n in range(2, 100):
        (tmp_path / f"r-{n}.json").write_text("{}")
    with pytest.raises(ResultError, match="no free name for run r"):
        results.write_new(tmp_path, {"run_id": "r"})
    assert not (tmp_path / "r-100.json").exists()
    (tmp_path / "r-99.json").unlink()
    assert results.write_new(tmp_path, {"run_id": "r"}) == tmp_path / "r-99.json"


def test_a_living_writer_is_alive_and_left_running() -> None:
    # the child takes every signal's default action, even where this run ignores SIGHUP (nohup)
    code = ("import signal, time\n"
            "for s in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM): signal.signal(s, signal.SIG_DFL)\n"
            "print('ready', flush=True)\ntime.sleep(30)")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        assert results._process_alive(str(child.pid))
        with pytest.raises(subprocess.TimeoutExpired):
            child.wait(timeout=0.5)  # the probe sends no signal that ends it
    finally:
        child.kill()
        child.wait()
    assert not results._process_alive(str(child.pid))
    assert results._process_alive(str(os.getpid()))


@pytest.mark.parametrize(("age_s", "removed"), [(3600.0, False), (3600.5, True)])
def test_a_living_writers_temporary_is_removed_only_after_an_hour(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   age_s: float, removed: bool) -> None:
    now = 2_000_000_000.0
    tmp = tmp_path / f".run.{os.getpid()}.tmp"
    tmp.write_text("")
    os.utime(tmp, (now - age_s, now - age_s))
    monkeypatch.setattr(results.time, "time", lambda: now)
    results._clean_stale_temporaries(tmp_path)
    assert tmp.exists() is not removed


def test_another_users_process_is_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_yours(pid: int, sig: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(results.os, "kill", not_yours)
    assert results._process_alive("12345")
