"""Train-step timing (kbench.kinds._train_steps) with the models, checks and clock replaced by
fakes: rounds interleaved between the sides, each side checked before and after, timings shared
only when everything that changes the work is the same, what an interrupted or broken round
leaves, and what a step measurement records."""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from kbench import timing
from kbench.claims import Claim, Subject
from kbench.kinds import _train_steps
from kbench.kinds.base import Context, Failed
from kbench.verdicts import Rule

Log = list[tuple[Any, ...]]
CASE = {"size": "tiny", "batch": 8}


def _ctx(company: list[list[str]] | None = None, budget: float = 1.0) -> Context:
    config = timing.TimingConfig(warmup_ms=1, budget_ms=1, min_reps=3, max_reps=5, rounds=3)
    queue = list(company or [])
    return Context(torch.device("cpu"), config, config, budget=budget,
                   cotenants=lambda: queue.pop(0) if queue else [])


def _claim(**options: Any) -> Claim:
    return Claim("c", "train-speedup", Rule(at_least=1.0), options=options)


SIDES = [("baseline", Subject({"model": "vit"})), ("candidate", Subject({"model": "kat", "impl": "kbench_triton"}))]


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> Log:
    """Steps that take (10 ms x side number + round) with a host fraction per round; checks logged."""
    calls: Log = []

    class FakeStep:
        def __init__(self, subject: Subject, case: Mapping[str, Any], ctx: Context, r: int) -> None:
            self.label, self.r, self.loss = subject.label, r, torch.tensor(1.0)
            calls.append(("step", subject.model, r))

    def cpu_round(step: Any, config: timing.TimingConfig) -> timing.Round:
        calls.append(("round", step.label, step.r, config.min_reps))
        base = 10.0 if step.label == "vit" else 20.0
        return timing.Round(np.full(2, base + step.r), extra={"host_fraction": 0.5 + 0.2 * step.r})

    monkeypatch.setattr(_train_steps, "TrainStep", FakeStep)
    monkeypatch.setattr(timing, "cpu_round", cpu_round)
    monkeypatch.setattr(_train_steps, "check_model", lambda s, c, ctx: calls.append(("check", s.model)) or
                        [{"before": s.model}])
    monkeypatch.setattr(_train_steps, "check_model_after", lambda s, c, ctx: calls.append(
        ("after", s.model, c["batch"], type(ctx).__name__)) and [] or [{"after": s.model}])
    family = SimpleNamespace(plugs=None, name="fam")

    def architecture(s: Subject, c: Mapping[str, Any]) -> Any:
        calls.append(("arch", s.model, c["batch"]))
        return family, "tiny", {"d": 1}

    monkeypatch.setattr(_train_steps, "architecture", architecture)
    monkeypatch.setattr(_train_steps, "model_stats", lambda fam, size, arch: calls.append(
        ("stats", getattr(fam, "name", None), size, arch)) and {} or {"params": 7, "flops": 9})
    return calls


def test_every_side_is_checked_then_timed_in_interleaved_rounds_then_checked_again(log: Log) -> None:
    ctx = _ctx()
    base, cand = _train_steps.measure_steps(_claim(), SIDES, CASE, ctx)
    assert [e for e in log if e[0] in ("check", "round", "after")] == [
        ("check", "vit"), ("check", "kat"),
        *[e for r in range(3) for e in (("round", "vit", r, 3), ("round", "kat[kbench_triton]", r, 3))],
        ("after", "vit", 8, "Context"), ("after", "kat", 8, "Context")]
    assert ("arch", "vit", 8) in log and ("stats", "fam", "tiny", {"d": 1}) in log
    assert base.samples == [10.0, 10.0, 11.0, 11.0, 12.0, 12.0] and base.groups == [0, 0, 1, 1, 2, 2]
    assert cand.samples == [20.0, 20.0, 21.0, 21.0, 22.0, 22.0]
    assert (base.role, cand.role, base.metric, base.unit, base.better, base.noise) == \
        ("baseline", "candidate", "step_ms", "ms", "lower", "timing")
    assert base.extra["checks_before"] == [{"before": "vit"}] and base.extra["checks_after"] == [{"after": "vit"}]
    assert base.extra["timing"] == "perf-counter" and base.extra["arch"] == {"d": 1}
    assert base.extra["images_per_s"] == pytest.approx(8 / 11e-3)  # the batch over the median step
    assert (base.extra["params"], base.extra["flops"]) == (7, 9)
    assert base.extra["host_fraction"] == pytest.approx(0.7) and base.extra["host_bound"] is False
    assert base.case == CASE and base.subject == {"model": "vit"} and cand.subject == SIDES[1][1].as_dict()
    assert base.summary is not None and base.summary["median"] == 11.0 and base.summary["rounds"] == 3
    assert [m.role for m in ctx.recorded] == ["baseline", "candidate"]


