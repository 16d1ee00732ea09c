"""How a matched claim collects (kbench.kinds.matched), with its sides replaced by fakes that log
what they are asked: which sides are checked before training, the one prepared split that both
sides tune on and train on, seeds alternating side by side with one seed per pair, what an
interrupted or diverged run keeps, and how a case's value is annotated (collapsed seeds, the
detectable effect, a censored tuning)."""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from kbench import data, stats, training
from kbench.claims import Claim, Subject
from kbench.kinds import matched
from kbench.kinds._matched_side import Diverged
from kbench.kinds.base import Context, Failed, Skip
from kbench.results import Measurement
from kbench.timing import TimingConfig
from kbench.verdicts import Rule

Log = list[tuple[Any, ...]]
TASK = SimpleNamespace(name="t")


def _ctx(budget: float = 1.0, seed: int = 7) -> Context:
    config = TimingConfig(warmup_ms=1, budget_ms=1, min_reps=1, max_reps=1)
    return Context(torch.device("cpu"), config, config, seed=seed, budget=budget)


def _claim(seeds: int = 3, *, plugs: tuple[str | None, str | None] = (None, None)) -> Claim:
    sides = {role: Subject({"model": f"{role}-model", **({"plugs": p} if p else {})})
             for role, p in zip(("baseline", "candidate"), plugs, strict=True)}
    return Claim("m", "matched-accuracy", Rule(at_least=0.0), options={"seeds": seeds}, cases=({"task": "wine"},),
                 sides=sides, cpu_cases=({"task": "digits"},))


def _fake_sides(monkeypatch: pytest.MonkeyPatch, log: Log, *, stop: tuple[str, int, BaseException] | None = None
                ) -> None:
    """Sides that log tune/run_seed calls; `stop` = (role's model, seed index, what to raise there)."""

    class FakeSide:
        def __init__(self, subject: Subject, case: Mapping[str, Any], task: Any, ctx: Context, claim: Claim) -> None:
            self.subject, self.case, self.task = subject, case, task
            self.family = SimpleNamespace(plugs=subject.fields.get("plugs"))
            self.size, self.arch = "s", {"width": subject.model}
            self.scores: list[float] = []
            log.append(("side", subject.model, case["task"], task))

        def tune(self, prepared: Any, better: str) -> None:
            log.append(("tune", self.subject.model, prepared, better))

        def run_seed(self, prepared: Any, seed: int) -> None:
            log.append(("seed", self.subject.model, prepared, seed))
            if stop is not None and stop[0] == self.subject.model and stop[1] == len(self.scores):
                raise stop[2]
            self.scores.append(0.5 + 0.1 * len(self.scores))

        def measurement(self, task: Any, metric: str, better: str) -> Measurement:
            return Measurement(case=dict(self.case), subject=self.subject.as_dict(), metric=metric, better=better,  # type: ignore[arg-type]
                               noise="seeds", samples=list(self.scores), groups=list(range(len(self.scores))),
                               extra={"task": task})

    monkeypatch.setattr(matched, "Side", FakeSide)
    monkeypatch.setattr(matched, "check_model", lambda subject, case, ctx: log.append(("check", subject.model, case,
                                                                                      ctx.claim_id)))
    monkeypatch.setattr(training, "prepare", lambda task, device: ("prepared", task, device))


def test_sides_alternate_seed_by_seed_on_one_prepared_split_with_the_same_seed_per_pair(
        monkeypatch: pytest.MonkeyPatch) -> None:
    log: Log = []
    _fake_sides(monkeypatch, log)
    ctx, claim, task = _ctx(), _claim(seeds=3), SimpleNamespace(name="wine")
    matched.MatchedAccuracy()._collect_case(claim, {"task": "wine"}, task, ctx)  # type: ignore[arg-type]
    prepared = ("prepared", task, ctx.device)
    assert [e[0] for e in log] == ["side", "side", "tune", "tune"] + ["seed"] * 6  # every side tuned before any seed
    assert [e[1] for e in log[2:]] == ["baseline-model", "candidate-model"] * 4
    assert all(e[2:] == ("wine", task) for e in log[:2]) and all(e[2] == prepared for e in log[2:])
    assert {e[3] for e in log[2:4]} == {"higher"}
    seeds = [e[3] for e in log[4:]]
    assert seeds[0::2] == seeds[1::2] == [ctx.seed_for("train", s) for s in range(3)]  # paired: the same draw
    assert len(set(seeds[0::2])) == 3
    assert [(m.role, m.metric, m.better, m.samples) for m in ctx.recorded] == \
        [("baseline", "accuracy", "higher", [0.5, 0.6, 0.7]), ("candidate", "accuracy", "higher", [0.5, 0.6, 0.7])]
    assert all(m.extra["task"] is task and m.claim == ctx.claim_id for m in ctx.recorded)


