"""The float64 checks: tolerances derived from the reference's own rounding, norm and max criteria,
variants of layout and shape. Every planted bug is refused; every real implementation passes."""

from __future__ import annotations

import math

import pytest
import torch

from kbench import correctness, registry
from tests.fixtures.planted_rational import PLANTED

CPU = torch.device("cpu")
RATIONAL = registry.operation("rational")
TOY = registry.operation("toy_scale")


def test_tolerance_is_the_reference_rounding_times_the_factor() -> None:
    gold = correctness.golden(TOY, {"shape": [4, 8], "dtype": "float32"}, CPU, seed=1)
    u = 2.0**-24  # the toy's reference (2x) is exact in fp32: the floor is the unit roundoff
    assert gold.tolerance["y"] == pytest.approx((8 * u, 8 * u))
    case = {"shape": [4, 197, 192], "dtype": "float32"}
    g = correctness.golden(RATIONAL, case, CPU, seed=3)
    inputs = RATIONAL.make_inputs(case, CPU, torch.float32, 3)
    own = correctness.forward_backward(registry.implementation("rational", "torch_reference").fn, RATIONAL, inputs)
    terms = 4 * 197 * 192 // 8  # a coefficient's gradient sums this many terms
    expected = 8 * max(correctness.relative_error(own["dA"], g.gold["dA"]), u * math.sqrt(terms))
    assert g.tolerance["dA"][0] == pytest.approx(expected)
    assert expected == pytest.approx(8 * u * math.sqrt(terms))  # here the summation term is the larger
    assert g.tolerance["y"][0] == pytest.approx(8 * max(correctness.relative_error(own["y"], g.gold["y"]), u))


@pytest.mark.parametrize(("name", "variant"), [
    ("off_by_last", "as timed"), ("zeros_only", "as timed"), ("half_inside", "as timed"),
    ("wrong_past_64_rows", "rows past every tile"), ("layout_blind", "strided layout"),
    ("no_grad_input", "as timed"),
])
def test_planted_toy_bugs_are_refused(name: str, variant: str) -> None:
    checks = correctness.check_all(TOY, registry.implementation("toy_scale", name), {"shape": [37, 8]}, CPU, seed=1)
    assert not checks[-1].ok and checks[-1].variant == variant, [c.describe() for c in checks]


@pytest.mark.parametrize(("name", "variant", "output"), [
    ("planted_off_5e4", "as timed", "y"), ("planted_half_math", "as timed", "y"),
    ("planted_rows_past_4096", "rows past every tile", "y"), ("planted_one_element", "as timed", "y"),
    ("planted_dense_coeffs", "expanded layout", "y"),
    ("planted_clamps_input", "edge of range (largest |input| 32)", "y"),
])
def test_planted_rational_bugs_are_refused(name: str, variant: str, output: str) -> None:
    case = {"shape": [3, 197, 192], "dtype": "float32"}  # 591 rows: the CPU case of the suites
    checks = correctness.check_all(RATIONAL, registry.implementation("rational", name), case, CPU, seed=2)
    last = checks[-1]
    assert not last.ok and last.variant == variant and output in last.failures, last.describe()
    assert "wrong against float64" in last.describe()


def test_one_wrong_element_is_seen_by_the_max_criterion_not_the_norm() -> None:
    case = {"shape": [64, 197, 192], "dtype": "float32"}
    chk = correctness.check(RATIONAL, registry.implementation("rational", "planted_one_element"), case, CPU, seed=4)
    y = chk.outputs["y"]
    assert y.max > y.max_tol and not chk.ok


def test_nan_never_passes() -> None:
    err = correctness.OutputError(math.nan, 0.0, 1.0, 1.0)
    assert not err.ok
    assert not correctness.OutputError(0.0, math.nan, 1.0, 1.0).ok


def test_wrong_shape_fails() -> None:
    gold = correctness.golden(TOY, {"shape": [4, 8]}, CPU, seed=1)
    errors = gold.compare({"y": torch.zeros(4, 9), "dx": torch.zeros(4, 8)})
    assert math.isinf(errors["y"].norm) and not errors["y"].ok


