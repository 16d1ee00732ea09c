"""Matched claims judged from measurements written by hand (kbench.kinds.matched): which seeds
pair, the paired ratio and difference and their test-set noise, the effect these seeds could
detect, errors that make a ratio undefined, and the note for a side trained to chance level."""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np
import pytest

from kbench import stats
from kbench.kinds import matched
from kbench.kinds.base import Claim, NotJudged

CLAIM = cast(Claim, None)  # evaluate reads the measurements, not the claim
CASE = {"task": "toy"}


def _side(role: str, metric: str, samples: list[float], groups: list[int], **extra: Any) -> dict[str, Any]:
    return {"role": role, "metric": metric, "status": "ok", "samples": samples, "groups": groups,
            "subject": {"model": f"{role}-model"}, "extra": {"params": 100, "lr": 0.01, "arch": {}, **extra}}


def _error(b: list[float], c: list[float], groups: tuple[list[int], list[int]] = ([0, 1, 2], [0, 1, 2]),
           **extra: Any) -> Any:
    ms = [_side("baseline", "rmse", b, groups[0], **extra), _side("candidate", "rmse", c, groups[1], **extra)]
    (cv,) = matched.MatchedError().evaluate(CLAIM, CASE, ms, {})
    return cv


def test_a_matched_error_is_the_seed_paired_ratio_and_its_detectable_effect_is_of_the_ratios() -> None:
    b, c = [0.3, 0.2, 0.4], [0.15, 0.1, 0.25]  # seeds 2, 0, 1 on each side
    cv = _error([0.3, 0.2, 0.4], [0.1, 0.15, 0.25], groups=([2, 0, 1], [0, 2, 1]))  # shuffled seed labels
    expected = stats.paired_log_ratio(b, c)
    assert (cv.estimate.value, cv.estimate.low, cv.estimate.high) == (expected.value, expected.low, expected.high)
    detectable = matched._detectable([math.log(x / y) for x, y in zip(b, c, strict=True)], "x lower error")
    assert detectable is not None and cv.details["detectable"] == detectable
    assert cv.details["baseline"] == {"mean": pytest.approx(0.3), "params": 100, "lr": 0.01, "arch": {}}
    assert cv.details["candidate"]["mean"] == pytest.approx(0.5 / 3) and cv.details["seeds"] == 3


@pytest.mark.parametrize(("b", "c"), [([0.2, 0.0, 0.3], [0.1, 0.1, 0.1]), ([0.2, 0.1, 0.3], [0.1, math.inf, 0.1])])
def test_an_error_of_zero_or_infinity_leaves_the_ratio_unjudged(b: list[float], c: list[float]) -> None:
    with pytest.raises(NotJudged, match="an error of zero or infinity makes the ratio undefined"):
        _error(b, c)


def test_the_test_sets_noise_widens_a_ratio_only_when_both_sides_have_positive_errors() -> None:
    per_b, per_c = [0.1, 0.3, 0.2, 0.4], [0.05, 0.1, 0.15, 0.1]
    ms = [_side("baseline", "rmse", [0.2, 0.4, 0.3], [0, 1, 2], per_example=per_b),
          _side("candidate", "rmse", [0.1, 0.25, 0.1], [0, 1, 2], per_example=per_c)]
    (cv,) = matched.MatchedError().evaluate(CLAIM, CASE, ms, {})
    u = np.array(per_b) / np.mean(per_b) - np.array(per_c) / np.mean(per_c)
    assert cv.details["test_set"] == {"examples": 4, "se": pytest.approx(float(np.std(u, ddof=1) / (2 * 2.0)))}
    for zero in ("baseline", "candidate"):
        flat = [{**m, "extra": {**m["extra"], "per_example": [0.0] * 4}} if m["role"] == zero else m for m in ms]
        (cv,) = matched.MatchedError().evaluate(CLAIM, CASE, flat, {})
        assert "test_set" not in cv.details


