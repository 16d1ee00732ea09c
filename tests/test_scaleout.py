"""Across GPUs and machines: cost-balanced shards, the local GPU pool, SLURM through submitit's
local executor, a local Ray cluster with fake GPUs of two types, and the clean-GPU check against
a fake NVML. CPU only: the shards are `kbench run` processes on the CPU."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from kbench import cotenancy, reading, results, runner, suite
from kbench.errors import KbenchError, SuiteError
from kbench.kinds import KINDS
from kbench.scaleout import pool, profile, shard

ROOT = Path(__file__).resolve().parent.parent
SUITES = sorted((ROOT / "suites").glob("*.toml"))
CHEAP = """schema_version = 2
[paper]
id = "cheap"
title = "Claims that take a second on a CPU"

[[claims]]
id = "reference-is-precise"
kind = "max-error"
quote = "q"
operation = "rational"
subject = { impl = "torch_reference" }
cases = [{ shape = [4, 16], dtype = "float32" }]
options = { seeds = 2 }
rule = { at_most = 1e-3 }

[[claims]]
id = "reference-repeats"
kind = "bitwise-repeat"
quote = "q"
operation = "rational"
subject = { impl = "torch_reference" }
cases = [{ shape = [4, 16], dtype = "float32" }]
rule = { at_least = 1.0 }