def real_implementations() -> list[str]:
    from kbench import devices

    return [name for name, impl in registry.implementations("rational").items()
            if devices.unmet(impl.requires, CPU) is None and name not in PLANTED and name != "torch_compile"]


@pytest.mark.slow
@pytest.mark.parametrize("name", real_implementations())
def test_real_implementations_pass_every_variant(name: str) -> None:
    impl = registry.implementation("rational", name)
    checks = correctness.check_all(RATIONAL, impl, {"shape": [3, 197, 192], "dtype": "float32"}, CPU, seed=5)
    assert checks[-1].ok, checks[-1].describe()
    assert [c.variant for c in checks] == ["as timed", "expanded layout", "strided layout", "zeros layout", "one row",
                                           "rows past every tile", "edge of range (largest |input| 32)"]


@pytest.mark.parametrize("name", ["kat_triton", "flashkat_triton", "kbench_triton"])
def test_float64_is_refused_not_downcast(name: str) -> None:
    impl = registry.implementation("rational", name)
    with pytest.raises(correctness.UnsupportedInput, match="float64"):
        correctness.check(RATIONAL, impl, {"shape": [2, 16], "dtype": "float64"}, CPU, seed=1)


def test_a_float64_impostor_fails_the_float64_tolerance() -> None:
    """An implementation that claims float64 but computes in float32 misses float64's tolerance."""
    fake = registry.Implementation("rational", "fp32_inside", lambda x, a, b: registry.implementation(
        "rational", "torch_reference").fn(x.float(), a.float(), b.float()).double(), dtypes=("float64",))
    chk = correctness.check(RATIONAL, fake, {"shape": [4, 64], "dtype": "float64"}, CPU, seed=1)
    assert not chk.ok and "y" in chk.failures


def test_a_whole_models_tolerance_grows_with_the_square_root_of_its_terms() -> None:
    unit = correctness.unit_roundoff(torch.float32)
    one = correctness.model_tolerance(3 * unit, 5 * unit, 100)
    four = correctness.model_tolerance(3 * unit, 5 * unit, 400)
    assert four == pytest.approx((2 * one[0], 2 * one[1]))  # 4x the terms, 2x the tolerance
    assert one == pytest.approx((correctness.FACTOR * 10 * 3 * unit, correctness.FACTOR * 10 * 5 * unit))
    assert correctness.model_tolerance(0.0, 0.0, 1)[0] == pytest.approx(correctness.FACTOR * unit)  # never below u


def test_errors_are_relative_to_the_reference_and_absolute_against_zero() -> None:
    from kbench import correctness

    ref = torch.tensor([0.5, -2.0, 1.0], dtype=torch.float64)
    got = torch.tensor([0.5, -2.0, 1.5])
    assert correctness.max_error(got, ref) == pytest.approx(0.25)  # 0.5 off, in units of the largest |ref| (2)
    assert correctness.relative_error(got, ref) == pytest.approx(0.5 / float(ref.norm()))
    zero = torch.zeros(3, dtype=torch.float64)
    assert correctness.max_error(got, zero) == pytest.approx(2.0)  # nothing to be relative to: absolute
    assert correctness.relative_error(got, zero) == pytest.approx(float(got.double().norm()))
    small = torch.full((3,), 0.5, dtype=torch.float64)  # a reference below 1 in size still divides
    assert correctness.max_error(small * 1.5, small) == pytest.approx(0.5)
    assert correctness.max_error(got[:2], ref) == math.inf


def test_the_edge_variant_scales_the_data_to_the_declared_range_exactly() -> None:
    from kbench import correctness, registry

    op = registry.operation("toy_scale")  # input_range 1000
    plain = correctness.inputs_for(op, {"shape": [6, 8], "dtype": "float32"}, torch.device("cpu"), 3)
    edge = correctness.inputs_for(op, {"shape": [6, 8], "dtype": "float32", "edge": True}, torch.device("cpu"), 3)
    assert float(edge.args[0].detach().abs().max()) == pytest.approx(1000.0, rel=1e-6)
    ratio = edge.args[0].detach() / plain.args[0].detach()
    assert torch.allclose(ratio, ratio.flatten()[0].expand_as(ratio), rtol=1e-5)  # one scale for every value
