"""The CUDA C++ sources compile where nvcc exists (they only run on a GPU)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kernels.rational import cuda_ext

SOURCES = Path(cuda_ext.__file__).parent / "cuda"
needs_nvcc = pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc (the CUDA compiler) is not on PATH")


def ptxas_report(stderr: str) -> dict[str, tuple[int, int]]:
    """(registers, spill-store bytes) per compiled kernel, from `nvcc -Xptxas -v`'s report."""
    report: dict[str, tuple[int, int]] = {}
    name, spills = "", 0
    for line in stderr.splitlines():
        if m := re.search(r"Compiling entry function '(\w+)'", line):
            name = m.group(1)
        elif m := re.search(r"(\d+) bytes spill stores", line):
            spills = int(m.group(1))
        elif m := re.search(r"Used (\d+) registers", line):
            report[name] = (int(m.group(1)), spills)
    return report


@needs_nvcc
def test_kernels_compile_for_hopper(tmp_path: Path) -> None:
    out = subprocess.run(
        ["nvcc", "-c", "-O3", *cuda_ext.arch_flags((9, 0)), "-Xptxas", "-v",
         str(SOURCES / "rational_kernels.cu"), "-o", str(tmp_path / "k.o")],
        capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "k.o").stat().st_size > 0
    report = ptxas_report(out.stderr)
    # The uniform-group kernels (template flag Lb1) of every dtype: no spills (local memory is slow),
    # and the backward within 80 registers, so that three 256-thread blocks share a multiprocessor.
    uniform = {name: regs for name, regs in report.items() if "Lb1E" in name}
    assert len(uniform) == 6, sorted(report)  # fwd and bwd for fp32, fp16, bf16
    assert all(spills == 0 for _, spills in uniform.values()), uniform
    assert all(regs <= 80 for name, (regs, _) in uniform.items() if "bwd" in name), uniform


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
