"""How judging combines cases, pools replicates and says why, with a kind whose case values are
given outright (`Given`): each measurement names its case's samples, alternatives and blocks, so
every expectation below is exact and no kind's own arithmetic is in the way."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from kbench import stats, verdicts
from kbench.claims import Claim
from kbench.judging import judge
from kbench.kinds import KINDS
from kbench.kinds.base import CaseValue, Impossible, Kind, NotJudged
from kbench.verdicts import Rule


class Given(Kind):
    """Each case's estimate from the samples its measurement carries (`given`), on `scale`."""

    name = "given"
    unit = "x"
    seen: list[Claim] = []

    def evaluate(self, claim: Claim, case: Mapping[str, Any], measurements: Sequence[Mapping[str, Any]],
                 peaks: Mapping[str, Any]) -> list[CaseValue]:
        Given.seen.append(claim)
        m = measurements[0]
        g = m["given"]
        if "not_judged" in g:
            raise NotJudged(g["not_judged"])
        if g.get("impossible"):
            raise Impossible(f"{g['impossible']} (peaks: {sorted(peaks)})")
        scale = g.get("scale", "log")
        if "exact" in g:
            return [CaseValue(case, stats.Estimate.exact(g["exact"], scale), {"from": m["role"]})]
        alternatives = {label: stats.Estimate.from_values(v, scale) for label, v in g.get("alternatives", {}).items()}
        return [CaseValue(case, stats.Estimate.from_values(g["samples"], scale), {"from": m["role"]},
                          list(g.get("notes", [])), alternatives, list(g.get("blocks", [])))]


class Bounded(Given):
    name = "given-bounded"
    bounds = (-1.0, 1.0)


@pytest.fixture(autouse=True)
def given_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(KINDS, "given", Given())
    monkeypatch.setitem(KINDS, "given-bounded", Bounded())
    Given.seen.clear()


def m(samples: Sequence[float], case: Mapping[str, Any] | None = None, replicate: int | None = None,
      role: str = "subject", **given: Any) -> dict[str, Any]:
    out = {"claim": "c", "role": role, "case": dict(case or A), "given": {"samples": list(samples),
                                                                                       **given}}
    if replicate is not None:
        out["replicate"] = replicate
    return out


def claim(rule: Rule, combine: str = "geomean", paper_value: float | None = None, kind: str = "given") -> Claim:
    return Claim("c", kind, rule, "the quote", paper_value, combine, paper_source="p. 1")


AT_LEAST_2 = Rule(at_least=2.0)
FOUR, NINE = [3.9, 4.0, 4.1], [8.9, 9.0, 9.1]
A, B = {"size": 4, "label": "A"}, {"size": 8, "label": "B"}


def est(samples: Sequence[float], scale: str = "log") -> stats.Estimate:
    return stats.Estimate.from_values(samples, scale)


# --- one replicate: combining cases ----------------------------------------------------------

@pytest.mark.parametrize(("combine", "expected"), [
    ("geomean", lambda a, b: stats.geomean([a, b])),
    ("mean", lambda a, b: stats.mean([a, b])),
    ("sampled-geomean", lambda a, b: stats.sampled_mean([a, b], "log")),
    ("sampled-mean", lambda a, b: stats.sampled_mean([a, b], "linear")),
    ("worst", lambda a, b: stats.worst([a, b], lower_is_worse=True)),
])
def test_cases_combine_as_the_claim_says(combine: str, expected: Any) -> None:
    v = judge(claim(AT_LEAST_2, combine), [m(FOUR, A), m(NINE, B)], {})
    want = expected(est(FOUR), est(NINE))
    assert v.measured == pytest.approx(want.value) and v.interval == pytest.approx([want.low, want.high])
    assert v.combine == combine and v.n == 3


def test_the_combines_differ_where_the_cases_spread() -> None:
    """A guard on the test above: with these cases each combine gives its own value."""
    values = {c: judge(claim(AT_LEAST_2, c), [m(FOUR, A), m(NINE, B)], {}) for c in
              ("geomean", "mean", "sampled-geomean", "sampled-mean", "worst")}
    assert len({round(v.measured, 9) for v in values.values()}) == 3  # type: ignore[arg-type]
    assert len({round(v.interval[1], 9) for v in values.values()}) == 5  # type: ignore[index]


