"""Neighborhood attention (its suite's operation): every query sees exactly its window of keys of
its own residue, the gathered version is the masked one, an implementation blind to the case's own
fields (a dilation ignored, an edge not shifted) is refused against float64, and a case field is
the operation's: declared, typed and checked when the suite is loaded."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from kbench import correctness, registry, suite
from kbench.errors import SuiteError
from kbench.params import Param
from kbench.registry import Implementation, Operation
from kernels.neighborhood_attention import reference
from kernels.neighborhood_attention.ops import neighbours

CPU = torch.device("cpu")
OP = registry.operation("neighborhood_attention")


@pytest.mark.parametrize(("length", "window", "dilation"), [(7, 3, 1), (9, 3, 2), (13, 5, 2), (20, 3, 6), (5, 5, 1)])
def test_each_query_sees_its_window_of_its_own_residue(length: int, window: int, dilation: int) -> None:
    index = neighbours(length, window, dilation)
    for i, keys in enumerate(index.tolist()):
        assert len(set(keys)) == window and all(0 <= k < length and k % dilation == i % dilation for k in keys)
        assert i in keys and keys == sorted(keys)
        same = [p for p in range(length) if p % dilation == i % dilation]
        nearest = sorted(sorted(same, key=lambda p: abs(p - i))[:window])
        if min(keys) > i - window // 2 * dilation or max(keys) < i + window // 2 * dilation:
            assert min(keys) == same[0] or max(keys) == same[-1]  # shifted only at an edge
        else:
            assert keys == nearest  # centred away from the edges


def brute(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int, dilation: int) -> torch.Tensor:
    """Each query of a [1, X, (Y,) 1, D] problem against its neighbours, one at a time."""
    axes = [neighbours(n, window, dilation).tolist() for n in q.shape[1:-2]]
    out = torch.empty_like(q)
    for pos in torch.cartesian_prod(*[torch.arange(n) for n in q.shape[1:-2]]).reshape(-1, len(axes)).tolist():
        near = torch.cartesian_prod(*[torch.tensor(axes[a][p]) for a, p in enumerate(pos)]).reshape(-1, len(axes))
        keys = torch.stack([k[(0, *p.tolist(), 0)] for p in near])
        values = torch.stack([v[(0, *p.tolist(), 0)] for p in near])
        weights = torch.softmax(keys @ q[(0, *pos, 0)] / math.sqrt(q.shape[-1]), dim=0)
        out[(0, *pos, 0)] = weights @ values
    return out


@pytest.mark.parametrize("case", [{"shape": [1, 11, 1, 4], "window": 3, "dilation": 2},
                                  {"shape": [1, 7, 6, 1, 3], "window": 3, "dilation": 2},
                                  {"shape": [1, 5, 5, 1, 2], "window": 5}])
def test_both_versions_are_neighbourhood_attention(case: dict[str, object]) -> None:
    inputs = OP.make_inputs(case, CPU, torch.float64, seed=1)
    want = brute(*(t.detach() for t in inputs.args), **inputs.options)  # type: ignore[arg-type]
    for fn in (reference.dense_masked, reference.gather):
        assert torch.allclose(inputs.call(fn).detach(), want, rtol=0, atol=1e-12)


def test_a_window_as_wide_as_the_axis_is_full_attention() -> None:
    inputs = OP.make_inputs({"shape": [2, 9, 3, 8], "window": 9}, CPU, torch.float64, seed=2)
    q, k, v = (t.detach().transpose(1, 2) for t in inputs.args)
    full = torch.nn.functional.scaled_dot_product_attention(q, k, v).transpose(1, 2)
    assert torch.allclose(inputs.call(reference.gather).detach(), full, atol=1e-12)


def _wrong(fn: object) -> Implementation:
    return Implementation("neighborhood_attention", "wrong", fn, dtypes=("float32", "float64"))  # type: ignore[arg-type]


@pytest.mark.parametrize(("wrong", "variant"), [
    (lambda q, k, v, window, dilation: reference.gather(q, k, v, window, 1), "as timed"),  # the dilation ignored
    (lambda q, k, v, window, dilation: reference.gather(q, k, v, min(window + 2, q.shape[1]), dilation), "as timed"),
])
def test_an_implementation_blind_to_the_cases_fields_is_refused(wrong: object, variant: str) -> None:
    checks = correctness.check_all(OP, _wrong(wrong), {"shape": [1, 24, 2, 8], "window": 3, "dilation": 2,
                                                       "dtype": "float32"}, CPU, 5)
    assert not checks[-1].ok and checks[-1].variant == variant


def test_the_real_versions_pass_every_variant() -> None:
    case = {"shape": [1, 14, 9, 2, 8], "window": 3, "dilation": 3, "dtype": "float32"}
    checks = correctness.check_all(OP, registry.implementation("neighborhood_attention", "gather"), case, CPU, 5)
    assert [c.variant for c in checks] == ["as timed", "axis just fits", "uneven residues"]
    assert all(c.ok for c in checks)


SUITE = """schema_version = 2
[paper]
id = "na-cases"
title = "cases"
[[claims]]
id = "c"
kind = "error-ratio"
quote = "q"
operation = "OP"
baseline = { impl = "IMPL" }
candidate = { impl = "gather" }
cases = [CASE]
rule = { at_least = 0.1 }
"""


def _load(tmp_path: Path, case: str, op: str = "neighborhood_attention", impl: str = "dense_masked") -> suite.Suite:
    path = tmp_path / "na.toml"
    path.write_text(SUITE.replace("OP", op).replace("IMPL", impl).replace("CASE", case))
    return suite.load(path)


@pytest.mark.parametrize(("case", "field", "expected"), [
    ("{ shape = [1, 16, 2, 8] }", "window", "the field is missing"),
    ('{ shape = [1, 16, 2, 8], window = "3" }', "window", "an integer"),
    ("{ shape = [1, 16, 2, 8], window = 4 }", "window", "odd"),
    ("{ shape = [1, 16, 2, 8], window = 3, dilation = 0 }", "dilation", "in 1 to 256"),
    ("{ shape = [1, 16, 2, 8], window = 5, dilation = 4 }", "shape", "at least window * dilation = 20"),
    ("{ shape = [1, 16, 2, 8], window = 3, chunk = 4 }", "chunk", "one of the fields"),
    ("{ shape = [16, 2, 8], window = 3 }", "shape", "[B, L, H, D]"),
])
def test_the_operations_case_fields_are_checked_at_load(tmp_path: Path, case: str, field: str, expected: str) -> None:
    with pytest.raises(SuiteError) as exc:
        _load(tmp_path, case)
    assert exc.value.field == f"claims[0].cases[0].{field}", str(exc.value)
    assert expected in str(exc.value) and "operation 'neighborhood_attention'" in str(exc.value)


def test_a_field_another_operation_declares_is_refused(tmp_path: Path) -> None:
    """A window on the rational (which would ignore it) is refused by name, on the side that lacks it."""
    text = SUITE.replace("CASE", "{ shape = [4, 16], window = 3 }").replace("OP", "rational").replace(
        "IMPL", "torch_reference").replace('impl = "gather"', 'impl = "torch_reference"')
    path = tmp_path / "r.toml"
    path.write_text(text)
    with pytest.raises(SuiteError, match=r"cases\[0\]\.window.*one of the fields.*operation 'rational'"):
        suite.load(path)


def test_the_case_fields_reach_every_implementation(tmp_path: Path) -> None:
    loaded = _load(tmp_path, "{ shape = [1, 16, 2, 8], window = 3, dilation = 2 }")
    case = loaded.claims[0].cases[0]
    assert case["window"] == 3 and case["dilation"] == 2
    seen: dict[str, int] = {}
    OP.make_inputs(case, CPU, torch.float32, 0).call(lambda q, k, v, **kw: seen.update(kw) or q)  # type: ignore[arg-type, func-returns-value]
    assert seen == {"window": 3, "dilation": 2}
    checked = correctness.widened(OP.make_inputs(case, CPU, torch.float32, 0))
    assert checked.options == {"window": 3, "dilation": 2}  # the float64 copy keeps them


def test_an_operation_field_with_a_default_is_refused_at_registration() -> None:
    base = registry.operation("neighborhood_attention")
    bad = Operation(name="defaulted", make_inputs=base.make_inputs, bytes_moved=base.bytes_moved,
                    reference="dense_masked", output_name="o", grad_names=(),
                    case_fields={"window": Param(int, "w", default=3)})
    with pytest.raises(ValueError, match="defaulted.*window"):
        registry.register_operation(bad)


def same_length_residues(length: int, window: int, dilation: int, device: torch.device | None = None) -> torch.Tensor:
    """neighbours() with every residue as long as length // dilation: wrong only where they are not."""
    i = torch.arange(length, device=device)
    residue, j = i % dilation, i // dilation
    own = torch.full_like(i, length // dilation)
    start = torch.minimum(torch.clamp(j - window // 2, min=0), own - window)
    return residue[:, None] + dilation * (start[:, None] + torch.arange(window, device=device))


def test_uneven_residues_are_checked_whatever_the_cases_own_length(monkeypatch: pytest.MonkeyPatch) -> None:
    """At dilation 2 on an even axis the case itself has even residues: the variant must not."""
    def wrong(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int, dilation: int) -> torch.Tensor:
        with monkeypatch.context() as patch:
            patch.setattr(reference, "neighbours", same_length_residues)
            return reference.gather(q, k, v, window, dilation)

    checks = correctness.check_all(OP, _wrong(wrong), {"shape": [1, 24, 2, 8], "window": 7, "dilation": 2,
                                                       "dtype": "float32"}, CPU, 5)
    assert [c.ok for c in checks] == [True, True, False] and checks[-1].variant == "uneven residues"
