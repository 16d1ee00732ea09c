"""Neighborhood attention (Faster Neighborhood Attention, arXiv 2403.04690), 1-D and 2-D: each
query attends to the `window` keys nearest it along each spatial axis (window x window in 2-D).

Layout as the authors' package takes it, heads after the spatial axes: q, k, v and the output are
[B, L, H, D] (1-D) or [B, X, Y, H, D] (2-D). With dilation d, a query sees only positions of its
own residue mod d along each axis, and its window is the `window` nearest of those: centred on the
query, shifted inward at the edges so that every query sees exactly `window` keys per axis (the
package's definition; it needs every axis at least window * dilation long). Scale 1/sqrt(D), no
positional bias. Case fields beside the shape: `window` (odd) and `dilation` (absent: 1), passed to
every implementation as keywords.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from kbench.params import Param
from kbench.registry import Operation, OpInputs, register_operation
from kernels.qkv import qkv_bytes, qkv_inputs

CASE_FIELDS = {
    "window": Param(int, "keys each query sees along each axis (odd)", required=True, low=1, high=255),
    "dilation": Param(int, "the stride between a query's neighbours (absent: 1)", low=1, high=256),
}


def options_of(case: Mapping[str, Any]) -> dict[str, int]:
    return {"window": int(case["window"]), "dilation": int(case.get("dilation", 1))}


def neighbours(length: int, window: int, dilation: int, device: torch.device | None = None) -> torch.Tensor:
    """[length, window]: the positions each position of an axis attends to, nearest first by
    position (increasing), `window` of its own residue mod `dilation`, shifted inward at the edges."""
    i = torch.arange(length, device=device)
    residue, j = i % dilation, i // dilation
    own = (length - residue + dilation - 1) // dilation  # positions of that residue on the axis
    start = torch.minimum(torch.clamp(j - window // 2, min=0), own - window)
    return residue[:, None] + dilation * (start[:, None] + torch.arange(window, device=device))


def make_inputs(case: Mapping[str, Any], device: torch.device, dtype: torch.dtype, seed: int) -> OpInputs:
    return qkv_inputs(case, device, dtype, seed, options_of(case))


def check_case(case: Mapping[str, Any]) -> tuple[str, str, Any] | None:
    shape = case["shape"]
    if len(shape) not in (4, 5):
        return "shape", "[B, L, H, D] (1-D) or [B, X, Y, H, D] (2-D)", shape
    window, dilation = int(case["window"]), int(case.get("dilation", 1))
    if window % 2 == 0:
        return "window", "an odd number of keys (a window centred on its query)", window
    short = [int(n) for n in shape[1:-2] if int(n) < window * dilation]
    if short:
        return "shape", f"every spatial axis at least window * dilation = {window * dilation} long", shape
    return None


def check_variants(case: Mapping[str, Any], device_type: str) -> list[tuple[str, dict[str, Any]]]:
    """The smallest axis the window fits (every query at an edge) and one a position longer (under
    dilation, residue 0 then has one more position than the others), at the case's heads and width."""
    window, dilation = int(case["window"]), int(case.get("dilation", 1))
    h, d = (int(n) for n in case["shape"][-2:])
    axes = len(case["shape"]) - 3
    tight = window * dilation
    base = {"dtype": case.get("dtype", "float32"), "window": window, "dilation": dilation}
    return [("axis just fits", {**base, "shape": [1, *[tight] * axes, h, d]}),
            ("uneven residues", {**base, "shape": [1, *[tight + 1] * axes, h, d]})]


OPERATION = register_operation(Operation(
    name="neighborhood_attention", make_inputs=make_inputs, bytes_moved=qkv_bytes, reference="gather",
    output_name="o", grad_names=("dq", "dk", "dv"), check_case=check_case, check_variants=check_variants,
    case_fields=CASE_FIELDS,
    example_case={"shape": [1, 11, 7, 2, 4], "window": 3, "dilation": 2, "dtype": "float32"},
))
