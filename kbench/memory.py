"""Peak memory of one call, read from the device allocator's statistics.

A call's peak is what the allocator held at its highest during the call beyond what it held
before (the inputs, already allocated, are not the call's): its workspace, intermediates and
outputs. Only CUDA's caching allocator keeps these statistics; on the CPU there is no allocator
to ask, so memory claims are skipped there (`allocator_for` gives None).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch


class Allocator(Protocol):
    def reset_peak(self) -> None: ...

    def allocated(self) -> int: ...

    def peak(self) -> int: ...


@dataclass(frozen=True)
class CudaAllocator:
    device: torch.device

    def reset_peak(self) -> None:
        torch.cuda.synchronize(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)

    def allocated(self) -> int:
        return int(torch.cuda.memory_allocated(self.device))

    def peak(self) -> int:
        torch.cuda.synchronize(self.device)
        return int(torch.cuda.max_memory_allocated(self.device))


def allocator_for(device: torch.device) -> Allocator | None:
    return CudaAllocator(device) if device.type == "cuda" else None


def peak_bytes(call: Callable[[], object], allocator: Allocator) -> int:
    """Bytes the call held at its peak beyond what was held before it (its outputs included)."""
    allocator.reset_peak()
    before = allocator.allocated()
    result = call()  # kept until the peak is read: the outputs are the call's too
    peak = allocator.peak() - before
    del result
    return max(peak, 0)
