"""The local default: one worker process per GPU of this host, never two on one GPU.

`kbench run SUITE --gpus all` (or `--gpus 0,2`) splits the suite into as many cost-balanced
shards as GPUs, starts one `kbench run --shard i/N` per GPU with CUDA_VISIBLE_DEVICES set to that
GPU alone, waits for all, and merges their files into one result. With one GPU (or none) the
suite runs in-process as a plain `kbench run`, and this module is not used.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kbench import reading
from kbench.errors import KbenchError
from kbench.scaleout.shard import ShardJob, merged


def parse_gpus(text: str, visible: int) -> list[str]:
    """`all`, or a comma-separated list of GPU indices among the `visible` ones."""
    if text == "all":
        return [str(i) for i in range(visible)]
    try:
        ids = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise KbenchError(f"--gpus: expected 'all' or indices such as 0,1, got {text!r}") from None
    bad = [i for i in ids if not 0 <= i < visible]
    if not ids or bad or len(set(ids)) != len(ids):
        raise KbenchError(f"--gpus: expected distinct indices among the {visible} visible GPU(s), got {text!r}")
    return [str(i) for i in ids]


def run_pool(suite_path: str, gpus: Sequence[str], results_dir: str, device: str = "cuda",
             extra: Sequence[str] = (), say: Callable[[str], None] = print) -> Path:
    """One shard per GPU (no more shards than claims), in parallel, then the merge. Returns the
    merged result's path."""
    from kbench import suite  # loads the kinds (torch, Triton): only once a pool runs, not when the CLI starts

    gpus = list(gpus)[:len(suite.load(suite_path).claims)]
    Path(results_dir).mkdir(parents=True, exist_ok=True)
    folder = tempfile.mkdtemp(prefix=".pool-", dir=results_dir)  # this run's shard files, beside the results
    jobs = [ShardJob(suite_path, i + 1, len(gpus), folder, device, tuple(extra), {"CUDA_VISIBLE_DEVICES": gpu})
            for i, gpu in enumerate(gpus)]
    say(f"{len(jobs)} shards, one per GPU ({', '.join(gpus)}); shard files in {folder}")
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(jobs)) as workers:  # threads only wait on the processes
        outcomes = list(workers.map(_attempt, jobs))
    for job, outcome in zip(jobs, outcomes, strict=True):
        say(f"shard {job.label} on GPU {job.env['CUDA_VISIBLE_DEVICES']}: {outcome}")
    path = merged(folder, results_dir)
    say(f"merged {len(jobs)} shards in {time.monotonic() - start:.0f} s: {path}")
    return path


def complete(path: Path) -> bool:
    """Whether a merged result holds every shard and every claim its shards were assigned."""
    plan = reading.load(path).get("plan") or {}
    return not plan.get("missing_shards") and not plan.get("missing_claims")


def _attempt(job: ShardJob) -> str:
    try:
        summary: dict[str, Any] = job()
    except KbenchError as exc:
        return f"failed ({exc})"
    return "done" if summary.get("exit") in (0, None) else f"exit {summary['exit']} (a claim failed; see its verdict)"
