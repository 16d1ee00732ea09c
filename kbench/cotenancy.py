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
maximum, power limit. Without NVML (no package, no driver, a CPU run) the check is off and the
result says so.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch

Checker = Callable[[], list[str]]  # -> descriptions of other processes on the device (empty: alone)
CONTAMINATED = ("contaminated: other processes used the GPU around this timing ({who}); a shared GPU's timings "
                "are not the device's, so no speed is kept")


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


def checker(device: torch.device, nvml: Any | None = None) -> Checker | None:
    """The co-tenant check for `device`, or None where there is nothing to check (CPU, no NVML)."""
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
