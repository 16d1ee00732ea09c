"""Is anyone else on the GPU? NVML's view, before and after every timed case.

No scheduler (SLURM, Ray, Kubernetes) keeps a second process off a GPU it lent to kbench, and a
co-tenant does not always show in the numbers: on an H100 a second process left per-call
timings of short kernels unchanged yet doubled batched timings (notes/distributed.md 4). So
kbench asks NVML (the `nvidia-ml-py` package) which compute and graphics processes hold its
device; a timed case that had company before or after it is marked `contaminated` and given no
speed (its claim becomes `inconclusive` with the reason).

Inside a container NVML reports host process ids, so kbench's own process may be listed under
an id it cannot recognise: when its own id is not in the list, one unrecognised process is taken
to be itself, and only more than one counts as company.

`describe()` records the device as NVML sees it: UUID, name, compute mode, SM clock and its
maximum, power limit. Without NVML (no package, no driver) the GPU check is off and the result
says so.

On the CPU the host is the device: a timing taken while other processes ran is not the host's
either (a KAN/MLP step ratio read 141 on a loaded 2-core host and 7.2 on an idle one). Linux's
/proc says how much CPU time other processes took since the previous check (all busy time less
this process's own) and how many threads wait to run now (median of a few reads); a host where
others took more than half a core, or where a thread of another process is runnable, is busy,
and the timing gets no speed. `KBENCH_HOST_CHECK=off` turns the CPU check off (the test suite
does, as it runs beside other work); elsewhere than Linux it is off and the result says so.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

Checker = Callable[[], list[str]]  # -> descriptions of other processes on the device (empty: alone)
CONTAMINATED = ("contaminated: other processes used the device around this timing ({who}); a shared device's "
                "timings are not the device's, so no speed is kept")
BUSY_CORES = 0.5  # CPU time other processes may take during a CPU timing, in cores
READS = 5  # reads of the runnable-thread count per check (their median counts)


def _nvml() -> Any | None:
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver, no device: NVML is simply not there
        return None
    return pynvml


def _handle(nvml: Any, device: torch.device) -> Any:
    """NVML's handle of the CUDA device `device` (by UUID: CUDA and NVML may number GPUs differently)."""
    props = torch.cuda.get_device_properties(device)
    uuid = getattr(props, "uuid", None)
    if uuid is not None:
        return nvml.nvmlDeviceGetHandleByUUID(f"GPU-{uuid}")
    return nvml.nvmlDeviceGetHandleByIndex(device.index or 0)


def others(nvml: Any, handle: Any, own_pid: int) -> list[str]:
    """Processes on the device other than this one (see the module note on containers)."""
    procs = []
    for query in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
        try:
            procs += list(getattr(nvml, query)(handle))
        except Exception:  # a query the driver does not support: the other may still answer
            continue
    pids = sorted({pid for pid in (getattr(p, "pid", None) for p in procs) if isinstance(pid, int)})
    if own_pid in pids:
        return [f"pid {p}" for p in pids if p != own_pid]
    if len(pids) <= 1:
        return []  # at most one process, and it may be this one, seen from outside its container
    return [f"pid {p} (one of these {len(pids)} may be this process, seen from outside its container)"
            for p in pids]


