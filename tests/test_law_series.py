"""One side of a law claim (kbench.kinds._law_series) with training and the metrics replaced by
fakes: which models a sweep builds and what each point's x is, the seeds and data each run gets,
the training shared between claims that differ only in their statistic, the PPL-p% search over
the last checkpoints, and what every point records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from kbench import data, sparsity, sweeps
from kbench.claims import Claim, Subject
from kbench.data import text
from kbench.kinds import _law_series
from kbench.kinds._law_series import Series, swept_key
from kbench.kinds.base import Context, Failed, Skip
from kbench.kinds.law import OPTIONS
from kbench.timing import TimingConfig
from kbench.verdicts import Rule

DEFAULTS = {k: p.default for k, p in OPTIONS.items() if p.default is not None}
NANO = {"model": "tiny-lm", "size": "nano"}
Log = list[tuple[Any, ...]]


def _ctx(seed: int = 5, progress: list[str] | None = None) -> Context:
    config = TimingConfig(warmup_ms=1, budget_ms=1, min_reps=1, max_reps=1)
    return Context(torch.device("cpu"), config, config, seed=seed,
                   progress=progress.append if progress is not None else lambda m: None)


def _claim(options: Mapping[str, Any] | None = None, subject: Mapping[str, Any] = NANO) -> Claim:
    opts = {**DEFAULTS, "quantity": "nonzero-fraction", "statistic": "slope", "batch": 4, "warmup": 2,
            "eval_sequences": 3, **(options or {})}
    return Claim("c", "law", Rule(at_most=0.0), options=opts, sides={"subject": Subject(dict(subject))})


CORPUS = text.Corpus(train=np.zeros(10, np.uint8), heldout=np.zeros(10, np.uint8), sha256="abc", python="3.x",
                     files=1)


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Log:
    """Training that logs its calls and moves a weight by the data seen; the nonzero fraction is
    that weight, so each point's value says which model it was measured on."""
    log: Log = []
    monkeypatch.setattr(text, "stdlib", lambda: CORPUS)
    monkeypatch.setattr(sweeps, "heldout_loss", lambda corpus, seq_len, n, device: log.append(
        ("probe", corpus, seq_len, n, device)) or "heldout-loss")

    def train_lm(model: torch.nn.Module, corpus: Any, config: sweeps.SweepConfig, seq_len: int,
                 points: Sequence[int], seed: int, device: torch.device, at: Any) -> None:
        log.append(("train_lm", config, seq_len, list(points), seed, device))
        for p in points:
            with torch.no_grad():
                next(model.parameters()).fill_(float(p))
            at(p, model)

    monkeypatch.setattr(sweeps, "train_lm", train_lm)
    monkeypatch.setattr(sparsity, "nonzero_fraction", lambda model, loss: (
        log.append(("measure", loss)) or float(next(model.parameters()).detach().flatten()[0]) / 1e6))
    return log


def test_the_swept_keyword_is_the_familys_width_or_its_depth() -> None:
    lm = SimpleNamespace(width_key="d_model", arch_keys={"depth": 1})
    assert swept_key(lm, "width") == "d_model" and swept_key(lm, "depth") == "depth"  # type: ignore[arg-type]
    assert swept_key(SimpleNamespace(width_key=None, arch_keys={}), "depth") is None  # type: ignore[arg-type]
    assert swept_key(lm, "data") is None  # type: ignore[arg-type]


def test_a_data_sweep_checkpoints_one_run_per_seed_and_each_point_is_the_model_at_that_checkpoint(fakes: Log) -> None:
    ctx = _ctx()
    series = Series(_claim(), {"task": "stdlib-text", "points": [512, 1024, 2048]}, "subject", ctx)
    assert series.corpus is CORPUS and series.task is None
    series.run_seed(0)
    series.run_seed(1)
    trains = [e for e in fakes if e[0] == "train_lm"]
    assert [e[1:4] for e in trains] == [(sweeps.SweepConfig(4, 1e-3, 2), 64, [512, 1024, 2048])] * 2
    assert [e[4] for e in trains] == [ctx.seed_for("data", 0), ctx.seed_for("data", 1)]  # each seed its own order
    assert [e[5] for e in trains] == [ctx.device] * 2
    assert ("probe", CORPUS, 64, 3, ctx.device) in fakes
    assert {e[1] for e in fakes if e[0] == "measure"} == {"heldout-loss"}
    points = ctx.recorded
    assert [m.extra["x"] for m in points] == [512.0, 1024.0, 2048.0]
    assert [m.samples for m in points] == [[512e-6] * 2, [1024e-6] * 2, [2048e-6] * 2]  # a copy per checkpoint
    assert [m.groups for m in points] == [[0, 1]] * 3
    assert [m.metric for m in points] == ["nonzero-fraction@512", "nonzero-fraction@1024", "nonzero-fraction@2048"]
    first = points[0]
    assert (first.role, first.unit, first.better, first.noise, first.device_independent) == \
        ("subject", "fraction", "none", "seeds", True)
    assert first.extra["variable"] == "tokens" and first.extra["corpus"] == CORPUS.describe()
    assert first.extra["per_seed"] == [{"seed": 0, "data": 512}, {"seed": 1, "data": 512}]
    assert first.extra["law"]["statistic"] == "slope" and first.summary is not None
    assert first.extra["arch"] == series.arch
    assert first.summary["median"] == pytest.approx(512e-6)


