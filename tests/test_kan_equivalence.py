"""kbench's B-spline KAN layer against pykan's (the KAN paper's package) on fixed inputs: the same
weights give the same outputs, and a grid update moves the knots to the same places and keeps the
same function. pykan is a test requirement; nothing of it is used outside this test."""

from __future__ import annotations

import pytest
import torch

from kernels.models import kan

pykan_layer = pytest.importorskip("kan.KANLayer")


def pair(in_dim: int = 3, out_dim: int = 2, grid: int = 5, order: int = 3) -> tuple[torch.nn.Module,
                                                                                    kan.BSplineKANLayer]:
    """A pykan layer (random weights, as pykan initialises them) and kbench's with the same weights."""
    torch.manual_seed(0)
    theirs = pykan_layer.KANLayer(in_dim=in_dim, out_dim=out_dim, num=grid, k=order, grid_range=[-2, 2]).double()
    with torch.no_grad():  # make every weight matter: pykan starts its splines near zero
        theirs.coef.normal_()
        theirs.scale_sp.uniform_(0.5, 1.5)
    ours = kan.BSplineKANLayer(in_dim, out_dim, grid, order, grid_range=(-2.0, 2.0)).double()
    with torch.no_grad():
        ours.knots.copy_(theirs.grid)
        ours.spline_weight.copy_(theirs.coef.permute(1, 0, 2))
        assert ours.spline_scale is not None
        ours.spline_scale.copy_(theirs.scale_sp.T)
        ours.base_weight.copy_(theirs.scale_base.T)
        ours.bias.zero_()  # pykan's node bias lives outside its layer
    return theirs, ours


def inputs(n: int = 257, in_dim: int = 3) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    return torch.randn(n, in_dim, generator=gen, dtype=torch.float64) * torch.linspace(0.4, 1.6, in_dim,
                                                                                       dtype=torch.float64)


def test_the_uniform_grid_and_the_outputs_equal_pykans() -> None:
    theirs, ours = pair()
    x = inputs()
    torch.testing.assert_close(ours.knots, theirs.grid.data.to(ours.knots.dtype), rtol=0, atol=1e-6)
    fresh = kan.BSplineKANLayer(3, 2, 5, 3, grid_range=(-2.0, 2.0)).double()
    torch.testing.assert_close(fresh.knots, theirs.grid.data, rtol=0, atol=1e-6)  # the same extended knots
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x)[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("order", [1, 2, 3])
def test_a_grid_update_moves_the_knots_as_pykan_does_and_keeps_the_same_function(order: int) -> None:
    theirs, ours = pair(order=order)
    x = inputs()
    theirs.update_grid_from_samples(x)
    ours.update_grid(x)
    torch.testing.assert_close(ours.knots, theirs.grid.data, rtol=0, atol=1e-10)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x)[0], rtol=1e-8, atol=1e-8)
