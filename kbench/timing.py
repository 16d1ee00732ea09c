"""Timers: one round of repetitions of a workload, every sample kept, in milliseconds.

A workload is what a claim times: `prepare(i)` (untimed: load the inputs of call i into the
buffers the call reads, run a forward whose backward is timed) and `__call__()` (the timed work,
returning its outputs). Every call gets values it has not seen (kbench.workloads), so a kernel
that reuses earlier results returns wrong ones; for the last few timed calls the round keeps the
outputs and a copy of the inputs (`given()`), for the caller to check against float64.

Methods (one per claim, named in every measurement):
- "perf-counter": the CPU, time.perf_counter around each call.
- "cuda-synced": a GPU call timed from launch until the whole device is idle (a device-wide
  synchronize, so work sent to another stream is counted), minus the synchronize's own cost
  measured the same way on an empty call. For eager kernel calls.
- "cuda-graph": one call captured in a CUDA graph, replays timed with CUDA events (device time
  without Python's launch overhead; capture fails for work on an unjoined stream).
- "cuda-events": CUDA events around each call, calls queued back to back as a training loop runs
  them (model train steps); a probe after the round says whether the host or the device set the pace.
L2 is flushed (a buffer of twice its size zeroed) before every kernel repetition, outside the timer.

What an implementation under test cannot do to these timers (kbench runs it in-process):
- hand back work to be done later: every output must be a plain dense torch.Tensor when the call
  returns, checked before the timer stops (a tensor subclass computing on first read is refused);
- be right only on the calls that are checked: every timed call's outputs are sketched outside the
  timer (SKETCHES random projections, each drawn after the call from the operating system's
  randomness), and after the round the caller checks a random subset of the calls, drawn then,
  against float64 (`Round.sketches`, `project`);
- stop or slow the clock: the CPU timers use perf_counter and monotonic_ns bound when kbench is
  imported and check one against the other and against the time module's own (`Tampered`).
What remains possible in-process: rewriting kbench's own functions (only a separate process
would stop that), and work that is not an output (side effects) is not checked.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

Outputs = Mapping[str, torch.Tensor]

# Bound at import: an implementation that replaces time.perf_counter later does not reach these.
_perf_counter = time.perf_counter
_monotonic_ns = time.monotonic_ns
_BOUND = (time.perf_counter, time.monotonic_ns)
SKETCHES = 2  # random projections of each timed call's outputs
SKETCH_CHUNK = 1 << 22  # elements projected at a time (bounded memory on large outputs)


class Tampered(RuntimeError):
    """A timed call's output or the clock was not what a timing can trust; the message says which."""


class Workload(Protocol):
    slots: int  # how many of the last timed calls are kept for checking

    def prepare(self, i: int) -> None: ...

    def given(self) -> Any: ...

    def __call__(self) -> Outputs: ...


@dataclass(frozen=True)
class TimingConfig:
    """How long to warm up and how many repetitions a round takes, and how many rounds."""

    warmup_ms: float = 100.0  # after the first (compiling) call
    budget_ms: float = 400.0  # time to spend on timed repetitions, per round
    min_reps: int = 10
    max_reps: int = 500
    flush_l2: bool = True
    rounds: int = 5  # independent rounds (fresh allocation, warm-up, inputs)

    def reps_for(self, estimate_ms: float) -> tuple[int, int]:
        """(warm-up calls, timed calls) for a call that takes about `estimate_ms`."""
        est = max(estimate_ms, 1e-3)
        warm = int(min(max(self.warmup_ms / est, 1), self.max_reps))
        reps = int(min(max(self.budget_ms / est, self.min_reps), self.max_reps))
        return warm, reps


@dataclass
class Round:
    """One round's samples (ms), the inputs and outputs of its last timed calls, a sketch of every
    timed call's outputs (call i of the round had prepare(start + i)), and facts about how it was
    taken."""

    samples: np.ndarray
    kept: list[tuple[Any, dict[str, torch.Tensor]]] = field(default_factory=list)  # (inputs given, outputs)
    extra: dict[str, Any] = field(default_factory=dict)
    start: int = 0
    sketches: list[tuple[int, dict[str, list[float]]]] = field(default_factory=list)  # (seed, output -> projections)


