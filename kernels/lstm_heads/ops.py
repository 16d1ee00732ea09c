"""A head-wise LSTM over a sequence (FlashRNN): H small LSTMs of width D side by side, their input
projections given (Wx), each head's recurrence its own (block-diagonal R).

    raw_t = Wx_t + R y_{t-1} + b,   gates i, f, z, o = raw_t split in four (order as FlashRNN's)
    c_t = sigmoid(f) c_{t-1} + sigmoid(i) tanh(z),   y_t = sigmoid(o) tanh(c_t)

with Wx [B, T, 4, H, D], R [4, H, D, D] (gate, head, out, in: FlashRNN's "GHDP"), b [4, H, D],
zero initial states, and the output y [B, T, H, D]. Case: shape [B, T, H, D].
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from kbench.registry import Operation, OpInputs, Pass, register_operation


def make_inputs(case: Mapping[str, Any], device: torch.device, dtype: torch.dtype, seed: int) -> OpInputs:
    """Wx and b standard normal; R normal / sqrt(D) (a recurrence that neither dies nor saturates)."""
    b_, t, h, d = (int(x) for x in case["shape"])
    gen = torch.Generator(device=device).manual_seed(seed)

    def normal(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return (torch.randn(shape, generator=gen, device=device, dtype=torch.float32) * scale).to(dtype)

    wx = normal(b_, t, 4, h, d).requires_grad_()
    r = normal(4, h, d, d, scale=d ** -0.5).requires_grad_()
    bias = normal(4, h, d).requires_grad_()
    return OpInputs(args=(wx, r, bias), grad_output=normal(b_, t, h, d))


def bytes_moved(case: Mapping[str, Any], pass_: Pass, dtype: torch.dtype) -> int:
    """Forward: Wx, R and b read, y written; backward: dy and the inputs read, their gradients written."""
    b_, t, h, d = (int(x) for x in case["shape"])
    size = torch.tensor([], dtype=dtype).element_size()
    inputs, out = 4 * b_ * t * h * d + 4 * h * d * d + 4 * h * d, b_ * t * h * d
    return {"fwd": inputs + out, "bwd": 2 * inputs + out, "fwd+bwd": 3 * inputs + 2 * out}[pass_] * size


def check_case(case: Mapping[str, Any]) -> tuple[str, str, Any] | None:
    if len(case["shape"]) != 4:
        return "shape", "[B, T, H, D]: batch, sequence length, heads, head width", case["shape"]
    return None


OPERATION = register_operation(Operation(
    name="lstm_heads", make_inputs=make_inputs, bytes_moved=bytes_moved, reference="torch_loop", output_name="y",
    grad_names=("dWx", "dR", "db"), check_case=check_case,
    # dR and db sum over every step and batch row
    reduction_terms=lambda case: {"dR": int(case["shape"][0]) * int(case["shape"][1]),
                                  "db": int(case["shape"][0]) * int(case["shape"][1])},
    example_case={"shape": [2, 7, 2, 4], "dtype": "float32"},
))
