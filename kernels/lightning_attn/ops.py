"""Causal linear attention with a per-head decay, as Lightning Attention computes it (TransNormerLLM;
"Various Lengths, Constant Speed", arXiv 2405.17381), at one shape [B, T, H, D]:

    S_t = lambda_h S_{t-1} + k_t^T v_t,    o_t = (q_t / sqrt(D)) S_t,    lambda_h = exp(-8 h / H)

(head 0 does not decay; the decays are the authors' package's for a model's first layer, as fla's
chunk_lightning_attn computes them with layer_idx = 0 of 1). q, k, v standard normal, float32 or
bfloat16; every implementation is checked against the masked form in float64 first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from kbench.registry import Operation, register_operation
from kernels.qkv import qkv_bytes, qkv_inputs


def decay_logs(heads: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """ln(lambda_h) for each head: -8 h / H."""
    return -(8.0 / heads) * torch.arange(heads, device=device, dtype=dtype)


def check_case(case: Mapping[str, Any]) -> tuple[str, str, Any] | None:
    if len(case["shape"]) != 4:
        return "shape", "[B, T, H, D]: batch, sequence length, heads, head width", case["shape"]
    return None


def check_variants(case: Mapping[str, Any], device_type: str) -> list[tuple[str, dict[str, Any]]]:
    """A length no block divides, over several blocks (the carried state decays more than once),
    at the case's heads and width."""
    _, _, h, d = (int(x) for x in case["shape"])
    return [("odd length", {"shape": [1, 195, h, d], "dtype": case.get("dtype", "float32")})]


OPERATION = register_operation(Operation(
    name="lightning_attention", make_inputs=qkv_inputs, bytes_moved=qkv_bytes, reference="masked",
    output_name="o", grad_names=("dq", "dk", "dv"), check_case=check_case, check_variants=check_variants,
    example_case={"shape": [1, 70, 3, 8], "dtype": "float32"},
))
