"""scripts/gpu_evidence.py and scripts/gpu-plan.toml: the dry run fits the real plan into a slot and
refuses what cannot fit, bad plans are named field by field, and a tiny plan on the CPU cuts a stage
off keeping its finished claims, skips for time, and resumes without measuring again."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "gpu_evidence.py"


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_evidence", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_evidence"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


ge = _module()


def script(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "TRITON_INTERPRET": "1"})


# --------------------------------------------------------------------------------------------
# The real plan


def test_the_real_plan_fits_a_540_s_slot_and_says_what_it_would_skip() -> None:
    out = script("--plan", "--budget", "540")
    assert out.returncode == 0, out.stderr
    assert "ESTIMATES" in out.stdout and "Traceback" not in out.stderr
    plan = ge.load_plan(ge.DEFAULT_PLAN)
    expected = {s.name: ge.estimate(s, plan, ROOT / "results") for s in plan.stages}
    would = next(line for line in out.stdout.splitlines() if line.startswith("would run: "))
    running = would.removeprefix("would run: ").split(" (")[0].split(", ")
    assert running[0] == "flagship-b128" and "kernels-triton" in running
    assert sum(expected[n].seconds for n in running) <= 540 - plan.reserve_s
    for name in set(expected) - set(running):  # each skipped stage would not have fitted after those run
        assert f"would skip {name}: expected" in out.stdout or f"would skip {name}: needs cuda-build" in out.stdout
    assert "derived from NVIDIA H200 run(s) 20261204T065531Z" in out.stdout  # the flagship's source
    assert "kbench validate" in out.stdout and "--only claim ids exist" in out.stdout


def test_a_budget_the_first_stage_cannot_fit_is_refused_with_exit_2() -> None:
    out = script("--plan", "--budget", "100")
    assert out.returncode == 2
    assert "first-priority stage flagship-b128 cannot fit" in out.stderr and "Traceback" not in out.stderr


def test_the_plans_estimates_are_its_own_figures_where_no_result_records_the_stage(tmp_path: Path) -> None:
    plan = ge.load_plan(ge.DEFAULT_PLAN)
    for stage in plan.stages:
        e = ge.estimate(stage, plan, tmp_path)  # an empty results folder: nothing to derive from
        assert (e.seconds, e.derived) == (stage.expected_s, False) and stage.expected_note in e.source


def test_the_cuda_stage_needs_the_build_and_the_flagship_makes_the_baseline() -> None:
    plan = ge.load_plan(ge.DEFAULT_PLAN)
    assert plan.stage("kernels-cuda").needs == ("cuda-build",)
    assert plan.stage("flagship-b128").baseline and plan.stage("flagship-b128").repeatable
    b128 = plan.stage("flagship-b128").only
    assert "kat-slower-than-vit" not in b128 and "flashkat-training-speedup" not in b128  # they hold batch 1024


# --------------------------------------------------------------------------------------------
# Bad plans: one line naming the file and the field, exit 2


GOOD_STAGE = """
[[stages]]
name = "one"
priority = 1
suite = "suites/flashkat.toml"
only = ["flops-parity"]
covers = "FLOPs"
expected_s = 10
expected_note = "a guess"
limit_s = 60
"""


def plan_text(stage: str = GOOD_STAGE) -> str:
    return textwrap.dedent("""
        schema = 1
        target_gpu = "NVIDIA H200"
        reserve_s = 30
        grace_s = 10
        [estimates]
        source_gpu = "NVIDIA H100 80GB HBM3"
        factor = 1.0
        factor_note = "none"
        startup_s = 5
        startup_note = "imports"
        kernel = { warmup_ms = 100, budget_ms = 200, min_reps = 10, max_reps = 500, rounds = 5 }
        model = { warmup_ms = 1000, budget_ms = 3000, min_reps = 3, max_reps = 40, rounds = 3 }
        """) + stage


@pytest.mark.parametrize(("change", "field", "words"), [
    (("priority = 1\n", ""), "stages[0].priority", "missing"),
    (('suite = "suites/flashkat.toml"', 'suite = "suites/no-such.toml"'), "stages[0].suite", "cannot be read"),
    (('only = ["flops-parity"]', 'only = ["flops-parity", "no-such-claim"]'), "stages[0].only[1]",
     "has no claim 'no-such-claim'"),
    (("expected_s = 10", "expected_s = -5"), "stages[0].expected_s", "expected a number >= 0"),
    (("limit_s = 60", 'limit_s = "60"'), "stages[0].limit_s", "expected int or float"),
    (("limit_s = 60", "limit_s = 60\nargs = [\"--results\", \"x\"]"), "stages[0].args[0]", "set by the script"),
    (("limit_s = 60", "limit_s = 60\nneeds = [\"later\"]"), "stages[0].needs[0]", "no stage named 'later'"),
    (("limit_s = 60", "limit_s = 60\nexpected = 3"), "stages[0].expected", "unknown field"),
])
def test_a_malformed_plan_is_named_by_file_and_field(tmp_path: Path, change: tuple[str, str], field: str,
                                                     words: str) -> None:
    bad = tmp_path / "plan.toml"
    assert change[0] in GOOD_STAGE
    bad.write_text(plan_text(GOOD_STAGE.replace(*change)))
    with pytest.raises(ge.PlanError) as caught:
        ge.load_plan(bad)
    message = str(caught.value)
    assert message.startswith(f"{bad}: {field}: ") and words in message and "\n" not in message


def test_a_malformed_plan_exits_2_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "plan.toml"
    bad.write_text(plan_text(GOOD_STAGE.replace("expected_s = 10", "expected_s = -5")))
    out = script("--plan", "--plan-file", str(bad), timeout=60)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert f"{bad}: stages[0].expected_s: expected a number >= 0, got -5" in out.stderr


def test_timing_constants_that_are_not_kbenchs_are_named(tmp_path: Path) -> None:
    from kbench import runner

    bad = tmp_path / "plan.toml"
    bad.write_text(plan_text().replace("max_reps = 500, rounds = 5", "max_reps = 500, rounds = 4"))
    found = {name: {f: getattr(config, f) for f in ge.TIMING_FIELDS}
             for name, config in (("kernel", runner.FULL_KERNEL), ("model", runner.FULL_MODEL))}
    assert ge._constants(ge.load_plan(ge.DEFAULT_PLAN), found) == []
    (problem,) = ge._constants(ge.load_plan(bad), found)
    assert "estimates.kernel.rounds: the plan says 4 but kbench.runner has 5" in problem


# --------------------------------------------------------------------------------------------
# Fitting, estimating and resuming, without running anything


def tiny_plan(tmp_path: Path, stages: str) -> Any:
    path = tmp_path / "tiny.toml"
    path.write_text(plan_text(stages))
    return ge.load_plan(path)


def stage(name: str, priority: int, expected: float, extra: str = "") -> str:
    return GOOD_STAGE.replace('"one"', f'"{name}"').replace("priority = 1", f"priority = {priority}").replace(
        "expected_s = 10", f"expected_s = {expected}") + extra


def test_a_stage_runs_only_when_its_expected_cost_fits_what_is_left(tmp_path: Path) -> None:
    plan = tiny_plan(tmp_path, stage("a", 1, 100) + stage("b", 2, 50) + stage("c", 3, 20))
    expected = {s.name: ge.estimate(s, plan, tmp_path) for s in plan.stages}
    # 30 s reserve: 160 s leaves 130: a (100) fits, b (50) no longer does, c (20) still does
    outcomes = {o.stage: o for o in ge.simulate(plan, expected, 160, {})}
    assert [outcomes[n].status for n in "abc"] == ["ok", "skipped-time", "ok"]
    assert "expected 50 s" in outcomes["b"].reason and "30 s left" in outcomes["b"].reason
    exact = {o.stage: o.status for o in ge.simulate(plan, expected, 180, {})}  # 150 left: a + b exactly
    assert exact == {"a": "ok", "b": "ok", "c": "skipped-time"}
    assert ge.refusal(plan, ge.simulate(plan, expected, 129, {})) is not None  # a alone: 100 > 99
    assert ge.refusal(plan, ge.simulate(plan, expected, 129, {"a": ["done.json"]})) is None  # done: nothing to fit


def test_a_build_runs_only_with_room_for_what_needs_it(tmp_path: Path) -> None:
    build = GOOD_STAGE.replace('suite = "suites/flashkat.toml"\nonly = ["flops-parity"]\n',
                               'command = ["{python}", "-c", "pass"]\n')
    plan = tiny_plan(tmp_path, stage("first", 1, 10) + build.replace('"one"', '"build"').replace(
        "priority = 1", "priority = 2").replace("expected_s = 10", "expected_s = 30")
        + stage("uses", 2, 50, 'needs = ["build"]\n'))
    expected = {s.name: ge.estimate(s, plan, tmp_path) for s in plan.stages}
    roomy = {o.stage: o.status for o in ge.simulate(plan, expected, 30 + 10 + 80, {})}
    assert roomy == {"first": "ok", "build": "ok", "uses": "ok"}
    tight = {o.stage: o for o in ge.simulate(plan, expected, 30 + 10 + 79, {})}  # the build fits, build + uses not
    assert tight["build"].status == "skipped-time" and "needs it" in tight["build"].reason
    assert tight["uses"].status == "skipped-needs" and "needs build" in tight["uses"].reason
    done = {o.stage: o.status for o in ge.simulate(plan, expected, 1000, {"uses": ["x.json"]})}
    assert done == {"first": "ok", "build": "skipped-unneeded", "uses": "skipped-done"}


def h100_result(claim: str, seconds: float, step_ms: float, rounds: int) -> dict[str, Any]:
    """A run on the plan's source GPU: 4 train steps a round of `step_ms` at one size, FLOPs at three."""
    where = {"claim": claim, "subject": {"model": "m"}}
    steps = {**where, "case": {"size": "tiny"}, "metric": "step_ms", "samples": [step_ms] * 4 * rounds,
             "groups": [r for r in range(rounds) for _ in range(4)]}
    flops = [{**where, "case": {"size": size}, "metric": "flops", "samples": [1.0]}
             for size in ("tiny", "small", "base")]
    return {"created": "2026-11-23T01:00:00+00:00", "finished": f"2026-11-23T01:00:{seconds:02.0f}+00:00",
            "interrupted": False, "env": {"gpu": "NVIDIA H100 80GB HBM3", "argv": ["run"]},
            "plan": {"budget": 1.0, "seed": 0}, "verdicts": [{"claim": claim, "verdict": "reproduced"}],
            "measurements": [steps, *flops]}


