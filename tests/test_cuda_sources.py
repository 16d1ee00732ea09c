"""The CUDA C++ sources compile where nvcc exists (they only run on a GPU)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from kernels.rational import cuda_ext

SOURCES = Path(cuda_ext.__file__).parent / "cuda"
needs_nvcc = pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc (the CUDA compiler) is not on PATH")


@needs_nvcc
def test_kernels_compile_for_hopper(tmp_path: Path) -> None:
    out = subprocess.run(
        ["nvcc", "-c", "-O3", *cuda_ext.arch_flags((9, 0)), "-Xptxas", "-v",
         str(SOURCES / "rational_kernels.cu"), "-o", str(tmp_path / "k.o")],
        capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "k.o").stat().st_size > 0
    # The uniform-group backward must not spill registers (local memory is slow).
    kb_uniform = [line for line in out.stderr.splitlines() if "spill" in line]
    assert any("0 bytes spill stores" in line for line in kb_uniform)


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
