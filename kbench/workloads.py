"""What a kernel timing runs: one implementation, one pass, one case, over rotating input sets.

The timed call reads `live` buffers; before every call `prepare(i)` copies input set i mod K of a
pool into them, scaled by a factor (1 + (i mod 61 + 1) / 256), and rolls the largest input by
i // K elements: no two calls of a timing ever see the same values, in any dtype, whatever a
kernel keys a cache on (a cache that never hits cannot shorten a timing). For a backward timing
it then runs a fresh forward, so each backward is the one backward of its forward (no graph reuse).
All of this is outside the timer. Calls return their outputs by name ("y", and the operation's
gradient names); the timer keeps, for the last calls, the outputs and a copy of the inputs they
were given (`given()`), which are checked against float64.

`capture()` turns the workload into CUDA-graph replays: the forward and backward of a "bwd"
timing are two graphs in one memory pool (the forward replayed in `prepare`, untimed), the other
passes one graph each. Input refills are copies into the captured buffers, so replays compute
on new data too.
"""

from __future__ import annotations

from typing import Any

import torch

from kbench.correctness import snapshot
from kbench.registry import Implementation, Operation, OpInputs, Pass


class KernelWorkload:
    def __init__(self, op: Operation, impl: Implementation, pass_: Pass, case: dict[str, Any], device: torch.device,
                 dtype: torch.dtype, seeds: list[int]) -> None:
        self.op, self.impl, self.pass_ = op, impl, pass_
        self.pool = [op.make_inputs(case, device, dtype, s) for s in seeds]
        self.live: OpInputs = op.make_inputs(case, device, dtype, seeds[0] ^ 0x5EED)
        self.leaves = [t for t in self.live.args if t.requires_grad]
        self.slots = len(self.pool)
        owners = self.live.owners()
        self._largest = max(range(len(owners)), key=lambda j: owners[j].numel())
        self.device = device
        self._y: torch.Tensor | None = None
        self._graphs: dict[str, torch.cuda.CUDAGraph] = {}
        self._static: dict[str, torch.Tensor] = {}

    def prepare(self, i: int) -> None:
        scale = 1.0 + (i % 61 + 1) / 256
        turn = i // self.slots  # how often set i mod K came round: a roll exact in every dtype
        with torch.no_grad():
            for j, (dst, src) in enumerate(zip(self.live.owners(), self.pool[i % self.slots].owners(), strict=True)):
                dst.copy_(torch.roll(src, turn) if j == self._largest and turn else src).mul_(scale)
        if self.pass_ == "bwd":
            if self._graphs:
                self._graphs["fwd"].replay()
            else:
                self._y = self.live.call(self.impl.fn)

    def _grads(self, y: torch.Tensor, retain: bool = False) -> dict[str, torch.Tensor]:
        grads = torch.autograd.grad(y, self.leaves, self.live.grad_output, retain_graph=retain)
        return dict(zip(self.op.grad_names, grads, strict=True))

    def _eager(self) -> dict[str, torch.Tensor]:
        if self.pass_ == "fwd":
            return {self.op.output_name: self.live.call(self.impl.fn)}
        if self.pass_ == "bwd":
            if self._y is None:
                raise RuntimeError("prepare() must run the forward before a backward is timed")
            y, self._y = self._y, None
            return self._grads(y)
        y = self.live.call(self.impl.fn)
        return {self.op.output_name: y, **self._grads(y)}

    def given(self) -> OpInputs:
        """A copy of the values the next call reads."""
        return snapshot(self.live)

    def __call__(self) -> dict[str, torch.Tensor]:
        if not self._graphs:
            return self._eager()
        self._graphs["main"].replay()
        return self._static

    def capture(self) -> None:
        """Warm up on a side stream (compilation, autotuning), then capture the call."""
        current = torch.cuda.current_stream(self.device)
        side = torch.cuda.Stream(self.device)  # type: ignore[no-untyped-call]
        side.wait_stream(current)
        with torch.cuda.stream(side):
            for i in range(3):
                self.prepare(i % self.slots)
                self._eager()
        current.wait_stream(side)
        torch.cuda.synchronize(self.device)
        self.prepare(0)
        self._y = None
        if self.pass_ == "bwd":
            fwd = torch.cuda.CUDAGraph()
            with torch.cuda.graph(fwd):
                y = self.live.call(self.impl.fn)
            main = torch.cuda.CUDAGraph()
            with torch.cuda.graph(main, pool=fwd.pool()):
                self._static = self._grads(y, retain=True)
            self._graphs = {"fwd": fwd, "main": main}
        else:
            main = torch.cuda.CUDAGraph()
            with torch.cuda.graph(main):
                self._static = self._eager()
            self._graphs = {"main": main}