def test_an_estimate_is_derived_from_a_recorded_gpu_run(tmp_path: Path) -> None:
    plan = tiny_plan(tmp_path, stage("one", 1, 999))
    folder = tmp_path / "results" / "flashkat"
    folder.mkdir(parents=True)
    path = folder / "20261123T010000Z-nvidia-h100-80gb-hbm3-aaaaaa.json"
    data = h100_result("flops-parity", 40, 1000.0, 1)
    path.write_text(json.dumps(data))
    e = ge.estimate(plan.stages[0], plan, tmp_path / "results")
    # a 1 s step: 1 warm-up + 3 timed (min_reps) + 6 others = 10 steps a round, 3 rounds = 30 s; untimed work
    # in that run: 40 s wall - 4 s timed = 36 s over 4 measurements; + 5 s start-up
    assert e.derived and e.seconds == pytest.approx(30 + 36 + 5)
    assert "20261123T010000Z" in e.source
    path.write_text(json.dumps({**data, "measurements": data["measurements"][:-1]}))  # a case missing
    assert not ge.estimate(plan.stages[0], plan, tmp_path / "results").derived
    path.write_text(json.dumps({**data, "interrupted": True}))
    assert not ge.estimate(plan.stages[0], plan, tmp_path / "results").derived
    data["env"]["gpu"] = "NVIDIA A100"  # another GPU's run is not this plan's source
    path.write_text(json.dumps(data))
    assert not ge.estimate(plan.stages[0], plan, tmp_path / "results").derived


