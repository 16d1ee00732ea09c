"""One shard of a suite as a unit of work any engine can run: a `kbench run` process.

A fresh process per shard: a CUDA error that spoils a process spoils one shard, and the engine's
placement (CUDA_VISIBLE_DEVICES from the pool, SLURM or Ray) is inherited as is. The shard writes
its result file into the job's own folder. Run again after a preemption, it first promotes what
the killed run checkpointed (kbench.checkpoints.recover_checkpoints), then runs only the claims of
its shard that no file in the folder finished: the parts join in the merge.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kbench import checkpoints, reading
from kbench.errors import KbenchError


@dataclass(frozen=True)
class ShardJob:
    suite: str  # path of the suite file, as the worker sees it
    index: int  # 1-based
    count: int
    folder: str  # where this job's result files go (one folder per submission)
    device: str = "auto"
    extra: tuple[str, ...] = ()  # more `kbench run` arguments (--quick, --seed N)
    env: Mapping[str, str] = field(default_factory=dict)  # e.g. CUDA_VISIBLE_DEVICES for the local pool

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"

    def command(self, only: Sequence[str] = ()) -> list[str]:
        cmd = [sys.executable, "-m", "kbench", "run", self.suite, "--shard", self.label, "--results", self.folder,
               "--device", self.device, *self.extra]
        return cmd + (["--only", *only] if only else [])

    def remaining(self) -> list[str] | None:
        """The shard's claims not yet finished by a file in the folder (None: none ran yet)."""
        # here: a ShardJob is pickled to SLURM or Ray workers, and importing it must not load torch or Triton
        from kbench import runner, suite

        loaded = suite.load(self.suite)
        mine = [c.id for c in runner.select_claims(loaded, (), runner.Shard(self.index - 1, self.count))]
        if not (Path(self.folder) / loaded.name).is_dir():
            return None
        checkpoints.recover_checkpoints(Path(self.folder) / loaded.name, lambda text: None)
        found, _ = reading.load_all(Path(self.folder))
        parts = [r for r in found if r.get("shard") == self.label]
        if not parts:
            return None
        finished = {v["claim"] for r in parts for v in r["verdicts"]
                    if not (v["verdict"] == "skipped" and v.get("reason") in runner.UNFINISHED)}
        return [c for c in mine if c not in finished]

    def __call__(self) -> dict[str, Any]:
        """Run the shard (or its unfinished claims); a summary of what it wrote."""
        todo = self.remaining()
        if todo == []:
            return {"shard": self.label, "status": "already done", "folder": self.folder}
        env = {**os.environ, **self.env}
        done = subprocess.run(self.command(todo or ()), env=env, capture_output=True, text=True, check=False)
        summary = {"shard": self.label, "exit": done.returncode, "folder": self.folder,
                   "cuda_visible_devices": env.get("CUDA_VISIBLE_DEVICES"), "host": os.uname().nodename,
                   "stderr_tail": done.stderr[-2000:], "stdout_tail": done.stdout[-2000:]}
        if done.returncode not in (0, 1):  # 1: a claim failed, a verdict says why; else the shard itself failed
            raise ShardFailed(f"shard {self.label} exited with {done.returncode}: {done.stderr[-600:].strip()}")
        return summary

class ShardFailed(KbenchError):
    """A shard process that could not run (a bad suite, no device), as opposed to a failing claim."""


def merged(folder: str | Path, results_dir: str | Path) -> Path:
    """Merge every shard file in `folder` into one result file under `results_dir`."""
    from kbench import merge, results  # merge judges again (the kinds: torch): only when shards are merged

    found, problems = reading.load_all(Path(folder))
    if problems:
        raise KbenchError(f"unreadable shard files in {folder}: {'; '.join(problems)}")
    if not found:
        raise KbenchError(f"no shard result in {folder}: every shard failed before writing (see its log)")
    if len(found) == 1:
        one = found[0]
        raise KbenchError(f"only shard {one.get('shard')} wrote a result ({one['_path']}); nothing to merge")
    result = merge.merge(found)
    path, problem = results.write_or_rescue(result, results_dir)
    if problem:
        raise KbenchError(f"could not write the merged result to {results_dir} ({problem}); saved to {path}")
    return path