[[claims]]
id = "same-flops"
kind = "flops-ratio"
quote = "q"
baseline = { model = "mlp" }
candidate = { model = "mlp" }
cases = [{ size = "small" }]
rule = { at_least = 0.99, at_most = 1.01 }
"""


@pytest.mark.parametrize("path", SUITES, ids=lambda p: p.stem)
def test_shards_cover_every_claim_once_and_balance_expected_cost(path: Path) -> None:
    s = suite.parse(path.read_text(), str(path))  # the plan needs claims and options, not the registry
    for count in range(1, min(6, len(s.claims)) + 1):
        plan = runner.shard_plan(list(s.claims), count)
        ids = [c.id for part in plan for c in part]
        assert sorted(ids) == sorted(c.id for c in s.claims) and len(ids) == len(s.claims)
        assert plan == runner.shard_plan(list(s.claims), count)  # deterministic
        loads = [sum(KINDS[c.kind].cost(c) for c in part) for part in plan]
        biggest = max(KINDS[c.kind].cost(c) for c in s.claims)
        assert max(loads) - min(loads) <= biggest + 1e-9  # greedy, costliest first: within one claim


def test_costly_claims_go_to_different_shards() -> None:
    path = ROOT / "suites" / "kat.toml"
    s = suite.parse(path.read_text(), str(path))
    costliest = sorted(s.claims, key=lambda c: -KINDS[c.kind].cost(c))[:2]  # training claims: minutes
    assert {c.kind for c in costliest} == {"train-speedup", "matched-accuracy"}
    plan = runner.shard_plan(list(s.claims), 2)
    assert all(sum(c in costliest for c in part) == 1 for part in plan)
    assert [c.id for c in plan[1]] == [c.id for c in runner.select_claims(s, (), runner.Shard(1, 2))]
    only = plan[1][0].id  # --only filters within the shard: the split does not move
    assert [c.id for c in runner.select_claims(s, (only,), runner.Shard(1, 2))] == [only]
    with pytest.raises(KbenchError, match="holds no claims named by --only"):
        runner.select_claims(s, (only,), runner.Shard(0, 2))


def _cheap(tmp_path: Path) -> Path:
    path = tmp_path / "cheap.toml"
    path.write_text(CHEAP)
    return path


def _single(path: Path) -> dict[str, Any]:
    one = runner.run(suite.load(path), runner.RunOptions(device=torch.device("cpu")))
    return {v.claim: (v.verdict, v.measured) for v in one.verdicts}


def _verdicts(path: Path) -> dict[str, Any]:
    return {v["claim"]: (v["verdict"], v["measured"]) for v in reading.load(path)["verdicts"]}


def test_the_local_pool_gives_each_shard_its_own_gpu_and_merges(tmp_path: Path) -> None:
    path = _cheap(tmp_path)
    merged = pool.run_pool(str(path), ["0", "1"], str(tmp_path / "results"), device="cpu", say=lambda m: None)
    data = reading.load(merged)
    assert data["plan"]["shards"] == ["1/2", "2/2"] and data["plan"]["missing_shards"] == []
    assert _verdicts(merged) == _single(path)
    found, _ = reading.load_all(next((tmp_path / "results").glob(".pool-*")))
    assert sorted(r["env"]["cuda_visible_devices"] for r in found) == ["0", "1"]  # one GPU each, never shared


@pytest.mark.parametrize(("text", "expected"), [("all", ["0", "1", "2"]), ("2,0", ["2", "0"])])
def test_gpu_lists_are_read(text: str, expected: list[str]) -> None:
    assert pool.parse_gpus(text, 3) == expected


@pytest.mark.parametrize("text", ["3", "0,0", "x", ""])
def test_bad_gpu_lists_are_refused(text: str) -> None:
    with pytest.raises(KbenchError, match="--gpus"):
        pool.parse_gpus(text, 3)


def test_a_requeued_shard_runs_only_what_its_killed_run_left(tmp_path: Path) -> None:
    path = _cheap(tmp_path)
    folder = tmp_path / "job"
    plan = runner.shard_plan(list(suite.load(path).claims), 1)[0]
    first = runner.run(suite.load(path), runner.RunOptions(device=torch.device("cpu"), only=(plan[0].id,),
                                                           shard=runner.Shard(0, 1), replicates=2))  # as the CLI
    first.verdicts += [runner._unjudged(c, "skipped", runner.KILLED) for c in plan[1:]]  # as the checkpoint keeps it
    results.write(first, folder)
    job = shard.ShardJob(str(path), 1, 1, str(folder), "cpu")
    assert job.remaining() == [c.id for c in plan[1:]]
    assert job.command(job.remaining() or ())[-3:] == ["--only", plan[1].id, plan[2].id]
    summary = job()
    assert summary["exit"] == 0 and job.remaining() == []
    found, _ = reading.load_all(folder)
    from kbench import merge

    joined = merge.merge(found)
    assert {v.claim for v in joined.verdicts if v.verdict != "skipped"} == {c.id for c in plan}
    assert not joined.interrupted


def test_slurm_submission_runs_end_to_end_on_submitits_local_executor(tmp_path: Path) -> None:
    pytest.importorskip("submitit")
    from kbench.scaleout import slurm

    path = _cheap(tmp_path)
    prof = profile.Profile("site.toml", {"cluster": "local", "folder": str(tmp_path / "logs"), "time_min": 5})
    merged = slurm.submit(str(path), 2, str(tmp_path / "results"), prof, None, "cpu", say=lambda m: None)
    assert merged is not None and _verdicts(merged) == _single(path)


def test_slurm_flags_come_from_the_site_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    submitit = pytest.importorskip("submitit")
    from kbench.scaleout import slurm

    site = tmp_path / "site.toml"
    site.write_text('[slurm]\npartition = "gpu"\nexclusive = true\n[slurm.gpu_types]\nH100 = { constraint = "h100" }'
                    '\nA100 = { gres = "gpu:a100:1" }\n')
    prof = profile.load(site)
    seen: dict[str, Any] = {}

    class Fake:
        def __init__(self, **kwargs: Any) -> None:
            seen.update(kwargs)

        def update_parameters(self, **kwargs: Any) -> None:
            seen.update(kwargs)

    monkeypatch.setattr(submitit, "AutoExecutor", Fake)
    slurm.executor(prof, "H100")
    assert seen["slurm_constraint"] == "h100" and seen["gpus_per_node"] == 1 and seen["slurm_exclusive"] is True
    assert seen["slurm_partition"] == "gpu" and seen["cluster"] == "slurm"
    seen.clear()
    slurm.executor(prof, "A100")
    assert seen["slurm_gres"] == "gpu:a100:1" and "gpus_per_node" not in seen
    with pytest.raises(SuiteError, match="GPU type 'V100'"):
        slurm.executor(prof, "V100")


@pytest.mark.parametrize(("text", "field"), [
    ("[slurm]\ntime_min = 0\n", "slurm.time_min"), ("[slum]\n", "slum"),
    ('[slurm.gpu_types]\nH100 = { constraint = "h", gres = "g" }\n', "slurm.gpu_types.H100"),
    ("[slurm]\npartition = \n", ""),
])
def test_a_bad_profile_names_the_field(tmp_path: Path, text: str, field: str) -> None:
    site = tmp_path / "site.toml"
    site.write_text(text)
    with pytest.raises(SuiteError) as info:
        profile.load(site)
    assert info.value.field == field


@pytest.fixture(scope="module")
def ray_cluster() -> Any:
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "num_gpus": 0, "include_dashboard": False})
    nodes = {kind: cluster.add_node(num_cpus=1, num_gpus=1, resources={f"accelerator_type:{kind}": 1})
             for kind in ("H100", "A100")}
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
    yield {kind: node.node_id for kind, node in nodes.items()}
    ray.shutdown()
    cluster.shutdown()


def test_ray_sends_each_shard_to_its_gpu_type_and_merges_on_the_driver(tmp_path: Path, ray_cluster: Any) -> None:
    from kbench.scaleout import ray_backend

    path = _cheap(tmp_path)
    single = _single(path)
    for kind in ("H100", "A100"):
        merged, summaries = ray_backend.submit(str(path), 2, str(tmp_path / kind), kind, device="cpu",
                                               say=lambda m: None)
        assert {s["node"] for s in summaries} == {ray_cluster[kind]}  # every shard on a node of that type
        assert all(s["gpu_ids"] == ["0"] for s in summaries)  # one whole GPU each
        assert _verdicts(merged) == single


class FakeNvml:
    """pynvml's calls kbench makes, answering as a GPU shared with `pids` would."""

    NVML_CLOCK_SM = 1

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids

    def nvmlDeviceGetComputeRunningProcesses(self, handle: Any) -> list[Any]:  # noqa: N802 (pynvml's names)
        return [SimpleNamespace(pid=p, usedGpuMemory=1 << 20) for p in self.pids]

    def nvmlDeviceGetGraphicsRunningProcesses(self, handle: Any) -> list[Any]:  # noqa: N802
        raise RuntimeError("not supported")  # one query failing leaves the other's answer

    def nvmlDeviceGetHandleByIndex(self, index: int) -> str:  # noqa: N802
        return f"gpu{index}"

    def nvmlDeviceGetUUID(self, handle: Any) -> bytes:  # noqa: N802
        return b"GPU-1234"

    def nvmlDeviceGetName(self, handle: Any) -> str:  # noqa: N802
        return "NVIDIA H200"

    def nvmlDeviceGetComputeMode(self, handle: Any) -> int:  # noqa: N802
        return 0

    def nvmlDeviceGetClockInfo(self, handle: Any, kind: int) -> int:  # noqa: N802
        return 1980

    def nvmlDeviceGetMaxClockInfo(self, handle: Any, kind: int) -> int:  # noqa: N802
        return 1980

    def nvmlDeviceGetPowerManagementLimit(self, handle: Any) -> int:  # noqa: N802
        raise RuntimeError("not supported")


