"""Checkpoints: a run killed without a chance to write (SIGKILL, the OOM killer, a lost node)
still leaves its finished claims behind.

A run's checkpoint is a complete result file marked interrupted, `.<run id>.inprogress.json` in
the folder its result will go to, rewritten after each claim. Whether its run is alive is told by
a lock, not a pid: the kernel drops a dead process's flock, in any pid namespace (and on NFS,
across clients). The next run in the folder promotes the checkpoints of dead runs to results.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from kbench.errors import ResultError
from kbench.reading import load
from kbench.results import Result, Verdict, dump_json, safe_name, umask, write_new, write_synced


def checkpoint_path(folder: Path, run_id: str) -> Path:
    """`.<run id>.inprogress.json` (hidden: not a result yet), beside its lock `.<run id>.inprogress.lock`."""
    return folder / f".{safe_name(run_id, 'run id')}.inprogress.json"


def _lock_path(checkpoint: Path) -> Path:
    return checkpoint.with_name(checkpoint.name.removesuffix(".json") + ".lock")


def _try_lock(path: Path) -> int | None:
    """An open descriptor holding an exclusive flock on `path`, or None when another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~umask())
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except OSError:
        os.close(fd)
        raise
    return fd


def write_checkpoint(result: Result, pending: list[Verdict], path: Path) -> None:
    """The run so far as a complete result file, marked interrupted, with `pending` (the claims
    not finished, as skipped verdicts), replacing the last one atomically."""
    doc = result.as_dict()
    doc["interrupted"] = True
    doc["verdicts"] = doc["verdicts"] + [asdict(v) for v in pending]
    # `.<run>.inprogress.<pid>.tmp`: the stale-temporary sweep reads the pid before `.tmp`
    tmp = path.with_name(path.name.replace(".inprogress.json", f".inprogress.{os.getpid()}.tmp"))
    write_synced(tmp, dump_json(doc), exclusive=False)
    os.replace(tmp, path)


class Checkpointer:
    """Keeps one run's checkpoint up to date after each claim (kbench.runner calls it), holding its
    lock for as long as the run lives. A checkpoint that cannot be written is a warning, never the
    end of the run: the result is still written (or rescued) at the end."""

    def __init__(self, folder: Path, warn: Callable[[str], None]) -> None:
        self.folder, self.warn = folder, warn
        self.path: Path | None = None
        self._lock: int | None = None
        self._failed = False

    def __call__(self, result: Result, pending: list[Verdict]) -> None:
        if self._failed:
            return
        try:
            if self.path is None:
                self.path = checkpoint_path(self.folder, result.run_id)
                self._lock = _try_lock(_lock_path(self.path))
            write_checkpoint(result, pending, self.path)
        except OSError as exc:
            self._failed = True
            self.warn(f"cannot keep a checkpoint in {self.folder} ({exc.strerror or exc}); the run goes on, "
                      "and its result is written when it ends")

    def close(self) -> None:
        """The result is written: the checkpoint and its lock have served, whichever of them exists. One
        that cannot be removed (its folder replaced during the run) is a warning: the result is safe."""
        if self.path is not None:
            for path in (self.path, _lock_path(self.path)):
                try:
                    path.unlink(missing_ok=True)
                except OSError as exc:
                    self.warn(f"could not remove {path} ({exc.strerror or exc}); the result is written, remove it "
                              "by hand so that no later run promotes it")
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None


def recover_checkpoints(folder: Path, warn: Callable[[str], None], suite: str | None = None) -> list[Path]:
    """Promote the checkpoints of runs that are gone to result files (new names only), and say so.
    A live run's checkpoint (its lock is held) is left alone; one whose run finished (its result
    exists) is removed; one that does not validate is moved aside as `.<run>.inprogress.corrupt`;
    one of another suite than `suite` (the folder's) is left where it is, with a warning."""
    recovered: list[Path] = []
    for checkpoint in sorted(folder.glob(".*.inprogress.json")):
        lock = _lock_path(checkpoint)
        try:
            fd = _try_lock(lock)
        except OSError as exc:
            warn(f"cannot tell whether the run of {checkpoint} is alive ({exc.strerror or exc}); left as it is")
            continue
        if fd is None:
            continue  # its run is alive
        try:
            found = _promote(checkpoint, folder, warn, suite)
            recovered += [found] if found else []
            lock.unlink(missing_ok=True)
        finally:
            os.close(fd)
    return recovered


def _promote(checkpoint: Path, folder: Path, warn: Callable[[str], None], suite: str | None) -> Path | None:
    run_id = checkpoint.name[1:].removesuffix(".inprogress.json")
    if not checkpoint.exists():
        return None  # another run promoted it a moment ago
    if (folder / f"{run_id}.json").exists():  # killed between writing its result and tidying up
        checkpoint.unlink()
        return None
    try:
        doc = load(checkpoint)
    except ResultError as exc:
        aside = checkpoint.with_name(checkpoint.name.removesuffix(".json") + ".corrupt")
        os.replace(checkpoint, aside)
        warn(f"a killed run's checkpoint cannot be read ({exc}); moved aside to {aside}")
        return None
    if suite is not None and doc.get("suite") != suite:
        warn(f"{checkpoint} is a checkpoint of suite {doc.get('suite')!r}, not {suite!r}: not promoted into this "
             "suite's results (move it to its own suite's folder)")
        return None
    path = write_new(folder, {k: v for k, v in doc.items() if not k.startswith("_")})
    checkpoint.unlink()
    return path
