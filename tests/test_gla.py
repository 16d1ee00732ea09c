"""GLA's suite: the references compute what the papers' packages compute, and the authors' kernel
is skipped with the reason where it cannot run (not installed, no CUDA)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from kbench import devices
from kernels.gla.reference import attention_math, gla_recurrent


def draws(shape: tuple[int, ...], n: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(7)
    return [torch.randn(shape, generator=gen, dtype=torch.float64) for _ in range(n)]


def test_the_gla_reference_is_the_recurrence_with_the_forget_gate() -> None:
    q, k, v, raw = draws((1, 6, 2, 4), 4)
    g = F.logsigmoid(raw)
    o = gla_recurrent(q, k, v, g)
    state = torch.zeros(1, 2, 4, 4, dtype=torch.float64)  # written out for t = 0..2, one head at a time
    for t in range(3):
        state = torch.exp(g[:, t])[..., None] * state + torch.einsum("bhk,bhv->bhkv", k[:, t], v[:, t])
        assert torch.allclose(o[:, t], torch.einsum("bhk,bhkv->bhv", q[:, t] / 2.0, state), atol=1e-12)
    never_forget = gla_recurrent(q, k, v, torch.zeros_like(g))  # g = 0: plain causal linear attention
    scores = torch.einsum("bthk,bshk->bhts", q / 2.0, k).tril()
    assert torch.allclose(never_forget, torch.einsum("bhts,bshv->bthv", scores, v), atol=1e-12)


def test_the_gla_reference_agrees_with_the_authors_naive_recurrence() -> None:
    naive = pytest.importorskip("fla.ops.gla.naive", reason="fla-core (kbench[seqmix]) is not installed")
    q, k, v, raw = draws((1, 20, 2, 8), 4)
    g = F.logsigmoid(raw)
    theirs = naive.naive_recurrent_gla(q, k, v, g)
    theirs = theirs[0] if isinstance(theirs, tuple) else theirs
    assert torch.allclose(gla_recurrent(q, k, v, g), theirs.double(), rtol=0, atol=1e-5)  # theirs: float32 inside


def test_the_attention_reference_is_causal_softmax_attention() -> None:
    q, k, v = draws((2, 5, 3, 4), 3)
    scores = torch.einsum("bthd,bshd->bhts", q, k) / 2.0
    scores = scores.masked_fill(torch.ones(5, 5, dtype=torch.bool).triu(1), float("-inf"))
    expected = torch.einsum("bhts,bshd->bthd", scores.softmax(-1), v)
    assert torch.allclose(attention_math(q, k, v), expected, atol=1e-12)


def test_a_package_that_is_missing_or_broken_is_a_reason_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")
    assert "needs the Python package 'kbench_no_such_package'" in (
        devices.unmet(("module:kbench_no_such_package",), cpu) or "")
    import sys
    import types

    broken = types.ModuleType("kbench_broken_pkg")
    monkeypatch.setitem(sys.modules, "kbench_broken_pkg", broken)
    monkeypatch.setattr("importlib.import_module", lambda name: (_ for _ in ()).throw(RuntimeError("no driver")))
    assert devices.unmet(("module:kbench_broken_pkg",), cpu) == (
        "the Python package 'kbench_broken_pkg' fails to import here (RuntimeError: no driver)")
    assert devices.unmet(("cuda", "module:kbench_no_such_package"), cpu) == "needs a CUDA GPU; this run is on the CPU"