def _modes_active() -> bool:
    """A torch function or dispatch mode is pushed: every later torch call (the sketch's, the
    check's) would run through code the implementation chose, e.g. one that fills its outputs then."""
    return bool(torch._C._len_torch_function_stack() or torch._C._len_torch_dispatch_stack())


def materialise(out: Outputs) -> None:
    """Inside the timed region: each output a plain dense tensor, computed by now (not a subclass
    that would compute on first read, outside the timer), and no torch mode left pushed that could
    compute it later."""
    if _modes_active():
        raise Tampered("a torch function or dispatch mode is active while timing: outputs could be computed "
                       "when first read, after the timer stopped")
    for name, t in out.items():
        if type(t) is not torch.Tensor or t.layout != torch.strided:
            raise Tampered(f"output {name!r} is a {type(t).__name__} with layout {getattr(t, 'layout', None)}, not a "
                           "plain dense torch.Tensor: a result computed later (on first read) is not a timed result")


def project(t: torch.Tensor, seed: int) -> list[float]:
    """SKETCHES projections of `t` on standard normal vectors drawn from `seed` (float64), in
    chunks: the same seed gives the same vectors, for the reference's sketch."""
    gen = torch.Generator(device=t.device).manual_seed(seed)
    flat = t.detach().reshape(-1)
    total = torch.zeros(SKETCHES, dtype=torch.float64, device=t.device)
    for lo in range(0, flat.numel(), SKETCH_CHUNK):
        part = flat[lo:lo + SKETCH_CHUNK].double()
        r = torch.randn((SKETCHES, part.numel()), generator=gen, device=t.device, dtype=torch.float64)
        total += r @ part
    return [float(v) for v in total]


def _sketch(out: Outputs) -> tuple[int, dict[str, list[float]]]:
    seed = secrets.randbits(62)  # drawn after the call: the implementation could not know it
    return seed, {name: project(t, seed) for name, t in sorted(out.items())}


def untouched() -> str | None:
    """Which of this module's timing functions were replaced since import, or None (a kernel that
    rewrites them is caught here unless it rewrites this too: only a separate process stops that)."""
    changed = [name for name, f in _ORIGINAL.items() if globals().get(name) is not f]
    return f"kbench's timing functions were replaced while timing ({', '.join(changed)})" if changed else None


def _clock_problem(perf_ms: np.ndarray, mono_ms: np.ndarray) -> str | None:
    """Why the round's clock cannot be trusted, or None. Each call was timed by both bound clocks,
    monotonic_ns outside perf_counter: the inner may be shorter by call overhead, never by more."""
    now = (time.perf_counter, time.monotonic_ns, _perf_counter, _monotonic_ns)
    if any(f is not bound for f, bound in zip(now, _BOUND * 2, strict=True)):
        return "the clock was replaced while timing (time.perf_counter or monotonic_ns is not the one kbench bound)"
    # A call the host preempted between the two clocks' reads shows a gap too, so the rule is that
    # most calls agree (within 10% and 2 us), not their sum: a clock that stops or slows does so on
    # most of its calls, a busy host preempts a few.
    short = perf_ms < 0.9 * mono_ms - 0.002
    if np.any(perf_ms < 0) or 2 * int(short.sum()) > perf_ms.size:
        return (f"{int(short.sum())} of {perf_ms.size} timed calls took less by perf_counter than by monotonic_ns "
                f"({float(perf_ms.sum()):.4g} against {float(mono_ms.sum()):.4g} ms in all): the clock was stopped or "
                "slowed while timing")
    return None


_flush_buffers: dict[int, torch.Tensor] = {}


def _event() -> torch.cuda.Event:
    return torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]


def _l2_flush_buffer(device: torch.device) -> torch.Tensor:
    index = device.index if device.index is not None else torch.cuda.current_device()
    if index not in _flush_buffers:
        l2 = getattr(torch.cuda.get_device_properties(index), "L2_cache_size", 0) or 64 * 2**20
        _flush_buffers[index] = torch.empty(2 * l2, dtype=torch.int8, device=device)
    return _flush_buffers[index]


def _keep(out: Outputs) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in out.items()}


def _reps(work: Workload, config: TimingConfig, clock: Callable[[], float], sync: Callable[[], None]
          ) -> tuple[int, int]:
    """First call (compilation, autotuning), then three to estimate the call's cost."""
    work.prepare(0)
    work()
    sync()
    spent = 0.0
    for i in range(1, 4):
        work.prepare(i)
        sync()
        t0 = clock()
        work()
        sync()
        spent += clock() - t0
    return config.reps_for(spent * 1e3 / 3)


