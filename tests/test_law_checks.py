"""What `kbench validate` refuses in a law claim before anything trains (kbench.kinds._law_checks),
called directly: each refusal names its field and what was expected, and the edges of each rule
(the warm-up's last step, one step between checkpoints) are accepted."""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import pytest

from kbench import data, registry
from kbench.claims import Claim, Subject
from kbench.errors import SuiteError
from kbench.kinds import _law_checks
from kbench.kinds.law import OPTIONS
from kbench.verdicts import Rule

DEFAULTS = {k: p.default for k, p in OPTIONS.items() if p.default is not None}
NANO = {"model": "tiny-lm", "size": "nano"}
TEXT = {"task": "stdlib-text", "points": [1024, 2048, 4096, 8192]}  # batch 4 x 64 tokens = 256 a step


def _claim(options: Mapping[str, Any] | None = None, *, sides: Mapping[str, Mapping[str, Any]] | None = None,
           cases: tuple[Mapping[str, Any], ...] = (TEXT,), cpu_cases: tuple[Mapping[str, Any], ...] | None = None
           ) -> Claim:
    opts = {**DEFAULTS, "quantity": "nonzero-fraction", "statistic": "slope", "batch": 4, "warmup": 2,
            **(options or {})}
    return Claim("c", "law", Rule(at_most=0.0), options=opts, cases=cases, cpu_cases=cpu_cases,
                 sides={role: Subject(dict(f)) for role, f in (sides or {"subject": NANO}).items()})


def _case_error(claim: Claim, case: Mapping[str, Any] | None = None) -> SuiteError:
    with pytest.raises(SuiteError) as info:
        _law_checks.check_case(claim, case if case is not None else claim.cases[0], "s.toml", "claims[4].cases[1]")
    assert info.value.path == "s.toml"
    return info.value


def _family_error(claim: Claim, family: Any = None, role: str = "subject") -> SuiteError:
    with pytest.raises(SuiteError) as info:
        _law_checks.check_family(claim, family or registry.model_family("tiny-lm"), "s.toml", "claims[4]", role)
    return info.value


def test_a_sound_text_claim_passes_every_check() -> None:
    claim = _claim()
    _law_checks.check_family(claim, registry.model_family("tiny-lm"), "s.toml", "claims[4]", "subject")
    _law_checks.check_case(claim, TEXT, "s.toml", "claims[4].cases[0]")


def test_a_size_sweep_needs_a_family_with_that_size_and_leaves_the_swept_keyword_to_the_points() -> None:
    flat = SimpleNamespace(name="flat", width_key=None, arch_keys={})
    err = _family_error(_claim({"sweep": "width"}), flat)
    assert (err.field, err.expected) == ("claims[4].options.sweep", "data (model family flat has no width to sweep)")
    err = _family_error(_claim({"sweep": "depth"}), flat)
    assert err.expected == "data (model family flat has no depth to sweep)"
    _law_checks.check_family(_claim(), flat, "s.toml", "claims[4]", "subject")  # a data sweep needs neither
    err = _family_error(_claim({"sweep": "width"}, sides={"subject": {**NANO, "arch": {"d_model": 64}}}))
    assert (err.field, err.expected) == ("claims[4].subject.arch.d_model",
                                         "no d_model: the width sweep sets it from the case's points")
    err = _family_error(_claim({"sweep": "depth"}, sides={"candidate": {**NANO, "arch": {"depth": 3}}}),
                        role="candidate")
    assert err.field == "claims[4].candidate.arch.depth"
    _law_checks.check_family(_claim({"sweep": "width"}, sides={"subject": {**NANO, "arch": {"depth": 3}}}),
                             registry.model_family("tiny-lm"), "s.toml", "claims[4]", "subject")


def test_the_spec_is_checked_against_the_fewest_points_of_any_case_cpu_cases_included() -> None:
    five = {**TEXT, "points": [1024, 2048, 4096, 8192, 16384]}  # power-convergent has 3 parameters: 5 points
    spec = {"statistic": "fit-advantage", "form": "power-convergent", "alternatives": ["linear"],
            "direction": "decreasing"}
    _law_checks.check_family(_claim(spec, cases=(five, five)), registry.model_family("tiny-lm"), "s.toml",
                             "claims[4]", "subject")
    err = _family_error(_claim(spec, cases=(five,), cpu_cases=(five, TEXT)))
    assert (err.field, err.expected) == ("claims[4].options",
                                         "at least 5 points to fit every form and hold points out (got 4)")
    err = _family_error(_claim(spec, cases=(TEXT, five)))
    assert err.field == "claims[4].options"