def test_the_same_seed_is_initialised_alike_and_another_seed_differently(fakes: Log) -> None:
    ctx = _ctx()
    series = Series(_claim(), {"task": "stdlib-text", "points": [512, 1024]}, "subject", ctx)
    a, b, c = series._model(series.arch, 0), series._model(series.arch, 0), series._model(series.arch, 1)
    wa, wb, wc = (list(m.parameters())[0] for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)
    torch.manual_seed(ctx.seed_for("init", 0))
    again = series.family.create(series.size, None, series.arch)
    assert torch.equal(list(again.parameters())[0], wa)


def test_a_model_that_cannot_be_built_fails_naming_the_side_and_architecture(fakes: Log) -> None:
    series = Series(_claim(), {"task": "stdlib-text", "points": [512, 1024]}, "subject", _ctx())
    with pytest.raises(Failed, match=r"^tiny-lm nano: cannot build \{.*'heads': 3.*\}: "):
        series._model({**series.arch, "heads": 3}, 0)


def test_a_width_sweep_builds_a_model_per_width_and_its_x_is_the_parameter_count(
        fakes: Log, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = _ctx()
    series = Series(_claim({"sweep": "width"}), {"task": "stdlib-text", "points": [16, 32], "data": 4096},
                    "subject", ctx)
    built: list[tuple[int, int]] = []
    real = series._model
    monkeypatch.setattr(series, "_model", lambda arch, seed: built.append((arch["d_model"], seed)) or real(arch, seed))
    series.run_seed(1)
    assert built == [(16, 1), (32, 1)]
    trains = [e for e in fakes if e[0] == "train_lm"]
    assert [e[3] for e in trains] == [[4096], [4096]]  # each width on the case's data
    assert [e[4] for e in trains] == [ctx.seed_for("data", 1)] * 2  # the seed's own data order for every width
    counts = [sum(p.numel() for p in real({**series.arch, "d_model": w}, 0).parameters()) for w in (16, 32)]
    assert [m.extra["x"] for m in ctx.recorded] == [float(c) for c in counts]
    assert [m.extra["variable"] for m in ctx.recorded] == ["parameters"] * 2
    assert [m.extra["per_seed"][0]["width"] for m in ctx.recorded] == [16, 32]
    assert [m.groups for m in ctx.recorded] == [[1], [1]]
    assert [m.samples for m in ctx.recorded] == [[4096e-6], [4096e-6]]


def test_claims_that_differ_only_in_their_statistic_share_one_training_run_per_seed(fakes: Log) -> None:
    progress: list[str] = []
    ctx = _ctx(progress=progress)
    case = {"task": "stdlib-text", "points": [512, 1024, 2048]}
    Series(_claim({"statistic": "slope"}), case, "subject", ctx).run_seed(0)
    Series(_claim({"statistic": "last"}), case, "subject", ctx).run_seed(0)
    assert len([e for e in fakes if e[0] == "train_lm"]) == 1
    assert "tiny-lm nano: seed 1 measured by an earlier claim of this run" in progress
    Series(_claim({"statistic": "last", "lr": 0.01}), case, "subject", ctx).run_seed(0)  # other training
    Series(_claim({"statistic": "last"}), case, "subject", ctx).run_seed(1)  # another seed
    Series(_claim({"statistic": "last"}), {**case, "points": [512, 2048]}, "subject", ctx).run_seed(0)
    assert len([e for e in fakes if e[0] == "train_lm"]) == 4
    other = _ctx(seed=6)
    Series(_claim(), case, "subject", other).run_seed(0)  # another master seed: its own run
    assert len([e for e in fakes if e[0] == "train_lm"]) == 5


def test_an_image_task_loads_with_the_master_seeds_split_and_probes_its_test_set(
        monkeypatch: pytest.MonkeyPatch) -> None:
    loaded: Log = []
    test = SimpleNamespace(x=np.eye(3, dtype=np.float32), y=np.array([0, 1, 2], dtype=np.int32))  # labels as stored
    task = SimpleNamespace(name="toy", test=test, input_shape=(3,), num_classes=3)
    monkeypatch.setattr(data, "load", lambda name, seed=0: loaded.append((name, seed)) or task)
    monkeypatch.setattr(_law_series, "architecture", lambda subject, case, task: (None, "s", {"hidden": 2}))
    ctx = _ctx()
    series = Series(_claim(subject={"model": "vit"}), {"task": "toy", "points": [8, 16]}, "subject", ctx)
    assert loaded == [("toy", ctx.seed_for("split"))] and series.task is task and series.corpus is None
    loss = series._probe()
    logits = torch.tensor([[5.0, 0, 0], [0, 5.0, 0], [0, 0, 5.0]])
    expect = float(torch.nn.functional.cross_entropy(logits.double(), torch.tensor([0, 1, 2])))
    on_test = {"x": None}
    assert loss(lambda x: on_test.update(x=x) or logits) == pytest.approx(expect)  # type: ignore[arg-type]
    assert torch.equal(on_test["x"], torch.eye(3))  # the test images are what the model sees
    assert series._variable() == "examples"


def test_a_task_that_cannot_be_loaded_skips_the_claim_with_its_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str, seed: int = 0) -> Any:
        raise data.DataError("mnist1d is not installed")

    monkeypatch.setattr(data, "load", missing)
    with pytest.raises(Skip, match="^mnist1d is not installed$"):
        Series(_claim(subject={"model": "vit"}), {"task": "mnist1d", "points": [8, 16]}, "subject", _ctx())