def _warm_up(work: Workload, config: TimingConfig, clock: Callable[[], float], sync: Callable[[], None]
             ) -> tuple[int, int]:
    """Compile, estimate, warm up; returns the first timed call's number (numbers go on from the
    warm-up, so timed calls get values of their own) and how many timed calls to take."""
    warm, reps = _reps(work, config, clock, sync)
    start = 4 + warm
    for i in range(4, start):
        work.prepare(i)
        work()
    return start, reps


def cpu_round(work: Workload, config: TimingConfig) -> Round:
    start, reps = _warm_up(work, config, _perf_counter, lambda: None)
    samples, outer = np.empty(reps, dtype=np.float64), np.empty(reps, dtype=np.float64)
    kept, sketches = [], []
    for i in range(reps):
        work.prepare(start + i)
        given = work.given() if i >= reps - work.slots else None
        m0 = _monotonic_ns()
        t0 = _perf_counter()
        out = work()
        materialise(out)
        t1 = _perf_counter()
        outer[i] = (_monotonic_ns() - m0) / 1e6
        samples[i] = (t1 - t0) * 1e3
        sketches.append(_sketch(out))
        if given is not None:
            kept.append((given, _keep(out)))
    problem = _clock_problem(samples, outer)
    if problem:
        raise Tampered(problem)
    return Round(samples, kept, start=start, sketches=sketches)


_sync_cost_ms: dict[int, float] = {}


def sync_cost_ms(device: torch.device) -> float:
    """The median time of an empty call timed the "cuda-synced" way: what that timer adds."""
    index = device.index if device.index is not None else torch.cuda.current_device()
    if index not in _sync_cost_ms:
        costs = []
        for _ in range(50):
            torch.cuda.synchronize(device)
            t0 = time.perf_counter()
            torch.cuda.synchronize(device)
            costs.append((time.perf_counter() - t0) * 1e3)
        _sync_cost_ms[index] = float(np.median(costs))
    return _sync_cost_ms[index]


def _syncer(device: torch.device) -> Callable[[], None]:
    def sync() -> None:
        torch.cuda.synchronize(device)

    return sync


def cuda_synced_round(work: Workload, config: TimingConfig, device: torch.device) -> Round:
    """Each call from launch to an idle device (every stream), minus the synchronize's own cost."""
    sync = _syncer(device)
    flush = _l2_flush_buffer(device) if config.flush_l2 else None
    start, reps = _warm_up(work, config, _perf_counter, sync)
    overhead = sync_cost_ms(device)
    samples, outer = np.empty(reps, dtype=np.float64), np.empty(reps, dtype=np.float64)
    kept, sketches = [], []
    for i in range(reps):
        work.prepare(start + i)
        given = work.given() if i >= reps - work.slots else None
        if flush is not None:
            flush.zero_()
        sync()
        m0 = _monotonic_ns()
        t0 = _perf_counter()
        out = work()
        materialise(out)
        sync()
        t1 = _perf_counter()
        outer[i] = (_monotonic_ns() - m0) / 1e6
        samples[i] = (t1 - t0) * 1e3
        sketches.append(_sketch(out))
        if given is not None:
            kept.append((given, _keep(out)))
    problem = _clock_problem(samples, outer)
    if problem:
        raise Tampered(problem)
    net = np.maximum(samples - overhead, 1e-6)
    return Round(net, kept, {"sync_cost_ms": overhead}, start=start, sketches=sketches)


def cuda_graph_round(work: Workload, config: TimingConfig, device: torch.device) -> Round:
    """Replays of the workload's captured graph, each timed with events on the replay's stream.
    The workload captures itself (`capture()`), after warming up on a side stream."""
    capture = getattr(work, "capture", None)
    if capture is None:
        raise TypeError("this workload cannot be captured in a CUDA graph")
    capture()
    sync = _syncer(device)
    flush = _l2_flush_buffer(device) if config.flush_l2 else None
    start, reps = _warm_up(work, config, _perf_counter, sync)
    starts, ends = [_event() for _ in range(reps)], [_event() for _ in range(reps)]
    kept, sketches = [], []
    for i, (s, e) in enumerate(zip(starts, ends, strict=True)):
        work.prepare(start + i)
        given = work.given() if i >= reps - work.slots else None
        if flush is not None:
            flush.zero_()
        s.record()
        out = work()
        materialise(out)
        e.record()
        sketches.append(_sketch(out))  # a replay's outputs live in the graph's buffers: project them now
        if given is not None:
            kept.append((given, _keep(out)))
    sync()
    return Round(np.array([s.elapsed_time(e) for s, e in zip(starts, ends, strict=True)]), kept, start=start,
                 sketches=sketches)