def test_a_verdict_carries_the_claim_and_kind_it_was_judged_for() -> None:
    c = claim(Rule(at_least=7.0), "geomean", paper_value=5.0)
    v = judge(c, [m(FOUR, A), m(NINE, B)], {})
    combined = stats.geomean([est(FOUR), est(NINE)])
    assert v.reason == verdicts.decide(c.rule, combined, 5.0)[1] and v.verdict == "not-reproduced"
    assert (v.claim, v.kind, v.unit, v.quote, v.combine) == ("c", "given", "x", "the quote", "geomean")
    assert v.paper_value == 5.0 and v.paper == {"value": 5.0, "source": "p. 1", "conditions": ""}
    assert v.ratio_to_paper == pytest.approx(v.measured / 5.0)  # type: ignore[operator]
    assert Given.seen and all(s is c for s in Given.seen)  # the kind is handed the claim itself


def test_each_case_entry_is_complete() -> None:
    v = judge(claim(AT_LEAST_2, paper_value=5.0), [m(FOUR, A), m([1.0, 1.1, 1.2], B)], {})
    for entry, samples in zip(v.per_case, (FOUR, [1.0, 1.1, 1.2]), strict=True):
        e = est(samples)
        assert entry["value"] == pytest.approx(e.value) and entry["interval"] == pytest.approx([e.low, e.high])
        assert entry["n"] == 3 and entry["paper_value"] == 5.0
        assert entry["ratio_to_paper"] == pytest.approx(e.value / 5.0)
        assert entry["details"] == {"from": "subject"}
    single = judge(claim(AT_LEAST_2), [m([4.0], A)], {})
    assert single.per_case[0]["interval"] is None and single.per_case[0]["n"] == 1


def test_a_combined_interval_stays_inside_what_the_quantity_can_be() -> None:
    wide = [0.5, 0.9, 0.98]  # its linear t interval reaches past 1
    free = judge(claim(Rule(at_least=0.0), "mean", kind="given"), [m(wide, A, scale="linear"),
                                                                    m(wide, B, scale="linear")], {})
    bounded = judge(claim(Rule(at_least=0.0), "mean", kind="given-bounded"), [m(wide, A, scale="linear"),
                                                                              m(wide, B, scale="linear")], {})
    assert free.interval[1] > 1.0  # type: ignore[index]
    assert bounded.interval[1] == 1.0 and bounded.interval[0] == pytest.approx(free.interval[0])  # type: ignore[index]


def test_worst_with_a_two_sided_rule_judges_every_case() -> None:
    band = Rule(at_least=2.0, at_most=6.0)
    v = judge(claim(band, "worst"), [m(FOUR, A), m(NINE, B)], {})
    assert v.combine == "each" and v.verdict == "not-reproduced"
    assert v.measured == pytest.approx(est(NINE).value)  # the case that failed, not the lower one
    assert v.reason and v.reason.startswith("case B: ")
    one_sided = judge(claim(AT_LEAST_2, "worst"), [m(FOUR, A), m(NINE, B)], {})
    assert one_sided.combine == "worst" and one_sided.verdict == "reproduced"


def test_each_takes_the_most_severe_verdict_and_the_fewest_rounds() -> None:
    inconclusive = [1.0, 3.0, 5.0]  # straddles 2
    failing = [1.0, 1.05, 1.1, 1.02]
    v = judge(claim(AT_LEAST_2, "each"), [m(inconclusive, A), m(failing, B), m(FOUR, {"size": 16, "label": "C"})], {})
    assert v.verdict == "not-reproduced" and v.measured == pytest.approx(est(failing).value)
    assert v.n == 3 and v.combine == "each" and len(v.per_case) == 3
    assert v.reason and v.reason.startswith("case B: ")


