"""A running claim's checkpoint: its lock, its temporary, and what the user is told when either
cannot be kept or removed (kbench.checkpoints)."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from kbench import checkpoints, results
from kbench.errors import ResultError
from tests.test_results import _checkpoint, _pending, _result

RUN = "20260101T000000Z-cpu-live00"


def _keeper(tmp_path: Path) -> tuple[checkpoints.Checkpointer, list[str]]:
    said: list[str] = []
    (tmp_path / "toy").mkdir(exist_ok=True)
    keep = checkpoints.Checkpointer(tmp_path / "toy", said.append)
    keep(_result(RUN), [_pending()])
    return keep, said


def test_the_lock_file_follows_the_umask(tmp_path: Path) -> None:
    keep, _ = _keeper(tmp_path)
    lock = tmp_path / "toy" / f".{RUN}.inprogress.lock"
    assert stat.S_IMODE(lock.stat().st_mode) == 0o666 & ~results.umask()
    keep.close()


def test_a_checkpoint_is_written_under_its_own_temporary_then_replaced(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "toy"
    folder.mkdir()
    path = checkpoints.checkpoint_path(folder, RUN)
    leftover = folder / f".{RUN}.inprogress.{os.getpid()}.tmp"
    leftover.write_text("an earlier write of this process that never finished")
    written: list[str] = []
    real = checkpoints.write_synced
    monkeypatch.setattr(checkpoints, "write_synced",
                        lambda where, text, exclusive: (written.append(where.name), real(where, text, exclusive)))
    checkpoints.write_checkpoint(_result(RUN), [], path)
    assert written == [leftover.name] and not leftover.exists() and path.exists()


def test_a_bad_run_id_is_named_as_one(tmp_path: Path) -> None:
    with pytest.raises(ResultError, match="^run id 'a/b' cannot be part of a path"):
        checkpoints.checkpoint_path(tmp_path, "a/b")


def test_closing_twice_or_after_the_checkpoint_was_removed_by_hand_says_nothing(tmp_path: Path) -> None:
    keep, said = _keeper(tmp_path)
    assert keep.path is not None
    keep.path.unlink()
    keep.close()
    keep.close()
    assert said == [] and list((tmp_path / "toy").iterdir()) == []


def test_a_lock_taken_but_never_written_beside_is_removed_at_the_end(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "toy").mkdir()
    said: list[str] = []
    keep = checkpoints.Checkpointer(tmp_path / "toy", said.append)

    def full(*_: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoints, "write_checkpoint", full)
    keep(_result(RUN), [])
    keep.close()
    assert list((tmp_path / "toy").iterdir()) == []
    assert said == [f"cannot keep a checkpoint in {tmp_path / 'toy'} (No space left on device); the run goes on, "
                    "and its result is written when it ends"]


def test_a_checkpoint_that_cannot_be_removed_says_why_and_what_to_do(tmp_path: Path) -> None:
    keep, said = _keeper(tmp_path)
    folder = tmp_path / "toy"
    for leftover in folder.iterdir():
        leftover.unlink()
    folder.rmdir()
    folder.write_text("")  # the suite's folder became a file
    keep.close()
    checkpoint, lock = folder / f".{RUN}.inprogress.json", folder / f".{RUN}.inprogress.lock"
    assert said == [f"could not remove {p} (Not a directory); the result is written, remove it by hand so that "
                    "no later run promotes it" for p in (checkpoint, lock)]


def test_a_lock_that_cannot_be_taken_for_another_reason_is_reported_not_taken_as_alive(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, path = _checkpoint(tmp_path)

    def no_locks(*_: object) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(checkpoints.fcntl, "flock", no_locks)
    said: list[str] = []
    assert checkpoints.recover_checkpoints(folder, said.append) == [] and path.exists()
    assert said == [f"cannot tell whether the run of {path} is alive (No locks available); left as it is"]


def test_a_lock_another_run_tidied_meanwhile_is_no_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, path = _checkpoint(tmp_path)
    real = checkpoints._promote

    def promote_and_tidy(checkpoint: Path, *args: object) -> Path | None:
        found = real(checkpoint, *args)  # type: ignore[arg-type]
        checkpoint.with_name(checkpoint.name.removesuffix(".json") + ".lock").unlink()
        return found

    monkeypatch.setattr(checkpoints, "_promote", promote_and_tidy)
    said: list[str] = []
    assert len(checkpoints.recover_checkpoints(folder, said.append)) == 1 and said == []


def test_a_checkpoint_of_another_suite_says_where_it_belongs(tmp_path: Path) -> None:
    folder = tmp_path / "toy"
    folder.mkdir()
    stray = checkpoints.checkpoint_path(folder, RUN)
    checkpoints.write_checkpoint(_result(RUN, suite="elsewhere"), [_pending()], stray)
    said: list[str] = []
    checkpoints.recover_checkpoints(folder, said.append, "toy")
    assert said == [f"{stray} is a checkpoint of suite 'elsewhere', not 'toy': not promoted into this suite's "
                    "results (move it to its own suite's folder)"]
