"""Ray (optional extra `kbench[ray]`): one task per shard, one whole GPU of a type each.

Each shard is a task with `num_gpus=1` (Ray sets CUDA_VISIBLE_DEVICES to that GPU) and, for a GPU
type, a sliver of the node resource Ray gives every GPU node (`accelerator_type:H100`). A task
whose node is lost is retried (`max_retries`); a task that raises is not (`retry_exceptions` is
off): a failing kernel is an `error` verdict inside its shard, a shard that cannot run at all is
reported. Each task returns its result file's text to the driver, which writes and merges them
there: no shared file system is needed.

The cluster is found at the profile's `[ray] address` ("auto": a running cluster this node has
joined, e.g. after `ray start --head`; "local": a cluster started inside this process for a
single machine). Before anything is submitted the cluster's resources are read, so a task that
could never be placed (GPUs asked of a cluster without them, a GPU type no node has) is refused
with what the cluster does have, instead of waiting forever. `--device cpu` without a GPU type
asks for one CPU per task and no GPU (with a type, tasks still go to that type's nodes: a way to
try the placement without using the GPUs).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kbench.errors import KbenchError
from kbench.scaleout.shard import ShardJob, merged

GPU_TYPE_RESOURCE = "accelerator_type:{}"


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise KbenchError("--backend ray needs Ray: pip install -e '.[ray]' in the kbench clone") from None
    return ray


def run_shard_returning_files(job: ShardJob) -> dict[str, Any]:
    """Run the shard in a folder of this node; return its summary and its result files' text."""
    local = tempfile.mkdtemp(prefix="kbench-ray-shard-")
    try:
        summary = ShardJob(job.suite, job.index, job.count, local, job.device, job.extra)()
        summary["files"] = {str(p.relative_to(local)): p.read_text() for p in Path(local).glob("*/*.json")
                            if not p.name.startswith(".")}
    finally:
        shutil.rmtree(local, ignore_errors=True)
    summary["node"] = _ray().get_runtime_context().get_node_id()
    summary["gpu_ids"] = [str(g) for g in _ray().get_gpu_ids()]
    return summary


def _connect(ray: Any, address: str) -> None:
    """Join the cluster at `address`, or say plainly that there is none."""
    if ray.is_initialized():
        return
    try:
        if address == "local":
            ray.init(include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise KbenchError(f"--backend ray: no Ray cluster reachable at address {address!r} ({type(exc).__name__}: "
                          f"{str(exc).strip().splitlines()[0][:200]}); start one (`ray start --head`), name it in "
                          "the profile's [ray] address, or set address = \"local\" to run on this machine alone"
                          ) from None


def _placeable(have: dict[str, float], num_gpus: float, resources: dict[str, float]) -> None:
    """Refuse tasks no node of the cluster could ever run (Ray would wait for such a node forever)."""
    if num_gpus and have.get("GPU", 0) < num_gpus:
        raise KbenchError(f"--backend ray: the cluster has no GPU (its resources: {_listed(have)}); add GPU nodes, "
                          "or run CPU tasks with --device cpu")
    for name in resources:
        if name not in have:
            types = [k.split(":", 1)[1] for k in have if k.startswith("accelerator_type:")]
            raise KbenchError(f"--gpu-type {name.split(':', 1)[1]}: no node of the cluster has that GPU type "
                              f"(types it has: {', '.join(types) or 'none'})")


def _listed(have: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in sorted(have.items()) if not k.startswith("node:")) or "none"


def submit(suite_path: str, shards: int, results_dir: str, gpu_type: str | None, address: str = "auto",
           device: str = "cuda", extra: tuple[str, ...] = (), max_retries: int = 3,
           say: Callable[[str], None] = print, num_gpus: float = 1) -> tuple[Path, list[dict[str, Any]]]:
    """One task per shard on GPUs of `gpu_type`; the files come back and are merged here."""
    ray = _ray()
    _connect(ray, address)
    num_gpus = 0 if device == "cpu" and not gpu_type else num_gpus  # a GPU type asked for is placed as asked
    resources = {GPU_TYPE_RESOURCE.format(gpu_type): 0.001} if gpu_type else {}
    _placeable(ray.cluster_resources(), num_gpus, resources)
    remote = ray.remote(run_shard_returning_files).options(num_gpus=num_gpus, num_cpus=1, resources=resources,
                                                           max_retries=max_retries, retry_exceptions=False)
    suite_text = str(Path(suite_path).resolve())
    jobs = [ShardJob(suite_text, i + 1, shards, "", device, extra) for i in range(shards)]
    say(f"{shards} shard tasks{f' on {gpu_type} GPUs' if gpu_type else ''}")
    pending = {remote.remote(job): job for job in jobs}
    summaries = []
    for ref, job in pending.items():  # a shard that failed is named; the others are kept and merged
        try:
            summaries.append(ray.get(ref))
        except Exception as exc:
            say(f"shard {job.label}: failed ({type(exc).__name__}: {str(exc).strip().splitlines()[-1][:300]})")
    Path(results_dir).mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=".ray-", dir=results_dir))
    for summary in summaries:
        for name, text in summary.pop("files").items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text)
        say(f"shard {summary['shard']}: exit {summary.get('exit')} on node {summary['node'][:8]}, "
            f"GPU {','.join(summary['gpu_ids']) or '-'}")
    return merged(folder, results_dir), summaries