def test_each_names_an_unlabelled_case_by_its_fields_without_the_paper_value() -> None:
    case = {"shape": [8, 8], "dtype": "float16"}
    v = judge(claim(AT_LEAST_2, "each"), [m([1.0, 1.05, 1.1], case), m(FOUR, A)], {})
    assert v.reason and v.reason.startswith("case shape=[8, 8], dtype=float16: ")
    paper_case = {**case, "paper_value": 3.0}
    other_paper_case = {**A, "paper_value": 1.0}
    rel = judge(claim(Rule(at_least=0.9, of_paper=True), "each"),
                [m([1.0, 1.05, 1.1], paper_case), m(FOUR, other_paper_case)], {})
    assert rel.reason and rel.reason.startswith("case shape=[8, 8], dtype=float16: ")


def test_one_case_judged_on_its_own_is_not_prefixed() -> None:
    v = judge(claim(AT_LEAST_2, "each"), [m([1.0, 1.05, 1.1], A)], {})
    assert v.verdict == "not-reproduced" and v.reason and not v.reason.startswith("case ")


def test_each_keeps_the_claims_paper_value_and_its_ratio() -> None:
    v = judge(claim(AT_LEAST_2, "each", paper_value=8.0), [m(FOUR, A), m(NINE, B)], {})
    assert v.paper_value == 8.0 and v.ratio_to_paper == pytest.approx(v.measured / 8.0)  # type: ignore[operator]
    assert [c["paper_value"] for c in v.per_case] == [8.0, 8.0]


def test_a_single_paper_case_lends_its_ratio_to_an_absolute_rule() -> None:
    paper_case = {"label": "paper", "paper_value": 10.0}
    v = judge(claim(AT_LEAST_2), [m(FOUR, A), m(NINE, paper_case)], {})
    assert v.ratio_to_paper == pytest.approx(est(NINE).value / 10.0)
    assert "1 of 2 case(s) carry the paper's own value and conditions; the paper is compared with those cases " \
           "only" in v.notes
    two = judge(claim(AT_LEAST_2), [m(FOUR, {**paper_case, "size": 2, "label": "p1"}), m(NINE, paper_case)], {})
    assert two.ratio_to_paper is None  # two paper cases: no one ratio stands for both


def test_a_relative_rule_on_paper_cases_states_each_cases_bound() -> None:
    paper_case = {"label": "paper", "paper_value": 10.0}
    v = judge(claim(Rule(at_least=0.5, of_paper=True)), [m(FOUR, A), m(NINE, paper_case)], {})
    assert v.verdict == "reproduced" and v.rule["text"] == ">= 5 (0.5 x paper)" and v.paper_value == 10.0
    assert v.combine == "each" and v.measured == pytest.approx(est(NINE).value)


def test_the_claims_paper_value_is_in_its_stated_rule() -> None:
    v = judge(claim(Rule(at_least=0.5, of_paper=True), paper_value=4.0), [m(FOUR, A)], {})
    assert v.rule["text"] == ">= 2 (0.5 x paper)"
    not_judged = judge(claim(Rule(at_least=0.5, of_paper=True), paper_value=4.0),
                       [m(FOUR, A, not_judged="no rounds")], {})
    assert not_judged.rule["text"] == ">= 2 (0.5 x paper)" and not_judged.reason == "not judged: no rounds"


def test_an_impossible_measurement_is_an_error_and_says_so() -> None:
    v = judge(claim(AT_LEAST_2), [m(FOUR, A, impossible="a rate above the copy")], {"copy_gbps": 1.0})
    assert v.verdict == "error" and v.reason == "impossible: a rate above the copy (peaks: ['copy_gbps'])"
    assert v.measured is None and v.rule["text"] == ">= 2" and v.claim == "c"


def test_rejected_measurements_are_not_judged_wherever_they_stand() -> None:
    rejected = dict(m([100.0, 100.0, 100.0], A, replicate=99), role="rejected")
    v = judge(claim(AT_LEAST_2), [rejected, m([1.0, 1.05, 1.1], A, replicate=11)], {})
    assert v.verdict == "not-reproduced" and [r["seed"] for r in v.robustness["replicates"]] == [11]
    assert v.measured == pytest.approx(est([1.0, 1.05, 1.1]).value)


def test_one_replicate_is_recorded_and_said_unchecked() -> None:
    v = judge(claim(AT_LEAST_2), [m(FOUR, A, replicate=11)], {})
    assert v.robustness["replicates"] == [{"seed": 11, "verdict": "reproduced", "measured": v.measured,
                                           "interval": v.interval, "n": 3, "reason": v.reason}]
    assert "one replicate (master seed 11): whether this verdict holds under another master seed was not " \
           "checked" in v.notes
    unseeded = judge(claim(AT_LEAST_2), [m(FOUR, A)], {})
    assert "replicates" not in unseeded.robustness and not any("replicate" in n for n in unseeded.notes)


