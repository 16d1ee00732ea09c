"""The law kinds judged from points written by hand (kbench.kinds.law): the statistic per seed and
its interval's scale, the analysis choices a verdict must survive, seeds whose claimed fit runs
against the law, the law-ratio's pairing and refusals, and the kinds' own checks and costs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from kbench import laws, stats
from kbench.claims import Claim, Subject
from kbench.errors import SuiteError
from kbench.kinds import law
from kbench.kinds.base import NotJudged
from kbench.verdicts import Rule

X = [2.0**k for k in range(10, 16)]  # 6 checkpoints
CASE = {"task": "t"}


def _points(rows: Sequence[Sequence[float]], spec: Mapping[str, Any], role: str = "subject",
            seeds: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """One measurement per x with one sample per seed (rows: one curve per seed)."""
    seeds = list(seeds if seeds is not None else range(len(rows)))
    return [{"role": role, "metric": f"q@{x:g}", "status": "ok", "samples": [float(r[i]) for r in rows],
             "groups": seeds, "extra": {"x": x, "law": dict(spec)}} for i, x in enumerate(X)]


FALLING = [[0.50, 0.40, 0.32, 0.26, 0.22, 0.20], [0.52, 0.41, 0.33, 0.27, 0.22, 0.21],
           [0.49, 0.40, 0.31, 0.25, 0.21, 0.19]]


def _evaluate(ms: list[dict[str, Any]], kind: law.Law | None = None) -> Any:
    (cv,) = (kind or law.Law()).evaluate(Claim("c", "law", Rule(at_most=0.0)), CASE, ms, {})
    return cv


def test_a_slope_is_judged_over_the_seeds_own_slopes_on_a_linear_scale() -> None:
    spec = {"statistic": "slope", "late": 0.5}
    cv = _evaluate(_points(FALLING, spec))
    per_seed = [laws.statistic(spec, np.array(X), np.array(r)) for r in FALLING]
    expect = stats.Estimate.from_values(per_seed, "linear")
    assert (cv.estimate.value, cv.estimate.low, cv.estimate.high) == pytest.approx(
        (expect.value, expect.low, expect.high))
    assert cv.estimate.scale == "linear" and cv.estimate.value < 0
    assert cv.details["statistic"] == "slope" and cv.details["seeds"] == [0, 1, 2]
    assert cv.details["per_seed_statistic"] == pytest.approx(per_seed)
    assert cv.details["mean"] == pytest.approx(np.mean(FALLING, axis=0).tolist())
    assert cv.details["per_seed"] == FALLING and cv.details["x"] == X and cv.details["fits"] == {}
    assert cv.alternatives == {} and cv.notes == []


def test_a_fit_advantage_is_judged_on_a_log_scale_and_records_every_forms_fit() -> None:
    spec = {"statistic": "fit-advantage", "form": "power", "alternatives": ["linear"], "direction": "decreasing"}
    cv = _evaluate(_points(FALLING, spec))
    assert cv.estimate.scale == "log" and cv.estimate.value > 0
    assert {"power", "linear"} <= set(cv.details["fits"])
    assert cv.notes == []


def test_a_zero_held_out_error_ratio_is_not_judged(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = {"statistic": "fit-advantage", "form": "power", "alternatives": ["linear"], "direction": "decreasing"}
    monkeypatch.setattr(laws, "statistic", lambda s, x, row: 0.0 if row[0] > 0.5 else 2.0)
    with pytest.raises(NotJudged, match="^a held-out error ratio of zero$"):
        _evaluate(_points(FALLING, spec))


def test_a_seed_whose_claimed_fit_runs_against_the_law_is_noted_by_seed() -> None:
    rising = [[0.10, 0.12, 0.15, 0.19, 0.24, 0.30]]
    spec = {"statistic": "fit-advantage", "form": "power", "alternatives": ["linear"], "direction": "decreasing"}
    cv = _evaluate(_points(FALLING[:2] + rising, spec, seeds=[4, 5, 6]))
    assert len(cv.notes) == 1 and cv.notes[0].startswith("seed 6: the fitted power is not decreasing")
    assert cv.notes[0].endswith("; its advantage counts inverted, as evidence against the claim")
    assert law._not_the_law({"statistic": "slope"}, np.array(X), np.array(rising), [6]) == []


def test_a_seed_that_cannot_be_fitted_is_left_out_of_the_notes(monkeypatch: pytest.MonkeyPatch) -> None:
    def unfit(spec: Any, u: Any, y: Any) -> str | None:
        raise laws.FitError("singular")

    monkeypatch.setattr(laws, "claimed_fit_problem", unfit)
    spec = {"statistic": "fit-advantage", "form": "power", "alternatives": ["linear"], "direction": "decreasing"}
    assert law._not_the_law(spec, np.array(X), np.array(FALLING), [0, 1, 2]) == []


def test_the_claimed_fit_is_checked_on_x_scaled_to_its_largest(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []
    monkeypatch.setattr(laws, "claimed_fit_problem", lambda spec, u, y: seen.append(u.tolist()) or None)
    spec = {"statistic": "fit-advantage", "form": "power", "alternatives": ["linear"], "direction": "decreasing"}
    law._not_the_law(spec, np.array(X), np.array(FALLING[:1]), [0])
    assert seen == [[x / X[-1] for x in X]]


def test_each_other_choice_of_the_neighbourhood_is_an_alternative_and_the_declared_one_is_not() -> None:
    spec = {"statistic": "slope", "late": 0.5, "neighbourhood": {"late": [0.5, 0.75, 1.0]}}
    cv = _evaluate(_points(FALLING, spec))
    assert set(cv.alternatives) == {"late=0.75", "late=1.0"}
    whole = [laws.statistic({**spec, "late": 1.0}, np.array(X), np.array(r)) for r in FALLING]
    assert cv.alternatives["late=1.0"].value == pytest.approx(float(np.mean(whole)))


def test_the_default_choice_counts_as_declared_when_the_spec_leaves_it_out() -> None:
    calls: list[Mapping[str, Any]] = []

    def estimate(s: Mapping[str, Any]) -> stats.Estimate:
        calls.append(s)
        if s.get("criterion") == "aic":
            raise NotJudged("too few points")
        return stats.Estimate(1.0, 0.5, 1.5)

    out, notes = law._alternatives({"statistic": "fit-advantage", "neighbourhood": {
        "criterion": ["loo", "aic", "extrapolation"], "late": [0.5, 0.25]}}, estimate)
    assert set(out) == {"criterion=extrapolation", "late=0.25"}  # loo and 0.5 are the defaults
    assert notes == ["with criterion = aic the points could not be judged: too few points"]
    assert law._alternatives({"statistic": "last"}, estimate) == ({}, [])


def test_points_that_do_not_make_a_table_or_cannot_be_fitted_are_not_judged(monkeypatch: pytest.MonkeyPatch
                                                                          ) -> None:
    with pytest.raises(NotJudged, match="has 2 measured point"):
        _evaluate(_points(FALLING, {"statistic": "slope"})[:2])

    def unfit(spec: Any, x: Any, row: Any) -> float:
        raise laws.FitError("the design matrix is singular")

    monkeypatch.setattr(laws, "statistic", unfit)
    with pytest.raises(NotJudged, match="^the subject's points of one seed cannot be fitted: the design matrix"):
        _evaluate(_points(FALLING, {"statistic": "slope"}))


def _ratio(base: list[dict[str, Any]], cand: list[dict[str, Any]]) -> Any:
    (cv,) = law.LawRatio().evaluate(Claim("r", "law-ratio", Rule(at_least=1.0)), CASE, base + cand, {})
    return cv


def test_a_law_ratio_is_the_seed_paired_ratio_of_the_sides_statistics_over_their_shared_seeds() -> None:
    spec = {"statistic": "last"}
    base = _points([[1, 2, 3, 4, 5, 6.0], [1, 2, 3, 4, 5, 9.0], [1, 2, 3, 4, 5, 4.0]], spec, "baseline", [0, 1, 2])
    cand = _points([[1, 1, 1, 1, 1, 2.0], [1, 1, 1, 1, 1, 3.0], [1, 1, 1, 1, 1, 7.0]], spec, "candidate", [1, 0, 9])
    cv = _ratio(base, cand)  # seeds 0 and 1 on both sides: 6/3 and 9/2
    expect = stats.paired_log_ratio([6.0, 9.0], [3.0, 2.0])
    assert (cv.estimate.value, cv.estimate.low, cv.estimate.high) == pytest.approx(
        (expect.value, expect.low, expect.high))
    assert cv.details["baseline_value"] == 7.5 and cv.details["candidate_value"] == 2.5
    assert cv.details["statistic"] == "last" and cv.details["baseline"]["per_seed_statistic"] == [6.0, 9.0]


def test_a_law_ratio_pairs_by_seed_label_whatever_the_order_and_is_narrower_than_unpaired_for_correlated_sides(
        ) -> None:
    spec = {"statistic": "last"}
    # seed -> last point; the candidate tracks the baseline at about half; each side has a seed of
    # its own sorting among the shared ones (a pairing by position would mix seeds on both sides)
    last_b = {2: 4.0, 4: 8.0, 6: 16.0, 1: 5.0}
    last_c = {3: 9.0, 4: 4.2, 6: 7.8, 2: 2.1}

    def side(values: dict[int, float], role: str, order: list[int]) -> list[dict[str, Any]]:
        return _points([[1, 1, 1, 1, 1, values[s]] for s in order], spec, role, order)

    cv = _ratio(side(last_b, "baseline", [6, 1, 2, 4]), side(last_c, "candidate", [4, 3, 6, 2]))
    expect = stats.paired_log_ratio([4.0, 8.0, 16.0], [2.1, 4.2, 7.8])  # seeds 2, 4, 6 in common
    assert (cv.estimate.value, cv.estimate.low, cv.estimate.high) == pytest.approx(
        (expect.value, expect.low, expect.high))
    shuffled = _ratio(side(last_b, "baseline", [4, 2, 1, 6]), side(last_c, "candidate", [2, 6, 4, 3]))
    assert (shuffled.estimate.low, shuffled.estimate.high) == pytest.approx((cv.estimate.low, cv.estimate.high))
    unpaired = stats.unpaired_log_ratio([4.0, 8.0, 16.0], [2.1, 4.2, 7.8])
    assert cv.estimate.high - cv.estimate.low < (unpaired.high - unpaired.low) / 10


def test_a_law_ratio_refuses_unpaired_sides_different_statistics_and_non_positive_values() -> None:
    spec = {"statistic": "last"}
    rows = [[1, 2, 3, 4, 5, 6.0], [1, 2, 3, 4, 5, 7.0], [1, 2, 3, 4, 5, 8.0]]
    with pytest.raises(NotJudged, match="^fewer than 2 seeds were measured on both sides$"):
        _ratio(_points(rows, spec, "baseline", [0, 1, 2]), _points(rows, spec, "candidate", [2, 3, 4]))
    with pytest.raises(NotJudged, match="^the sides' points were judged by different statistics$"):
        _ratio(_points(rows, spec, "baseline"), _points(rows, {"statistic": "slope"}, "candidate"))
    negative = [[-1, -2, -3, -4, -5, -6.0], [-1, -2, -3, -4, -5, -7.0], [-1, -2, -3, -4, -5, -8.0]]
    with pytest.raises(NotJudged, match=r"^a ratio needs positive statistics on both sides \(got 6 and -8\)$"):
        _ratio(_points(rows, spec, "baseline"), _points(negative, spec, "candidate"))
    two = _ratio(_points(rows, spec, "baseline", [0, 1, 2]), _points(rows, spec, "candidate", [1, 2, 3]))
    assert two.estimate.value == pytest.approx(stats.paired_log_ratio([7.0, 8.0], [6.0, 7.0]).value)  # two suffice


def test_a_law_ratios_alternatives_are_paired_ratios_too() -> None:
    spec = {"statistic": "slope", "late": 0.5, "neighbourhood": {"late": [0.5, 1.0]}}
    rows = [[-v for v in r] for r in FALLING]  # rising curves: positive slopes
    cv = _ratio(_points(rows, spec, "baseline"), _points([[2 * v for v in r] for r in rows], spec, "candidate"))
    assert cv.estimate.value == pytest.approx(0.5) and cv.alternatives["late=1.0"].value == pytest.approx(0.5)


def _claim(kind: str, sides: Mapping[str, str], cases: tuple[Mapping[str, Any], ...], **options: Any) -> Claim:
    opts = {**{k: p.default for k, p in law.OPTIONS.items() if p.default is not None}, "quantity": "nonzero-fraction",
            "statistic": "slope", **options}
    return Claim("c", kind, Rule(at_most=0.0), options=opts, cases=cases,
                 sides={role: Subject({"model": m, "size": "nano"}) for role, m in sides.items()})


def test_a_family_with_a_pluggable_operation_is_refused_for_a_law() -> None:
    with pytest.raises(SuiteError) as info:
        law.LawRatio().check_references(_claim("law-ratio", {"baseline": "tiny-lm", "candidate": "kat"},
                                               ({"task": "stdlib-text", "points": [1024, 2048, 4096]},)),
                                        "s.toml", "claims[3]")
    assert (info.value.field, info.value.got) == ("claims[3].candidate.model", "kat")
    assert info.value.expected.startswith("a model family without a pluggable operation (tiny-lm, vit): kat's")


def test_the_references_check_every_case_and_cpu_case_by_its_place() -> None:
    good = {"task": "stdlib-text", "points": [1024, 2048, 4096, 8192]}
    claim = _claim("law", {"subject": "tiny-lm"}, (good,), batch=4, warmup=2)
    law.Law().check_references(claim, "s.toml", "claims[3]")
    bad = {"task": "stdlib-text", "points": [1024, 512, 4096, 8192]}
    for cases, cpu, field in [((good, bad), None, "claims[3].cases[1].points"),
                              ((good,), (good, bad), "claims[3].cpu_cases[1].points")]:
        claim = _claim("law", {"subject": "tiny-lm"}, cases, batch=4, warmup=2)
        claim = Claim(claim.id, claim.kind, claim.rule, options=claim.options, cases=claim.cases,
                      sides=claim.sides, cpu_cases=cpu)
        with pytest.raises(SuiteError) as info:
            law.Law().check_references(claim, "s.toml", "claims[3]")
        assert info.value.field == field


def test_the_cost_counts_seeds_sides_cases_and_for_size_sweeps_each_point() -> None:
    data_sweep = _claim("law", {"subject": "tiny-lm"}, ({"points": [1, 2, 3]}, {"points": [1, 2, 3, 4]}), seeds=3)
    assert law.Law().cost(data_sweep) == 60.0 * 2 * 1 * 3
    width = _claim("law-ratio", {"baseline": "tiny-lm", "candidate": "tiny-lm"},
                   ({"points": [1, 2, 3]}, {"points": [1, 2, 3, 4, 5]}), seeds=2, sweep="width")
    assert law.LawRatio().cost(width) == 60.0 * 2 * 2 * (2 * 5)  # the largest sweep's points per seed


def test_a_law_ratios_alternative_is_judged_under_its_own_choice() -> None:
    spec = {"statistic": "slope", "late": 0.5, "neighbourhood": {"late": [0.5, 1.0]}}
    base = [[0.1 * (1 + s) * k for k in (1, 2, 3, 4, 5, 6)] for s in range(3)]  # slope grows in the late half
    cand = [[0.1 * (1 + s) * k for k in (1, 2, 3, 3.5, 4, 4.5)] for s in range(3)]  # slope shrinks there
    cv = _ratio(_points(base, spec, "baseline"), _points(cand, spec, "candidate"))
    x = np.array(X)
    late = {**spec, "late": 1.0}
    b = [laws.statistic(late, x, np.array(r)) for r in base]
    c = [laws.statistic(late, x, np.array(r)) for r in cand]
    assert cv.alternatives["late=1.0"].value == pytest.approx(stats.paired_log_ratio(b, c).value)
    assert cv.alternatives["late=1.0"].value != pytest.approx(cv.estimate.value)


def test_a_law_collects_every_seed_with_the_sides_alternating(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from kbench.kinds.base import Context
    from kbench.timing import TimingConfig

    log: list[tuple[str, str, int]] = []

    class FakeSeries:
        def __init__(self, claim: Claim, case: Mapping[str, Any], role: str, ctx: Any) -> None:
            self.role, self.case, self.subject = role, case, claim.side(role)

        def run_seed(self, seed: int) -> None:
            log.append((self.case["task"], self.role, seed))

    monkeypatch.setattr(law, "Series", FakeSeries)
    config = TimingConfig(warmup_ms=1, budget_ms=1, min_reps=1, max_reps=1)
    claim = _claim("law-ratio", {"baseline": "tiny-lm", "candidate": "tiny-lm"}, ({"task": "a"}, {"task": "b"}),
                   seeds=3)
    law.LawRatio().collect(claim, Context(torch.device("cpu"), config, config))
    assert log == [(t, r, s) for t in ("a", "b") for s in range(3) for r in ("baseline", "candidate")]
    log.clear()
    law.Law().collect(_claim("law", {"subject": "tiny-lm"}, ({"task": "a"},), seeds=5),
                      Context(torch.device("cpu"), config, config, budget=0.1))
    assert log == [("a", "subject", 0), ("a", "subject", 1)]  # a quick run keeps two seeds


def test_a_law_ratio_records_each_sides_seeds_and_statistics_and_names_the_side_it_cannot_fit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    spec = {"statistic": "last"}
    rows = [[1, 2, 3, 4, 5, 6.0], [1, 2, 3, 4, 5, 7.0], [1, 2, 3, 4, 5, 8.0]]
    cv = _ratio(_points(rows, spec, "baseline", [0, 1, 2]), _points(rows[::-1], spec, "candidate", [2, 1, 0]))
    assert cv.details["baseline"]["seeds"] == [0, 1, 2] and cv.details["candidate"]["seeds"] == [0, 1, 2]
    assert cv.details["candidate"]["per_seed_statistic"] == [6.0, 7.0, 8.0]  # the candidate's own, by seed
    zero = [[1, 2, 3, 4, 5, 0.0]] * 3
    with pytest.raises(NotJudged, match=r"^a ratio needs positive statistics on both sides \(got 6 and 0\)$"):
        _ratio(_points(rows, spec, "baseline"), _points(zero, spec, "candidate"))
    real = laws.statistic

    def unfit_above(limit: float) -> Any:
        def statistic(s: Any, x: Any, row: Any) -> float:
            if row[-1] > limit:
                raise laws.FitError("singular")
            return real(s, x, row)
        return statistic

    monkeypatch.setattr(laws, "statistic", unfit_above(100.0))
    big = [[1, 2, 3, 4, 5, 600.0]] * 3
    with pytest.raises(NotJudged, match="^the candidate's points of one seed cannot be fitted: singular$"):
        _ratio(_points(rows, spec, "baseline"), _points(big, spec, "candidate"))
    with pytest.raises(NotJudged, match="^the baseline's points of one seed cannot be fitted: singular$"):
        _ratio(_points(big, spec, "baseline"), _points(rows, spec, "candidate"))


def test_a_law_on_a_cpu_collects_its_cpu_cases(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from kbench.kinds.base import Context
    from kbench.timing import TimingConfig

    log: list[str] = []

    class FakeSeries:
        def __init__(self, claim: Claim, case: Mapping[str, Any], role: str, ctx: Any) -> None:
            self.case, self.subject = case, claim.side(role)

        def run_seed(self, seed: int) -> None:
            log.append(self.case["task"])

    monkeypatch.setattr(law, "Series", FakeSeries)
    config = TimingConfig(warmup_ms=1, budget_ms=1, min_reps=1, max_reps=1)
    claim = _claim("law", {"subject": "tiny-lm"}, ({"task": "gpu-size"},), seeds=2)
    claim = Claim(claim.id, claim.kind, claim.rule, options=claim.options, cases=claim.cases, sides=claim.sides,
                  cpu_cases=({"task": "cpu-size"},))
    law.Law().collect(claim, Context(torch.device("cpu"), config, config))
    assert log == ["cpu-size", "cpu-size"]


def test_a_bad_side_of_a_law_is_refused_by_its_field_in_its_file() -> None:
    claim = _claim("law", {"subject": "no-such-family"}, ({"task": "stdlib-text", "points": [1024, 2048, 4096]},))
    with pytest.raises(SuiteError) as info:
        law.Law().check_references(claim, "s.toml", "claims[3]")
    assert (info.value.path, info.value.field) == ("s.toml", "claims[3].subject.model")
    flat = _claim("law", {"subject": "tiny-lm"}, ({"task": "stdlib-text", "points": [1024, 2048, 4096, 8192]},),
                  statistic="fit-advantage", form="log", alternatives=["linear"])
    with pytest.raises(SuiteError) as info:
        law.Law().check_references(flat, "s.toml", "claims[3]")
    assert (info.value.path, info.value.field) == ("s.toml", "claims[3].options.direction")
    bad = _claim("law", {"subject": "tiny-lm"}, ({"task": "stdlib-text", "points": [2048, 1024, 4096]},))
    with pytest.raises(SuiteError) as info:
        law.Law().check_references(bad, "s.toml", "claims[3]")
    assert (info.value.path, info.value.field) == ("s.toml", "claims[3].cases[0].points")


def test_the_declared_choice_is_the_one_left_out_of_the_alternatives_even_when_not_the_default() -> None:
    spec = {"statistic": "slope", "late": 0.75, "neighbourhood": {"late": [0.5, 0.75, 1.0]}}
    cv = _evaluate(_points(FALLING, spec))
    assert set(cv.alternatives) == {"late=0.5", "late=1.0"}


def test_the_fits_recorded_are_compared_under_the_claims_own_criterion() -> None:
    from kbench import law_records

    spec = {"statistic": "fit-advantage", "form": "power", "alternatives": ["linear"], "direction": "decreasing",
            "criterion": "aic"}
    cv = _evaluate(_points(FALLING, spec))
    x, table = np.array(X), np.array(FALLING)
    assert cv.details["fits"] == law_records.describe_fits(["power", "linear"], x, table, "aic")
    assert cv.details["fits"] != law_records.describe_fits(["power", "linear"], x, table, "loo")


def test_a_seed_that_cannot_be_fitted_does_not_hide_the_seeds_after_it(monkeypatch: pytest.MonkeyPatch) -> None:
    def problem(spec: Any, u: Any, y: Any) -> str | None:
        if y[0] > 0.5:
            raise laws.FitError("singular")
        return "the fitted power is not decreasing"

    monkeypatch.setattr(laws, "claimed_fit_problem", problem)
    spec = {"statistic": "fit-advantage", "form": "power", "alternatives": ["linear"], "direction": "decreasing"}
    notes = law._not_the_law(spec, np.array(X), np.array([[0.6] * 6, [0.4] * 6]), [0, 1])
    assert len(notes) == 1 and notes[0].startswith("seed 1: the fitted power is not decreasing")