def cuda_events_round(step: Callable[[], object], config: TimingConfig, device: torch.device) -> Round:
    """Train steps back to back, each between two CUDA events; then a probe of who sets the pace:
    the host's time to issue one step against the device's time to run it."""
    step()  # compilation, allocator growth
    torch.cuda.synchronize(device)
    start, end = _event(), _event()
    start.record()
    for _ in range(2):
        step()
    end.record()
    torch.cuda.synchronize(device)
    warm, reps = config.reps_for(start.elapsed_time(end) / 2)
    for _ in range(warm):
        step()
    starts, ends = [_event() for _ in range(reps)], [_event() for _ in range(reps)]
    for s, e in zip(starts, ends, strict=True):
        s.record()
        step()
        e.record()
    torch.cuda.synchronize(device)
    samples = np.array([s.elapsed_time(e) for s, e in zip(starts, ends, strict=True)])
    return Round(samples, [], {"host_fraction": host_fraction(step, device)})


def host_fraction(step: Callable[[], object], device: torch.device, probes: int = 3) -> float:
    """Median over a few steps of (host time to issue the step) / (device time of the step).
    Near or above 1, the device waited for the host: the step measures the launcher (host-bound)."""
    ratios = []
    for _ in range(probes):
        torch.cuda.synchronize(device)
        s, e = _event(), _event()
        s.record()
        t0 = time.perf_counter()
        step()
        host_ms = (time.perf_counter() - t0) * 1e3
        e.record()
        torch.cuda.synchronize(device)
        ratios.append(host_ms / max(s.elapsed_time(e), 1e-6))
    return float(np.median(ratios))


HOST_BOUND = 0.9  # host needs at least 90% of the device's time to issue a step: the GPU waits on it


def memory_peak_gbps(device: torch.device) -> float | None:
    """The device memory's theoretical GB/s from its properties, or None where unknown (a CPU).
    A copy by torch need not reach it (on an H200 it ran at 3350 GB/s, the memory being rated 4.8 TB/s), so
    it is the upper bound that a kernel's rate is checked against beside the copy."""
    if device.type != "cuda":
        return None
    props = torch.cuda.get_device_properties(device)
    return ddr_gbps(getattr(props, "memory_clock_rate", 0), getattr(props, "memory_bus_width", 0))


def ddr_gbps(clock_khz: float, bus_bits: int) -> float | None:
    """Double-data-rate memory's GB/s: two transfers per clock over the whole bus; None when unknown."""
    if clock_khz <= 0 or bus_bits <= 0:
        return None
    return 2 * clock_khz * 1e3 * bus_bits / 8 / 1e9


def copy_bandwidth_gbps(device: torch.device, nbytes: int = 1 << 30, reps: int = 20) -> np.ndarray:
    """Samples of device copy bandwidth, bytes read + written per second, in GB/s."""
    n = max(nbytes // 4, 1)
    src = torch.randn(n, device=device)
    dst = torch.empty_like(src)
    dst.copy_(src)
    samples = []
    for _ in range(reps):
        if device.type == "cuda":
            s, e = _event(), _event()
            s.record()
            dst.copy_(src)
            e.record()
            torch.cuda.synchronize(device)
            ms = s.elapsed_time(e)
        else:
            t0 = time.perf_counter()
            dst.copy_(src)
            ms = (time.perf_counter() - t0) * 1e3
        samples.append(max(ms, 1e-6))
    return 2 * n * 4 / (np.array(samples) * 1e-3) / 1e9


# What `untouched` compares with: the functions as this module defined them.
# (The rounds themselves are left out: tests put fake timers in their place.)
_ORIGINAL = {name: globals()[name] for name in ("materialise", "project", "_sketch", "_clock_problem", "_modes_active",
                                                  "_warm_up", "_reps", "_perf_counter", "_monotonic_ns")}
