"""How a kernel timing is wired (kbench.kinds._kernel_timing): which operation and implementation
a side gets, what a case outside an implementation's limits records for every side, the method a
device and a claim's graph option pick and the round function each method calls, what a round
adds to the timing's counters, and the names a timing gives its subject and case."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
import torch

from kbench import registry, runner, suite, timing
from kbench.claims import Claim, Subject
from kbench.kinds import _kernel_timing as kt
from kbench.kinds.base import Context, NotJudged, OutsideLimits
from tests.fakes import fake_timer
from tests.test_kinds import HEAD, kernel_claim

CPU = torch.device("cpu")
CASE = {"shape": [5, 8], "dtype": "float32"}


def _ctx() -> Context:
    quick = timing.TimingConfig(warmup_ms=0.0, budget_ms=1.0, min_reps=2, max_reps=3, flush_l2=False, rounds=2)
    return Context(CPU, quick, quick)


def _claim(operation: str) -> Claim:
    return cast(Claim, types.SimpleNamespace(operation=operation))


def test_a_side_computes_its_own_operation_when_it_names_one() -> None:
    claim = _claim("toy_scale")
    assert kt.operation_of(claim).name == "toy_scale"
    assert kt.operation_of(claim, Subject({"impl": "good"})).name == "toy_scale"
    assert kt.operation_of(claim, Subject({"impl": "good", "operation": "toy_square"})).name == "toy_square"
    impls = kt.implementations_for(claim, [Subject({"impl": "good", "operation": "toy_square"})],
                                   {"shape": [4, 8], "dtype": "float32"}, _ctx())
    assert [(i.op, i.name) for i in impls] == [("toy_square", "good")]


def test_an_implementation_refuses_a_dtype_it_does_not_take_and_a_case_past_its_limits() -> None:
    op = registry.operation("toy_scale")
    dtypes = r"^good: does not take float16 inputs \(takes float32, float64, bfloat16\)$"
    with pytest.raises(OutsideLimits, match=dtypes):
        kt.implementation_for(op, "good", {"shape": [4, 8], "dtype": "float16"}, _ctx())
    with pytest.raises(OutsideLimits, match="^narrow_only: takes at most 16 channels$"):
        kt.implementation_for(op, "narrow_only", {"shape": [4, 33], "dtype": "float32"}, _ctx())
    inside = kt.implementation_for(op, "narrow_only", {"shape": [4, 16], "dtype": "float32"}, _ctx())
    assert inside.name == "narrow_only"


def test_a_case_outside_one_sides_limits_is_recorded_as_skipped_for_every_side(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_timer(monkeypatch, {"good": [2.0, 2.0], "narrow_only": [1.0, 1.0]})
    path = tmp_path / "toy.toml"
    path.write_text(HEAD + kernel_claim("speedup", 'baseline = { impl = "good", pass = "fwd" }\n'
                                        'candidate = { impl = "narrow_only", pass = "fwd" }', "{ at_least = 1.0 }"))
    result = runner.run(suite.load(path), runner.RunOptions(device=CPU, quick=True))
    skipped = [(m.role, m.case, m.subject, m.metric, m.unit, m.status, m.reason, m.extra) for m in result.measurements]
    why = "narrow_only: takes at most 16 channels"
    assert skipped == [
        (role, {"shape": [64, 33], "dtype": "float32"}, {"impl": impl, "pass": "fwd"}, "outside_limits", "",
         "skipped", why, {"outside_limits": why})
        for role, impl in (("baseline", "good"), ("candidate", "narrow_only"))]


def test_the_timing_method_follows_the_device_and_the_graph_option() -> None:
    assert kt.method_for(CPU, True) == "perf-counter" and kt.method_for(torch.device("meta"), False) == "perf-counter"
    assert kt.method_for(torch.device("cuda"), True) == "cuda-graph"
    assert kt.method_for(torch.device("cuda"), False) == "cuda-synced"


@pytest.mark.parametrize(("case", "text"), [
    ({"shape": [2, 197, 768], "dtype": "bfloat16"}, "2x197x768 bfloat16"), ({"shape": [7]}, "7 float32"),
    ({}, " float32")])
def test_a_cases_shape_text(case: dict[str, Any], text: str) -> None:
    assert kt.shape_text(case) == text


def test_a_sides_label_names_its_implementation_pass_and_own_operation() -> None:
    assert kt.side_label(Subject({"impl": "good", "pass": "fwd"})) == {"impl": "good", "pass": "fwd"}
    assert kt.side_label(Subject({"impl": "good"})) == {"impl": "good"}
    assert kt.side_label(Subject({"impl": "good", "pass": "bwd", "operation": "toy_square"})) == {
        "impl": "good", "pass": "bwd", "operation": "toy_square"}


def _timing(graph: bool = False, subject: dict[str, Any] | None = None) -> kt.KernelTiming:
    op = registry.operation("toy_scale")
    return kt.KernelTiming(op, registry.implementation("toy_scale", "good"), "fwd", CASE, _ctx(), graph, subject)


def test_a_timing_names_its_subject_dtype_and_method() -> None:
    t = _timing()
    assert t.subject == {"impl": "good", "pass": "fwd"} and t.dtype == torch.float32 and t.method == "perf-counter"
    assert _timing(subject={"impl": "x", "label": "y"}).subject == {"impl": "x", "label": "y"}


@pytest.mark.parametrize("method", ["cuda-graph", "cuda-synced"])
def test_each_cuda_method_times_its_rounds_with_its_own_round_function(
        monkeypatch: pytest.MonkeyPatch, method: str) -> None:
    """The device's round functions stand in for the GPU's (they need one): each is given the
    round's work, the run's kernel timing and the device, and only its own is called."""
    calls: list[tuple[str, Any, Any]] = []

    def standing_in(name: str) -> Any:
        def take(work: Any, config: timing.TimingConfig, device: torch.device) -> timing.Round:
            calls.append((name, config, device))
            return timing.cpu_round(work, config)
        return take

    for name in ("cuda_graph_round", "cuda_synced_round"):
        monkeypatch.setattr(timing, name, standing_in(name))
    t = _timing()
    t.method = method
    t.take_round(0)
    t.take_round(1)
    assert calls == [(method.replace("-", "_") + "_round", t.ctx.kernel_timing, CPU)] * 2
    assert t.groups == [0, 0, 0, 1, 1, 1] and len(t.samples) == 6  # 3 timed calls a round (max_reps)
    assert t.extra["calls_timed"] == 6 and t.extra["calls_checked"] == 6  # every call of both rounds checked


def test_a_graph_that_cannot_be_captured_leaves_the_claim_unjudged_and_other_failures_propagate(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(work: Any, config: Any, device: Any) -> timing.Round:
        raise RuntimeError("capture failed")

    monkeypatch.setattr(timing, "cuda_graph_round", broken)
    monkeypatch.setattr(timing, "cuda_synced_round", broken)
    t = _timing()
    t.method = "cuda-graph"
    with pytest.raises(NotJudged, match=r"^good fwd: CUDA graph capture or replay failed \(RuntimeError: capture "
                                        r"failed\); the claim is timed with graphs only$"):
        t.take_round(0)
    t.method = "cuda-synced"
    with pytest.raises(RuntimeError, match="capture failed"):
        t.take_round(0)


def test_an_interrupted_timing_keeps_its_rounds_summarised_by_round() -> None:
    t = _timing()
    t.samples, t.groups = [1.0, 2.0, 3.0, 5.0], [0, 0, 1, 1]
    m = t.partial()
    assert (m.status, m.reason, m.metric, m.unit, m.better, m.noise) == (
        "skipped", "interrupted after 2 round(s)", "time_ms", "ms", "lower", "timing")
    assert m.summary is not None and m.summary["rounds"] == 2 and m.extra["timing"] == "perf-counter"
    assert m.samples == [1.0, 2.0, 3.0, 5.0] and m.groups == [0, 0, 1, 1] and np.isclose(m.summary["median"], 2.5)


def test_each_round_draws_its_own_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn: list[list[int]] = []
    real = kt.KernelWorkload

    def recording(*args: Any) -> Any:
        drawn.append(list(args[-1]))
        return real(*args)

    monkeypatch.setattr(kt, "KernelWorkload", recording)
    t = _timing()
    t.take_round(0)
    t.take_round(1)
    assert len(drawn) == 2 and len(drawn[0]) == kt.SLOTS and not set(drawn[0]) & set(drawn[1])


def test_a_round_is_timed_at_the_cases_dtype() -> None:
    """bfloat16 inputs for a bfloat16 case: outputs of another dtype would fail the check after."""
    op = registry.operation("toy_scale")
    t = kt.KernelTiming(op, registry.implementation("toy_scale", "good"), "fwd",
                        {"shape": [5, 8], "dtype": "bfloat16"}, _ctx(), False)
    t.take_round(0)
    assert t.dtype == torch.bfloat16 and len(t.samples) == 3


def test_a_torch_mode_left_active_by_a_round_fails_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real = timing.cpu_round
    mode = torch.overrides.TorchFunctionMode()

    def leaves_a_mode(work: Any, config: timing.TimingConfig) -> timing.Round:
        taken = real(work, config)
        mode.__enter__()  # what a kernel that hooks every later torch call would leave behind
        return taken

    monkeypatch.setattr(timing, "cpu_round", leaves_a_mode)
    t = _timing()
    try:
        with pytest.raises(kt.Failed, match=r"^good fwd 5x8 float32, round 1: a torch mode is still active after "
                                            r"the round$"):
            t.take_round(0)
    finally:
        mode.__exit__(None, None, None)


def test_a_timing_cache_key_holds_the_sides_own_operation_and_the_graph_option(tmp_path: Path) -> None:
    path = tmp_path / "toy.toml"
    path.write_text(HEAD + kernel_claim("speedup", 'baseline = { impl = "good", pass = "fwd" }\n'
                                        'candidate = { impl = "good", pass = "fwd", operation = "toy_square" }',
                                        "{ at_least = 0.0 }", "options = { cuda_graph = true, rounds = 2 }"))
    claim = suite.load(path).claims[0]
    ctx = _ctx()
    case = {"shape": [4, 8], "dtype": "float32"}
    sides = [(role, claim.side(role)) for role in ("baseline", "candidate")]
    base, cand = kt.measure_times(claim, sides, case, ctx)
    assert list(ctx.cache) == [("kernel", op, "good", "fwd", kt.case_key(case), True, 2)
                               for op in ("toy_scale", "toy_square")]
    assert base.subject == {"impl": "good", "pass": "fwd"}
    assert cand.subject == {"impl": "good", "pass": "fwd", "operation": "toy_square"}