def test_a_fit_advantage_needs_the_claimed_direction() -> None:
    err = _family_error(_claim({"statistic": "fit-advantage", "form": "log", "alternatives": ["linear"]}))
    assert err.field == "claims[4].options.direction" and err.expected.startswith("the claimed law's direction")


@pytest.mark.parametrize("points", [[1024, 1024, 4096], [1024, 4096, 2048]])
def test_points_must_strictly_increase(points: list[int]) -> None:
    err = _case_error(_claim(), {**TEXT, "points": points})
    assert (err.field, err.expected, err.got) == ("claims[4].cases[1].points", "strictly increasing points", points)


def test_a_size_sweep_needs_its_data_and_whole_sizes_and_a_data_sweep_refuses_data() -> None:
    width = _claim({"sweep": "width"})
    err = _case_error(width, {**TEXT, "points": [32, 64, 96]})
    assert (err.field, err.expected) == ("claims[4].cases[1].data",
                                         "the tokens or examples each width trains on (sweep = width)")
    err = _case_error(width, {**TEXT, "points": [32, 64.5, 96], "data": 4096})
    assert (err.field, err.expected) == ("claims[4].cases[1].points", "whole widths")
    err = _case_error(_claim(), {**TEXT, "data": 4096})
    assert (err.field, err.expected) == ("claims[4].cases[1].data",
                                         "no data: a data sweep's points are the amounts trained on")


def test_tasks_quantities_and_labels_must_suit_each_other() -> None:
    err = _case_error(_claim(), {**TEXT, "task": "no-such"})
    assert err.field == "claims[4].cases[1].task" and err.expected.startswith("stdlib-text or a kbench.data task (")
    err = _case_error(_claim({"quantity": "activation-ratio"}, sides={"subject": {"model": "vit"}}),
                      {**TEXT, "task": "digits"})
    assert err.field == "claims[4].cases[1].task" and err.expected.startswith("stdlib-text (the PPL-p% activation")
    err = _case_error(_claim({"labels": "random"}))
    assert (err.field, err.expected, err.got) == ("claims[4].options.labels",
                                                  "real (text has no labels to shuffle)", "random")


def test_text_takes_a_language_model_and_images_an_image_model() -> None:
    err = _case_error(_claim(sides={"baseline": NANO, "candidate": {"model": "vit"}}))
    assert (err.field, err.expected, err.got) == ("claims[4].candidate.model", "tiny-lm for task stdlib-text", "vit")
    err = _case_error(_claim(), {**TEXT, "task": "digits"})
    assert (err.field, err.expected, err.got) == ("claims[4].subject.model", "an image model for task digits",
                                                  "tiny-lm")


def test_a_size_that_is_not_the_familys_is_refused_and_the_cases_size_is_read_when_the_side_gives_none() -> None:
    err = _case_error(_claim(sides={"subject": {"model": "tiny-lm", "size": "huge"}}))
    assert (err.field, err.got) == ("claims[4].cases[1].size", "huge")
    assert err.expected == "a size of tiny-lm (nano, micro, tiny, small)"
    err = _case_error(_claim(sides={"subject": {"model": "tiny-lm"}}), {**TEXT, "size": "giant"})
    assert err.got == "giant"


def test_a_vocabulary_smaller_than_bytes_is_refused() -> None:
    err = _case_error(_claim(sides={"subject": {**NANO, "arch": {"vocab": 255}}}))
    assert (err.field, err.got) == ("claims[4].subject.arch.vocab", 255)
    assert err.expected == "at least 256 (the text is bytes)"
    _law_checks.check_case(_claim(sides={"subject": {**NANO, "arch": {"vocab": 256}}}), TEXT, "s.toml", "c[0]")