def test_only_a_complete_run_here_at_this_commit_counts_as_done() -> None:
    here = ge.Here("NVIDIA H200", "nvidia-h200", "abc1234")
    good = {"interrupted": False, "env": {"gpu": "NVIDIA H200", "git_commit": "abc1234"}, "plan": {"budget": 1.0},
            "provenance": {"digest": "d"}, "verdicts": []}
    assert ge.counts(good, here, "d", quick=False)
    assert not ge.counts({**good, "interrupted": True}, here, "d", quick=False)
    assert not ge.counts({**good, "env": {"gpu": "NVIDIA H100 80GB HBM3", "git_commit": "abc1234"}}, here, "d", False)
    assert not ge.counts({**good, "env": {"gpu": "NVIDIA H200", "git_commit": "fff0000"}}, here, "d", quick=False)
    assert not ge.counts(good, here, "other sources", quick=False)
    assert not ge.counts(good, here, "d", quick=True)  # a full run is not a --quick stage's, nor the reverse
    assert not ge.counts(good, ge.Here("NVIDIA H200", "nvidia-h200", None), "d", quick=False)  # no commit known


def test_device_names_are_kbenchs() -> None:
    from kbench import env

    cpus = ({"gpu": "cpu", "cpu": "AMD EPYC", "cpu_count": 2}, {"gpu": "cpu", "cpu": "x86_64"})
    for info in ({"gpu": "NVIDIA H200"}, *cpus):
        assert ge.device_identity(info) == env.device_identity(info)
        assert ge.device_slug(info) == env.device_slug(info)