def test_an_error_claim_tunes_for_the_lower_score_and_quick_runs_keep_two_seeds(monkeypatch: pytest.MonkeyPatch
                                                                                ) -> None:
    log: Log = []
    _fake_sides(monkeypatch, log)
    ctx = _ctx(budget=0.25)
    matched.MatchedError()._collect_case(_claim(seeds=5), {"task": "t"}, TASK, ctx)  # type: ignore[arg-type]
    assert {e[3] for e in log if e[0] == "tune"} == {"lower"}
    assert len([e for e in log if e[0] == "seed"]) == 2 * 2  # 5 x 0.25 -> 2, never below two seeds
    assert [(m.role, m.metric, m.better) for m in ctx.recorded] == [("baseline", "rmse", "lower"),
                                                                   ("candidate", "rmse", "lower")]


@pytest.mark.parametrize("plugs", [("rational", None), (None, "rational"), ("rational", "rational")])
def test_only_a_side_whose_family_plugs_an_operation_is_checked_before_training(
        monkeypatch: pytest.MonkeyPatch, plugs: tuple[str | None, str | None]) -> None:
    log: Log = []
    _fake_sides(monkeypatch, log)
    ctx = _ctx()
    ctx.claim_id = "claim-under-test"
    matched.MatchedAccuracy()._collect_case(_claim(plugs=plugs), {"task": "t"}, TASK, ctx)  # type: ignore[arg-type]
    checks = [e for e in log if e[0] == "check"]
    expect = [f"{role}-model" for role, p in zip(("baseline", "candidate"), plugs, strict=True) if p]
    assert [e[1] for e in checks] == expect and all(e[2] == {"size": "s", "arch": {"width": e[1]}} for e in checks)
    assert all(e[3] == "claim-under-test" for e in checks)  # the run's context, handed on
    assert log.index(checks[-1]) < min(i for i, e in enumerate(log) if e[0] == "tune")  # checked before any tuning


def test_an_interrupted_run_keeps_every_side_that_has_seeds_marked_skipped_and_stops(
        monkeypatch: pytest.MonkeyPatch) -> None:
    log: Log = []
    _fake_sides(monkeypatch, log, stop=("candidate-model", 1, KeyboardInterrupt()))
    ctx = _ctx()
    with pytest.raises(KeyboardInterrupt):
        matched.MatchedAccuracy()._collect_case(_claim(seeds=4), {"task": "t"}, TASK, ctx)  # type: ignore[arg-type]
    assert [(m.role, m.status, m.reason, m.samples) for m in ctx.recorded] == [
        ("baseline", "skipped", "interrupted after 2 seed(s)", [0.5, 0.6]),
        ("candidate", "skipped", "interrupted after 1 seed(s)", [0.5])]


def test_a_side_interrupted_before_its_first_seed_records_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    log: Log = []
    _fake_sides(monkeypatch, log, stop=("candidate-model", 0, KeyboardInterrupt()))
    ctx = _ctx()
    with pytest.raises(KeyboardInterrupt):
        matched.MatchedAccuracy()._collect_case(_claim(), {"task": "t"}, TASK, ctx)  # type: ignore[arg-type]
    assert [(m.role, m.status, m.samples) for m in ctx.recorded] == [("baseline", "skipped", [0.5])]


