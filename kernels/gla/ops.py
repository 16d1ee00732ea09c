"""Gated linear attention (GLA) and causal softmax attention at one shape, [B, T, H, D]: the two
computations the GLA paper times against each other.

GLA (per batch and head, a state S of D x D):
    S_t = diag(exp(g_t)) S_{t-1} + k_t^T v_t,    o_t = (q_t / sqrt(D)) S_t
with g_t <= 0 the log forget gate (here logsigmoid of a normal draw, as in the authors' package).
Causal softmax attention: o_t = softmax_{s <= t}(q_t . k_s / sqrt(D)) v_s.
Both take q, k, v of shape [B, T, H, D] (GLA also g); float32 and bfloat16.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from kbench.registry import Operation, OpInputs, Pass, register_operation
from kernels.qkv import qkv_bytes, qkv_inputs


def _normal(gen: torch.Generator, shape: tuple[int, ...], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return torch.randn(shape, generator=gen, device=device, dtype=torch.float32).to(dtype)


def gla_inputs(case: Mapping[str, Any], device: torch.device, dtype: torch.dtype, seed: int) -> OpInputs:
    shape = tuple(int(d) for d in case["shape"])
    gen = torch.Generator(device=device).manual_seed(seed)
    q, k, v = (_normal(gen, shape, device, dtype).requires_grad_() for _ in range(3))
    g = F.logsigmoid(_normal(gen, shape, device, torch.float32)).to(dtype).requires_grad_()
    return OpInputs(args=(q, k, v, g), grad_output=_normal(gen, shape, device, dtype))


def _bytes(tensors_in: int) -> Any:
    def bytes_moved(case: Mapping[str, Any], pass_: Pass, dtype: torch.dtype) -> int:
        """Inputs read and the output written; backward: those, the output's gradient, and one
        gradient per input."""
        n = 1
        for d in case["shape"]:
            n *= int(d)
        size = torch.tensor([], dtype=dtype).element_size()
        fwd, bwd = tensors_in + 1, 2 * tensors_in + 1
        return {"fwd": fwd, "bwd": bwd, "fwd+bwd": fwd + bwd}[pass_] * n * size
    return bytes_moved


def check_case(case: Mapping[str, Any]) -> tuple[str, str, Any] | None:
    if len(case["shape"]) != 4:
        return "shape", "[B, T, H, D]: batch, sequence length, heads, head width", case["shape"]
    return None


def check_variants(case: Mapping[str, Any], device_type: str) -> list[tuple[str, dict[str, Any]]]:
    """A short odd length (no chunk divides it) with the case's heads and width."""
    _, _, h, d = (int(x) for x in case["shape"])
    return [("odd length", {"shape": [1, 37, h, d], "dtype": case.get("dtype", "float32")})]


GLA = register_operation(Operation(
    name="gla", make_inputs=gla_inputs, bytes_moved=_bytes(4), reference="recurrent_torch", output_name="o",
    grad_names=("dq", "dk", "dv", "dg"), check_case=check_case, check_variants=check_variants,
    reduction_terms=lambda case: {"dg": int(case["shape"][1])},
    example_case={"shape": [1, 19, 2, 8], "dtype": "float32"},
))
ATTENTION = register_operation(Operation(
    name="causal_attention", make_inputs=qkv_inputs, bytes_moved=qkv_bytes, reference="sdpa_math",
    output_name="o", grad_names=("dq", "dk", "dv"), check_case=check_case, check_variants=check_variants,
    example_case={"shape": [1, 19, 2, 8], "dtype": "float32"},
))