def test_rounds_and_steps_come_from_the_claim_and_a_quick_run_keeps_two_of_each(log: Log) -> None:
    _train_steps.measure_steps(_claim(rounds=4, steps=6), SIDES[:1], CASE, _ctx())
    assert [e[2:] for e in log if e[0] == "round"] == [(r, 6) for r in range(4)]
    log.clear()
    _train_steps.measure_steps(_claim(rounds=5, steps=3), SIDES[:1], CASE, _ctx(budget=0.25))
    assert [e[2:] for e in log if e[0] == "round"] == [(0, 2), (1, 2)]


def test_a_timing_is_shared_only_when_model_impl_fields_case_rounds_and_steps_all_match(log: Log) -> None:
    ctx = _ctx()
    first = _train_steps.measure_steps(_claim(), SIDES, CASE, ctx)
    again = _train_steps.measure_steps(_claim(), list(reversed(SIDES)), CASE, ctx)
    assert len([e for e in log if e[0] == "round"]) == 6  # nothing timed twice
    assert [m.role for m in again] == ["candidate", "baseline"] and again[0].samples == first[1].samples
    for claim, sides, case in [(_claim(rounds=2), SIDES[:1], CASE), (_claim(steps=4), SIDES[:1], CASE),
                               (_claim(), SIDES[:1], {**CASE, "batch": 16}),
                               (_claim(), [("baseline", Subject({"model": "vit", "arch": {"depth": 2}}))], CASE),
                               (_claim(), [("candidate", Subject({"model": "kat", "impl": "kbench_cuda"}))], CASE),
                               (_claim(), [("baseline", Subject({"model": "deit"}))], CASE)]:
        before = len([e for e in log if e[0] == "round"])
        _train_steps.measure_steps(claim, sides, case, ctx)
        assert len([e for e in log if e[0] == "round"]) > before, (claim.options, sides, case)
    _train_steps.measure_steps(_claim(), SIDES[:1], {**CASE, "label": "Tiny at 8"}, ctx)  # a label changes nothing
    assert len([e for e in log if e[0] == "round"]) == 6 + 2 + 3 + 3 * 4


def test_images_per_second_come_from_the_median_step(log: Log, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timing, "cpu_round", lambda step, config: timing.Round(np.array([10.0, 10.0, 40.0])))
    (m,) = _train_steps.measure_steps(_claim(), SIDES[:1], CASE, _ctx())
    assert m.extra["images_per_s"] == pytest.approx(8 / 10e-3)  # the median step, not the mean one (20 ms)


def test_a_host_fraction_at_the_bound_marks_the_steps_host_bound(log: Log, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timing, "cpu_round", lambda step, config: timing.Round(
        np.full(2, 5.0), extra={"host_fraction": timing.HOST_BOUND}))
    (m,) = _train_steps.measure_steps(_claim(), SIDES[:1], CASE, _ctx())
    assert m.extra["host_fraction"] == timing.HOST_BOUND and m.extra["host_bound"] is True
    monkeypatch.setattr(timing, "cpu_round", lambda step, config: timing.Round(np.full(2, 5.0)))
    (m,) = _train_steps.measure_steps(_claim(), SIDES[:1], {**CASE, "batch": 4}, _ctx())
    assert "host_fraction" not in m.extra and "host_bound" not in m.extra