def test_image_training_takes_the_options_and_the_seeds_own_data_order(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: Log = []
    task = SimpleNamespace(name="toy")
    monkeypatch.setattr(data, "load", lambda name, seed=0: task)
    monkeypatch.setattr(_law_series, "architecture", lambda subject, case, task: (None, "s", {}))
    monkeypatch.setattr(sweeps, "train_classifier", lambda *args: calls.append(args))
    ctx = _ctx()
    model = torch.nn.Linear(2, 2)
    for labels in ("real", "random"):
        series = Series(_claim({"labels": labels, "batch": 32, "lr": 0.02, "warmup": 7}, {"model": "vit"}),
                        {"task": "toy", "points": [8, 16]}, "subject", ctx)
        series._train(model, [8, 16], 3, "at")  # type: ignore[arg-type]
    assert calls == [(model, task, sweeps.SweepConfig(32, 0.02, 7), [8, 16], ctx.seed_for("data", 3), ctx.device,
                      random, "at") for random in (False, True)]


def test_a_run_that_produces_non_finite_values_fails_naming_the_seed(fakes: Log, monkeypatch: pytest.MonkeyPatch
                                                                     ) -> None:
    def overflow(*args: Any) -> None:
        raise FloatingPointError("loss is nan at step 3")

    monkeypatch.setattr(sweeps, "train_lm", overflow)
    series = Series(_claim(), {"task": "stdlib-text", "points": [512, 1024]}, "subject", _ctx())
    with pytest.raises(Failed, match=r"^tiny-lm nano, seed 2: loss is nan at step 3$"):
        series._train(torch.nn.Linear(1, 1), [512], 2, lambda seen, m: None)


class _Calibrated:
    def __init__(self, name: str, log: Log) -> None:
        self.name, self.log, self.dense_loss = name, log, 1.5

    def sparse(self, cett: float, loss: Any) -> tuple[float, float]:
        self.log.append(("sparse", self.name, cett))
        return 1.01, {"a": 0.3, "b": 0.2, "c": 0.1}[self.name]


def test_the_activation_ratio_calibrates_on_the_last_checkpoints_and_cuts_every_point_at_that_cett(
        monkeypatch: pytest.MonkeyPatch) -> None:
    log: Log = []
    monkeypatch.setattr(sparsity, "calibrate", lambda model, loss: _Calibrated(model, log))
    searched: Log = []

    def search(models: Sequence[Any], loss: Any, p: float) -> sparsity.PplSearch:
        searched.append(([m.name for m in models], loss, p))
        return sparsity.PplSearch(0.42, 1.0099, 1 + p / 100)

    monkeypatch.setattr(sparsity, "search_cett", search)
    series = Series.__new__(Series)
    series.subject, series.ctx = Subject(dict(NANO)), _ctx()
    series.options = {"quantity": "activation-ratio", "calibrate_last": 2, "p": 1.0}
    models = [(1.0, {}, "a"), (2.0, {}, "b"), (3.0, {}, "c")]
    values, more = series._measure(models, "loss")  # type: ignore[arg-type]
    assert searched == [(["b", "c"], "loss", 1.0)]
    assert values == [0.3, 0.2, 0.1] and [e[2] for e in log] == [0.42] * 3
    assert more[0] == {"dense_loss": 1.5, "ppl_ratio": 1.01, "cett": 0.42, "calibrated_ppl_ratio": 1.0099}


def test_a_perplexity_that_never_rises_p_percent_has_no_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sparsity, "calibrate", lambda model, loss: model)
    monkeypatch.setattr(sparsity, "search_cett", lambda models, loss, p: sparsity.PplSearch(1.0, 1.004, 1.01,
                                                                                            reached=False))
    series = Series.__new__(Series)
    series.subject, series.ctx = Subject(dict(NANO)), _ctx()
    series.options = {"quantity": "activation-ratio", "calibrate_last": 5, "p": 1.0}
    with pytest.raises(Failed, match=r"^tiny-lm nano: perplexity never rises 1.0% \(at most x1.004 with every FFN "
                                     r"activation dropped\): PPL-p% has no threshold here$"):
        series._measure([(1.0, {}, "a")], "loss")  # type: ignore[list-item, arg-type]


