"""Which implementations of which operation exist, and which models can be built.

Kernel packages under `kernels/` register themselves on import: an operation (its input factory,
byte count and tolerances), its implementations (the float64-capable reference, paper baselines,
kbench's own kernels), and model families. Names are explicit, never derived from module paths.
Nothing here touches a device: registering is cheap, calling is the runner's business.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import torch

from kbench.errors import SuiteError
from kbench.params import Param

Pass = Literal["fwd", "bwd", "fwd+bwd"]
F = TypeVar("F", bound=Callable[..., Any])

KERNEL_ROOT = "kernels"


@dataclass
class OpInputs:
    """One fresh set of inputs for an operation, on one device."""

    args: tuple[torch.Tensor, ...]  # positional arguments; those that need a gradient have requires_grad
    grad_output: torch.Tensor | None = None  # the upstream gradient fed to backward (None: forward only)
    # The tensors that own the data, when an argument is a view of another (a coefficient table
    # expanded from one row, a strided slice): refilling these refills the arguments.
    storage: tuple[torch.Tensor, ...] | None = None
    # Keyword arguments every implementation takes beside the tensors: the case's own fields that
    # shape the computation (a window, a dilation), never tensors, the same for every seed.
    options: Mapping[str, Any] = field(default_factory=dict)

    def call(self, fn: Callable[..., torch.Tensor]) -> torch.Tensor:
        """`fn` on these inputs, as every caller of an implementation calls it."""
        return fn(*self.args, **self.options)

    def owners(self) -> tuple[torch.Tensor, ...]:
        if self.storage is not None:
            return self.storage
        return (*self.args, self.grad_output) if self.grad_output is not None else self.args


@dataclass(frozen=True)
class Operation:
    """What the harness must know about an operation to check and time any implementation of it."""

    name: str
    # (case, device, dtype, seed) -> inputs; never zeros, always seeded.
    make_inputs: Callable[[Mapping[str, Any], torch.device, torch.dtype, int], OpInputs]
    # (case, pass, dtype) -> the fewest bytes that pass must move through device memory.
    bytes_moved: Callable[[Mapping[str, Any], Pass, torch.dtype], int]
    reference: str  # name of the implementation that is run in float64 as the golden output
    output_name: str  # name of the forward output, e.g. "y"
    grad_names: tuple[str, ...]  # names of the gradients of the requires_grad arguments, in order
    # How many terms each output sums per element (a coefficient gradient sums over every row and
    # channel of its group); 1 where absent. Widens that output's tolerance by sqrt(terms).
    reduction_terms: Callable[[Mapping[str, Any]], Mapping[str, int]] | None = None
    # (case, device type) -> named variants of the case every implementation is also checked on:
    # awkward row counts, other memory layouts, exact zeros.
    check_variants: Callable[[Mapping[str, Any], str], list[tuple[str, dict[str, Any]]]] | None = None
    # case -> None, or (field, what was expected, what was given) for a case this operation cannot
    # take (a width its groups do not divide, an unknown layout): refused when a suite is loaded.
    check_case: Callable[[Mapping[str, Any]], tuple[str, str, Any] | None] | None = None
    # The largest magnitude of the first argument (the data) its callers pass: every
    # implementation is also checked with that argument scaled so its largest element is this
    # (a kernel that clamps or saturates inside the range is caught). None: not declared.
    input_range: float | None = None
    # The smallest case that exercises every path of the operation (a partial tile, every group):
    # the registry-wide tests check each implementation on it against float64, so a new operation
    # or implementation is tested the day it is registered.
    example_case: Mapping[str, Any] | None = None
    # The fields a case of this operation may hold beyond those of every kernel kind (shape, dtype,
    # label, paper_value): a layout, a sparsity, a window. Typed and bounded like any suite field;
    # a suite's case with a field no operation of its claim declares is refused when it is loaded.
    # No defaults: an absent field means what make_inputs says it means.
    case_fields: Mapping[str, Param] = field(default_factory=dict)


@dataclass(frozen=True)
class Implementation:
    op: str
    name: str
    fn: Callable[..., torch.Tensor]
    requires: tuple[str, ...] = ()  # "cuda", "triton", "nvcc": unmet -> skipped with the reason
    dtypes: tuple[str, ...] = ("float32",)  # input dtypes it accepts
    description: str = ""
    # What the last call launched (an autotuner's pick of tiles, warps, stages), recorded with each
    # timing: the same code can run differently tuned on another GPU or Triton version.
    launch_config: Callable[[], dict[str, str]] | None = None
    # Why a case lies outside what it takes (a head width, a sequence length), or None: such a case
    # is skipped with that reason, never counted as the implementation failing.
    limits: Callable[[Mapping[str, Any]], str | None] | None = None


@dataclass(frozen=True)
class ModelFamily:
    """A family of models built by keyword, in the style of timm's `create_model`: named presets
    (today's sizes) and any architecture keyword on top of them (a width sweep, a depth)."""

    name: str
    # (implementation of `plugs` or None, **architecture keywords) -> an nn.Module taking `input_shape` batches
    build: Callable[..., torch.nn.Module]
    presets: Mapping[str, Mapping[str, Any]]  # size name -> architecture keywords
    arch_keys: Mapping[str, Param]  # the keywords `build` takes, typed and bounded (suite files are read through them)
    # architecture keywords -> (channels, height, width) of one input image
    input_shape: Callable[[Mapping[str, Any]], tuple[int, ...]]
    plugs: str | None = None  # the operation whose implementation the model takes, if any
    # architecture keywords -> cases of `plugs` at the model's layer widths, laid out as the model
    # passes them, checked against float64 before timing
    plug_cases: Callable[[Mapping[str, Any]], list[dict[str, Any]]] = lambda arch: []
    description: str = ""
    # (architecture keywords, a task's input shape, its outputs) -> keywords that fit the task
    for_task: Callable[[Mapping[str, Any], tuple[int, ...], int], dict[str, Any]] = \
        lambda arch, shape, outputs: dict(arch)
    # architecture keywords -> how many classes (or outputs) the model scores
    outputs: Callable[[Mapping[str, Any]], int] = lambda arch: int(arch.get("num_classes", 1000))
    # the keyword a parameter budget is matched on (a width), and the steps it takes
    width_key: str | None = None
    width_step: int = 1

    @property
    def sizes(self) -> tuple[str, ...]:
        return tuple(self.presets)

    def arch(self, size: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The architecture keywords of preset `size` with `overrides` on top."""
        return {**self.presets[size], **(overrides or {})}

    def create(self, size: str, impl: str | None = None, overrides: Mapping[str, Any] | None = None
               ) -> torch.nn.Module:
        return self.build(impl, **self.arch(size, overrides))


@dataclass
class _Registry:
    operations: dict[str, Operation] = field(default_factory=dict)
    implementations: dict[tuple[str, str], Implementation] = field(default_factory=dict)
    models: dict[str, ModelFamily] = field(default_factory=dict)


_REGISTRY = _Registry()


def register_operation(op: Operation) -> Operation:
    if op.name in _REGISTRY.operations:
        raise ValueError(f"operation {op.name!r} is registered twice")
    defaulted = [name for name, param in op.case_fields.items() if param.default is not None]
    if defaulted:
        raise ValueError(f"operation {op.name!r}: case fields {defaulted} have defaults (make_inputs gives an "
                         "absent field its meaning; a default here would be written into results)")
    _REGISTRY.operations[op.name] = op
    return op


def register(
    op: str,
    name: str,
    *,
    requires: tuple[str, ...] = (),
    dtypes: tuple[str, ...] = ("float32",),
    description: str = "",
    launch_config: Callable[[], dict[str, str]] | None = None,
    limits: Callable[[Mapping[str, Any]], str | None] | None = None,
) -> Callable[[F], F]:
    """Decorator: record `fn` as implementation `name` of `op` and return it unchanged."""

    def deco(fn: F) -> F:
        key = (op, name)
        if key in _REGISTRY.implementations:
            raise ValueError(f"implementation {name!r} of {op!r} is registered twice")
        _REGISTRY.implementations[key] = Implementation(op, name, fn, requires, dtypes, description, launch_config,
                                                        limits)
        return fn

    return deco


def register_model(family: ModelFamily) -> ModelFamily:
    if family.name in _REGISTRY.models:
        raise ValueError(f"model family {family.name!r} is registered twice")
    _REGISTRY.models[family.name] = family
    return family


def available_packages() -> list[str]:
    """Sub-packages of `kernels/` (operations and model families) that can be loaded."""
    root = importlib.import_module(KERNEL_ROOT)
    return sorted(m.name for m in pkgutil.iter_modules(root.__path__) if m.ispkg)


def load_package(name: str) -> None:
    """Import `kernels.<name>`, which registers what it holds. Idempotent."""
    importlib.import_module(f"{KERNEL_ROOT}.{name}")


def operation(name: str) -> Operation:
    return _REGISTRY.operations[name]


def operations() -> dict[str, Operation]:
    return dict(_REGISTRY.operations)


def implementation(op: str, name: str) -> Implementation:
    return _REGISTRY.implementations[(op, name)]


def implementations(op: str) -> dict[str, Implementation]:
    return {n: impl for (o, n), impl in _REGISTRY.implementations.items() if o == op}


def model_family(name: str) -> ModelFamily:
    return _REGISTRY.models[name]


def model_families() -> dict[str, ModelFamily]:
    return dict(_REGISTRY.models)


def check_impl(path: str, loc: str, op: str, name: str) -> None:
    """A suite's implementation name, checked against those registered for `op` (SuiteError naming
    the file and field otherwise)."""
    known = implementations(op)
    if name not in known:
        raise SuiteError(path, loc, f"an implementation of {op!r} ({', '.join(sorted(known))})", name)
