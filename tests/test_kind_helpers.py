"""The helpers every kind shares (kbench.kinds.base): seeds, budgets, recording, cases as keys,
finding a side's measurement, one timing method, emulated timings and ratios of rounds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
import torch

from kbench import stats
from kbench.claims import Claim
from kbench.kinds import base
from kbench.results import Measurement
from kbench.timing import TimingConfig
from kbench.verdicts import Rule


def _ctx(**kw: Any) -> base.Context:
    return base.Context(torch.device("cpu"), TimingConfig(), TimingConfig(), **kw)


def _timed(role: str, samples: list[float], groups: list[int] | None = None, **extra: Any) -> dict[str, Any]:
    return {"role": role, "metric": "time_ms", "noise": "timing", "status": "ok", "samples": samples,
            "groups": groups, "summary": {"median": float(np.median(samples))}, "subject": {"impl": role},
            "extra": extra}


def test_seeds_are_the_same_in_every_version_and_differ_by_purpose() -> None:
    """Pinned values: an auditor re-running a result with its master seed must draw the same inputs."""
    ctx = _ctx(seed=7)
    assert (ctx.seed_for("init", 16), ctx.seed_for("init", 80), ctx.seed_for()) == (1962598697, 1052446114, 1243042023)
    assert all(0 <= _ctx(seed=s).seed_for("x") < 2**31 for s in range(50))
    assert len({_ctx(seed=s).seed_for("x") for s in range(50)}) == 50


@pytest.mark.parametrize(("budget", "n", "minimum", "expected"),
                         [(1.0, 2, 3, 2), (1.5, 4, 1, 4), (2.0, 4, 1, 4), (0.5, 5, 1, 3), (0.1, 5, 2, 2)])
def test_a_budget_only_ever_scales_down_and_never_below_the_minimum(budget: float, n: int, minimum: int,
                                                                    expected: int) -> None:
    assert _ctx(budget=budget).scaled(n, minimum) == expected


def test_a_recorded_measurement_is_filed_under_the_claim_with_its_own_extra() -> None:
    ctx = _ctx(claim_id="c", replicate=11)
    m = Measurement(case={}, subject={}, metric="time_ms", extra={"a": 1})
    filed = ctx.record(m, "candidate")
    filed.extra["b"] = 2
    assert (filed.claim, filed.role, filed.replicate) == ("c", "candidate", 11)
    assert m.extra == {"a": 1} and ctx.recorded == [filed]


def test_a_claims_cost_grows_with_its_cases_and_sides() -> None:
    class Two(base.Kind):
        sides = ("baseline", "candidate")
        cost_unit = 3.0

    claim = Claim(id="c", kind="k", rule=Rule(at_least=1.0), cases=({}, {}, {}, {}))
    assert Two().cost(claim) == 24.0


def test_an_implementation_the_device_cannot_run_is_skipped_with_its_name() -> None:
    with pytest.raises(base.Skip, match="^kat_cuda: needs a CUDA GPU; this run is on the CPU$"):
        base.runnable("rational", "kat_cuda", torch.device("cpu"))
    assert base.runnable("rational", "torch_reference", torch.device("cpu")).name == "torch_reference"


def test_the_clock_is_read_after_a_measurement_and_compared_with_the_maximum(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base.env, "sm_clock_mhz", lambda device: 1000)
    assert base.clock_state(_ctx(max_clock_mhz=2000)) == {"sm_clock_mhz": 1000, "throttled": True}
    assert base.clock_state(_ctx(max_clock_mhz=1100)) == {"sm_clock_mhz": 1000, "throttled": False}
    monkeypatch.setattr(base.env, "sm_clock_mhz", lambda device: None)
    assert base.clock_state(_ctx(max_clock_mhz=2000)) == {}


def test_a_case_key_holds_every_value_but_its_label_and_paper_value() -> None:
    case = {"shape": [2, 3], "label": "a", "paper_value": 2.0, "opts": {"b": [1]}}
    assert base.case_key(case) == (("opts", (("b", (1,)),)), ("shape", (2, 3)))
    assert base.case_key({"shape": [2, 4]}) != base.case_key({"shape": [2, 3]})


def test_a_sides_measurement_without_samples_or_not_ok_is_not_judged() -> None:
    ok = _timed("baseline", [1.0])
    assert base.by_role([ok], "baseline", "time_ms") is ok
    for broken in ({**ok, "samples": []}, {**ok, "status": "error", "reason": "crashed"}):
        with pytest.raises(base.NotJudged, match="the baseline's time_ms was not measured"):
            base.by_role([broken], "baseline", "time_ms")
    with pytest.raises(base.NotJudged, match="no time_ms measurement of the candidate"):
        base.by_role([ok], "candidate", "time_ms")


def test_one_timing_method_among_the_timed_measurements_that_succeeded() -> None:
    events, wall = _timed("baseline", [1.0], timing="events"), _timed("candidate", [1.0], timing="wall")
    assert base.one_method([events, {**events, "role": "candidate"}]) == "events"
    assert base.one_method([events, {**wall, "status": "error"}, {**wall, "noise": "seeds"}]) == "events"
    assert base.one_method([]) is None
    assert base.one_method([{**events, "extra": None}]) == "None"
    with pytest.raises(base.NotJudged, match=r"different methods \(events, wall\)"):
        base.one_method([events, wall])
    with pytest.raises(base.NotJudged, match=r"different methods \(events, other, wall\)"):
        base.one_method([events, wall, _timed("x", [1.0], timing="other")])


def test_a_time_taken_in_an_emulation_is_refused_naming_each_one() -> None:
    native = _timed("baseline", [1.0])
    labelled = {**_timed("x", [1.0], emulated="the Triton interpreter"), "subject": {"label": "mine"}}
    base.refuse_emulated(native, {**native, "extra": None})
    with pytest.raises(base.NotComparable) as caught:
        base.refuse_emulated(_timed("good", [1.0], emulated="QEMU"), native, labelled)
    assert str(caught.value) == ("timed in an emulation (good ran in QEMU; mine ran in the Triton interpreter): such a "
                                 "time says nothing about the kernel's speed on the hardware it is written for")


def test_rounds_are_paired_when_both_sides_have_as_many_else_compared_as_sets() -> None:
    b_rounds, c_rounds = [2.0, 4.0, 3.0], [1.0, 2.1, 1.4]  # correlated: round 2 was slow for both
    paired = base.ratio_of_rounds(_timed("baseline", b_rounds, [0, 1, 2]), _timed("candidate", c_rounds, [0, 1, 2]))
    expected = stats.paired_log_ratio(b_rounds, c_rounds)
    assert (paired.value, paired.low, paired.high) == pytest.approx((expected.value, expected.low, expected.high))
    assert paired.high - paired.low < stats.unpaired_log_ratio(b_rounds, c_rounds).high - \
        stats.unpaired_log_ratio(b_rounds, c_rounds).low
    unequal = base.ratio_of_rounds(_timed("baseline", b_rounds, [0, 1, 2]), _timed("candidate", c_rounds[:2], [0, 1]))
    welch = stats.unpaired_log_ratio(b_rounds, c_rounds[:2])
    assert (unequal.value, unequal.low, unequal.high) == pytest.approx((welch.value, welch.low, welch.high))
    ungrouped = base.ratio_of_rounds(_timed("baseline", [2.0, 2.0, 9.0]), _timed("candidate", [1.0, 1.0, 1.0]))
    assert ungrouped.value == pytest.approx(2.0)  # one round each: the medians


def _case_value(measurements: list[Mapping[str, Any]]) -> base.CaseValue:
    return base.timing_ratio({"shape": [1]}, measurements, "time_ms")


def test_a_timing_ratio_keeps_both_medians_and_the_method() -> None:
    value = _case_value([_timed("baseline", [4.0, 6.0], [0, 1], timing="events"),
                         _timed("candidate", [2.0, 3.0], [0, 1], timing="events")])
    assert value.details == {"baseline_ms": 5.0, "candidate_ms": 2.5, "method": "events"}
    assert value.estimate.value == pytest.approx(2.0) and value.case == {"shape": [1]}
    for emulated in ("baseline", "candidate"):
        sides = [_timed(r, [1.0], **({"emulated": "QEMU"} if r == emulated else {})) for r in ("baseline", "candidate")]
        with pytest.raises(base.NotComparable, match=f"{emulated} ran in QEMU"):
            _case_value(sides)
    with pytest.raises(base.NotJudged, match="different methods"):
        _case_value([_timed("baseline", [1.0], timing="events"), _timed("candidate", [1.0], timing="wall")])