# --- analysis choices and blocks -------------------------------------------------------------

def test_a_choice_that_flips_the_verdict_is_named_by_its_option() -> None:
    v = judge(claim(AT_LEAST_2), [m(FOUR, A, alternatives={"window=4": [1.0, 1.05, 1.1], "late=0.5": FOUR})], {})
    assert v.verdict == "inconclusive"
    assert v.reason == f"sensitive to window: as declared reproduced, but window=4: " \
                       f"{est([1.0, 1.05, 1.1]).value:.4g} [{est([1.0, 1.05, 1.1]).low:.4g}, " \
                       f"{est([1.0, 1.05, 1.1]).high:.4g}] not-reproduced"
    assert set(v.robustness["sensitivity"]) == {"window=4", "late=0.5"}
    assert v.robustness["sensitivity"]["late=0.5"]["verdict"] == "reproduced"


def test_two_choices_that_flip_are_both_named() -> None:
    low = [1.0, 1.05, 1.1]
    v = judge(claim(AT_LEAST_2), [m(FOUR, A, alternatives={"window=4": low, "late=0.5": low})], {})
    assert v.reason and v.reason.startswith("sensitive to late, window: as declared reproduced, but late=0.5: ")
    assert "not-reproduced; window=4: " in v.reason


def test_a_case_without_an_alternative_keeps_its_own_estimate_under_it() -> None:
    v = judge(claim(AT_LEAST_2, "worst"), [m(FOUR, A, alternatives={"window=4": NINE}), m([2.5, 2.6, 2.7], B)], {})
    tried = v.robustness["sensitivity"]["window=4"]
    assert tried["measured"] == pytest.approx(est([2.5, 2.6, 2.7]).value)  # B's own, the worst under window=4
    assert v.verdict == "reproduced"


def test_a_choice_that_cannot_be_judged_is_recorded_as_such() -> None:
    v = judge(claim(AT_LEAST_2), [m(FOUR, A, alternatives={"window=4": [5.0]})], {})
    tried = v.robustness["sensitivity"]["window=4"]
    assert tried["verdict"] == "inconclusive" and tried["measured"] == pytest.approx(5.0)
    assert v.verdict == "inconclusive" and "window=4: 5 inconclusive" in (v.reason or "")


def test_blocks_stop_a_firm_verdict_and_are_recorded() -> None:
    blocks = ["tuning censored: mlp", "tuning censored: kan"]
    v = judge(claim(AT_LEAST_2), [m(FOUR, A, blocks=blocks)], {})
    assert v.verdict == "inconclusive" and v.robustness["blocks"] == blocks
    assert v.reason == "tuning censored: mlp; tuning censored: kan (the interval alone would say reproduced)"


# --- replicates ------------------------------------------------------------------------------

def test_replicates_pool_on_the_estimates_own_scale() -> None:
    v = judge(claim(AT_LEAST_2), [m([1.9, 2.0, 2.1], A, 11), m([7.9, 8.0, 8.1], A, 22)], {})
    assert v.measured == pytest.approx(stats.geomean([est([1.9, 2.0, 2.1]), est([7.9, 8.0, 8.1])]).value)
    assert v.measured == pytest.approx(4.0, rel=1e-3)
    linear = judge(claim(Rule(at_least=0.0)), [m([1.9, 2.0, 2.1], A, 11, scale="linear"),
                                               m([7.9, 8.0, 8.1], A, 22, scale="linear")], {})
    assert linear.measured == pytest.approx(5.0)