def test_sides_pair_by_seed_label_and_a_side_without_a_shared_seed_is_not_judged() -> None:
    cv = _error([0.2, 0.4, 9.0], [0.1, 0.2], groups=([0, 1, 7], [0, 1]))  # seed 7 ran on one side only
    assert cv.estimate == stats.paired_log_ratio([0.2, 0.4], [0.1, 0.2]) and cv.details["seeds"] == 2
    with pytest.raises(NotJudged, match="no seed was run on both sides"):
        _error([0.2], [0.1], groups=([0], [1]))
    with pytest.raises(ValueError, match="zip"):
        _error([0.2, 0.4], [0.1, 0.2], groups=([0], [0, 1]))
    with pytest.raises(ValueError, match="zip"):
        _error([0.2, 0.4], [0.1, 0.2], groups=([0, 1], [0]))


def test_one_shared_seed_is_enough_to_pair() -> None:
    cv = _error([0.2], [0.1], groups=([0], [0]))
    assert cv.estimate.value == pytest.approx(2.0) and cv.details["seeds"] == 1


def _accuracy(b: list[float], c: list[float], **extra: Any) -> Any:
    ms = [_side("baseline", "accuracy", b, list(range(len(b))), **extra),
          _side("candidate", "accuracy", c, list(range(len(c))), **extra)]
    (cv,) = matched.MatchedAccuracy().evaluate(CLAIM, CASE, ms, {})
    return cv


def _chance_notes(cv: Any) -> list[str]:
    return [n for n in cv.notes if "chance level" in n]


def test_a_side_no_better_than_guessing_is_noted_with_the_larger_of_one_in_k_and_the_majority() -> None:
    data = {"data": {"num_classes": 10}}
    (note,) = _chance_notes(_accuracy([0.11, 0.09, 0.10], [0.9, 0.91, 0.92], **data))
    assert note == ("baseline-model trained to chance level: test accuracy 0.100 against 0.100 by guessing; a "
                    "comparison with a model that learned nothing says little about either")
    skewed = {"data": {"num_classes": 10}, "majority_share": 0.5}  # guessing the majority class gets 0.5
    (note,) = _chance_notes(_accuracy([0.52, 0.50, 0.51], [0.9, 0.91, 0.92], **skewed))
    assert "test accuracy 0.510 against 0.500 by guessing" in note
    assert _chance_notes(_accuracy([0.56, 0.55, 0.57], [0.9, 0.91, 0.92], **skewed)) == []  # 0.56 > 0.5 + 2 se


def test_two_classes_and_two_seeds_are_enough_for_the_chance_note_one_class_or_one_seed_is_not() -> None:
    assert len(_chance_notes(_accuracy([0.5, 0.52], [0.9, 0.92], data={"num_classes": 2}))) == 1
    assert _chance_notes(_accuracy([0.5, 0.52], [0.9, 0.92], data={"num_classes": 1})) == []
    assert _chance_notes(_accuracy([0.5, 0.52], [0.9, 0.92])) == []  # no class count recorded
    assert _chance_notes(_accuracy([0.5], [0.9], data={"num_classes": 2})) == []
    assert len(_chance_notes(_accuracy([0.5, 0.52], [0.5, 0.51], data={"num_classes": 2}))) == 2  # both sides


def test_the_chance_margin_is_two_standard_errors_of_the_seeds_mean() -> None:
    """Mean 0.60 against a majority of 0.5: at chance when that is within two standard errors."""
    wide = [0.57, 0.60, 0.63]  # sd 0.03, se 0.0173: 0.5 + 2 se = 0.535 < 0.60: not at chance
    assert _chance_notes(_accuracy(wide, [0.9, 0.91, 0.92], data={"num_classes": 10}, majority_share=0.5)) == []
    spread = [0.45, 0.60, 0.75]  # sd 0.15, se 0.0866: 0.5 + 2 se = 0.673 >= 0.60: at chance
    assert len(_chance_notes(_accuracy(spread, [0.9, 0.91, 0.92], data={"num_classes": 10},
                                       majority_share=0.5))) == 1
    edge = [0.53, 0.60, 0.67]  # sd 0.07, se 0.0404: 0.5 + 2 se = 0.581 < 0.60 < 0.5 + 3 se = 0.621: not at chance
    assert _chance_notes(_accuracy(edge, [0.9, 0.91, 0.92], data={"num_classes": 10}, majority_share=0.5)) == []


