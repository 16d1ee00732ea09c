"""The state a result was taken in: device, clocks, library versions, git commit.

Each provider may fail on its own into None; a missing nvidia-smi never stops a run.
`device_identity` says what must match for two runs' timings to be compared (gate, merge); the
rest is kept for debugging.
"""

from __future__ import annotations

import os
import platform
import re
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from kbench import cotenancy
from kbench.errors import KbenchError

REPO = Path(__file__).resolve().parent.parent


def _run(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20, cwd=REPO)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off", "")


def flag(name: str) -> bool | None:
    """An on/off environment variable: None when unset; KbenchError for anything but the usual
    spellings (so that "false" never means "true")."""
    raw = os.environ.get(name)
    if raw is None:
        return None
    value = raw.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise KbenchError(f"environment variable {name}={raw!r}: expected one of {', '.join(TRUE)} (on) "
                      f"or {', '.join(v for v in FALSE if v)} (off)")


def _git() -> dict[str, Any]:
    """Commit and dirty flag from git; where the tree is a copy without .git (a lent GPU host),
    from KBENCH_GIT_COMMIT and KBENCH_GIT_DIRTY set by whoever copied it (self-reported: the
    source digest in the result's provenance is what anyone can check)."""
    commit = _run(["git", "rev-parse", "HEAD"])
    status = _run(["git", "status", "--porcelain", "--untracked-files=no"])
    if commit is None and os.environ.get("KBENCH_GIT_COMMIT"):
        given = os.environ["KBENCH_GIT_COMMIT"].strip()
        if not re.fullmatch(r"[0-9a-f]{7,40}", given):
            raise KbenchError(f"environment variable KBENCH_GIT_COMMIT={given!r}: expected a commit id "
                              "(7 to 40 lower-case hex digits)")
        return {"git_commit": given, "git_dirty": flag("KBENCH_GIT_DIRTY"), "git_source": "environment"}
    return {"git_commit": commit, "git_dirty": None if status is None or commit is None else bool(status)}


def _versions() -> dict[str, Any]:
    try:
        import triton

        triton_version: str | None = triton.__version__
    except ImportError:
        triton_version = None
    try:
        import timm

        timm_version: str | None = timm.__version__
    except ImportError:
        timm_version = None
    return {"torch": torch.__version__, "triton": triton_version, "timm": timm_version,
            "cuda": torch.version.cuda, "python": platform.python_version()}


def sm_clock_mhz(device: torch.device) -> int | None:
    """The current SM clock, read through nvidia-smi; None where it cannot be read."""
    if device.type != "cuda":
        return None
    index = device.index if device.index is not None else torch.cuda.current_device()
    out = _run(["nvidia-smi", "-i", str(index), "--query-gpu=clocks.sm", "--format=csv,noheader,nounits"])
    try:
        return int(out.splitlines()[0]) if out else None
    except ValueError:
        return None


def throttled(clock_mhz: int | None, max_mhz: object) -> bool | None:
    """True when the SM clock read after a measurement is under 75% of the maximum."""
    try:
        return None if clock_mhz is None else clock_mhz < 0.75 * float(str(max_mhz))
    except ValueError:
        return None


def cpu_model() -> str:
    """The processor's marketing name (Linux /proc/cpuinfo), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: torch.device) -> str:
    """What a result's env.gpu will say for `device`: the GPU's name, or 'cpu'."""
    if device.type != "cuda":
        return "cpu"
    return str(torch.cuda.get_device_properties(device.index if device.index is not None
                                                else torch.cuda.current_device()).name)


def _gpu(device: torch.device) -> dict[str, Any]:
    if device.type != "cuda":
        return {"gpu": "cpu", "driver": None, "sm_count": None, "cpu": cpu_model(), "cpu_count": os.cpu_count()}
    index = device.index if device.index is not None else torch.cuda.current_device()
    props = torch.cuda.get_device_properties(index)
    smi = _run(["nvidia-smi", "-i", str(index), "--query-gpu=driver_version,clocks.max.sm",
                "--format=csv,noheader,nounits"])
    driver, max_clock = (smi.split(", ") + [None])[:2] if smi else (None, None)
    return {"gpu": props.name, "driver": driver, "sm_count": props.multi_processor_count,
            "sm_clock_max_mhz": max_clock, "gpu_memory_gib": round(props.total_memory / 2**30, 1),
            "cpu": cpu_model()}


def collect(device: torch.device) -> dict[str, Any]:
    """Everything a result file records about where it was taken."""
    info: dict[str, Any] = {"device_type": device.type}
    info.update(_gpu(device))
    info.update(_versions())
    info.update(_git())
    info["host"] = socket.gethostname()
    info["platform"] = platform.platform()
    info["argv"] = sys.argv[1:]
    info["sm_clock_mhz_start"] = sm_clock_mhz(device)
    info["cuda_visible_devices"] = os.environ.get("CUDA_VISIBLE_DEVICES")  # which GPU a pool or scheduler gave
    info.update(cotenancy.describe(device))
    return info


BARE_ARCHES = ("", "x86_64", "amd64", "aarch64", "arm64", "i386", "i686", "ppc64le", "s390x")


def device_identity(env: Mapping[str, Any]) -> str | None:
    """What must match for two runs' timings to be compared: the GPU model, or on the CPU the
    processor model and the number of cores. None when the file does not say (older CPU results
    record only an architecture such as "x86_64"): unknown never equals unknown."""
    gpu = str(env.get("gpu") or "cpu")
    if gpu != "cpu":
        return gpu
    cpu, cores = str(env.get("cpu") or ""), env.get("cpu_count")
    if cpu.lower() in BARE_ARCHES or not cores:
        return None
    return f"cpu ({cpu}, {cores} cores)"


def device_slug(env: dict[str, Any]) -> str:
    """A file-name-safe device key, e.g. 'nvidia-h100-80gb-hbm3' or 'cpu'."""
    name = str(env.get("gpu") or "cpu").lower()
    return "".join(c if c.isalnum() else "-" for c in name).strip("-")