@pytest.mark.parametrize(("pids", "company"), [
    ([100], []), ([100, 4242], ["pid 4242"]),  # our own pid 100, and a stranger
    ([9001], []), ([9001, 4242], ["4242", "9001"]),  # in a container: our own process under a host pid
])
def test_other_processes_on_the_gpu_are_found(pids: list[int], company: list[str]) -> None:
    found = cotenancy.others(FakeNvml(pids), "gpu0", own_pid=100)
    assert len(found) == len(company) and all(pid in text for pid, text in zip(company, found, strict=True))


def test_the_device_is_described_as_nvml_sees_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda d: SimpleNamespace())  # no uuid: by index
    info = cotenancy.describe(torch.device("cuda", 0), FakeNvml([]))
    assert info["gpu_uuid"] == "GPU-1234" and info["gpu_name_nvml"] == "NVIDIA H200" and info["compute_mode"] == 0
    assert info["sm_clock_max_nvml_mhz"] == 1980 and info["power_limit_w"] is None and info["nvml"] == "ok"
    assert cotenancy.checker(torch.device("cpu")) is None and "not used" in cotenancy.describe(torch.device("cpu"))[
        "nvml"]


def test_a_timing_with_company_gets_no_speed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_runner import claim

    calls = iter([[], ["pid 4242"]] * 4)  # alone before, company after
    monkeypatch.setattr(cotenancy, "checker", lambda device: lambda: next(calls))
    path = tmp_path / "toy.toml"
    path.write_text('schema_version = 2\n[paper]\nid = "toy"\ntitle = "t"\n' + claim("c", "good", "good"))
    result = runner.run(suite.load(path), runner.RunOptions(device=torch.device("cpu"), quick=True))
    (v,) = result.verdicts
    assert v.verdict == "inconclusive" and "contaminated" in (v.reason or "")
    timed = [m for m in result.measurements if m.metric == "time_ms"]
    assert timed and all(m.status == "skipped" and m.extra["contaminated"] == ["pid 4242"] for m in timed)
    assert result.env["cotenancy_check"] == "on"


def _shard_file(path: Path, folder: Path, index: int, only: tuple[str, ...] = (), quick: bool = False) -> Path:
    result = runner.run(suite.load(path), runner.RunOptions(device=torch.device("cpu"), quick=quick, only=only,
                                                            shard=runner.Shard(index, 2)))
    return results.write(result, folder)


def test_a_merge_names_the_claims_a_shard_left_out(tmp_path: Path) -> None:
    from kbench import merge

    path = _cheap(tmp_path)
    first = runner.shard_plan(list(suite.load(path).claims), 2)[0]
    a = _shard_file(path, tmp_path / "a", 0, only=(first[0].id,))  # --only inside a shard
    b = _shard_file(path, tmp_path / "b", 1)
    joined = merge.merge([reading.load(a), reading.load(b)])
    assert joined.plan["missing_shards"] == [] and joined.plan["missing_claims"] == [c.id for c in first[1:]]