def test_every_width_of_a_sweep_is_built_and_one_that_cannot_be_names_the_points() -> None:
    claim = _claim({"sweep": "width"})
    err = _case_error(claim, {**TEXT, "points": [32, 33, 64], "data": 4096})  # 33 is no multiple of 2 heads
    assert err.field == "claims[4].cases[1].points" and err.expected == "an architecture tiny-lm can build"
    assert str(err.got).startswith("{") and "'d_model': 33" in str(err.got)
    _law_checks.check_case(claim, {**TEXT, "points": [32, 64, 96], "data": 4096}, "s.toml", "c[0]")
    err = _case_error(_claim(sides={"subject": {**NANO, "arch": {"heads": 3}}}))  # a data sweep: the side's arch
    assert err.field == "claims[4].subject.arch" and "'heads': 3" in str(err.got)


def test_a_model_whose_ffn_cannot_be_read_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from kbench import sparsity

    def unreadable(model: Any) -> Any:
        raise ValueError("no FFN down projections found")

    monkeypatch.setattr(sparsity, "down_projections", unreadable)
    err = _case_error(_claim())
    assert (err.field, err.got) == ("claims[4].subject.model", "no FFN down projections found")
    assert err.expected.startswith("a model whose FFN activations kbench can read")


def test_checkpoints_must_fall_on_different_steps_one_step_apart_is_enough() -> None:
    err = _case_error(_claim(), {**TEXT, "points": [1000, 1024, 4096]})  # both on step 4 (256 tokens a step)
    assert (err.field, err.got) == ("claims[4].cases[1].points", [1000, 1024, 4096])
    assert err.expected == "amounts of data at least one step (256 tokens) apart"
    _law_checks.check_case(_claim(), {**TEXT, "points": [1024, 1025, 4096]}, "s.toml", "c[0]")  # steps 4 and 5


def test_a_checkpoint_inside_the_warm_up_is_refused_and_one_at_its_end_is_not() -> None:
    warm = _claim({"warmup": 4})  # 4 steps x 256 tokens = 1024
    _law_checks.check_case(warm, TEXT, "s.toml", "c[0]")
    err = _case_error(warm, {**TEXT, "points": [1023, 2048, 4096]})
    assert (err.field, err.got) == ("claims[4].cases[1].points", [1023, 2048, 4096])
    assert err.expected.startswith("amounts past the learning-rate warm-up (4 steps = 1024 tokens)")
    err = _case_error(_claim({"sweep": "width", "warmup": 4}), {**TEXT, "points": [32, 64, 96], "data": 1000})
    assert (err.field, err.got) == ("claims[4].cases[1].data", 1000)


def test_image_tasks_count_examples_a_step_and_a_missing_package_leaves_the_case_to_the_run(
        monkeypatch: pytest.MonkeyPatch) -> None:
    vit = {"model": "vit", "arch": {"depth": 1, "embed_dim": 24, "num_heads": 3, "patch_size": 4}}
    claim = _claim({"batch": 16, "warmup": 2}, sides={"subject": vit})
    case = {"task": "digits", "points": [33, 40, 64]}
    err = _case_error(claim, case)  # past the warm-up's 32 examples, but 33 and 40 share step 3
    assert err.expected == "amounts of data at least one step (16 examples) apart"
    _law_checks.check_case(claim, {**case, "points": [32, 48, 64]}, "s.toml", "c[0]")

    def missing(name: str, seed: int = 0) -> Any:
        raise data.DataError("not installed")

    monkeypatch.setattr(data, "load", missing)
    _law_checks.check_case(claim, case, "s.toml", "c[0]")  # nothing to build without the task: the run skips it


def test_claim_where_is_the_claim_of_a_case_location() -> None:
    assert _law_checks.claim_where("claims[4].cpu_cases[2]") == "claims[4]"


def test_the_sides_own_size_comes_before_the_cases() -> None:
    _law_checks.check_case(_claim(sides={"subject": {"model": "tiny-lm", "size": "nano"}}),
                           {**TEXT, "size": "bogus"}, "s.toml", "c[0]")  # the side's size is the one built
    err = _case_error(_claim(sides={"subject": {"model": "tiny-lm", "size": "bogus"}}), {**TEXT, "size": "nano"})
    assert (err.field, err.got) == ("claims[4].cases[1].size", "bogus")