@pytest.mark.parametrize("scale", ["log", "linear"])
def test_a_pooled_interval_just_covers_the_farthest_replicate(scale: str) -> None:
    reps = [[1.9, 2.0, 2.1], [7.0, 8.0, 9.0]]
    v = judge(claim(Rule(at_least=0.5)), [m(r, A, seed, scale=scale) for seed, r in zip((11, 22), reps, strict=True)],
              {})
    lows, highs = [est(r, scale).low for r in reps], [est(r, scale).high for r in reps]
    low, high = v.interval  # type: ignore[misc]
    assert low <= min(lows) + 1e-12 and high >= max(highs) - 1e-12  # type: ignore[operator]
    # symmetric on the working scale about the pooled center, reaching exactly the farthest bound
    f = math.log if scale == "log" else (lambda x: x)
    center = f(v.measured)  # type: ignore[arg-type]
    assert f(high) - center == pytest.approx(center - f(low))
    assert math.isclose(low, min(lows), rel_tol=1e-9) or math.isclose(high, max(highs), rel_tol=1e-9)  # type: ignore[arg-type]


def test_replicates_without_intervals_pool_without_one() -> None:
    v = judge(claim(AT_LEAST_2), [m([4.0], A, 11), m(FOUR, A, 22)], {})
    assert v.measured is not None and v.verdict == "inconclusive"
    exact = judge(claim(AT_LEAST_2), [m([4.0, 4.0], A, 11), m([5.0, 5.0], A, 22)], {})
    assert exact.verdict == "reproduced" and exact.interval is not None


def test_pooled_cases_stay_apart_and_keep_every_replicates_value() -> None:
    v = judge(claim(AT_LEAST_2), [m(FOUR, A, 11), m(NINE, B, 11), m(FOUR, A, 22), m(NINE, B, 22)], {})
    assert [c["case"]["label"] for c in v.per_case] == ["A", "B"]
    details = v.per_case[1]["details"]
    assert details["from"] == "subject"
    assert details["replicate_values"] == [{"value": pytest.approx(est(NINE).value),
                                            "interval": pytest.approx([est(NINE).low, est(NINE).high])}] * 2


def test_pooled_alternatives_and_blocks_come_from_every_replicate() -> None:
    low = [1.0, 1.05, 1.1]
    v = judge(claim(AT_LEAST_2), [m(FOUR, A, 11, alternatives={"window=4": low}),
                                  m(FOUR, A, 22, blocks=["tuning censored: kan"])], {})
    pooled_alt = v.robustness["sensitivity"]["window=4"]
    assert pooled_alt["measured"] == pytest.approx(stats.geomean([est(low), est(FOUR)]).value)
    assert v.robustness["blocks"] == ["tuning censored: kan"] and v.verdict == "inconclusive"


def test_a_replicate_that_cannot_be_judged_is_shown_and_the_rest_does_not_replicate() -> None:
    v = judge(claim(AT_LEAST_2), [m(FOUR, A, 11), m(FOUR, A, 22, not_judged="its candidate failed")], {})
    assert v.verdict == "inconclusive"
    seed22 = v.robustness["replicates"][1]
    assert seed22 == {"seed": 22, "verdict": "inconclusive", "measured": None, "interval": None, "n": 0,
                      "reason": "not judged: its candidate failed"}
    e = est(FOUR)
    assert v.reason == (f"does not replicate: pooled reproduced, but master seed 11: {e.value:.4g} "
                        f"[{e.low:.4g}, {e.high:.4g}] reproduced; master seed 22: inconclusive "
                        "(not judged: its candidate failed)")


def test_a_replicate_without_an_interval_is_shown_without_one() -> None:
    v = judge(claim(AT_LEAST_2), [m(FOUR, A, 11), m([4.0], A, 22)], {})
    assert v.reason and v.reason.endswith("master seed 22: 4 inconclusive")


def test_replicates_that_agree_do_not_read_as_not_replicating_when_the_pool_is_unsure() -> None:
    # both replicates clear 1.0 on their own; their spread makes the pooled interval reach below it
    v = judge(claim(Rule(at_least=1.0)), [m([1.1, 1.15, 1.2], A, 11, scale="linear"),
                                          m([5.0, 7.0, 9.0], A, 22, scale="linear")], {})
    assert [r["verdict"] for r in v.robustness["replicates"]] == ["reproduced"] * 2
    assert v.verdict == "inconclusive" and not (v.reason or "").startswith("does not replicate")


