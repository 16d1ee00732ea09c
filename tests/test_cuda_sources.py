"""The CUDA C++ sources compile where nvcc exists (they only run on a GPU)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kernels.rational import cuda_ext, resources

SOURCES = Path(cuda_ext.__file__).parent / "cuda"
needs_nvcc = pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc (the CUDA compiler) is not on PATH")


@needs_nvcc
def test_kernels_compile_for_hopper_without_spills() -> None:
    rows = list(resources.cuda_rows())  # nvcc -c for sm_90; raises if it does not compile
    # The uniform-group kernels of every dtype: no spills (local memory is slow), and the backward
    # within 80 registers, so that three 256-thread blocks share a multiprocessor.
    uniform = [r for r in rows if r.config == "uniform"]
    assert len(uniform) == 6, rows  # fwd and bwd for fp32, fp16, bf16
    assert all(r.spill_bytes == 0 for r in uniform), uniform
    assert all(r.registers <= 80 for r in uniform if r.kernel == "cuda kbench_bwd"), uniform
    assert {r.kernel for r in rows} >= {"cuda kbench_reduce", "cuda kat2024_fwd", "cuda kat2024_bwd"}


@needs_nvcc
def test_extension_builds_with_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The full torch extension (binding + kernels) links; it cannot be loaded without a GPU driver."""
    home = cuda_ext.cuda_home()
    if home is None:
        pytest.skip("CUDA headers (cuda_runtime_api.h) not found")
    from torch.utils import cpp_extension

    monkeypatch.setattr(cpp_extension, "CUDA_HOME", home)
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    try:
        cpp_extension.load(name="kbench_build_check", sources=[str(SOURCES / "binding.cpp"),
                           str(SOURCES / "rational_kernels.cu")], extra_cuda_cflags=cuda_ext.arch_flags((9, 0)),
                           build_directory=str(tmp_path), verbose=False)
    except ImportError:
        pass  # built, but this machine has no libcuda to load it with
    assert (tmp_path / "kbench_build_check.so").exists()


def test_arch_flags_target_the_device() -> None:
    assert cuda_ext.arch_flags((9, 0)) == ["-gencode=arch=compute_90,code=sm_90"]
