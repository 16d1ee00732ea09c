"""CUDA C++ implementations: KAT's 2024 kernel (baseline) and kbench's own (kernels in cuda/).

The extension is built with torch.utils.cpp_extension at the first call on a GPU host (about a
minute), for the device's own architecture (`sm_90` on Hopper), and cached by torch. Nothing is
built or loaded at import, so CPU-only machines import this module freely; the registry marks
both implementations as needing CUDA and nvcc.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from kbench.registry import register
from kernels.rational._autograd import make_function

SOURCES = Path(__file__).parent / "cuda"


def arch_flags(capability: tuple[int, int]) -> list[str]:
    """nvcc flags for the device's own architecture, e.g. sm_90 on an H100."""
    major, minor = capability
    return [f"-gencode=arch=compute_{major}{minor},code=sm_{major}{minor}"]


def cuda_home() -> str | None:
    """Where CUDA's headers live, for torch's builder: $CUDA_HOME, else two levels above the real
    nvcc, else /usr/local/cuda; None when no candidate holds cuda_runtime_api.h."""
    nvcc = shutil.which("nvcc")
    candidates = [os.environ.get("CUDA_HOME"), nvcc and str(Path(nvcc).resolve().parent.parent), "/usr/local/cuda"]
    for home in candidates:
        if home and (Path(home) / "include" / "cuda_runtime_api.h").exists():
            return home
    return None


@functools.lru_cache(maxsize=1)
def extension() -> ModuleType:
    from torch.utils import cpp_extension

    home = cuda_home()
    if home:  # torch guesses /usr/local when nvcc is a symlink there, and misses the headers
        os.environ["CUDA_HOME"] = home
        cpp_extension.CUDA_HOME = home
    load = cpp_extension.load
    capability = torch.cuda.get_device_capability()
    from kbench.console import say  # beside the run's progress line

    say(f"kbench_cuda: compiling or loading the CUDA extension for sm_{capability[0]}{capability[1]} "
                "(about a minute the first time, then cached by torch)")
    return load(
        name=f"kbench_rational_sm{capability[0]}{capability[1]}",
        sources=[str(SOURCES / "binding.cpp"), str(SOURCES / "rational_kernels.cu")],
        extra_cuda_cflags=["-O3", *arch_flags(capability)],
        extra_cflags=["-O3"],
        verbose=False,
    )


def _launcher(name: str) -> Callable[..., Any]:
    """The extension's function `name`, looked up at call time: the build waits for the first call."""
    return lambda *args: getattr(extension(), name)(*args)


register(
    "rational", "kat_cuda", requires=("cuda", "nvcc"),
    description="KAT's 2024 CUDA design: shared-memory atomics, then thread 0's global atomics per block",
)(make_function("kat_cuda", _launcher("kat_forward"), _launcher("kat_backward")))
register(
    "rational", "kbench_cuda", requires=("cuda", "nvcc"), dtypes=("float32", "float16", "bfloat16"),
    description="kbench CUDA: 16-byte vectors, cp.async row pipeline, register sums, per-block partials "
    "reduced in float64 (deterministic, no atomics)",
)(make_function("kbench_cuda", _launcher("kb_forward"), _launcher("kb_backward")))
