"""Kernels that know how kbench times them, run for real on the CPU (no fake timer): each ends in
an `error` naming what it did, through a speedup and a bandwidth-fraction claim; an honest kernel
keeps its speed with every defence on."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from kbench import reading, results, runner, suite
from kbench.claims import Claim
from tests.test_kinds import HEAD, kernel_claim


def run(tmp_path: Path, body: str) -> runner.Result:
    path = tmp_path / "toy.toml"
    path.write_text(HEAD + body)
    result = runner.run(suite.load(path), runner.RunOptions(device=torch.device("cpu"), quick=True))
    reading.load(results.write(result, tmp_path / "results"))
    return result


def speedup(impl: str) -> str:
    return kernel_claim("speedup", f'baseline = {{ impl = "good", pass = "fwd" }}\n'
                                   f'candidate = {{ impl = "{impl}", pass = "fwd" }}', "{ at_least = 1.0 }")


def fraction(impl: str) -> str:
    return kernel_claim("bandwidth-fraction", f'subject = {{ impl = "{impl}", pass = "fwd" }}', "{ at_least = 0.0 }")


@pytest.fixture
def real_clock() -> Iterator[None]:
    yield
    real = getattr(time, "_real_perf_counter", None)
    if real is not None:
        time.perf_counter = real
        del time._real_perf_counter  # type: ignore[attr-defined]


@pytest.mark.parametrize(("impl", "why"), [
    ("clamps_input", "edge of range"),
    ("defers_output", "not a plain dense torch.Tensor"),
    ("knows_the_schedule", "drawn after the round"),
    ("stops_the_clock", "the clock was replaced"),
])
@pytest.mark.parametrize("claim", [speedup, fraction])
def test_a_kernel_that_knows_the_harness_gets_an_error(tmp_path: Path, real_clock: None, impl: str, why: str,
                                                       claim: object) -> None:
    (v,) = run(tmp_path, claim(impl)).verdicts  # type: ignore[operator]
    assert v.verdict == "error" and why in (v.reason or ""), v.reason


def test_an_honest_kernel_keeps_its_speed_with_every_defence_on(tmp_path: Path) -> None:
    result = run(tmp_path, speedup("good") + fraction("good").replace('id = "c"', 'id = "f"'))
    assert {v.verdict for v in result.verdicts} <= {"reproduced", "inconclusive", "not-reproduced"}
    timed = [m for m in result.measurements if m.metric == "time_ms"]
    assert timed and all(m.extra["calls_checked"] >= 2 * min(8, m.extra["calls_timed"] // 2) for m in timed)


def test_a_rate_above_the_copy_bandwidth_is_an_error_wherever_it_is_judged() -> None:
    from kbench import judging
    from kbench.verdicts import Rule
    from tests.fakes import timed

    claim = Claim("c", "bandwidth-fraction", Rule(at_least=0.5), combine="worst")
    fast = timed("subject", [1.0, 1.05, 0.97], nbytes=3 * 10**8)  # 3x a copy at 100 GB/s
    v = judging.judge(claim, [fast], {"copy_gbps": 100.0})
    assert v.verdict == "error" and "faster than the device can copy" in (v.reason or "")
    honest = judging.judge(claim, [timed("subject", [1.0, 1.05, 0.97], nbytes=6 * 10**7)], {"copy_gbps": 100.0})
    assert honest.verdict == "reproduced" and honest.measured == pytest.approx(0.6, rel=0.05)


def test_a_kernel_wrong_only_at_the_timed_batch_or_in_evaluation_fails_its_train_step_claim(tmp_path: Path) -> None:
    from tests.test_kinds import model_claim

    sides = 'baseline = { model = "toy_mlp", impl = "good" }\ncandidate = { model = "toy_mlp", impl = "{}" }'
    for impl, why in (("wrong_past_200_rows", "at batch 256 (before timing)"), ("zeros_without_grad", "eval logits")):
        body = model_claim("train-speedup", sides.replace("{}", impl), "{ at_least = 0.5 }",
                           cases='[{ size = "mini", batch = 256 }]')
        (v,) = run(tmp_path, body).verdicts
        assert v.verdict == "error" and why in (v.reason or ""), v.reason


def test_a_trained_model_is_checked_in_evaluation_before_its_accuracy_counts(tmp_path: Path) -> None:
    from tests.fixtures import planted_rational  # noqa: F401  (registers the planted kernels)

    planted_rational._CALLS["with_grad"] = 0
    kat = ('{ model = "kat", impl = "planted_wrong_after_training", arch = { depth = 1, embed_dim = 24, '
           'num_heads = 3, patch_size = 4 } }')
    vit = '{ model = "vit", arch = { depth = 1, embed_dim = 24, num_heads = 3, patch_size = 4 } }'
    from tests.test_matched import matched

    body = matched("matched-accuracy", vit, kat, "digits", "{ at_least = -1.0 }").replace(
        "epochs = 40, batch = 64, lr_grid = [0.003, 0.03] }",
        "epochs = 4, batch = 64, lr_grid = [0.003, 0.03], tune_budget = 2 }")
    assert "tune_budget = 2" in body
    (v,) = run(tmp_path, body).verdicts
    assert v.verdict == "error" and "the trained model in evaluation" in (v.reason or ""), v.reason


def test_a_plugged_kernel_that_replaces_the_clock_fails_its_train_step_claim(tmp_path: Path, real_clock: None) -> None:
    from tests.test_kinds import model_claim

    sides = ('baseline = { model = "toy_mlp", impl = "good" }\n'
             'candidate = { model = "toy_mlp", impl = "slows_the_clock" }')
    (v,) = run(tmp_path, model_claim("train-speedup", sides, "{ at_least = 0.5 }")).verdicts
    assert v.verdict == "error" and "the clock was replaced" in (v.reason or ""), v.reason


def test_the_clock_check_tells_a_preempted_call_from_a_stopped_clock() -> None:
    from kbench import timing

    calls = np.full(40, 0.05)
    preempted = calls.copy()
    outer = calls + 0.0001
    outer[[3, 17]] += 5.0  # the host took the core away between the clocks' reads, twice
    assert timing._clock_problem(preempted, outer) is None
    assert "stopped or slowed" in (timing._clock_problem(calls / 1000, calls) or "")  # a clock at 1/1000 speed
    stopped = calls.copy()
    stopped[:30] = 0.0  # stopped for most of its calls
    assert timing._clock_problem(stopped, calls) is not None


@pytest.fixture
def untouched_harness() -> Iterator[None]:
    from kbench import timing
    from tests.fixtures import toy_scale

    yield
    if toy_scale.MODE[0] is not None:
        toy_scale.MODE[0].__exit__(None, None, None)
        toy_scale.MODE[0] = None
    timing._clock_problem = timing._ORIGINAL["_clock_problem"]


@pytest.mark.parametrize(("impl", "why"), [("fills_on_read", "mode is active"),
                                            ("rewrites_kbench", "timing functions were replaced")])
def test_a_kernel_that_leaves_a_mode_or_rewrites_kbench_gets_an_error(tmp_path: Path, untouched_harness: None,
                                                                       impl: str, why: str) -> None:
    (v,) = run(tmp_path, speedup(impl)).verdicts
    assert v.verdict == "error" and why in (v.reason or ""), v.reason
