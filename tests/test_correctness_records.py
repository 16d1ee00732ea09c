"""What a float64 check records and says, and the plumbing under it (kbench.correctness): the unit
roundoff per dtype, the record of errors and tolerances, the message naming the case, the device
the inputs live on, the variants an operation has or has not, and the copies of inputs."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import pytest
import torch

from kbench import correctness, registry
from kbench.correctness import Check, OutputError
from kbench.registry import OpInputs

CPU = torch.device("cpu")
TOY = registry.operation("toy_scale")  # y = 2x, input_range 1000
GOOD = registry.implementation("toy_scale", "good")


@pytest.mark.parametrize(("dtype", "unit"), [
    (torch.float64, 2.0**-53), (torch.float32, 2.0**-24), (torch.float16, 2.0**-11), (torch.bfloat16, 2.0**-8),
    (torch.int64, 0.0), (torch.bool, 0.0)])
def test_the_unit_roundoff_is_half_the_dtypes_epsilon_and_nothing_for_exact_dtypes(
        dtype: torch.dtype, unit: float) -> None:
    assert correctness.unit_roundoff(dtype) == unit


def test_an_integer_output_is_held_to_exact_equality() -> None:
    """An output of an exact dtype has no rounding to allow for: one unit off fails."""
    gold = correctness.Golden({"n": torch.tensor([3.0, 4.0], dtype=torch.float64)}, {"n": (0.0, 0.0)},
                              {"n": torch.int64})
    assert gold.compare({"n": torch.tensor([3, 4])})["n"].ok
    assert not gold.compare({"n": torch.tensor([3, 5])})["n"].ok


def test_a_checks_record_holds_every_outputs_errors_and_tolerances() -> None:
    chk = Check("strided layout", {"shape": [3, 8]}, {"y": OutputError(0.5, 0.25, 1.0, 2.0),
                                                      "dx": OutputError(4.0, 8.0, 16.0, 32.0)})
    assert chk.as_dict() == {"variant": "strided layout", "case": {"shape": [3, 8]}, "outputs": {
        "y": {"norm": 0.5, "max": 0.25, "norm_tol": 1.0, "max_tol": 2.0},
        "dx": {"norm": 4.0, "max": 8.0, "norm_tol": 16.0, "max_tol": 32.0}}}
    assert chk.errors == {"y": 0.5, "dx": 4.0}


@pytest.mark.parametrize(("case", "label"), [
    ({"shape": [37, 8]}, "37x8 float32"),
    ({"shape": [2, 197, 192], "dtype": "bfloat16", "layout": "strided"}, "2x197x192 bfloat16 (strided)"),
    ({"dtype": "float16"}, " float16")])
def test_a_failed_check_says_which_case_and_every_output_that_failed(case: Mapping[str, Any], label: str) -> None:
    chk = Check("as timed", case, {"y": OutputError(0.5, 0.25, 0.1, 0.2), "dx": OutputError(0.0, 0.0, 1.0, 1.0),
                                   "dA": OutputError(3.0, 6.0, 1.0, 1.0)})
    assert chk.failures == ["y", "dA"]
    assert chk.describe() == (f"wrong against float64 on as timed {label}: "
                              "y: norm 5.00e-01 (tol 1.0e-01), max 2.50e-01 (tol 2.0e-01); "
                              "dA: norm 3.00e+00 (tol 1.0e+00), max 6.00e+00 (tol 1.0e+00)")


def test_a_refused_input_names_the_variant_and_the_case() -> None:
    def refuses(x: torch.Tensor) -> torch.Tensor:
        raise ValueError("no strided inputs")

    impl = dataclasses.replace(GOOD, name="picky", fn=refuses)
    refusal = r"^picky refused strided 5x8 float16 \(strided\): no strided"
    with pytest.raises(correctness.UnsupportedInput, match=refusal):
        correctness.check(TOY, impl, {"shape": [5, 8], "dtype": "float16", "layout": "strided"}, CPU, 1,
                          variant="strided")


def test_a_check_is_of_the_case_as_timed_unless_named() -> None:
    chk = correctness.check(TOY, GOOD, {"shape": [5, 8]}, CPU, 1)
    assert chk.ok and chk.variant == "as timed" and chk.case == {"shape": [5, 8]}


def test_inputs_and_references_live_on_the_device_asked_for_not_the_default() -> None:
    """With torch's default device elsewhere (meta tensors have no values), a check on the CPU
    still computes: every tensor is made on the device it was given."""
    seen: list[str] = []

    def variants(case: Mapping[str, Any], device_type: str) -> list[tuple[str, dict[str, Any]]]:
        seen.append(device_type)
        return []

    op = dataclasses.replace(TOY, check_variants=variants)
    with torch.device("meta"):
        assert correctness.inputs_for(op, {"shape": [5, 8]}, CPU, 1).args[0].device == CPU
        gold = correctness.golden(op, {"shape": [5, 8]}, CPU, 1)
        assert gold.gold["y"].device == CPU
        checks = correctness.check_all(op, GOOD, {"shape": [5, 8]}, CPU, 1)
    assert [c.ok for c in checks] == [True, True] and seen == ["cpu"]  # as timed, edge of range


def test_an_operation_without_variants_is_checked_as_timed_and_at_its_edge() -> None:
    op = dataclasses.replace(TOY, check_variants=None)
    assert [c.variant for c in correctness.check_all(op, GOOD, {"shape": [5, 8]}, CPU, 1)] == [
        "as timed", "edge of range (largest |input| 1000)"]
    bare = dataclasses.replace(TOY, check_variants=None, input_range=None)
    assert [c.variant for c in correctness.check_all(bare, GOOD, {"shape": [5, 8]}, CPU, 1)] == ["as timed"]


def test_gradients_must_match_the_names_the_operation_declares() -> None:
    """An operation declaring fewer gradient names than arguments that need one is a mistake to
    report, not a gradient to drop silently."""
    op = dataclasses.replace(TOY, grad_names=())
    with pytest.raises(ValueError, match="zip"):
        correctness.forward_backward(GOOD.fn, op, TOY.make_inputs({"shape": [5, 8]}, CPU, torch.float32, 1))


def test_the_edge_variant_scales_small_data_up_and_leaves_all_zero_data_alone() -> None:
    def scaled(by: float) -> Any:
        def make(case: Mapping[str, Any], device: torch.device, dtype: torch.dtype, seed: int) -> OpInputs:
            inputs = TOY.make_inputs(case, device, dtype, seed)
            with torch.no_grad():
                inputs.args[0].mul_(by / float(inputs.args[0].abs().max()) if by else 0.0)
            return inputs
        return make

    case = {"shape": [6, 8], "edge": True}
    small = correctness.inputs_for(dataclasses.replace(TOY, make_inputs=scaled(0.5)), case, CPU, 3)
    assert float(small.args[0].detach().abs().max()) == pytest.approx(1000.0, rel=1e-6)  # 0.5 scaled up to the range
    zeros = correctness.inputs_for(dataclasses.replace(TOY, make_inputs=scaled(0.0)), case, CPU, 3)
    assert torch.equal(zeros.args[0], torch.zeros(6, 8))  # nothing to scale: no division by zero


def test_a_relative_error_divides_by_a_reference_norm_below_one() -> None:
    ref = torch.tensor([0.3, 0.4], dtype=torch.float64)  # norm 0.5
    assert correctness.relative_error(torch.tensor([0.3, 0.3]), ref) == pytest.approx(0.1 / 0.5, rel=1e-6)
    assert correctness.relative_error(torch.tensor([0.1]), torch.zeros(1, dtype=torch.float64)) == pytest.approx(0.1)


def test_an_output_of_the_wrong_dtype_fails_both_criteria() -> None:
    gold = correctness.golden(TOY, {"shape": [4, 8]}, CPU, seed=1)
    errors = gold.compare({"y": torch.zeros(4, 8, dtype=torch.float16)})
    assert math.isinf(errors["y"].norm) and math.isinf(errors["y"].max) and not errors["y"].ok


@pytest.mark.parametrize("copy", [correctness.snapshot, correctness.widened])
def test_copies_of_inputs_keep_their_options_and_a_missing_upstream_gradient(copy: Any) -> None:
    x = torch.randn(3, 4, requires_grad=True)
    inputs = OpInputs(args=(x,), grad_output=None, options={"window": 3})
    copied = copy(inputs)
    assert copied.options == {"window": 3} and copied.grad_output is None
    assert copied.args[0] is not x and copied.args[0].requires_grad and torch.equal(copied.args[0].float(), x.detach())
    with_grad = copy(OpInputs(args=(x,), grad_output=torch.ones(3, 4), options={}))
    assert with_grad.grad_output is not None and torch.equal(with_grad.grad_output.float(), torch.ones(3, 4))
