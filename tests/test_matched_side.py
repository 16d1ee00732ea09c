"""One side of a matched comparison (kbench.kinds._matched_side), driven with fakes in place of
training: which learning rate tuning keeps and when it extends the grid, that tuning reads the
validation split with one draw for every rate, that a seed's score reads the test split after the
trained model is checked against float64 in evaluation, and what the side records."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from kbench import registry, training
from kbench.claims import Claim, Subject
from kbench.kinds import _matched_side
from kbench.kinds._matched_side import TUNE_TOLERANCE, Diverged, Side
from kbench.kinds.base import Context, Failed
from kbench.timing import TimingConfig
from kbench.verdicts import Rule


def _ctx(budget: float = 1.0) -> Context:
    config = TimingConfig(warmup_ms=1, budget_ms=1, min_reps=1, max_reps=1)
    return Context(torch.device("cpu"), config, config, seed=3, budget=budget)


def _side(options: Mapping[str, Any] | None = None, *, tuning: Mapping[str, float] | None = None,
          budget: float = 1.0, family: Any = None, impl: str | None = None) -> Side:
    side = Side.__new__(Side)
    opts = {"epochs": 8, "batch": 16, "lr_grid": [0.001, 0.01, 0.1], "tune_budget": 6, **(options or {})}
    side.subject = Subject({"model": "mlp", **({"impl": impl} if impl else {})})
    side.case, side.ctx = {"task": "wine", "params": 500}, _ctx(budget)
    side.claim = Claim("m", "matched-accuracy", Rule(at_least=0.0), options=opts)
    side.family, side.size, side.arch, side.params, side.flops = family, "small", {"hidden": 4}, 480, 960
    side.scores, side.seeds, side.outcomes, side.tuning = [], [], [], dict(tuning or {})
    side.censored, side.lr = None, 0.0
    return side


@pytest.mark.parametrize(("tuning", "better", "best", "edge"), [
    ({"0.001": 0.5, "0.01": 0.9, "0.1": 0.6}, "higher", 0.01, None),
    ({"0.001": 0.5, "0.01": 0.9, "0.1": 0.6}, "lower", 0.001, "smallest"),  # the worst accuracy is never kept
    ({"0.001": 0.5, "0.01": 0.6, "0.1": 0.9}, "higher", 0.1, "largest"),
    ({"0.001": 0.5, "0.01": 0.6, "0.1": 0.9}, "lower", 0.001, "smallest"),
    ({"0.001": 0.9, "0.01": 0.9, "0.1": 0.5}, "higher", 0.001, None),  # a tie goes to the smaller rate: a plateau
    ({"0.001": 0.7, "0.01": 0.8, "0.1": 0.8 * (1 + TUNE_TOLERANCE / 2)}, "higher", 0.1, None),  # flat at the edge
    ({"0.001": 0.7, "0.01": 0.8, "0.1": 0.8 * (1 + 2 * TUNE_TOLERANCE)}, "higher", 0.1, "largest"),
    ({"0.001": 0.7, "0.01": 0.8, "0.1": float("nan")}, "higher", 0.01, None),  # a diverged rate is tried, and worst
    ({"0.001": float("nan"), "0.01": 0.8, "0.1": 0.9}, "lower", 0.01, None),
    ({"0.01": 0.8}, "higher", 0.01, "largest"),  # one rate tried extends upwards first
    ({"0.001": 498.0, "0.01": 499.0, "0.1": 500.0}, "higher", 0.1, None),  # exactly TUNE_TOLERANCE below: flat
])
def test_the_best_rate_is_the_validation_optimum_and_its_edge_is_reported(
        tuning: dict[str, float], better: str, best: float, edge: str | None) -> None:
    assert _side(tuning=tuning)._best(better) == (best, edge)


def test_a_side_that_diverged_at_every_rate_fails_naming_the_rates() -> None:
    with pytest.raises(Failed, match=r"^mlp wine: training diverged at every learning rate tried \(0.001, 0.1\)$"):
        _side(tuning={"0.001": float("nan"), "0.1": float("inf")})._best("higher")


def _tune(side: Side, score: Callable[[float], float], better: str = "higher") -> list[float]:
    tried: list[float] = []

    def fake_try(prepared: Any, lr: float) -> None:
        tried.append(lr)
        side.tuning[f"{lr:g}"] = score(lr)

    side._try = fake_try  # type: ignore[method-assign]
    side.tune("prepared", better)
    return tried


def test_tuning_inside_the_grid_stops_at_the_grid_and_keeps_the_optimum() -> None:
    side = _side({"lr_grid": [0.1, 0.001, 0.01]})
    assert _tune(side, lambda lr: -abs(math.log10(lr) + 2)) == [0.001, 0.01, 0.1]  # sorted, each once
    assert side.lr == 0.01 and side.censored is None


def test_tuning_extends_past_the_upper_edge_by_the_grids_own_ratio_until_the_optimum_is_inside() -> None:
    side = _side({"lr_grid": [0.001, 0.002, 0.004], "tune_budget": 10})
    tried = _tune(side, lambda lr: -abs(math.log2(lr / 0.016)))  # the optimum two doublings past the grid
    assert tried == [0.001, 0.002, 0.004, 0.008, 0.016, 0.032]
    assert side.lr == 0.016 and side.censored is None


def test_tuning_extends_past_the_lower_edge_for_an_error_claim() -> None:
    side = _side({"lr_grid": [0.01, 0.1], "tune_budget": 10})
    tried = _tune(side, lambda lr: abs(math.log10(lr / 1e-4)) + 1.0, better="lower")  # lowest error at 1e-4
    assert tried == [0.01, 0.1, 0.001, 0.0001, 1e-05]
    assert side.lr == 0.0001 and side.censored is None


def test_each_edge_extends_by_the_grids_ratio_at_that_edge() -> None:
    up = _side({"lr_grid": [0.001, 0.002, 0.02], "tune_budget": 4})
    assert _tune(up, lambda lr: lr) == [0.001, 0.002, 0.02, 0.2]  # x10, the upper pair's ratio
    down = _side({"lr_grid": [0.001, 0.002, 0.02], "tune_budget": 4})
    assert _tune(down, lambda lr: -lr) == [0.001, 0.002, 0.02, 0.0005]  # /2, the lower pair's ratio


def test_a_one_rate_grid_steps_by_three() -> None:
    side = _side({"lr_grid": [0.01], "tune_budget": 3})
    assert _tune(side, lambda lr: -abs(lr - 0.03)) == [0.01, 0.03, 0.09]
    assert side.lr == 0.03


def test_tuning_stops_at_its_budget_and_says_the_optimum_may_lie_beyond() -> None:
    side = _side({"lr_grid": [0.001, 0.01], "tune_budget": 4})
    tried = _tune(side, lambda lr: lr)  # always better higher up
    assert tried == [0.001, 0.01, 0.1, 1.0]
    assert side.lr == 1.0
    assert side.censored == ("mlp: the best learning rate 1 is the largest of the 4 tried (tuning budget 4); "
                             "its optimum may lie beyond")


def test_the_budget_is_never_below_the_grid_and_rates_stay_between_1e_7_and_10() -> None:
    side = _side({"lr_grid": [0.01, 0.1, 1.0], "tune_budget": 1})
    assert _tune(side, lambda lr: lr) == [0.01, 0.1, 1.0]  # the grid runs whole; a budget of 1 extends nothing
    assert side.censored is not None and "of the 3 tried (tuning budget 3)" in side.censored
    high = _side({"lr_grid": [1.0, 5.0], "tune_budget": 10})
    assert _tune(high, lambda lr: lr) == [1.0, 5.0]  # 25 is past 10
    assert high.censored is not None and high.lr == 5.0
    edge = _side({"lr_grid": [0.4, 2.0], "tune_budget": 10})
    assert _tune(edge, lambda lr: lr) == [0.4, 2.0, 10.0]  # 10 itself is tried, 50 is not
    past = _side({"lr_grid": [2.625, 5.25], "tune_budget": 10})
    assert _tune(past, lambda lr: lr) == [2.625, 5.25]  # 10.5 is past 10
    low = _side({"lr_grid": [1e-6, 1e-5], "tune_budget": 10})
    assert _tune(low, lambda lr: -lr) == [1e-6, 1e-5, 1e-7]  # 1e-8 is past 1e-7
    assert low.censored is not None and "smallest" in low.censored


def _training_fakes(monkeypatch: pytest.MonkeyPatch, log: list[tuple[Any, ...]], test_score: float = 0.75) -> None:
    monkeypatch.setattr(training, "fit", lambda model, prepared, config, seed: log.append(
        ("fit", model.seed, config, seed)) or model)
    monkeypatch.setattr(training, "per_example", lambda model, prepared, split: log.append(
        ("per_example", split)) or np.array([1.0, 0.0, 1.0, 1.0]) * (0.5 if split == "val" else 1.0))
    monkeypatch.setattr(training, "score", lambda outcomes, kind: log.append(
        ("score", kind)) or (float(outcomes.mean()) if test_score == 0.75 else test_score))


def _seeded_side(monkeypatch: pytest.MonkeyPatch, **kw: Any) -> Side:
    side = _side(**kw)
    monkeypatch.setattr(side, "model", lambda seed: SimpleNamespace(seed=seed))
    return side


def test_every_rate_is_tried_on_one_draw_and_scored_on_the_validation_split(monkeypatch: pytest.MonkeyPatch) -> None:
    log: list[tuple[Any, ...]] = []
    _training_fakes(monkeypatch, log)
    side = _seeded_side(monkeypatch)
    prepared = SimpleNamespace(kind="classification")
    side._try(prepared, 0.003)  # type: ignore[arg-type]
    side._try(prepared, 0.03)  # type: ignore[arg-type]
    draw = side.ctx.seed_for("tune")
    assert [e for e in log if e[0] == "fit"] == [("fit", draw, side.config(0.003), draw),
                                                 ("fit", draw, side.config(0.03), draw)]
    assert [e for e in log if e[0] == "per_example"] == [("per_example", "val")] * 2
    assert [e for e in log if e[0] == "score"] == [("score", "classification")] * 2
    assert side.tuning == {"0.003": 0.375, "0.03": 0.375}


def test_a_seed_trains_at_the_tuned_rate_is_checked_then_scored_on_the_test_split(
        monkeypatch: pytest.MonkeyPatch) -> None:
    log: list[tuple[Any, ...]] = []
    _training_fakes(monkeypatch, log)
    side = _seeded_side(monkeypatch)
    monkeypatch.setattr(side, "_check_trained", lambda model, prepared: log.append(("check", model.seed,
                                                                                   prepared.kind)))
    side.lr = 0.02
    side.run_seed(SimpleNamespace(kind="classification"), 41)  # type: ignore[arg-type]
    side.run_seed(SimpleNamespace(kind="classification"), 42)  # type: ignore[arg-type]
    assert log[:4] == [("fit", 41, side.config(0.02), 41), ("check", 41, "classification"), ("per_example", "test"),
                       ("score", "classification")]
    assert side.scores == [0.75, 0.75] and side.seeds == [41, 42]
    assert [o.tolist() for o in side.outcomes] == [[1.0, 0.0, 1.0, 1.0]] * 2


def test_a_seed_whose_test_score_is_not_finite_is_diverged_and_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    log: list[tuple[Any, ...]] = []
    _training_fakes(monkeypatch, log, test_score=float("nan"))
    side = _seeded_side(monkeypatch)
    monkeypatch.setattr(side, "_check_trained", lambda model, prepared: None)
    side.lr, side.scores, side.seeds = 0.02, [0.5], [7]
    with pytest.raises(Diverged, match=r"^mlp wine: seed 2 diverged at learning rate 0.02 \(test score nan\)$"):
        side.run_seed(SimpleNamespace(kind="classification"), 8)  # type: ignore[arg-type]
    assert side.scores == [0.5] and side.seeds == [7] and side.outcomes == []


def test_the_training_config_scales_epochs_with_the_run_never_below_one() -> None:
    assert _side().config(0.01) == training.TrainConfig(8, 16, 0.01)
    assert _side(budget=0.25).config(0.5) == training.TrainConfig(2, 16, 0.5)
    assert _side({"epochs": 1}, budget=0.1).config(0.5).epochs == 1


class _Linear(torch.nn.Module):
    """A plugged model: the reference is an exact linear map; the implementation 'bad' adds an
    error only where the harness must look (the test split, in evaluation, below EVAL_CHECK rows)."""

    def __init__(self, impl: str | None, faulty_when: str) -> None:
        super().__init__()
        self.impl, self.faulty_when = impl, faulty_when
        self.lin = torch.nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.lin(x)
        if self.impl != "bad":
            return y
        faulty = {"eval": not self.training, "test-inputs": bool((x > 100).any()), "always": True,
                  "many-rows": x.shape[0] > _matched_side.EVAL_CHECK, "grad": torch.is_grad_enabled()}
        return y + 1e-2 if faulty[self.faulty_when] else y


def _plugged(monkeypatch: pytest.MonkeyPatch, impl: str, faulty_when: str) -> tuple[Side, Any]:
    reference = registry.operation("rational").reference
    family = SimpleNamespace(plugs="rational", create=lambda size, name, arch: _Linear(
        None if name == reference else name, faulty_when))
    side = _side(family=family, impl=impl)
    torch.manual_seed(0)
    model = family.create("small", impl, {})
    with torch.no_grad():
        model.lin.weight.mul_(3.0)  # trained: its weights are no longer those a fresh model starts from
    model.train()
    rows = _matched_side.EVAL_CHECK + 44
    prepared = SimpleNamespace(train=(torch.randn(rows, 3), None), val=(torch.randn(rows, 3), None),
                               test=(torch.randn(rows, 3) + 1000.0, None))
    return side, (model, prepared)


@pytest.mark.parametrize("faulty_when", ["eval", "test-inputs", "always"])
def test_a_plugged_implementation_wrong_on_the_path_the_score_reads_fails_the_seed(
        monkeypatch: pytest.MonkeyPatch, faulty_when: str) -> None:
    side, (model, prepared) = _plugged(monkeypatch, "bad", faulty_when)
    wrong = r"^mlp\[bad\] wine: wrong against float64 on the trained model in evaluation on 256 test inputs "
    with pytest.raises(Failed, match=wrong):
        side._check_trained(model, prepared)


@pytest.mark.parametrize("faulty_when", ["many-rows", "grad"])
def test_the_check_runs_without_gradients_on_a_sample_of_the_test_inputs(
        monkeypatch: pytest.MonkeyPatch, faulty_when: str) -> None:
    side, (model, prepared) = _plugged(monkeypatch, "bad", faulty_when)
    side._check_trained(model, prepared)  # wrong only off the checked path: nothing to find there


def test_a_correct_plugged_model_passes_with_its_trained_weights_and_is_left_in_evaluation(
        monkeypatch: pytest.MonkeyPatch) -> None:
    side, (model, prepared) = _plugged(monkeypatch, "good", "always")
    side._check_trained(model, prepared)
    assert not model.training


def test_a_side_without_a_plugged_implementation_is_not_checked() -> None:
    def create(*args: Any) -> Any:
        raise AssertionError("no reference model is built")

    _side(family=SimpleNamespace(plugs=None, create=create), impl="bad")._check_trained(None, None)  # type: ignore[arg-type]
    _side(family=SimpleNamespace(plugs="rational", create=create))._check_trained(None, None)  # type: ignore[arg-type]


def test_a_model_is_built_on_the_side_from_its_seed_and_implementation() -> None:
    made: list[tuple[Any, ...]] = []

    def create(size: str, impl: str | None, arch: Mapping[str, Any]) -> torch.nn.Module:
        made.append((size, impl, dict(arch)))
        return torch.nn.Linear(2, 2)

    side = _side(family=SimpleNamespace(plugs="rational", create=create), impl="triton")
    a, b, c = side.model(5), side.model(5), side.model(6)
    assert made == [("small", "triton", {"hidden": 4})] * 3
    assert torch.equal(a.weight, b.weight) and not torch.equal(a.weight, c.weight)


def _task(kind: str = "classification", test_y: list[int] | None = None) -> Any:
    y = np.asarray(test_y if test_y is not None else [0, 1, 1, 2, 1], dtype=np.int64)
    return SimpleNamespace(kind=kind, test=SimpleNamespace(y=y), describe=lambda: {"task": "wine", "kind": kind})


def test_the_majority_share_is_what_always_guessing_the_commonest_test_label_scores() -> None:
    assert _matched_side.majority(_task()) == pytest.approx(0.6)
    assert _matched_side.majority(_task(test_y=[2, 2, 2, 2])) == 1.0
    assert _matched_side.majority(_task("regression")) is None
    assert _matched_side.majority(_task(test_y=[])) is None
    floats = SimpleNamespace(kind="classification", test=SimpleNamespace(y=np.array([0.0, 1.0, 1.0, 1.0])))
    assert _matched_side.majority(floats) == 0.75  # labels read from a table as floats still count


def test_the_measurement_records_the_seeds_the_tuning_and_each_examples_seed_averaged_outcome() -> None:
    side = _side()
    side.scores, side.seeds, side.lr = [0.5, 0.75], [101, 202], 0.01
    side.outcomes = [np.array([1.0, 0.0, 0.0, 1.0]), np.array([1.0, 1.0, 0.0, 1.0])]
    side.tuning, side.censored = {"0.01": 0.7}, "why"
    m = side.measurement(_task(), "accuracy", "higher")
    assert (m.metric, m.unit, m.better, m.noise, m.device_independent) == \
        ("accuracy", "fraction", "higher", "seeds", True)
    assert m.samples == [0.5, 0.75] and m.groups == [0, 1] and m.summary is not None
    assert m.summary["median"] == 0.625 and m.summary["rounds"] == 2  # each seed its own group
    assert m.summary["between_sd_log"] == pytest.approx(float(np.std(np.log([0.5, 0.75]), ddof=1)))
    assert m.case == {"task": "wine", "params": 500} and m.subject == {"model": "mlp"}
    assert m.extra["per_example"] == [1.0, 0.5, 0.0, 1.0] and m.extra["train_seeds"] == [101, 202]
    assert {k: m.extra[k] for k in ("params", "flops", "arch", "size", "lr", "tuning", "tuning_censored",
                                    "budget", "majority_share")} == \
        {"params": 480, "flops": 960, "arch": {"hidden": 4}, "size": "small", "lr": 0.01, "tuning": {"0.01": 0.7},
         "tuning_censored": "why", "budget": 500, "majority_share": pytest.approx(0.6)}
    assert m.extra["training"] == training.describe(training.TrainConfig(8, 16, 0.01))
    assert m.extra["data"] == {"task": "wine", "kind": "classification"}
    rmse = side.measurement(_task("regression"), "rmse", "lower")
    assert rmse.unit == "target units" and rmse.extra["majority_share"] is None
    side.outcomes = []  # scores without outcomes: nothing to average
    assert side.measurement(_task(), "accuracy", "higher").extra["per_example"] == []


def test_the_per_example_outcomes_are_rounded_to_six_places() -> None:
    side = _side()
    side.scores, side.seeds, side.outcomes = [1.0] * 3, [1, 2, 3], [np.array([1.0, 0.0])] * 2 + [np.array([0.0, 0.0])]
    assert side.measurement(_task(), "accuracy", "higher").extra["per_example"] == [0.666667, 0.0]


def test_memory_is_the_hosts_on_a_cpu() -> None:
    import os

    assert _matched_side.memory_bytes(torch.device("cpu")) == os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _wine_claim(tolerance: float = 0.1) -> Claim:
    return Claim("m", "matched-accuracy", Rule(at_least=0.0), options={"tolerance": tolerance, "epochs": 2,
                                                                       "batch": 8, "lr_grid": [0.01],
                                                                       "tune_budget": 1})


def test_a_side_resolves_to_the_width_nearest_its_budget_with_its_count_and_flops() -> None:
    from kbench import data
    from kbench.kinds._model_building import count_flops, params_of

    task = data.load("wine")
    subject = Subject({"model": "mlp", "arch": {"depth": 1}})
    family, size, arch, params, flops = _matched_side.resolve(subject, {"task": "wine", "params": 2000}, task,
                                                              _wine_claim())
    assert family.name == "mlp" and params == params_of(family, size, arch) and abs(params - 2000) <= 200
    assert arch["in_features"] == 13 and arch["out_features"] == 3  # the task's inputs and classes
    assert flops > 0 and flops == count_flops(_matched_side.meta_model(family, size, arch),
                                                            family.input_shape(arch))
    assert all(p.device.type == "meta" for p in _matched_side.meta_model(family, size, arch).parameters())


def test_a_family_that_cannot_build_for_the_task_fails_naming_the_side_family_and_task(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from kbench import data

    def cannot(*args: Any) -> Any:
        raise ValueError("embed_dim must divide by num_heads")

    monkeypatch.setattr(_matched_side, "architecture", cannot)
    with pytest.raises(Failed) as info:
        _matched_side.resolve(Subject({"model": "vit"}), {"task": "wine"}, data.load("wine"), _wine_claim())
    assert str(info.value) == ("vit: model family 'vit' cannot build this architecture for task wine (inputs (13,)): "
                               "embed_dim must divide by num_heads")


def test_the_claims_tolerance_reaches_the_width_search(monkeypatch: pytest.MonkeyPatch) -> None:
    from kbench import data

    seen: list[float] = []

    def architecture(subject: Subject, case: Mapping[str, Any], task: Any, tolerance: float) -> Any:
        seen.append(tolerance)
        raise ValueError("stop")

    monkeypatch.setattr(_matched_side, "architecture", architecture)
    with pytest.raises(Failed):
        _matched_side.resolve(Subject({"model": "mlp"}), {"task": "wine"}, data.load("wine"), _wine_claim(0.37))
    assert seen == [0.37]


def test_a_side_too_large_for_half_the_devices_memory_is_refused_before_training(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from kbench import data

    task = data.load("wine")
    subject = Subject({"model": "mlp", "arch": {"depth": 1, "hidden": 8}})
    claim = _wine_claim()
    params = _matched_side.resolve(subject, {"task": "wine"}, task, claim)[3]
    monkeypatch.setattr(_matched_side, "memory_bytes", lambda device: 2 * params * 16)  # exactly enough
    side = Side(subject, {"task": "wine"}, task, _ctx(), claim)
    assert (side.params, side.arch["hidden"], side.lr, side.scores, side.tuning) == (params, 8, 0.0, [], {})
    assert side.censored is None and side.seeds == [] and side.outcomes == []
    monkeypatch.setattr(_matched_side, "memory_bytes", lambda device: 2 * params * 16 - 2)
    label = r"mlp \{depth=1, hidden=8\}"
    with pytest.raises(Failed, match=rf"^{label}: {params} parameters need about 0.0 GiB to train, more than half "
                                     r"the cpu memory here$"):
        Side(subject, {"task": "wine"}, task, _ctx(), claim)


@pytest.mark.parametrize(("given", "case", "expect"), [
    ({"hidden": 8}, {"params": 900}, ("hidden", "the width search for the case's 900-parameter budget")),
    ({"hidden": 8}, {}, None),  # the width as given, no budget: kept
    ({"depth": 1}, {"params": 900}, None),
    ({"in_features": 5}, {}, ("in_features", "the task (it needs in_features = 13)")),
])
def test_an_arch_keyword_the_run_would_replace_is_named_with_what_replaces_it(
        given: dict[str, Any], case: dict[str, Any], expect: tuple[str, str] | None) -> None:
    family = registry.model_family("mlp")
    arch = {"in_features": 13, "out_features": 3, "depth": 1, "hidden": 8}
    assert _matched_side.set_for_you(Subject({"model": "mlp", "arch": given}), case, family, arch) == expect


def test_memory_on_a_gpu_is_the_devices_own(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[Any] = []
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device: asked.append(device) or
                        SimpleNamespace(total_memory=141 * 2**30))
    gpu = torch.device("cuda", 1)
    assert _matched_side.memory_bytes(gpu) == 141 * 2**30 and asked == [gpu]


def test_the_flops_are_counted_on_the_reference_implementation_of_a_plugged_family() -> None:
    made: list[tuple[Any, ...]] = []
    plugged = SimpleNamespace(plugs="rational", create=lambda size, impl, arch: made.append((size, impl, arch)) or
                              torch.nn.Linear(2, 2))
    _matched_side.meta_model(plugged, "small", {"hidden": 4})  # type: ignore[arg-type]
    _matched_side.meta_model(SimpleNamespace(plugs=None, create=plugged.create), "tiny", {})  # type: ignore[arg-type]
    assert made == [("small", registry.operation("rational").reference, {"hidden": 4}), ("tiny", None, {})]


def test_the_reference_model_is_built_like_the_plugged_one_on_the_same_device(monkeypatch: pytest.MonkeyPatch
                                                                              ) -> None:
    made: list[tuple[Any, ...]] = []
    moved: list[Any] = []

    class Placed(torch.nn.Linear):
        def to(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            moved.append(args[0] if args else kwargs.get("device"))
            return super().to(*args, **kwargs)

    def create(size: str, impl: str | None, arch: Any) -> torch.nn.Module:
        made.append((size, impl, arch))
        return Placed(3, 2)

    side = _side(family=SimpleNamespace(plugs="rational", create=create), impl="kbench_triton")
    model = side.model(0)
    x = torch.randn(4, 3)
    side._check_trained(model, SimpleNamespace(test=(x, None)))  # type: ignore[arg-type]
    assert made == [("small", "kbench_triton", {"hidden": 4}),
                    ("small", registry.operation("rational").reference, {"hidden": 4})]
    assert moved == [side.ctx.device, side.ctx.device]


def test_a_failed_check_names_the_output_it_compared(monkeypatch: pytest.MonkeyPatch) -> None:
    side, (model, prepared) = _plugged(monkeypatch, "bad", "always")
    with pytest.raises(Failed, match=r"float32: logits: norm "):
        side._check_trained(model, prepared)