def test_a_data_sweep_builds_the_sides_own_architecture_with_the_seeds_initialisation(
        fakes: Log, monkeypatch: pytest.MonkeyPatch) -> None:
    series = Series(_claim(subject={**NANO, "arch": {"act": "silu"}}), {"task": "stdlib-text", "points": [512, 1024]},
                    "subject", _ctx())
    built: list[tuple[Any, ...]] = []
    real = series._model
    monkeypatch.setattr(series, "_model", lambda arch, seed: built.append((dict(arch), seed)) or real(arch, seed))
    series.run_seed(2)
    assert built == [(series.arch, 2)] and series.arch["act"] == "silu"


def test_options_in_another_order_still_share_the_training(fakes: Log) -> None:
    ctx = _ctx()
    case = {"task": "stdlib-text", "points": [512, 1024, 2048]}
    claim = _claim({"statistic": "slope"})
    shuffled = Claim("d", "law", Rule(at_most=0.0), options=dict(reversed(list(claim.options.items()))),
                     sides=claim.sides)
    Series(claim, case, "subject", ctx).run_seed(0)
    Series(shuffled, case, "subject", ctx).run_seed(0)
    assert len([e for e in fakes if e[0] == "train_lm"]) == 1


def test_a_model_is_placed_on_the_runs_device(fakes: Log) -> None:
    series = Series(_claim(), {"task": "stdlib-text", "points": [512, 1024]}, "subject", _ctx())
    moved: list[Any] = []

    class Placed(torch.nn.Linear):
        def to(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            moved.append(args[0] if args else kwargs.get("device"))
            return self

    series.family = SimpleNamespace(create=lambda size, impl, arch: Placed(1, 1))  # type: ignore[assignment]
    series._model(series.arch, 0)
    assert moved == [series.ctx.device]


def test_an_image_series_is_built_for_its_task_and_records_no_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sweeps, "train_classifier", lambda model, task, config, points, seed, device, random, at: [
        at(p, model) for p in points])
    monkeypatch.setattr(sparsity, "nonzero_fraction", lambda model, loss: 0.5)
    vit = {"model": "vit", "arch": {"depth": 1, "embed_dim": 24, "num_heads": 3, "patch_size": 4}}
    ctx = _ctx()
    series = Series(_claim(subject=vit), {"task": "digits", "points": [32, 64, 96]}, "subject", ctx)
    assert series.arch["num_classes"] == 10 and series.arch["img_size"] == 8  # the task's classes and images
    series.run_seed(0)
    assert [m.extra["variable"] for m in ctx.recorded] == ["examples"] * 3
    assert all("corpus" not in m.extra for m in ctx.recorded)


def test_each_replicates_master_seed_trains_its_own_runs_on_one_context(fakes: Log) -> None:
    ctx = _ctx(seed=0)
    case = {"task": "stdlib-text", "points": [512, 1024]}
    Series(_claim(), case, "subject", ctx).run_seed(0)
    ctx.seed = 1  # the runner reuses one context and moves its master seed for each replicate
    Series(_claim(), case, "subject", ctx).run_seed(0)
    trains = [e for e in fakes if e[0] == "train_lm"]
    assert len(trains) == 2 and trains[0][4] != trains[1][4]


def test_every_model_of_a_size_sweep_is_measured_in_evaluation(fakes: Log, monkeypatch: pytest.MonkeyPatch) -> None:
    modes: list[bool] = []
    monkeypatch.setattr(sparsity, "nonzero_fraction", lambda model, loss: modes.append(model.training) or 0.5)
    series = Series(_claim({"sweep": "width"}), {"task": "stdlib-text", "points": [16, 32], "data": 4096},
                    "subject", _ctx())
    series.run_seed(0)
    assert modes == [False, False]
