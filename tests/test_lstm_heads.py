"""FlashRNN's suite: kbench's LSTM loop is the LSTM, and is the authors' vanilla backend."""

from __future__ import annotations

import pytest
import torch

from kernels.lstm_heads.reference import lstm_loop


def inputs(b: int, t: int, h: int, d: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(5)
    return (torch.randn(b, t, 4, h, d, generator=gen, dtype=torch.float64),
            torch.randn(4, h, d, d, generator=gen, dtype=torch.float64) / d,
            torch.randn(4, h, d, generator=gen, dtype=torch.float64))


def test_the_loop_is_the_lstm_step_by_step() -> None:
    wx, r, b = inputs(2, 3, 2, 3)
    y = lstm_loop(wx, r, b)
    # the first step starts from zero states: no recurrent term, c = i * tanh(z)
    i, f, z, o = (wx[:, 0] + b).unbind(1)
    c0 = torch.sigmoid(i) * torch.tanh(z)
    assert torch.allclose(y[:, 0], torch.sigmoid(o) * torch.tanh(c0), atol=1e-12)
    # the second feeds y_0 through each head's own recurrent weights only
    i, f, z, o = (wx[:, 1] + torch.einsum("ghdp,bhp->bghd", r, y[:, 0]) + b).unbind(1)
    c1 = torch.sigmoid(f) * c0 + torch.sigmoid(i) * torch.tanh(z)
    assert torch.allclose(y[:, 1], torch.sigmoid(o) * torch.tanh(c1), atol=1e-12)
    r_mixed = r.clone()
    r_mixed[:, 1] = 0  # head 1 without recurrence: head 0 does not change
    assert torch.allclose(lstm_loop(wx, r_mixed, b)[:, :, 0], y[:, :, 0], atol=1e-12)


def test_the_loop_is_the_authors_vanilla_backend() -> None:
    pytest.importorskip("flashrnn", reason="flashrnn (kbench[seqmix]) is not installed")
    from flashrnn import flashrnn

    wx, r, b = inputs(2, 7, 2, 4)
    states, _ = flashrnn(wx, r, b, function="lstm", backend="vanilla", dtype="float64")
    assert torch.equal(states[0], lstm_loop(wx, r, b))