def test_company_before_or_after_the_timing_skips_the_measurement(log: Log) -> None:
    (m,) = _train_steps.measure_steps(_claim(), SIDES[:1], CASE, _ctx(company=[[], ["pid 7 (python)"]]))
    assert m.status == "skipped" and m.extra["contaminated"] == ["pid 7 (python)"]
    (m,) = _train_steps.measure_steps(_claim(), SIDES[:1], CASE, _ctx(company=[["pid 9 (a)"], []]))
    assert m.extra["contaminated"] == ["pid 9 (a)"]
    (m,) = _train_steps.measure_steps(_claim(), SIDES[:1], CASE, _ctx())
    assert m.status == "ok"


def test_an_interrupted_timing_keeps_the_rounds_taken_marked_and_stops(log: Log, monkeypatch: pytest.MonkeyPatch
                                                                       ) -> None:
    real = timing.cpu_round

    def interrupt_in_round_two(step: Any, config: timing.TimingConfig) -> timing.Round:
        if step.r == 1 and step.label != "vit":
            raise KeyboardInterrupt
        return real(step, config)

    monkeypatch.setattr(timing, "cpu_round", interrupt_in_round_two)
    ctx = _ctx()
    with pytest.raises(KeyboardInterrupt):
        _train_steps.measure_steps(_claim(), SIDES, CASE, ctx)
    assert [(m.role, m.status, m.reason, m.groups) for m in ctx.recorded] == [
        ("baseline", "skipped", "interrupted after 2 round(s)", [0, 0, 1, 1]),
        ("candidate", "skipped", "interrupted after 1 round(s)", [0, 0])]
    assert not ctx.cache and not [e for e in log if e[0] == "after"]
    assert [(m.extra["timing"], m.extra["checks_before"]) for m in ctx.recorded] == [
        ("perf-counter", [{"before": "vit"}]), ("perf-counter", [{"before": "kat"}])]


def test_a_tampered_clock_or_a_non_finite_loss_fails_naming_the_side_and_round(
        log: Log, monkeypatch: pytest.MonkeyPatch) -> None:
    def tampered(step: Any, config: timing.TimingConfig) -> timing.Round:
        raise timing.Tampered("the clock ran backwards")

    monkeypatch.setattr(timing, "cpu_round", tampered)
    with pytest.raises(Failed, match=r"^vit tiny batch 8, round 1: the clock ran backwards$"):
        _train_steps.measure_steps(_claim(), SIDES[:1], CASE, _ctx())

    class Diverging:
        def __init__(self, subject: Subject, case: Mapping[str, Any], ctx: Context, r: int) -> None:
            self.label, self.r, self.loss = subject.label, r, torch.tensor(float("inf"))

    monkeypatch.setattr(_train_steps, "TrainStep", Diverging)
    monkeypatch.setattr(timing, "cpu_round", lambda step, config: timing.Round(np.full(2, 5.0)))
    with pytest.raises(Failed, match=r"^vit: the training loss became inf while timing$"):
        _train_steps.measure_steps(_claim(), SIDES[:1], CASE, _ctx())


def test_a_plugged_kernel_running_in_an_emulator_is_flagged(log: Log, monkeypatch: pytest.MonkeyPatch) -> None:
    from kbench import devices

    monkeypatch.setattr(_train_steps, "architecture", lambda s, c: (SimpleNamespace(plugs="rational"), "tiny", {}))
    asked: list[Any] = []
    monkeypatch.setattr(devices, "emulated", lambda requires: asked.append(requires) or "the Triton interpreter")
    (m,) = _train_steps.measure_steps(_claim(), SIDES[1:], CASE, _ctx())
    assert m.extra["emulated"] == "the Triton interpreter"
    from kbench import registry

    assert asked == [registry.implementation("rational", "kbench_triton").requires]
    monkeypatch.setattr(devices, "emulated", lambda requires: None)
    (m,) = _train_steps.measure_steps(_claim(), SIDES[1:], {**CASE, "batch": 2}, _ctx())
    assert "emulated" not in m.extra
    (m,) = _train_steps.measure_steps(_claim(), SIDES[:1], CASE, _ctx())  # no plugged kernel: nothing to ask
    assert "emulated" not in m.extra


