"""Choosing the device a run uses, and what an implementation's requirements mean on it."""

from __future__ import annotations

import os
import shutil
import sys

import torch

from kbench.errors import KbenchError

DEVICE_CHOICES = ("auto", "cuda", "cpu")


def pick(requested: str = "auto") -> torch.device:
    """The best device present for "auto" (CUDA if there, else CPU), or the one asked for."""
    if requested not in DEVICE_CHOICES:
        raise KbenchError(f"--device: expected one of {', '.join(DEVICE_CHOICES)}, got {requested!r}")
    if requested == "cuda" and not torch.cuda.is_available():
        raise KbenchError("--device cuda: no CUDA device is visible to torch on this machine")
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(requested)


def prepare_triton(device: torch.device) -> None:
    """On a CPU run, Triton kernels execute in Triton's interpreter.

    Triton reads the switch when triton.language and each kernel are first imported, so this
    must run before either; an explicit TRITON_INTERPRET in the environment wins.
    """
    if device.type == "cpu" and not interpreting():
        if "triton.language" in sys.modules:
            raise KbenchError("Triton was imported before the device was chosen; set TRITON_INTERPRET=1 "
                              "in the environment to run Triton kernels on the CPU")
        os.environ["TRITON_INTERPRET"] = "1"


# How Triton (3.x, getenv_bool) reads TRITON_INTERPRET; anything else it silently reads as off.
_ON, _OFF = ("1", "true", "on", "yes", "y"), ("", "0", "false", "off", "no", "n")


def interpreting() -> bool:
    """Whether Triton runs kernels in its interpreter, read as Triton reads it."""
    value = os.environ.get("TRITON_INTERPRET", "").lower()
    if value not in _ON + _OFF:
        raise KbenchError(f"TRITON_INTERPRET={os.environ['TRITON_INTERPRET']!r}: expected 1, true, on, yes "
                          "(the interpreter) or 0, false, off, no, unset (compiled kernels)")
    return value in _ON


def emulated(requires: tuple[str, ...]) -> str | None:
    """What an implementation with `requires` runs in instead of the hardware it is written for
    (its time says nothing about its speed there), or None when it runs natively."""
    if "triton" in requires and interpreting():
        return "Triton's interpreter (TRITON_INTERPRET=1)"
    return None


def unmet(requires: tuple[str, ...], device: torch.device) -> str | None:
    """Why `requires` cannot be met on `device`, or None when it can."""
    for need in requires:
        if need == "cuda" and device.type != "cuda":
            return "needs a CUDA GPU; this run is on the CPU"
        if need == "triton":
            try:
                import triton  # noqa: F401
            except ImportError:
                return "needs the triton package, which is not installed"
            if device.type == "cpu" and not interpreting():
                return "Triton on the CPU needs TRITON_INTERPRET=1"
        if need == "nvcc" and shutil.which("nvcc") is None:
            return "needs nvcc (the CUDA compiler) on PATH to build the extension"
        if need.startswith("module:"):
            problem = _unimportable(need.removeprefix("module:"))
            if problem:
                return problem
    return None


def _unimportable(module: str) -> str | None:
    """Why the authors' package `module` cannot be used here (not installed, or failing to import)."""
    import importlib

    try:
        importlib.import_module(module)
    except ImportError as exc:
        return f"needs the Python package {module!r} ({type(exc).__name__}: {exc}); its suite's nox session " \
               "installs it (kbench's optional dependencies)"
    except Exception as exc:  # a package that breaks on import on this host is not usable either
        return f"the Python package {module!r} fails to import here ({type(exc).__name__}: {str(exc)[:200]})"
    return None