def test_a_side_exactly_at_chance_is_noted_and_a_side_without_a_class_count_does_not_stop_the_other() -> None:
    assert len(_chance_notes(_accuracy([0.5, 0.5], [0.9, 0.92], data={"num_classes": 2}))) == 1  # no spread
    at = 0.5 + 1e-9  # the margin's own allowance for rounding: still chance
    assert len(_chance_notes(_accuracy([at, at], [0.9, 0.92], data={"num_classes": 2}))) == 1
    base = {"role": "baseline", "metric": "accuracy", "status": "ok", "samples": [0.9, 0.92], "groups": [0, 1],
            "subject": {"model": "b"}, "extra": {"params": 1, "lr": 0.1, "arch": {}}}
    cand = {**base, "role": "candidate", "samples": [0.5, 0.5], "subject": {"model": "c"},
            "extra": {**base["extra"], "data": {"num_classes": 2}}}
    (cv,) = matched.MatchedAccuracy().evaluate(CLAIM, CASE, [base, cand], {})
    assert [n.split(" trained")[0] for n in _chance_notes(cv)] == ["c"]


def test_test_set_noise_needs_two_examples_per_side_and_its_degrees_of_freedom_are_the_examples_less_one() -> None:
    b, c = [0.70, 0.72, 0.71, 0.69, 0.73, 0.70, 0.72, 0.71], [0.80, 0.81, 0.79, 0.82, 0.80, 0.81, 0.80, 0.79]
    one = _accuracy(b, c, per_example=[1.0])
    assert "test_set" not in one.details  # one example is no sample of a test set
    cv = _accuracy(b, c, per_example=[1.0, 0.0, 1.0])
    assert cv.details["test_set"]["examples"] == 3
    seeds = stats.Estimate.from_values([y - x for x, y in zip(b, c, strict=True)], "linear")
    expect = stats.clipped(stats.add_noise(seeds, cv.details["test_set"]["se"], 2.0), -1.0, 1.0)
    assert (cv.estimate.low, cv.estimate.high) == pytest.approx((expect.low, expect.high))
    two = _accuracy(b, c, per_example=[1.0, 0.0])
    assert two.details["test_set"]["examples"] == 2


def test_the_detectable_effect_needs_two_pairs_with_some_spread() -> None:
    assert _accuracy([0.8, 0.82], [0.9, 0.93]).details["detectable"]["seeds"] == 2
    assert _accuracy([0.8, 0.8], [0.9, 0.9]).details["detectable"]["effect"] == 0.0  # no spread: no power figure


def test_sides_trained_on_different_seeds_in_even_one_pair_are_not_judged() -> None:
    base = _side("baseline", "rmse", [0.2, 0.4, 0.3], [0, 1, 2], train_seeds=[11, 12, 13])
    cand = _side("candidate", "rmse", [0.1, 0.2, 0.2], [0, 1, 2], train_seeds=[11, 12, 99])
    with pytest.raises(NotJudged, match="the sides were trained on different seeds"):
        matched.MatchedError().evaluate(CLAIM, CASE, [base, cand], {})
    cand["extra"]["train_seeds"] = [11, 12, 13]
    (cv,) = matched.MatchedError().evaluate(CLAIM, CASE, [base, cand], {})
    assert cv.details["seeds"] == 3


def test_an_accuracy_difference_interval_stays_inside_what_a_difference_can_be() -> None:
    cv = _accuracy([0.05, 0.95], [0.95, 0.05])  # two seeds, effects +0.9 and -0.9: a t interval far past 1
    assert cv.estimate.low >= -1.0 and cv.estimate.high <= 1.0
    assert cv.estimate.low == -1.0 and cv.estimate.high == 1.0


def test_the_test_sets_standard_error_is_the_sample_standard_deviation_over_root_n() -> None:
    b, c = [0.70, 0.72, 0.71], [0.80, 0.81, 0.79]
    ms = [_side("baseline", "accuracy", b, [0, 1, 2], per_example=[1.0, 0.0, 1.0]),
          _side("candidate", "accuracy", c, [0, 1, 2], per_example=[1.0, 1.0, 0.0])]
    (cv,) = matched.MatchedAccuracy().evaluate(CLAIM, CASE, ms, {})
    diff = np.array([0.0, 1.0, -1.0])
    assert cv.details["test_set"]["se"] == pytest.approx(float(np.std(diff, ddof=1) / np.sqrt(3)))