def test_a_diverged_seed_is_an_error_for_the_claim_with_what_ran_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    log: Log = []
    _fake_sides(monkeypatch, log, stop=("baseline-model", 1, Diverged("seed 2 diverged at 0.1")))
    ctx = _ctx()
    with pytest.raises(Failed, match="^seed 2 diverged at 0.1$"):
        matched.MatchedAccuracy()._collect_case(_claim(), {"task": "t"}, TASK, ctx)  # type: ignore[arg-type]
    assert [(m.role, m.status, m.reason) for m in ctx.recorded] == [
        ("baseline", "error", "seed 2 diverged at 0.1 after 1 seed(s)"),
        ("candidate", "error", "seed 2 diverged at 0.1 after 1 seed(s)")]


def test_collect_loads_each_case_with_the_runs_split_seed_and_refuses_the_wrong_kind_of_task(
        monkeypatch: pytest.MonkeyPatch) -> None:
    loaded: Log = []
    collected: Log = []

    def load(name: str, seed: int = 0) -> Any:
        loaded.append((name, seed))
        return SimpleNamespace(name=name, kind="regression" if name == "symbolic/x" else "classification")

    monkeypatch.setattr(data, "load", load)
    monkeypatch.setattr(matched.MatchedAccuracy, "_collect_case",
                        lambda self, claim, case, task, ctx: collected.append((case["task"], task.name)))
    ctx = _ctx(seed=11)
    matched.MatchedAccuracy().collect(_claim(), ctx)
    assert loaded == [("digits", ctx.seed_for("split"))] and collected == [("digits", "digits")]  # the CPU's cases
    other = _ctx(seed=12)
    matched.MatchedAccuracy().collect(_claim(), other)
    assert loaded[-1][1] == other.seed_for("split") != ctx.seed_for("split")  # each master seed its own split
    wrong = Claim("m", "matched-accuracy", Rule(at_least=0.0), cases=({"task": "symbolic/x"},), sides=_claim().sides)
    with pytest.raises(Failed, match="task symbolic/x is regression; matched-accuracy compares classification tasks"):
        matched.MatchedAccuracy().collect(wrong, ctx)


def test_a_task_whose_package_is_missing_skips_the_claim_saying_why(monkeypatch: pytest.MonkeyPatch) -> None:
    def load(name: str, seed: int = 0) -> Any:
        raise data.DataError("mnist1d is not installed: pip install kbench[data]")

    monkeypatch.setattr(data, "load", load)
    with pytest.raises(Skip, match=r"^mnist1d is not installed: pip install kbench\[data\]$"):
        matched.MatchedAccuracy().collect(_claim(), _ctx())