class HostLoad:
    """The CPU check: other processes' CPU time since the previous check, and threads of others
    runnable now. `proc` is /proc (a fake one in tests)."""

    def __init__(self, proc: Path = Path("/proc"), sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.proc, self.sleep, self.clock = proc, sleep, clock
        self.ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.last: tuple[float, float, float] | None = None  # (wall s, host busy s, own cpu s)

    def _host_busy(self) -> float:
        return _busy_ticks(self.proc) / self.ticks

    def _own_cpu(self) -> float:
        return _own_ticks(self.proc) / self.ticks

    def _runnable_others(self) -> float:
        counts = []
        for i in range(READS):
            running = _procs_running(self.proc)
            own = sum(1 for t in (self.proc / "self" / "task").iterdir() if _state(t) == "R")
            counts.append(max(0, running - own))
            if i < READS - 1:
                self.sleep(0.02)
        return float(statistics.median(counts))

    def __call__(self) -> list[str]:
        found = []
        now = (self.clock(), self._host_busy(), self._own_cpu())
        if self.last is not None and now[0] > self.last[0]:
            others = ((now[1] - self.last[1]) - (now[2] - self.last[2])) / (now[0] - self.last[0])
            if others > BUSY_CORES:
                found.append(f"other processes took {others:.2f} cores on average over the last "
                             f"{now[0] - self.last[0]:.1f} s (/proc/stat)")
        runnable = self._runnable_others()
        if runnable >= 1:
            found.append(f"{runnable:g} thread(s) of other processes runnable (median of {READS} reads)")
        self.last = (self.clock(), self._host_busy(), self._own_cpu())
        return [f"host busy: {', '.join(found)}"] if found else []


def _busy_ticks(proc: Path) -> int:
    """Clock ticks every CPU of the host spent on anything but idling (/proc/stat's first line)."""
    fields = (proc / "stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in (fields + ["0"] * 8)[:8])
    return user + nice + system + irq + softirq + steal


def _own_ticks(proc: Path) -> int:
    """Clock ticks this process (all its threads) has run, user and system."""
    fields = (proc / "self" / "stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


def _procs_running(proc: Path) -> int:
    return next(int(line.split()[1]) for line in (proc / "stat").read_text().splitlines()
                if line.startswith("procs_running "))


def _state(task: Path) -> str | None:
    """A thread's state letter, or None for a thread that ended since its folder was listed."""
    try:
        return (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def host_checker(proc: Path = Path("/proc")) -> Checker | None:
    """The CPU check, or None where /proc cannot say (not Linux) or KBENCH_HOST_CHECK is off."""
    if os.environ.get("KBENCH_HOST_CHECK", "on").strip().lower() in ("off", "0", "false", "no"):
        return None
    if not (proc / "stat").exists() or not (proc / "self" / "task").exists():
        return None
    if not _readable(proc):  # a /proc that cannot say turns the check off instead of failing every timing
        return None
    return HostLoad(proc)


def _readable(proc: Path) -> bool:
    """Whether /proc has every field the check reads: each of its readers, tried once."""
    try:
        _busy_ticks(proc), _own_ticks(proc), _procs_running(proc)
    except (OSError, ValueError, IndexError, StopIteration):
        return False
    return True


def checker(device: torch.device, nvml: Any | None = None) -> Checker | None:
    """The co-tenant check for `device`, or None where there is nothing to check (no NVML, not Linux)."""
    if device.type == "cpu":
        return host_checker()
    if device.type != "cuda":
        return None
    nvml = nvml if nvml is not None else _nvml()
    if nvml is None:
        return None
    try:
        handle = _handle(nvml, device)
    except Exception:
        return None
    pid = os.getpid()
    return lambda: others(nvml, handle, pid)


def describe(device: torch.device, nvml: Any | None = None) -> dict[str, Any]:
    """The device as NVML sees it, or why NVML could not say."""
    if device.type != "cuda":
        return {"nvml": "not used (not a CUDA device)"}
    nvml = nvml if nvml is not None else _nvml()
    if nvml is None:
        return {"nvml": "unavailable (install nvidia-ml-py, and a driver must be present)"}
    try:
        h = _handle(nvml, device)
        out: dict[str, Any] = {"gpu_uuid": _text(nvml.nvmlDeviceGetUUID(h)), "gpu_name_nvml": _text(
            nvml.nvmlDeviceGetName(h))}
    except Exception as exc:
        return {"nvml": f"unavailable ({type(exc).__name__})"}
    for key, call in (("compute_mode", lambda: int(nvml.nvmlDeviceGetComputeMode(h))),
                      ("sm_clock_nvml_mhz", lambda: int(nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_SM))),
                      ("sm_clock_max_nvml_mhz", lambda: int(nvml.nvmlDeviceGetMaxClockInfo(h, nvml.NVML_CLOCK_SM))),
                      ("power_limit_w", lambda: nvml.nvmlDeviceGetPowerManagementLimit(h) / 1000.0)):
        try:
            out[key] = call()
        except Exception:  # a field this driver does not report: recorded as missing, not guessed
            out[key] = None
    out["nvml"] = "ok"
    return out


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def mark(measurement: Any, company: list[str]) -> None:
    """Give a timing that had company no speed: skipped, with who was there."""
    if company:
        measurement.status = "skipped"
        measurement.reason = CONTAMINATED.format(who=", ".join(sorted(set(company))))
        measurement.extra["contaminated"] = sorted(set(company))