def test_a_stage_past_its_limit_gets_sigterm_first(tmp_path: Path) -> None:
    child = "import signal, sys, time\nsignal.signal(signal.SIGTERM, lambda *a: sys.exit(7))\ntime.sleep(60)\n"
    status, code, seconds = ge.run_limited([sys.executable, "-c", child], tmp_path / "log", 2, 20, os.environ)
    assert (status, code) == ("cut-off", 7) and seconds < 15  # it left on SIGTERM, long before the grace ran out
    status, code, _ = ge.run_limited([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "log", 1, 1,
                                     os.environ)
    assert status == "cut-off" and code == -signal.SIGTERM
    assert "cut off after" in (tmp_path / "log").read_text()


# --------------------------------------------------------------------------------------------
# End to end on the CPU: a toy suite through a kbench that registers the toy operation


TOY_KBENCH = """
import signal, sys, time
sys.path.insert(0, {root!r})
from tests.fixtures import toy_scale  # noqa: F401  (registers the toy operation)
from kbench import cli
from kbench.kinds import KINDS

speedup, real = KINDS["speedup"], KINDS["speedup"].collect
def collect(claim, ctx):
    if claim.id == "stuck":  # never ends and ignores SIGTERM: only SIGKILL stops it
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(600)
    return real(claim, ctx)
speedup.collect = collect
sys.exit(cli.main(sys.argv[1:]))
"""

TOY_SUITE = 'schema_version = 2\n[paper]\nid = "toy"\ntitle = "A toy paper"\n' + "".join(f"""
[[claims]]
id = "{cid}"
kind = "speedup"
quote = "q"
operation = "toy_scale"
baseline = {{ impl = "good", pass = "fwd+bwd" }}
candidate = {{ impl = "good", pass = "fwd+bwd" }}
cases = [{{ shape = [64, 8], dtype = "float32" }}]
rule = {{ at_least = 0.5 }}
""" for cid in ("a", "b", "stuck"))


def toy_stage(name: str, priority: int, only: str, expected: float, limit: float, suite: Path, extra: str = "") -> str:
    return f"""
[[stages]]
name = "{name}"
priority = {priority}
suite = "{suite}"
only = {only}
args = ["--quick"]
covers = "toy claims"
expected_s = {expected}
expected_note = "a toy"
limit_s = {limit}
{extra}
"""


def test_a_tiny_plan_on_the_cpu_cuts_off_skips_for_time_and_resumes(tmp_path: Path) -> None:
    suite = tmp_path / "toy.toml"
    suite.write_text(TOY_SUITE)
    helper = tmp_path / "toy_kbench.py"
    helper.write_text(TOY_KBENCH.format(root=str(ROOT)))
    plan = tmp_path / "plan.toml"
    plan.write_text(plan_text("").replace("reserve_s = 30", "reserve_s = 10").replace("grace_s = 10", "grace_s = 2")
                    + toy_stage("first", 1, '["a"]', 5, 120, suite, "baseline = true\nrepeatable = true")
                    + toy_stage("cut", 2, '["b", "stuck"]', 50, 16, suite)
                    + toy_stage("big", 3, '["a"]', 100000, 60, suite))
    out = tmp_path / "out"
    common = ["--plan-file", str(plan), "--out", str(out), "--device", "cpu", "--results", str(tmp_path / "none"),
              "--kbench", f"{sys.executable} {helper}"]
    first = script(*common, "--budget", "400")
    assert first.returncode == 1, first.stdout + first.stderr  # a stage was cut off
    outcomes = {o["stage"]: o for o in json.loads((out / "gpu-evidence.json").read_text())}
    assert [outcomes[n]["status"] for n in ("first", "cut", "big")] == ["ok", "cut-off", "skipped-time"]
    assert "big" in first.stdout and "skipped for time: expected 100000 s" in first.stdout
    assert outcomes["first"]["seconds"] > 0 and "what ran (measured seconds)" in first.stdout
    (flagship,) = outcomes["first"]["files"]
    assert (out / "baselines" / "cpu.json").read_text() == Path(flagship).read_text()  # the gate's baseline here
    kept = [json.loads(Path(f).read_text()) for f in outcomes["cut"]["files"]]
    assert len(kept) == 1 and kept[0]["interrupted"]  # SIGKILLed: its checkpoint was promoted to a result
    verdicts = {v["claim"]: v["verdict"] for v in kept[0]["verdicts"]}
    assert verdicts["b"] != "skipped" and verdicts["stuck"] == "skipped"  # the finished claim is kept
    assert not list((out / "res" / "toy").glob(".*.inprogress.json"))
    tables = first.stdout.split("== verdicts")[1]  # kbench show's tables, after the summary
    for written in [flagship, *outcomes["cut"]["files"]]:
        assert f"toy on cpu ({Path(written).stem})" in tables

    # Resumed with room for the flagship only, repeated: big is done (claim a, measured here at this
    # commit), cut is not (its file is interrupted) and does not fit; the flagship runs again and merges.
    again = script(*common, "--budget", "40", "--repeat-flagship")
    assert again.returncode == 0, again.stdout + again.stderr
    outcomes = {o["stage"]: o for o in json.loads((out / "gpu-evidence.json").read_text())}
    assert outcomes["big"]["status"] == "skipped-done" and flagship in outcomes["big"]["reason"]
    assert "skipped, done already" in again.stdout
    assert outcomes["cut"]["status"] == "skipped-time"
    assert outcomes["first"]["status"] == "ok" and "--seed 1" in (out / "first.log").read_text()
    merged = json.loads((out / "baselines" / "cpu.json").read_text())
    assert len(merged["plan"]["merged_from"]) == 2 and Path(flagship).stem in merged["plan"]["merged_from"]