def test_no_judged_replicate_names_each_reason() -> None:
    v = judge(claim(AT_LEAST_2), [m(FOUR, A, 11, not_judged="a"), m(FOUR, A, 22, not_judged="b")], {})
    assert v.verdict == "inconclusive"
    assert v.reason == "not judged: no replicate could be judged: master seed 11: not judged: a; master seed 22: " \
                       "not judged: b"


def test_replicates_see_the_runs_peaks() -> None:
    v = judge(claim(AT_LEAST_2), [m(FOUR, A, 11, impossible="x"), m(FOUR, A, 22)], {"copy_gbps": 3.0})
    assert v.verdict == "error" and v.reason == "impossible: x (peaks: ['copy_gbps'])"


def test_each_keeps_the_cases_notes() -> None:
    v = judge(claim(AT_LEAST_2, "each"), [m(FOUR, A, notes=["host-bound"]), m(NINE, B, notes=["warm"])], {})
    assert v.notes == ["host-bound", "warm"]


def test_exact_replicates_pool_without_an_interval_to_cover() -> None:
    v = judge(claim(AT_LEAST_2, "each"), [m([], A, 11, exact=3.0), m([], A, 22, exact=5.0)], {})
    assert v.measured == pytest.approx(math.sqrt(15.0)) and v.verdict == "reproduced"


def test_replicates_of_different_cases_say_so_first() -> None:
    v = judge(claim(AT_LEAST_2), [m(FOUR, A, 11), m(FOUR, B, 11), m(FOUR, A, 22)], {})
    assert v.verdict == "inconclusive" and v.reason and v.reason.startswith(
        "does not replicate: the replicates measured different cases")


def outside(case: Mapping[str, Any], why: str, role: str = "subject") -> dict[str, Any]:
    return {"claim": "c", "role": role, "case": dict(case), "status": "skipped", "reason": why,
            "extra": {"outside_limits": why}, "given": {"samples": []}}


def test_a_case_outside_the_limits_is_left_out_and_named_first() -> None:
    v = judge(claim(AT_LEAST_2, "each"), [m(FOUR, A, notes=["host-bound"]), outside(B, "k: too wide"),
                                          outside(B, "k: too wide", role="other"), m(NINE, {"size": 16})], {})
    assert [c["case"].get("size") for c in v.per_case] == [4, 16] and v.verdict == "reproduced"
    assert v.notes[:2] == ["case B skipped: k: too wide", "host-bound"]
    unlabelled = judge(claim(AT_LEAST_2), [m(FOUR, A), outside({"size": 8, "dtype": "bfloat16"}, "k: no bf16")], {})
    assert unlabelled.notes[0] == "case size=8, dtype=bfloat16 skipped: k: no bf16"


def test_a_case_is_outside_only_when_a_measurement_says_so() -> None:
    ok = m(NINE, B)
    ok["extra"] = {"outside_limits": ""}  # an empty mark is no mark
    v = judge(claim(AT_LEAST_2), [m(FOUR, A), ok], {})
    assert len(v.per_case) == 2 and not any("skipped" in n for n in v.notes)
    mixed = judge(claim(AT_LEAST_2), [m(FOUR, A), m(NINE, B), outside(B, "k: too wide", role="other")], {})
    assert len(mixed.per_case) == 1 and mixed.notes == ["case B skipped: k: too wide"]


def test_every_case_outside_the_limits_is_not_comparable() -> None:
    v = judge(claim(AT_LEAST_2), [outside(A, "k: too wide"), outside(B, "k: too long")], {})
    assert v.verdict == "skipped" and v.reason == ("not comparable: every case lies outside an implementation's "
                                                   "limits (case A skipped: k: too wide; case B skipped: k: too long)")


def test_a_rule_of_the_papers_value_with_its_only_paper_case_left_out_says_why() -> None:
    """The paper's conditions were in the case that lay outside the limits: not judged, and the
    reason names that case and why it was left out (and no other note)."""
    paper_case = {**B, "paper_value": 3.0}
    v = judge(claim(Rule(at_least=0.9, of_paper=True)), [m(FOUR, A, notes=["host-bound: skipped: no"]),
                                                           outside(paper_case, "k: too wide")], {})
    assert v.verdict == "inconclusive" and v.reason == (
        "not judged: the rule is relative to the paper's value, and no case run here has the paper's conditions; "
        "case B skipped: k: too wide")
