"""Every registered operation x implementation, and every model family x preset, tested because it
is registered (as timm tests every model it lists): a new operation, implementation or model family
under kernels/ is checked here the day it is added, with no test written for it by hand.

Implementations are checked on their operation's `example_case` against float64 (those that need a
GPU or nvcc are skipped, saying why); model families are built at every preset on the meta device
(no memory) and run one forward there (the shapes and the output width; the numbers are
checked where a model is timed or trained: kbench.kinds._model_building).
"""

from __future__ import annotations

import pytest
import torch

from kbench import correctness, devices, registry, suite

CPU = torch.device("cpu")
suite.load_kernels()


def _shipped(fn: object) -> bool:
    """Registered by kernels/ (tests/fixtures registers planted bugs on purpose)."""
    return str(getattr(fn, "__module__", "")).startswith("kernels")


SHIPPED_OPS = sorted(name for name, op in registry.operations().items()
                     if any(_shipped(i.fn) for i in registry.implementations(name).values()))
IMPLEMENTATIONS = [(op, impl) for op in SHIPPED_OPS for impl, i in sorted(registry.implementations(op).items())
                   if _shipped(i.fn)]
PRESETS = [(name, size) for name, family in sorted(registry.model_families().items()) for size in family.sizes]


def test_the_registry_holds_what_kernels_ships() -> None:
    assert {"rational", "sparse_ffn"} <= set(SHIPPED_OPS)
    assert len(IMPLEMENTATIONS) >= 10 and len(PRESETS) >= 10


@pytest.mark.parametrize("op", SHIPPED_OPS)
def test_every_operation_declares_an_example_case_it_accepts(op: str) -> None:
    operation = registry.operation(op)
    assert operation.example_case is not None, f"{op}: declare example_case (its smallest case) in its Operation"
    assert operation.check_case is None or operation.check_case(operation.example_case) is None
    assert operation.reference in registry.implementations(op)


@pytest.mark.parametrize(("op", "impl"), IMPLEMENTATIONS, ids=[f"{o}:{i}" for o, i in IMPLEMENTATIONS])
def test_every_implementation_matches_float64_on_its_example_case(op: str, impl: str) -> None:
    operation, implementation = registry.operation(op), registry.implementation(op, impl)
    why = devices.unmet(implementation.requires, CPU)
    if why:
        pytest.skip(f"{op}:{impl} {why}")
    assert operation.example_case is not None
    check = correctness.check(operation, implementation, dict(operation.example_case), CPU, seed=0)
    assert check.ok, check.describe()


def _forward(family: registry.ModelFamily, size: str, device: torch.device) -> tuple[torch.Tensor, int]:
    """One forward of preset `size` on a batch of 2, and how many outputs the family says it has."""
    arch = family.arch(size)
    impl = registry.operation(family.plugs).reference if family.plugs else None
    with torch.device(device):
        model = family.create(size, impl)
        x = torch.randn(2, *family.input_shape(arch))
    if family.name == "tiny-lm":  # its inputs are byte ids (the one family that is not fed images)
        x = torch.randint(0, 256, (2, *family.input_shape(arch)), device=device)
    return model(x), family.outputs(arch)


@pytest.mark.parametrize(("family", "size"), PRESETS, ids=[f"{f}:{s}" for f, s in PRESETS])
def test_every_model_preset_builds_and_runs_a_forward_on_the_meta_device(family: str, size: str) -> None:
    out, outputs = _forward(registry.model_family(family), size, torch.device("meta"))
    assert out.shape[0] == 2 and out.shape[-1] == outputs, out.shape
