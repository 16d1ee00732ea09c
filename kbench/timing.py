"""Timers: identically typed functions that return every sample, in milliseconds.

GPU: CUDA events around each call on the current stream, L2 flushed (a buffer of twice the L2
size is zeroed) before every repetition and outside the events, after a warm-up that absorbs
per-shape compilation. CPU: time.perf_counter with the same warm-up and repetition rules.
Samples are never dropped; the caller summarises them (kbench.stats).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class TimingConfig:
    """How long to warm up and how many repetitions to take, by time budget and count."""

    warmup_ms: float = 100.0  # after the first (compiling) call
    budget_ms: float = 400.0  # total time to spend on timed repetitions
    min_reps: int = 10
    max_reps: int = 500
    flush_l2: bool = True

    def reps_for(self, estimate_ms: float) -> tuple[int, int]:
        """(warm-up calls, timed calls) for a call that takes about `estimate_ms`."""
        est = max(estimate_ms, 1e-3)
        warm = int(min(max(self.warmup_ms / est, 1), self.max_reps))
        reps = int(min(max(self.budget_ms / est, self.min_reps), self.max_reps))
        return warm, reps


_flush_buffers: dict[int, torch.Tensor] = {}


def _event() -> torch.cuda.Event:
    return torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]


def _l2_flush_buffer(device: torch.device) -> torch.Tensor:
    index = device.index if device.index is not None else torch.cuda.current_device()
    if index not in _flush_buffers:
        l2 = getattr(torch.cuda.get_device_properties(index), "L2_cache_size", 0) or 64 * 2**20
        _flush_buffers[index] = torch.empty(2 * l2, dtype=torch.int8, device=device)
    return _flush_buffers[index]


def cuda_events(fn: Callable[[], object], config: TimingConfig, device: torch.device | None = None) -> np.ndarray:
    device = device or torch.device("cuda")
    flush = _l2_flush_buffer(device) if config.flush_l2 else None
    fn()  # first call: compilation, autotuning, allocator growth
    torch.cuda.synchronize(device)
    start, end = _event(), _event()
    start.record()
    for _ in range(3):
        fn()
    end.record()
    torch.cuda.synchronize(device)
    warm, reps = config.reps_for(start.elapsed_time(end) / 3)
    for _ in range(warm):
        fn()
    starts = [_event() for _ in range(reps)]
    ends = [_event() for _ in range(reps)]
    for s, e in zip(starts, ends, strict=True):
        if flush is not None:
            flush.zero_()
        s.record()
        fn()
        e.record()
    torch.cuda.synchronize(device)
    return np.array([s.elapsed_time(e) for s, e in zip(starts, ends, strict=True)], dtype=np.float64)


def cuda_graph_events(fn: Callable[[], object], config: TimingConfig, device: torch.device | None = None
                      ) -> np.ndarray:
    """Device time of `fn` without the host's launch overhead: capture one call in a CUDA graph
    and time its replays with events, L2 flushed before each outside the events.

    Small kernels behind Python launchers (Triton, autograd) are host-bound when timed one call at
    a time: the events then measure the launcher, not the kernels. Warm-up (compilation,
    autotuning) runs on a side stream before capture, as PyTorch's graph documentation asks.
    """
    device = device or torch.device("cuda")
    side = torch.cuda.Stream(device)  # type: ignore[no-untyped-call]
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(3):
            fn()
    torch.cuda.current_stream(device).wait_stream(side)
    torch.cuda.synchronize(device)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return cuda_events(graph.replay, config, device)


def cpu_perf_counter(fn: Callable[[], object], config: TimingConfig) -> np.ndarray:
    fn()
    t0 = time.perf_counter()
    fn()
    warm, reps = config.reps_for((time.perf_counter() - t0) * 1e3)
    for _ in range(warm):
        fn()
    samples = np.empty(reps, dtype=np.float64)
    for i in range(reps):
        t0 = time.perf_counter()
        fn()
        samples[i] = (time.perf_counter() - t0) * 1e3
    return samples


def time_on(device: torch.device, fn: Callable[[], object], config: TimingConfig, graph: bool = False
            ) -> tuple[np.ndarray, str]:
    """Samples in ms of `fn` on `device`, and the method used: "cuda-graph" (asked for and
    capturable), "cuda-events" or "perf-counter". A graph that cannot be captured falls back to
    events, and the method says why."""
    if device.type != "cuda":
        return cpu_perf_counter(fn, config), "perf-counter"
    if graph:
        try:
            return cuda_graph_events(fn, config, device), "cuda-graph"
        except Exception as exc:  # not capturable (host sync, unsupported op): time it eagerly
            torch.cuda.synchronize(device)
            return cuda_events(fn, config, device), f"cuda-events (graph capture failed: {type(exc).__name__})"
    return cuda_events(fn, config, device), "cuda-events"


def copy_bandwidth_gbps(device: torch.device, nbytes: int = 1 << 30, config: TimingConfig | None = None
                        ) -> np.ndarray:
    """Samples of device-to-device copy bandwidth, bytes read + written per second, in GB/s."""
    n = nbytes // 4
    src = torch.randn(n, device=device)
    dst = torch.empty_like(src)
    ms, _ = time_on(device, lambda: dst.copy_(src), config or TimingConfig(flush_l2=False, min_reps=20))
    return 2 * n * 4 / (ms * 1e-3) / 1e9
