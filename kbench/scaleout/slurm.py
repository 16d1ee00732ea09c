"""SLURM through submitit (optional extra `kbench[slurm]`): one shard, one job.

Each shard is a job asking for one GPU (of a type, by the site profile's constraint or typed
GRES), optionally a whole node. On preemption or timeout submitit requeues the job (up to the
profile's `max_num_timeout`); the requeued shard keeps the claims the killed run finished (its
checkpoint) and runs the rest. When every job is done the driver merges the shard files.
`cluster = "local"` in the profile runs the same path with submitit's local executor (a process
per job on this machine): how the tests exercise it, and how to try a profile before a cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from kbench.errors import KbenchError
from kbench.scaleout.profile import Profile
from kbench.scaleout.shard import ShardJob, merged


def _submitit() -> Any:
    try:
        import submitit
    except ImportError:
        raise KbenchError("--backend slurm needs submitit: pip install -e '.[slurm]' in the kbench clone") from None
    return submitit


class _Requeueable:
    """A shard job submitit may requeue: resubmitted as is, it resumes from what is on disk."""

    def __init__(self, job: ShardJob) -> None:
        self.job = job

    def __call__(self) -> dict[str, Any]:
        return self.job()

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        return _submitit().helpers.DelayedSubmission(_Requeueable(self.job))


def executor(profile: Profile, gpu_type: str | None) -> Any:
    submitit = _submitit()
    s = profile.slurm
    ex = submitit.AutoExecutor(folder=s.get("folder", "slurm-logs"), cluster=s.get("cluster", "slurm"),
                               slurm_max_num_timeout=s.get("max_num_timeout", 3))
    params: dict[str, Any] = {"timeout_min": s.get("time_min", 120), "cpus_per_task": s.get("cpus_per_task", 8),
                              "mem_gb": s.get("mem_gb", 64)}
    if s.get("cluster", "slurm") == "slurm":
        params |= {"gpus_per_node": 1, "tasks_per_node": 1}
        if s.get("partition"):
            params["slurm_partition"] = s["partition"]
        if s.get("account"):
            params["slurm_account"] = s["account"]
        if s.get("exclusive"):
            params["slurm_exclusive"] = True
        request = profile.gpu_request(gpu_type)
        if "constraint" in request:
            params["slurm_constraint"] = request["constraint"]
        if "gres" in request:
            params["slurm_gres"] = request["gres"]
            del params["gpus_per_node"]
    ex.update_parameters(**params)
    return ex


def submit(suite_path: str, shards: int, results_dir: str, profile: Profile, gpu_type: str | None,
           device: str = "cuda", extra: tuple[str, ...] = (), say: Callable[[str], None] = print,
           wait: bool = True) -> Path | None:
    """Submit one job per shard; with `wait`, merge when all are done and return the merged file."""
    Path(results_dir).mkdir(parents=True, exist_ok=True)
    folder = str(Path(results_dir) / f".slurm-{_stamp()}")
    jobs = [ShardJob(str(Path(suite_path).resolve()), i + 1, shards, str(Path(folder).resolve()), device, extra)
            for i in range(shards)]
    ex = executor(profile, gpu_type)
    with ex.batch():
        submitted = [ex.submit(_Requeueable(job)) for job in jobs]
    say(f"submitted {len(submitted)} shard jobs ({', '.join(str(s.job_id) for s in submitted)}); shard files in "
        f"{folder}")
    if not wait:
        return None
    for job, handle in zip(jobs, submitted, strict=True):
        try:
            summary = handle.result()
            say(f"shard {job.label}: exit {summary.get('exit')} on {summary.get('host')}")
        except Exception as exc:  # a job that died: its shard is missing from the merge, which says so
            say(f"shard {job.label}: failed ({type(exc).__name__}: {str(exc)[:300]})")
    return merged(folder, results_dir)


def _stamp() -> str:
    import time

    return time.strftime("%Y%m%dT%H%M%S") + f"-{int(time.monotonic() * 1000) % 100000:05d}"
