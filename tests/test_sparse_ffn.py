"""The activation-sparse FFN: inputs at the stated sparsity, its memory floor, kbench's Triton
kernel checked against float64 in Triton's interpreter, and wrong kernels refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from kbench import correctness, devices, registry, suite
from kbench.errors import SuiteError
from kbench.registry import Implementation
from kernels import sparse_ffn  # noqa: F401  (registers the operation)

CPU = torch.device("cpu")
OP = registry.operation("sparse_ffn")
CASE = {"shape": [300, 96], "dtype": "float32", "sparsity": 0.9}


@pytest.mark.parametrize(("shape", "sparsity"), [([300, 96], 0.9), ([1001, 257], 0.5), ([64, 8], 0.0)])
def test_inputs_hold_exactly_the_stated_share_of_inactive_neurons(shape: list[int], sparsity: float) -> None:
    x, a, w_up, w_down_t = OP.make_inputs({"shape": shape, "sparsity": sparsity}, CPU, torch.float32, 3).args
    assert int((a == 0).sum()) == round(sparsity * shape[0])
    assert bool(a[0] != 0) and bool(a[-1] != 0)  # both ends active: a kernel dropping an end tile is caught
    if sparsity < 0.9:
        assert bool((a < 0).any()) and bool((a > 0).any())  # both signs, as a gate times an up-projection
    assert x.shape == (shape[1],) and w_up.shape == w_down_t.shape == tuple(shape)


def test_the_memory_floor_counts_only_active_rows() -> None:
    assert OP.bytes_moved({"shape": [1000, 100], "sparsity": 0.9999}, "fwd", torch.bfloat16) == (
        2 * 2 * 100 + 2 * 100 + 1000) * 2  # the two neurons always active
    dense = OP.bytes_moved({"shape": [1000, 100], "sparsity": 0.0}, "fwd", torch.bfloat16)
    sparse = OP.bytes_moved({"shape": [1000, 100], "sparsity": 0.9}, "fwd", torch.bfloat16)
    assert dense == (2 * 1000 * 100 + 2 * 100 + 1000) * 2
    assert sparse == (2 * 100 * 100 + 2 * 100 + 1000) * 2


SUITE = """schema_version = 2
[paper]
id = "sparse-ffn-cases"
title = "cases"
[[claims]]
id = "c"
kind = "error-ratio"
quote = "q"
operation = "OP"
baseline = { impl = "IMPL" }
candidate = { impl = "IMPL" }
cases = [CASE]
rule = { at_most = 1.0 }
"""


@pytest.mark.parametrize(("op", "impl", "case", "field"), [
    ("sparse_ffn", "torch_dense", '{ shape = [8, 8] }', "sparsity"),  # required by the operation
    ("sparse_ffn", "torch_dense", '{ shape = [8, 8], sparsity = 1.5 }', "sparsity"),  # its own bounds
    ("sparse_ffn", "torch_dense", '{ shape = [2, 8, 8], sparsity = 0.5 }', "shape"),
    ("sparse_ffn", "torch_dense", '{ shape = [8, 8], sparsity = 0.5, layout = "expanded" }', "layout"),
    ("rational", "torch_reference", '{ shape = [4, 16], sparsity = 0.5 }', "sparsity"),  # not the rational's
    ("rational", "torch_reference", '{ shape = [4, 16], layout = "diagonal" }', "layout"),
])
def test_case_fields_are_the_operations_own(tmp_path: Path, op: str, impl: str, case: str, field: str) -> None:
    path = tmp_path / "cases.toml"
    path.write_text(SUITE.replace("OP", op).replace("IMPL", impl).replace("CASE", case))
    with pytest.raises(SuiteError) as exc:
        suite.load(path)
    assert exc.value.field == f"claims[0].cases[0].{field}" and f"operation {op!r}" in str(exc.value)


def test_a_case_with_the_operations_fields_loads(tmp_path: Path) -> None:
    path = tmp_path / "cases.toml"
    path.write_text(SUITE.replace("OP", "sparse_ffn").replace("IMPL", "torch_dense")
                    .replace("CASE", '{ shape = [8, 8], sparsity = 0.5 }'))
    assert suite.load(path).claims[0].cases[0]["sparsity"] == 0.5


@pytest.mark.parametrize("name", ["torch_gather", "triton_sparse"])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_implementations_pass_every_check_against_float64(name: str, dtype: str) -> None:
    impl = registry.implementation("sparse_ffn", name)
    if devices.unmet(impl.requires, CPU):
        pytest.skip(devices.unmet(impl.requires, CPU))
    checks = correctness.check_all(OP, impl, {**CASE, "dtype": dtype}, CPU, 11)
    assert [c.variant for c in checks] == ["as timed", "dense", "99% inactive", "odd shape"]
    assert all(c.ok for c in checks)


def _dense(x: torch.Tensor, a: torch.Tensor, wu: torch.Tensor, wd: torch.Tensor) -> torch.Tensor:
    return (wd.T.double() @ ((wu.double() @ x.double()) * a.double())).to(x.dtype)


def _skips_last_block(x: torch.Tensor, a: torch.Tensor, wu: torch.Tensor, wd: torch.Tensor) -> torch.Tensor:
    cut = a.clone()
    cut[(a.numel() // 16) * 16:] = 0  # the rows past the last whole tile never computed
    return _dense(x, cut, wu, wd)


def _gate_as_mask(x: torch.Tensor, a: torch.Tensor, wu: torch.Tensor, wd: torch.Tensor) -> torch.Tensor:
    return _dense(x, (a != 0).to(a.dtype), wu, wd)  # activations taken as on/off only


def _drops_one_neuron(x: torch.Tensor, a: torch.Tensor, wu: torch.Tensor, wd: torch.Tensor) -> torch.Tensor:
    cut = a.clone()
    cut[a.abs().argmax()] = 0  # an index off by one in a gather skips a real neuron
    return _dense(x, cut, wu, wd)


def _halved(x: torch.Tensor, a: torch.Tensor, wu: torch.Tensor, wd: torch.Tensor) -> torch.Tensor:
    return 0.5 * _dense(x, a, wu, wd)


def _positive_only(x: torch.Tensor, a: torch.Tensor, wu: torch.Tensor, wd: torch.Tensor) -> torch.Tensor:
    return _dense(x, a.clamp(min=0), wu, wd)  # a ReLU applied twice: wrong when the gate can be negative


def _zeros(x: torch.Tensor, a: torch.Tensor, wu: torch.Tensor, wd: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(x)


WRONG = [_skips_last_block, _gate_as_mask, _drops_one_neuron, _halved, _positive_only, _zeros]


@pytest.mark.parametrize("wrong", WRONG)
@pytest.mark.parametrize(("dtype", "sparsity", "shape"), [("float32", 0.9, [1001, 257]),
                                                          ("bfloat16", 0.8932, [1536, 512]),
                                                          ("float16", 0.9999, [2048, 512])])
def test_wrong_kernels_are_refused_before_anything_is_timed(wrong: Callable[..., torch.Tensor], dtype: str,
                                                           sparsity: float, shape: list[int]) -> None:
    impl = Implementation("sparse_ffn", wrong.__name__, wrong, dtypes=(dtype,))
    checks = correctness.check_all(OP, impl, {"shape": shape, "dtype": dtype, "sparsity": sparsity}, CPU, 5)
    assert not checks[-1].ok


def test_an_integer_where_the_operation_declares_a_float_is_read_as_one(tmp_path: Path) -> None:
    path = tmp_path / "cases.toml"
    path.write_text(SUITE.replace("OP", "sparse_ffn").replace("IMPL", "torch_dense")
                    .replace("CASE", '{ shape = [8, 8], sparsity = 0 }'))
    value = suite.load(path).claims[0].cases[0]["sparsity"]
    assert value == 0.0 and type(value) is float