def test_a_case_is_labelled_by_its_label_else_its_size_and_batch() -> None:
    assert _train_steps.case_label({"size": "small", "batch": 64, "label": "KAT-S"}) == "KAT-S"
    assert _train_steps.case_label({"size": "small", "batch": 64}) == "small batch 64"
    assert _train_steps.case_label({"size": "small"}) == "small batch 1"


def test_a_real_step_trains_the_model_and_keeps_its_loss() -> None:
    ctx = _ctx()
    subject = Subject({"model": "vit", "arch": {"depth": 1, "embed_dim": 24, "num_heads": 3, "img_size": 16,
                                                "patch_size": 8, "num_classes": 4}})
    step = _train_steps.TrainStep(subject, {"size": "tiny", "batch": 2}, ctx, 0)
    before = [p.detach().clone() for p in step.model.parameters()]
    assert step() == {} and step.loss.ndim == 0 and torch.isfinite(step.loss)
    assert any(not torch.equal(a, p) for a, p in zip(before, step.model.parameters(), strict=True))
    assert step.model.training and not step.amp and step.slots == 1 and step.given() is None
    other = _train_steps.TrainStep(subject, {"size": "tiny", "batch": 2}, ctx, 1)
    assert not torch.equal(other.images, step.images)  # each round its own batch
    fresh = [p.detach() for p in other.model.parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(before, fresh, strict=True))  # and its own initial weights
    same = _train_steps.TrainStep(subject, {"size": "tiny", "batch": 2}, ctx, 0)
    assert all(torch.equal(a, b.detach()) for a, b in zip(before, same.model.parameters(), strict=True))


def test_on_a_gpu_rounds_are_timed_with_cuda_events(log: Log, monkeypatch: pytest.MonkeyPatch) -> None:
    timed: list[tuple[Any, ...]] = []

    def cuda_events_round(step: Any, config: timing.TimingConfig, device: torch.device) -> timing.Round:
        timed.append((step.label, step.r, config.min_reps, device))
        return timing.Round(np.full(2, 4.0))

    monkeypatch.setattr(timing, "cuda_events_round", cuda_events_round)
    monkeypatch.setattr(timing, "cpu_round", lambda step, config: pytest.fail("a GPU is not timed by the CPU clock"))
    monkeypatch.setattr(_train_steps, "clock_state", lambda ctx: {})
    ctx = _ctx()
    ctx.device = torch.device("cuda", 0)
    (m,) = _train_steps.measure_steps(_claim(rounds=2), SIDES[:1], CASE, ctx)
    assert timed == [("vit", 0, 3, torch.device("cuda", 0)), ("vit", 1, 3, torch.device("cuda", 0))]
    assert m.extra["timing"] == "cuda-events"


def test_a_step_builds_the_sides_implementation_and_trains_in_float32_on_a_cpu(monkeypatch: pytest.MonkeyPatch
                                                                               ) -> None:
    from kbench.kinds import _model_building

    made: list[Any] = []
    vit = _model_building.registry.model_family("vit")
    arch = {"depth": 1, "embed_dim": 24, "num_heads": 3, "img_size": 16, "patch_size": 8, "num_classes": 4}
    family = SimpleNamespace(create=lambda size, impl, a: made.append(impl) or vit.create(size, None, a),
                             input_shape=vit.input_shape, outputs=vit.outputs)
    monkeypatch.setattr(_train_steps, "architecture", lambda subject, case: (family, "tiny", arch))
    seen: list[torch.dtype] = []
    real = _train_steps.F.cross_entropy
    monkeypatch.setattr(_train_steps.F, "cross_entropy", lambda logits, labels: seen.append(logits.dtype) or
                        real(logits, labels))
    subject = Subject({"model": "kat", "impl": "kbench_triton"})
    step = _train_steps.TrainStep(subject, {"size": "tiny", "batch": 2}, _ctx(), 0)
    step()
    assert made == ["kbench_triton"] and seen == [torch.float32] and step.label == "kat[kbench_triton]"
    assert step.opt.param_groups[0]["lr"] == 1e-4
