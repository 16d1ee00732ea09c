"""The model kinds (kbench.kinds.models) judged from hand-written measurements and collected with
the models replaced by fakes: train-step ratios and their host-bound notes, kernel time shares per
round, the variance ratio of the branch furthest from 1, FLOP ratios, and the suite checks."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from kbench import stats
from kbench.claims import Claim, Subject
from kbench.errors import SuiteError
from kbench.kinds import models
from kbench.kinds.base import Context, Failed, NotJudged
from kbench.timing import TimingConfig
from kbench.verdicts import Rule

CASE = {"size": "tiny", "batch": 4}
CLAIM = Claim("c", "train-speedup", Rule(at_least=1.0))


def _ctx(budget: float = 1.0) -> Context:
    config = TimingConfig(warmup_ms=1, budget_ms=1, min_reps=1, max_reps=1)
    return Context(torch.device("cpu"), config, config, seed=2, budget=budget)


def _steps(role: str, model: str, ms: float, impl: str | None = None, **extra: Any) -> dict[str, Any]:
    samples = [ms * f for f in (0.99, 1.0, 1.01) for _ in range(3)]
    return {"role": role, "metric": "step_ms", "status": "ok", "samples": samples, "groups": [0, 1, 2] * 3,
            "summary": {"median": ms}, "subject": {"model": model, **({"impl": impl} if impl else {})},
            "extra": {"timing": "perf-counter", **extra}}


def test_a_train_speedup_is_the_baselines_step_over_the_candidates_and_notes_host_bound_sides() -> None:
    ms = [_steps("baseline", "vit", 30.0), _steps("candidate", "kat", 20.0, "kbench_triton", host_bound=True,
                                                  host_fraction=0.934)]
    (cv,) = models.TrainSpeedup().evaluate(CLAIM, CASE, ms, {})
    assert cv.estimate.value == pytest.approx(1.5)
    assert cv.details["baseline_ms"] == 30.0 and cv.details["candidate_ms"] == 20.0
    assert cv.notes == ["kat[kbench_triton] is host-bound: the host needed 93% of the device's step time to issue a "
                        "step, so this timing measures the launcher, not the device"]
    quiet = [_steps("baseline", "vit", 30.0, host_bound=False, host_fraction=0.5), _steps("candidate", "kat", 20.0)]
    assert models.TrainSpeedup().evaluate(CLAIM, CASE, quiet, {})[0].notes == []
    other = {**_steps("baseline", "vit", 30.0, host_bound=True, host_fraction=0.95), "metric": "flops"}
    notes = models._host_notes([other, _steps("baseline", "vit", 1.0, host_bound=True, host_fraction=0.91)])
    assert [n.split(" of the device")[0] for n in notes] == ["vit[] is host-bound: the host needed 95%",
                                                             "vit[] is host-bound: the host needed 91%"]
    assert models.TrainSpeedup().evaluate(CLAIM, CASE, [other] + quiet, {})[0].notes == []


def test_train_speedup_collects_each_case_with_both_sides_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[Any, ...]] = []
    monkeypatch.setattr(models, "measure_steps", lambda claim, sides, case, ctx: seen.append(
        ([(r, s.model) for r, s in sides], case["size"])))
    claim = Claim("c", "train-speedup", Rule(at_least=1.0), cases=({"size": "small"},),
                  cpu_cases=({"size": "tiny"}, {"size": "nano"}),
                  sides={"baseline": Subject({"model": "vit"}), "candidate": Subject({"model": "kat"})})
    models.TrainSpeedup().collect(claim, _ctx())
    assert seen == [([("baseline", "vit"), ("candidate", "kat")], "tiny"), ([("baseline", "vit"), ("candidate", "kat")],
                                                                          "nano")]


def test_a_kernel_pattern_that_is_no_regular_expression_is_refused_by_its_field(monkeypatch: pytest.MonkeyPatch
                                                                               ) -> None:
    checked: list[tuple[str, str]] = []
    monkeypatch.setattr(models, "check_model_side", lambda claim, role, path, where: checked.append((role, where))
                        if path == "s.toml" else pytest.fail(f"the file is not handed on: {path}"))
    claim = Claim("c", "time-share", Rule(at_least=0.5), options={"kernel_pattern": "rational(_bwd"},
                  sides={"subject": Subject({"model": "kat"})})
    with pytest.raises(SuiteError) as info:
        models.TimeShare().check_references(claim, "s.toml", "claims[1]")
    assert (info.value.path, info.value.field, info.value.got) == ("s.toml", "claims[1].options.kernel_pattern",
                                                                   "rational(_bwd")
    assert info.value.expected.startswith("a regular expression (missing )")
    assert checked == [("subject", "claims[1].subject")]
    models.TimeShare().check_references(Claim("c", "time-share", Rule(at_least=0.5), options={},
                                              sides={"subject": Subject({"model": "kat"})}), "s.toml", "claims[1]")
    models.TrainSpeedup().check_references(CLAIM, "s.toml", "claims[2]")
    assert checked[-2:] == [("baseline", "claims[2].baseline"), ("candidate", "claims[2].candidate")]


def test_a_time_share_is_a_t_interval_over_the_rounds_median_shares() -> None:
    shares = [0.90, 0.95, 0.91, 0.80, 0.82, 0.81, 0.99, 0.97, 0.98]
    m = {"role": "subject", "metric": "share", "status": "ok", "samples": shares, "groups": [0, 0, 0, 1, 1, 1, 2, 2, 2]}
    (cv,) = models.TimeShare().evaluate(CLAIM, CASE, [m], {})
    expect = stats.Estimate.from_values([0.91, 0.81, 0.98], "linear")
    assert (cv.estimate.value, cv.estimate.low, cv.estimate.high, cv.estimate.scale) == pytest.approx(
        (expect.value, expect.low, expect.high, "linear"))
    assert cv.details == {"rounds": 3, "steps": 9} and cv.case == CASE
    (one,) = models.TimeShare().evaluate(CLAIM, CASE, [{**m, "groups": None}], {})
    assert one.details == {"rounds": 1, "steps": 9} and one.estimate.value == pytest.approx(float(np.median(shares)))


def test_a_kernel_share_is_the_matching_kernels_time_over_all_kernels_time() -> None:
    kernels = [("rational_bwd_kernel", 30.0), ("gemm", 50.0), ("rational_fwd_kernel", 20.0)]
    assert models.share_of(kernels, re.compile("rational_bwd")) == pytest.approx(0.3)
    assert models.share_of(kernels, re.compile("rational")) == pytest.approx(0.5)
    assert models.share_of(kernels, re.compile("softmax")) == 0.0
    assert models.share_of(kernels, re.compile("bwd")) == pytest.approx(0.3)  # anywhere in the name
    assert models.share_of([("short", 0.25), ("shorter", 0.25)], re.compile("shorter")) == 0.5  # under 1 us
    assert models.share_of(kernels, re.compile(".")) == pytest.approx(1.0)
    with pytest.raises(Failed, match="no device kernels"):
        models.share_of([], re.compile("."))
    with pytest.raises(Failed, match="no device kernels"):
        models.share_of([("k", 0.0)], re.compile("."))


class _Blocks(torch.nn.Module):
    """Blocks whose 'mlp' branch scales its input by a known factor (variance ratio = factor**2)."""

    def __init__(self, factors: list[float]) -> None:
        super().__init__()
        self.blocks = torch.nn.ModuleList()
        for f in factors:
            block = torch.nn.Module()
            block.mlp = torch.nn.Linear(8, 8, bias=False)  # type: ignore[assignment]
            with torch.no_grad():
                block.mlp.weight.copy_(torch.eye(8) * f)  # type: ignore[operator]
            self.blocks.append(block)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block.mlp(x)  # type: ignore[operator]
        return x


def test_each_blocks_branch_variance_ratio_is_measured_and_the_hooks_are_removed() -> None:
    model = _Blocks([2.0, 0.5])
    ratios = models._branch_variance_ratios(model, torch.randn(64, 8))
    assert ratios == pytest.approx([4.0, 0.25])
    assert all(not b.mlp._forward_hooks for b in model.blocks)  # type: ignore[union-attr]
    with pytest.raises(Failed, match="^the model has no blocks with an 'mlp' branch to measure$"):
        models._branch_variance_ratios(torch.nn.Linear(8, 8), torch.randn(4, 8))


def test_the_variance_ratio_keeps_each_seeds_block_furthest_from_one_either_way(monkeypatch: pytest.MonkeyPatch
                                                                               ) -> None:
    made: list[tuple[Any, ...]] = []
    per_seed = iter([[1.1, 0.5, 1.5], [3.0, 0.9], [1.2, 0.8]])
    built: list[Any] = []

    class Placed(torch.nn.Linear):
        def to(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            made.append(("to", args[0] if args else kwargs.get("device")))
            return self

    def create(size: str, impl: str | None, arch: Any) -> torch.nn.Module:
        made.append((size, impl, torch.initial_seed(), dict(arch)))
        built.append(Placed(1, 1))
        return built[-1]

    family = SimpleNamespace(create=create)
    monkeypatch.setattr(models, "architecture", lambda subject, case: made.append(("arch", subject.impl, case["size"]))
                        or (family, "tiny", {"depth": 2}))
    monkeypatch.setattr(models, "input_batch", lambda family, arch, batch, device, seed: (
        made.append(("batch", batch, seed)) or torch.full((1,), float(seed), dtype=torch.float64), None))
    monkeypatch.setattr(models, "_branch_variance_ratios", lambda model, images: (
        made.append(("ratios", model is built[-1], float(images[0]))) or next(per_seed)))
    ctx = _ctx(budget=0.1)
    claim = Claim("c", "variance-ratio", Rule(at_most=2.0), options={"seeds": 5}, cases=({"size": "big", "batch": 9},),
                  cpu_cases=({"size": "tiny", "batch": 3},),
                  sides={"subject": Subject({"model": "kat", "impl": "torch_reference"})})
    models.VarianceRatio().collect(claim, ctx)
    (m,) = ctx.recorded
    assert m.samples == [0.5, 3.0] and m.groups == [0, 1]  # 5 seeds x 0.1 -> 2
    assert m.extra == {"per_block": [[1.1, 0.5, 1.5], [3.0, 0.9]], "arch": {"depth": 2}}
    assert (m.metric, m.unit, m.better, m.noise, m.device_independent) == ("variance_ratio", "ratio", "none",
                                                                          "seeds", True)
    assert [e for e in made if e[0] == "tiny"] == [("tiny", "torch_reference", ctx.seed_for("init", s), {"depth": 2})
                                                   for s in (0, 1)]
    assert ("arch", "torch_reference", "tiny") in made and ("to", ctx.device) in made
    assert [e[1:] for e in made if e[0] == "ratios"] == [(True, float(ctx.seed_for("batch", s))) for s in (0, 1)]
    assert (m.role, m.case, m.subject) == ("subject", {"size": "tiny", "batch": 3},
                                           {"model": "kat", "impl": "torch_reference"})
    assert m.summary is not None and m.summary["median"] == pytest.approx(1.75)
    assert [e[1:] for e in made if e[0] == "batch"] == [(3, ctx.seed_for("batch", s)) for s in (0, 1)]
    (cv,) = models.VarianceRatio().evaluate(claim, CASE, [{"role": "subject", "metric": "variance_ratio",
                                                           "status": "ok", "samples": [0.5, 2.0]}], {})
    assert cv.estimate.scale == "log" and cv.estimate.value == pytest.approx(1.0) and cv.details == {"seeds": 2}
    assert cv.case == CASE
    with pytest.raises(NotJudged, match="^a variance of zero$"):
        models.VarianceRatio().evaluate(claim, CASE, [{"role": "subject", "metric": "variance_ratio", "status": "ok",
                                                       "samples": [0.0, 2.0]}], {})


def test_a_flops_ratio_counts_each_side_once_and_divides_baseline_by_candidate(monkeypatch: pytest.MonkeyPatch
                                                                               ) -> None:
    counts = {"vit": {"flops": 300, "params": 10}, "kat": {"flops": 200, "params": 12}}
    monkeypatch.setattr(models, "architecture", lambda subject, case: (subject.model, case["size"], {}))
    monkeypatch.setattr(models, "model_stats", lambda family, size, arch: counts[family])
    ctx = _ctx()
    claim = Claim("c", "flops-ratio", Rule(at_least=1.0), cases=({"size": "tiny"},),
                  sides={"baseline": Subject({"model": "vit"}), "candidate": Subject({"model": "kat"})})
    models.FlopsRatio().collect(claim, ctx)
    base, cand = ctx.recorded
    assert (base.role, base.samples, base.extra, base.noise, base.metric, base.unit, base.device_independent) == \
        ("baseline", [300.0], {"params": 10}, "exact", "flops", "FLOPs", True)
    assert (cand.role, cand.samples) == ("candidate", [200.0]) and base.summary is not None
    stored = [{"role": m.role, "metric": m.metric, "status": "ok", "samples": m.samples} for m in (base, cand)]
    (cv,) = models.FlopsRatio().evaluate(claim, CASE, stored, {})
    assert (cv.estimate.value, cv.estimate.low, cv.estimate.high) == (1.5, 1.5, 1.5)
    assert cv.details == {"baseline_flops": 300.0, "candidate_flops": 200.0}
    stored[1]["samples"] = [1.0]  # one FLOP is still a count
    assert models.FlopsRatio().evaluate(claim, CASE, stored, {})[0].estimate.value == 300.0
    stored[1]["samples"] = [0.0]
    with pytest.raises(NotJudged, match="^the candidate counted zero FLOPs$"):
        models.FlopsRatio().evaluate(claim, CASE, stored, {})


def test_kinds_cost_by_their_own_unit() -> None:
    claim = Claim("c", "x", Rule(at_least=1.0), cases=({"size": "a"}, {"size": "b"}))
    assert models.TrainSpeedup().cost(claim) == 30.0 * 2 * 2
    assert models.TimeShare().cost(claim) == 30.0 * 2 * 1
    assert models.VarianceRatio().cost(claim) == 5.0 * 2 * 1
    assert models.FlopsRatio().cost(claim) == 1.0 * 2 * 2
