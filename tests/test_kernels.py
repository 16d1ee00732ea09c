"""Every registered rational implementation against float64, on the CPU (Triton interpreted).

Parametrized over the registry, so a new implementation is checked without a new test. Shapes are
chosen to be awkward: group width 24 (FlashKAT masks 62% of its lanes there), rows that are not a
multiple of any tile, a single row, 2-D input, and a group width of 25 (not a multiple of 4).
"""

from __future__ import annotations

import pytest
import torch

from kbench import correctness, devices, registry
from tests.fixtures.planted_rational import PLANTED

AWKWARD_SHAPES = [[3, 5, 192], [1, 1, 8], [1, 48], [37, 200], [2, 70, 768]]
CPU = torch.device("cpu")
OP = registry.operation("rational")


def _runnable() -> list[str]:
    return [name for name, impl in registry.implementations("rational").items()
            if devices.unmet(impl.requires, CPU) is None and name != "torch_compile" and name not in PLANTED]


@pytest.mark.parametrize("name", _runnable())
@pytest.mark.parametrize("shape", AWKWARD_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_implementation_matches_float64(name: str, shape: list[int]) -> None:
    impl = registry.implementation("rational", name)
    for dtype in impl.dtypes:
        check = correctness.check(OP, impl, {"shape": shape, "dtype": dtype}, CPU, seed=sum(shape))
        assert check.ok, f"{name} {shape} {dtype}: {check.describe()}"
        assert set(check.errors) == {"y", "dx", "dA", "dB"}


def test_torch_compile_matches_float64() -> None:
    impl = registry.implementation("rational", "torch_compile")
    check = correctness.check(OP, impl, {"shape": [3, 5, 64], "dtype": "float32"}, CPU, seed=1)
    assert check.ok, check.describe()


def test_fp32_kernels_are_near_float64_precision() -> None:
    """The kbench kernels' target is 1e-6; the interpreter computes in fp32 like the GPU."""
    for name in ("kbench_triton", "kbench_triton_det"):
        check = correctness.check(OP, registry.implementation("rational", name),
                                  {"shape": [4, 197, 192], "dtype": "float32"}, CPU, seed=7)
        assert max(check.errors.values()) < 1e-6, (name, check.errors)


def test_kbench_triton_says_which_tiles_it_launched() -> None:
    """The launch record follows the call: small tiles for a few rows, larger past 512 rows."""
    from kernels.rational import kbench_triton

    impl = registry.implementation("rational", "kbench_triton_det")
    for rows, fwd, bwd in ((37, kbench_triton.INTERPRETER_FWD, kbench_triton.INTERPRETER_BWD),
                           (600, kbench_triton.INTERPRETER_FWD_LARGE, kbench_triton.INTERPRETER_BWD_LARGE)):
        correctness.forward_backward(impl.fn, OP, OP.make_inputs({"shape": [rows, 64]}, CPU, torch.float32, 1))
        assert impl.launch_config is not None and impl.launch_config() == {"fwd": str(fwd), "bwd": str(bwd)}
    assert kbench_triton.INTERPRETER_BWD != kbench_triton.INTERPRETER_BWD_LARGE


def test_deterministic_mode_gives_identical_bits() -> None:
    impl = registry.implementation("rational", "kbench_triton_det")
    inputs = OP.make_inputs({"shape": [5, 33, 96]}, CPU, torch.float32, seed=3)
    first = correctness.forward_backward(impl.fn, OP, inputs)
    second = correctness.forward_backward(impl.fn, OP, inputs)
    for key in first:
        assert torch.equal(first[key], second[key]), key


def test_inputs_are_random_and_never_zero() -> None:
    a = OP.make_inputs({"shape": [4, 16]}, CPU, torch.float32, seed=1)
    b = OP.make_inputs({"shape": [4, 16]}, CPU, torch.float32, seed=2)
    assert not torch.equal(a.args[0], b.args[0])
    assert all(t.abs().sum() > 0 for t in (*a.args, a.grad_output))


def test_rejects_width_not_divisible_by_groups() -> None:
    with pytest.raises(ValueError, match="divisible"):
        OP.make_inputs({"shape": [2, 20]}, CPU, torch.float32, seed=0)
    with pytest.raises(ValueError, match="layout"):
        OP.make_inputs({"shape": [2, 16], "layout": "diagonal"}, CPU, torch.float32, seed=0)


def test_layouts_are_what_they_say() -> None:
    expanded = OP.make_inputs({"shape": [2, 16], "layout": "expanded"}, CPU, torch.float32, seed=0)
    assert expanded.args[1].stride() == (0, 1) and torch.equal(expanded.args[1][0], expanded.args[1][7])
    strided = OP.make_inputs({"shape": [3, 16], "layout": "strided"}, CPU, torch.float32, seed=0)
    assert not strided.args[0].is_contiguous() and strided.args[0].stride() == (24, 1)
    zeros = OP.make_inputs({"shape": [3, 16], "layout": "zeros"}, CPU, torch.float32, seed=0)
    assert int((zeros.args[0] == 0).sum()) == 7
    for inputs in (expanded, strided, zeros):
        assert all(t.requires_grad for t in inputs.args)
        assert len(inputs.owners()) == 4


def test_bytes_moved_halve_with_half_precision() -> None:
    case = {"shape": [128, 197, 768]}
    assert OP.bytes_moved(case, "fwd+bwd", torch.float32) == 5 * 128 * 197 * 768 * 4
    assert OP.bytes_moved(case, "fwd+bwd", torch.bfloat16) * 2 == OP.bytes_moved(case, "fwd+bwd", torch.float32)


@pytest.mark.parametrize("name", ["kat_triton", "flashkat_triton", "kbench_triton", "kbench_triton_det"])
def test_exact_zeros_follow_the_kernel_sign_convention(name: str) -> None:
    """x = 0 exactly: d|x|/dx is +1 in KAT's kernels and in the reference (torch.abs would say 0).

    Large fp32 randn tensors hold a few exact zeros; with torch's convention the reference and
    every kernel disagree there by g |b0| F(0) / Q(0), which shows up as a 1e-5 'dx error'.
    """
    inputs = OP.make_inputs({"shape": [4, 64]}, CPU, torch.float32, seed=5)
    with torch.no_grad():
        inputs.args[0][:, ::7] = 0.0
    gold = correctness.forward_backward(registry.implementation("rational", "torch_reference").fn, OP,
                                        type(inputs)(tuple(t.detach().double().requires_grad_() for t in inputs.args),
                                                     inputs.grad_output.double()))
    got = correctness.forward_backward(registry.implementation("rational", name).fn, OP, inputs)
    assert correctness.relative_error(got["dx"], gold["dx"]) < 1e-6