def _measured(b: list[float], c: list[float], **extra: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    return ({"subject": {"model": "mlp"}, "extra": dict(extra)}, {"subject": {"model": "kan"}, "extra": dict(extra)})


def _checked(kind: matched._Matched, b: list[float], c: list[float], **extra: Any) -> Any:
    base, cand = _measured(b, c, **extra)
    est = stats.Estimate.from_values([y - x for x, y in zip(b, c, strict=True)], "linear")
    return kind._checked({"task": "t"}, est, {}, (base, cand, b, c), [y - x for x, y in zip(b, c, strict=True)])


def test_an_accuracy_seed_more_than_five_points_below_its_sides_median_is_noted_as_collapsed() -> None:
    cv = _checked(matched.MatchedAccuracy(), [0.90, 0.91, 0.849, 0.92], [0.80, 0.751, 0.76, 0.80])
    failures = cv.details["failures"]
    assert failures["criterion"] == "test accuracy more than 0.05 below its side's median seed"
    assert failures["baseline"] == {"collapsed": 1, "of": 4, "values": [0.849]}  # median 0.905: 0.849 < 0.855
    assert failures["candidate"] == {"collapsed": 0, "of": 4, "values": []}  # median 0.78: 0.751 is not < 0.73
    assert cv.notes == ["mlp (baseline) collapsed on 1 of 4 seeds (0.849; criterion: test accuracy more than "
                        "0.05 below its side's median seed)"]
    assert cv.blocks == []


def test_an_error_seed_more_than_twice_its_sides_median_is_noted_as_collapsed() -> None:
    cv = _checked(matched.MatchedError(), [1.0, 1.0, 2.1, 1.1], [0.5, 0.5, 1.01, 0.5])
    failures = cv.details["failures"]
    assert failures["criterion"] == "test RMSE more than 2 times its side's median seed"
    assert failures["baseline"]["collapsed"] == 0  # median 1.05: 2.1 is exactly twice, not more
    assert failures["candidate"] == {"collapsed": 1, "of": 4, "values": [1.01]}  # median 0.5
    assert len(cv.notes) == 1 and cv.notes[0].startswith("kan (candidate) collapsed on 1 of 4 seeds (1.01;")


def test_a_censored_tuning_blocks_the_case_and_the_detectable_effect_comes_from_the_paired_effects() -> None:
    b, c = [0.80, 0.82, 0.81, 0.79], [0.83, 0.86, 0.82, 0.84]
    cv = _checked(matched.MatchedAccuracy(), b, c, tuning_censored="the best rate 0.01 is the largest")
    assert cv.blocks == ["tuning censored: the best rate 0.01 is the largest"] * 2
    effects = [y - x for x, y in zip(b, c, strict=True)]
    found = stats.power(stats.Estimate.from_values(effects, "linear"), 0.0)
    assert found is not None
    assert cv.details["detectable"] == {"effect": found.detectable, "scale": "accuracy difference",
                                        "power": stats.POWER, "seeds": 4}
    assert _checked(matched.MatchedAccuracy(), [0.8], [0.9]).details["detectable"] is None  # one pair: no spread


def test_the_value_reports_each_sides_mean_count_rate_and_architecture() -> None:
    base = {"extra": {"params": 100, "lr": 0.01, "arch": {"hidden": 4}}}
    cand = {"extra": {"params": 98, "lr": 0.03, "arch": {"width": 3}}}
    details = matched._Matched._details(base, cand, [0.5, 0.7], [0.6, 1.0])
    assert details == {"baseline": {"mean": pytest.approx(0.6), "params": 100, "lr": 0.01, "arch": {"hidden": 4}},
                       "candidate": {"mean": pytest.approx(0.8), "params": 98, "lr": 0.03, "arch": {"width": 3}},
                       "seeds": 2}
    assert float(np.mean([0.6, 1.0])) == pytest.approx(details["candidate"]["mean"])


def _refs_claim(kind: str = "matched-accuracy", *, rule: Rule | None = None, grid: tuple[float, ...] = (0.01, 0.1),
                cases: tuple[Mapping[str, Any], ...] = ({"task": "wine"},),
                cpu_cases: tuple[Mapping[str, Any], ...] | None = None) -> Claim:
    sides = {role: Subject({"model": "mlp", "arch": {"depth": 1}}) for role in ("baseline", "candidate")}
    return Claim("m", kind, rule or Rule(at_least=0.0), options={"lr_grid": list(grid), "tolerance": 0.1},
                 cases=cases, sides=sides, cpu_cases=cpu_cases)


def _refused(claim: Claim, kind: matched._Matched | None = None) -> Any:
    from kbench.errors import SuiteError

    with pytest.raises(SuiteError) as info:
        (kind or matched.MatchedAccuracy()).check_references(claim, "s.toml", "claims[2]")
    assert info.value.path == "s.toml"
    return info.value


def test_references_check_the_cpu_cases_too_and_name_the_case_and_what_kind_of_task_was_needed() -> None:
    bad = _refused(_refs_claim(cpu_cases=({"task": "digits"}, {"task": "no-such-task"})))
    assert bad.field == "claims[2].cpu_cases[1].task" and bad.got == "no-such-task"
    assert bad.expected.startswith("a task (") and "digits" in bad.expected and "wine" in bad.expected
    wrong = _refused(_refs_claim(cases=({"task": "wine"}, {"task": "symbolic/toy-product"})))
    assert wrong.field == "claims[2].cases[1].task"
    assert wrong.expected == ("a classification task for matched-accuracy (symbolic/toy-product is regression)")
    error = _refused(_refs_claim("matched-error"), matched.MatchedError())
    assert error.field == "claims[2].cases[0].task" and error.expected.startswith("a regression task for matched-error")
    matched.MatchedAccuracy().check_references(_refs_claim(cpu_cases=({"task": "digits"},)), "s.toml", "claims[2]")


def test_references_refuse_a_repeated_rate_by_its_field() -> None:
    bad = _refused(_refs_claim(grid=(0.01, 0.1, 0.01)))
    assert (bad.field, bad.got) == ("claims[2].options.lr_grid", [0.01, 0.1, 0.01])


@pytest.mark.parametrize(("kind", "rule", "ok"), [
    (matched.MatchedAccuracy(), Rule(at_least=1.0), True), (matched.MatchedAccuracy(), Rule(at_most=-1.0), True),
    (matched.MatchedAccuracy(), Rule(at_least=1.01), False), (matched.MatchedAccuracy(), Rule(at_most=-1.01), False),
    (matched.MatchedAccuracy(), Rule(at_least=3.0, of_paper=True), True),  # a multiple of the paper's value
    (matched.MatchedError(), Rule(at_least=0.0), True), (matched.MatchedError(), Rule(at_most=1e300), True),
    (matched.MatchedError(), Rule(at_least=-0.5), False)])
def test_a_rule_bound_the_unit_cannot_reach_is_refused_and_the_edges_are_not(kind: matched._Matched, rule: Rule,
                                                                             ok: bool) -> None:
    from kbench.errors import SuiteError

    claim = _refs_claim(kind.name, rule=rule, cases=())
    if ok:
        kind._check_rule(claim, "s.toml", "claims[2]")
        return
    with pytest.raises(SuiteError) as info:
        kind._check_rule(claim, "s.toml", "claims[2]")
    side = "at_least" if rule.at_least is not None else "at_most"
    assert info.value.field == f"claims[2].rule.{side}" and info.value.got == getattr(rule, side)
    low, high = kind.bounds or (0.0, float("inf"))
    assert info.value.expected == f"a bound the {kind.unit} can reach ({low:g} to {high:g})"


def test_each_sides_model_is_built_for_the_case_and_a_failure_names_the_case_and_side(
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: Log = []

    def resolve(subject: Subject, case: Mapping[str, Any], task: Any, claim: Claim) -> Any:
        seen.append((subject.fields["role"], case["task"], task))
        if subject.fields["role"] == "candidate" and case["task"] == "digits":
            raise Failed("mlp cannot take 8x8 images")
        return SimpleNamespace(), "s", {}, 10, 0

    monkeypatch.setattr(matched, "resolve", resolve)
    monkeypatch.setattr(matched, "set_for_you", lambda *args: None)
    monkeypatch.setattr(data, "load", lambda name, seed=0: f"task {name}")
    claim = Claim("m", "matched-accuracy", Rule(at_least=0.0), options={"tolerance": 0.1},
                  cases=({"task": "wine"}, {"task": "digits"}),
                  sides={r: Subject({"model": "mlp", "role": r}) for r in ("baseline", "candidate")})
    from kbench.errors import SuiteError

    with pytest.raises(SuiteError) as info:
        matched.MatchedAccuracy()._check_models(claim, {"task": "digits"}, "s.toml", "claims[2].cases[1]")
    assert info.value.field == "claims[2].cases[1] (candidate)" and info.value.got == "mlp cannot take 8x8 images"
    assert info.value.expected == "an architecture its family can build for the task"
    assert seen == [("baseline", "digits", "task digits"), ("candidate", "digits", "task digits")]


def test_a_side_too_large_to_train_or_an_arch_keyword_the_run_would_replace_names_the_side(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from kbench.errors import SuiteError

    counts = {"baseline": 10, "candidate": 10**12}
    monkeypatch.setattr(matched, "resolve", lambda subject, case, task, claim:
                        (SimpleNamespace(), "s", {}, counts[subject.fields["role"]], 0))
    monkeypatch.setattr(data, "load", lambda name, seed=0: name)
    sides = {r: Subject({"model": "mlp", "role": r}) for r in ("baseline", "candidate")}
    claim = Claim("m", "matched-accuracy", Rule(at_least=0.0), options={"tolerance": 0.1}, sides=sides)
    monkeypatch.setattr(matched, "set_for_you", lambda *args: None)
    with pytest.raises(SuiteError) as info:
        matched.MatchedAccuracy()._check_models(claim, {"task": "wine"}, "s.toml", "claims[2].cases[0]")
    assert info.value.field == "claims[2].candidate" and "1000000000000 parameters" in str(info.value.got)
    assert info.value.path == "s.toml"
    counts["candidate"] = 10
    monkeypatch.setattr(matched, "set_for_you", lambda subject, case, family, arch:
                        ("hidden", "the width search") if subject.fields["role"] == "candidate" else None)
    with pytest.raises(SuiteError) as info:
        matched.MatchedAccuracy()._check_models(claim, {"task": "wine"}, "s.toml", "claims[2].cases[0]")
    assert info.value.field == "claims[2].candidate.arch.hidden"
    assert info.value.expected == "no hidden: it is set by the width search"


def test_a_task_whose_package_is_missing_is_left_for_the_run_to_skip(monkeypatch: pytest.MonkeyPatch) -> None:
    def load(name: str, seed: int = 0) -> Any:
        raise data.DataError("not installed")

    monkeypatch.setattr(data, "load", load)
    monkeypatch.setattr(matched, "resolve", lambda *args: pytest.fail("nothing is built without the task"))
    matched.MatchedAccuracy()._check_models(_refs_claim(), {"task": "mnist1d"}, "s.toml", "claims[2].cases[0]")


def test_the_cost_counts_every_tuning_and_seed_run_of_both_sides_over_the_epochs() -> None:
    claim = Claim("m", "matched-accuracy", Rule(at_least=0.0), cases=({"task": "a"}, {"task": "b"}, {"task": "c"}),
                  options={"seeds": 4, "lr_grid": [0.1, 0.01], "epochs": 7})
    assert matched.MatchedAccuracy().cost(claim) == 0.5 * 3 * 2 * (4 + 2) * 7
    assert matched.MatchedError().cost(claim) == matched.MatchedAccuracy().cost(claim)


def test_a_seed_exactly_five_points_below_the_median_is_not_collapsed_and_several_are_listed() -> None:
    cv = _checked(matched.MatchedAccuracy(), [0.5, 0.5, 0.45, 0.5, 0.5], [0.9, 0.9, 0.5, 0.4, 0.9])
    assert cv.details["failures"]["baseline"]["collapsed"] == 0  # 0.45 is 0.5 - 0.05 exactly
    assert cv.notes == ["kan (candidate) collapsed on 2 of 5 seeds (0.5, 0.4; criterion: test accuracy more than "
                        "0.05 below its side's median seed)"]


def test_a_collapsed_side_without_a_model_name_is_named_by_its_role() -> None:
    b, c = [0.9, 0.9, 0.1], [0.9, 0.9, 0.9]
    est = stats.Estimate.from_values([y - x for x, y in zip(b, c, strict=True)], "linear")
    cv = matched.MatchedAccuracy()._checked({"task": "t"}, est, {}, ({"subject": {}, "extra": {}},
                                            {"subject": {}, "extra": {}}, b, c), [0.0, 0.0, 0.8])
    assert cv.notes[0].startswith("baseline (baseline) collapsed on 1 of 3 seeds (0.1;")


def test_references_name_the_file_for_a_bad_side_a_bad_rule_and_a_model_that_cannot_be_built() -> None:
    claim = _refs_claim()
    bad_side = Claim(claim.id, claim.kind, claim.rule, options=claim.options, cases=claim.cases,
                     sides={**claim.sides, "candidate": Subject({"model": "no-such-family"})})
    err = _refused(bad_side)
    assert err.field == "claims[2].candidate.model"
    err = _refused(_refs_claim(rule=Rule(at_least=2.0)))
    assert err.field == "claims[2].rule.at_least"
    vit = Claim(claim.id, claim.kind, claim.rule, options=claim.options, cases=claim.cases,
                sides={**claim.sides, "baseline": Subject({"model": "vit", "arch": {"num_heads": 5}})})
    err = _refused(vit)
    assert err.field == "claims[2].cases[0] (baseline)"