def test_shards_measured_differently_or_misnumbered_are_refused(tmp_path: Path) -> None:
    import json

    from kbench import merge

    path = _cheap(tmp_path)
    a = _shard_file(path, tmp_path / "a", 0)
    b = _shard_file(path, tmp_path / "b", 1, quick=True)
    with pytest.raises(merge.MergeError, match="plan"):
        merge.merge([reading.load(a), reading.load(b)])
    for bad in ("x", "", "0/2", "3/2", "1/2/3"):
        data = json.loads(a.read_text())
        data["shard"] = bad
        edited = tmp_path / "edited.json"
        edited.write_text(json.dumps(data))
        with pytest.raises(results.ResultError, match="shard: expected i/N"):
            reading.load(edited)


class FakeRay:
    """Just enough of Ray for submit's checks before anything is submitted."""

    def __init__(self, resources: dict[str, float], fails: Exception | None = None) -> None:
        self.resources, self.fails, self.started = resources, fails, False

    def is_initialized(self) -> bool:
        return self.started

    def init(self, **kwargs: Any) -> None:
        if self.fails:
            raise self.fails
        self.started = True

    def cluster_resources(self) -> dict[str, float]:
        return self.resources

    def remote(self, fn: Any) -> Any:
        raise AssertionError("nothing may be submitted when no node can run it")


@pytest.mark.parametrize(("resources", "gpu_type", "device", "message"), [
    ({"CPU": 8.0}, None, "cuda", "the cluster has no GPU"),
    ({"CPU": 8.0, "GPU": 2.0, "accelerator_type:A100": 2.0}, "H100", "cuda", "types it has: A100"),
])
def test_ray_refuses_tasks_no_node_could_run(monkeypatch: pytest.MonkeyPatch, resources: dict[str, float],
                                              gpu_type: str | None, device: str, message: str) -> None:
    from kbench.errors import KbenchError
    from kbench.scaleout import ray_backend

    monkeypatch.setattr(ray_backend, "_ray", lambda: FakeRay(resources))
    with pytest.raises(KbenchError, match=message):
        ray_backend.submit("suites/kat.toml", 2, "unused", gpu_type, device=device)


def test_ray_without_a_cluster_says_how_to_get_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from kbench.errors import KbenchError
    from kbench.scaleout import ray_backend

    monkeypatch.setattr(ray_backend, "_ray", lambda: FakeRay({}, ConnectionError("Could not find any running Ray")))
    with pytest.raises(KbenchError, match="no Ray cluster reachable at address 'auto'.*ray start --head"):
        ray_backend.submit("suites/kat.toml", 2, "unused", None, device="cpu")


@pytest.mark.parametrize("backend", ["ray", "slurm"])
def test_submit_passes_the_run_options_to_every_shard(backend: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """`submit` takes --seed, --replicates and --quick from the declaration `run` uses, and every
    shard gets them (before, a cluster run always used seed 0)."""
    from kbench import cli
    from kbench.scaleout import ray_backend, slurm

    given: dict[str, tuple[str, ...]] = {}

    def fake_ray(suite_path: str, shards: int, results_dir: str, gpu_type: str | None, address: str = "auto",
                 device: str = "cuda", extra: tuple[str, ...] = (), max_retries: int = 3) -> tuple[None, list[str]]:
        given["extra"] = extra
        return None, []

    def fake_slurm(suite_path: str, shards: int, results_dir: str, profile: object, gpu_type: str | None,
                   device: str = "cuda", extra: tuple[str, ...] = (), wait: bool = True) -> None:
        given["extra"] = extra

    monkeypatch.setattr(ray_backend, "submit", fake_ray)
    monkeypatch.setattr(slurm, "submit", fake_slurm)
    site = tmp_path / "site.toml"
    site.write_text('[slurm]\npartition = "gpu"\n')
    options = ["--seed", "123", "--replicates", "3", "--quick"]
    argv = ["submit", "suites/kat.toml", "--backend", backend, "--shards", "2", "--profile", str(site), *options]
    assert cli.main(argv) == 0
    run = cli._parser().parse_args(["run", "suites/kat.toml", *options])
    assert list(given["extra"]) == cli.options.run_arguments(run) == ["--quick", "--seed", "123", "--replicates", "3"]
    with pytest.raises(SystemExit) as refused:  # a bad seed is refused as `run` refuses it
        cli.main([*argv[:-5], "--seed", "x"])
    assert refused.value.code == 2
