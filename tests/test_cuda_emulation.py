"""kbench's CUDA kernels, their own source, run on the CPU and checked against float64.

rational_kernels.cu compiles with g++ when KBENCH_CPU_EMULATION is set (cpu_emulation.h: blocks in
turn, one std::thread per CUDA thread). The launchers are called through ctypes exactly as
binding.cpp calls them, including the workspace-size call, so the grid plan, the row pipeline, the
per-block partials and the float64 reduction kernel all run, with the asynchronous row copies
landing early or late. This checks what they compute, not their speed, and not how blocks race
(they never overlap here).
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from collections.abc import Callable

import pytest
import torch

from kbench import correctness, registry
from kernels.rational import cuda_ext
from kernels.rational._autograd import make_function

DTYPE_CODES = {torch.float32: 0, torch.float16: 1, torch.bfloat16: 2}
SM_COUNT = 2  # with 3 resident blocks each: grids of up to 6 blocks, so several row blocks share the rows
OP = registry.operation("rational")
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    home = cuda_ext.cuda_home()
    if shutil.which("g++") is None or home is None:
        pytest.skip("needs g++ and CUDA's headers (for the vector and half types)")
    out = tmp_path_factory.mktemp("emulation") / "kbench_emulated.so"
    build = subprocess.run(
        ["g++", "-x", "c++", "-std=c++20", "-O1", "-DKBENCH_CPU_EMULATION", f"-I{home}/include", "-shared", "-fPIC",
         "-pthread", str(cuda_ext.SOURCES / "rational_kernels.cu"), "-o", str(out)],
        capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    lib = ctypes.CDLL(str(out))
    p, i64, i32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
    lib.kbench_forward.argtypes = [i32, p, p, p, p, i64, i32, i32, i32, p]
    lib.kbench_backward.argtypes = [i32, p, p, p, p, p, p, p, p, ctypes.POINTER(i64), i64, i32, i32, i32, p]
    lib.kbench_forward.restype = lib.kbench_backward.restype = ctypes.c_char_p
    lib.kb_emulate_lazy_copies.argtypes = [ctypes.c_int]
    return lib


@pytest.fixture(params=["eager-copies", "lazy-copies"])
def library(request: pytest.FixtureRequest, built: ctypes.CDLL) -> ctypes.CDLL:
    """The build, with cp.async copies landing at once or at the last wait that allows them."""
    built.kb_emulate_lazy_copies(int(request.param == "lazy-copies"))
    return built


def _check(error: bytes | None) -> None:
    assert error is None, error.decode()


def workspace_floats(lib: ctypes.CDLL, x: torch.Tensor, dy: torch.Tensor, group_width: int) -> int:
    """What the backward launcher asks for first, as binding.cpp asks: row blocks x 10 x partial columns."""
    floats = ctypes.c_int64(0)
    _check(lib.kbench_backward(DTYPE_CODES[x.dtype], x.data_ptr(), dy.data_ptr(), None, None, None, None, None, None,
                               ctypes.byref(floats), x.shape[0], x.shape[1], group_width, SM_COUNT, None))
    return floats.value


def emulated(lib: ctypes.CDLL) -> Callable[..., torch.Tensor]:
    """kbench_cuda as an autograd function whose launchers are the emulated ones."""

    def forward(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        y = torch.empty_like(x)
        d = x.shape[1]
        _check(lib.kbench_forward(DTYPE_CODES[x.dtype], x.data_ptr(), a.data_ptr(), b.data_ptr(), y.data_ptr(),
                                  x.shape[0], d, d // a.shape[0], SM_COUNT, None))
        return y

    def backward(x: torch.Tensor, dy: torch.Tensor, a: torch.Tensor, b: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rows, d = x.shape
        code, dg = DTYPE_CODES[x.dtype], d // a.shape[0]
        floats = ctypes.c_int64(workspace_floats(lib, x, dy, dg))
        workspace = torch.full((floats.value,), float("nan"))  # NaN: a slot left unwritten would show
        dx, da, db = torch.empty_like(x), torch.full_like(a, float("nan")), torch.full_like(b, float("nan"))
        _check(lib.kbench_backward(code, x.data_ptr(), dy.data_ptr(), a.data_ptr(), b.data_ptr(), dx.data_ptr(),
                                   da.data_ptr(), db.data_ptr(), workspace.data_ptr(), ctypes.byref(floats), rows, d,
                                   dg, SM_COUNT, None))
        return dx, da, db

    return make_function("kbench_cuda_emulated", forward, backward)


# (shape, dtype): which kernel instantiation each one reaches
CASES = [
    ([37, 256], "float32"),       # group width 32: uniform, 4 fp32 channels a thread
    ([2, 9, 200], "float32"),     # 200 channels: the last block's threads partly idle
    ([5, 48], "float32"),         # group width 6: not a multiple of 4, per-channel coefficients and sums
    ([3, 11, 128], "bfloat16"),   # group width 16: uniform, 8 bf16 channels (16 bytes) a thread
    ([41, 64], "float16"),        # group width 8: uniform, 8 fp16 channels
    ([13, 96], "float16"),        # group width 12: not a multiple of 8, 4-channel 8-byte vectors
    ([1, 32], "float32"),         # one row: most row lanes get nothing
    ([3, 150, 64], "float32"),    # 450 rows over 24 row lanes: the pipeline refills its slots many times
    ([300, 64], "bfloat16"),      # the same for 16-byte bf16 vectors
    ([2400, 256], "float32"),     # 100 rows a row lane, as kbench_cuda's plan gives on an H100 at D=1536
]


def test_long_row_loops_get_more_row_blocks(built: ctypes.CDLL) -> None:
    """One wave (6 blocks here) while a thread sums at most 128 rows; more blocks beyond that."""
    def floats(rows: int) -> int:  # only x's shape and alignment are looked at
        return workspace_floats(built, torch.empty(rows, 256), torch.empty(rows, 256), 256 // 8)

    cols = 256 // 4  # fp32, uniform groups: one partial column per 4 channels
    assert floats(6 * 4 * 128) == 6 * 10 * cols
    assert floats(12000) == 24 * 10 * cols  # ceil(12000 / (4 x 128)) row blocks
    assert floats(3) == 1 * 10 * cols  # never more row lanes than rows


@pytest.mark.parametrize(("shape", "dtype"), CASES, ids=lambda v: "x".join(map(str, v)) if isinstance(v, list) else v)
def test_emulated_kernels_match_float64(library: ctypes.CDLL, shape: list[int], dtype: str) -> None:
    impl = registry.Implementation("rational", "kbench_cuda_emulated", emulated(library), dtypes=(dtype,))
    check = correctness.check(OP, impl, {"shape": shape, "dtype": dtype}, CPU, seed=sum(shape))
    assert check.ok, f"{shape} {dtype}: {check.describe()}"
    if dtype == "float32":
        assert max(check.errors.values()) < 1e-6, check.errors  # the kernels' precision target


def test_misaligned_rows_take_the_narrow_path(library: ctypes.CDLL) -> None:
    """A view starting 8 bytes into its storage cannot use 16-byte fp16 vectors; the result must not change."""
    fn = emulated(library)
    inputs = OP.make_inputs({"shape": [6, 64]}, CPU, torch.float16, seed=5)
    x, a, b = (t.detach() for t in inputs.args)
    shifted = torch.empty(x.numel() + 4, dtype=x.dtype)[4:].view(x.shape)  # 4 halves = 8 bytes in
    shifted.copy_(x)
    assert shifted.data_ptr() % 16 == 8
    assert torch.equal(fn(shifted, a, b), fn(x.clone(), a, b))

