"""kbench's Triton kernels as the GPU compiler builds them for sm_90, checked on a machine without a GPU.

The properties v4 was written for (docs/kernel-log.md): no register spills, a backward whose row loop
is software-pipelined through shared memory (cp.async), and few enough registers for several blocks
a multiprocessor. Compiling needs Triton outside its interpreter, hence a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def triton_rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TRITON_CACHE_DIR"] = str(tmp_path_factory.mktemp("triton-cache"))  # compile, do not reuse
    out = subprocess.run([sys.executable, "-m", "kernels.rational.resources", "--only", "triton", "--json"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_every_candidate_compiles_without_spills(triton_rows: list[dict[str, Any]]) -> None:
    from kernels.rational import kbench_triton

    per_dtype = len(kbench_triton.FWD_TILES) + len(kbench_triton.BWD_TILES) + 2  # + atomic mode, reduction
    assert len(triton_rows) == 2 * per_dtype  # fp32 and bf16
    assert all(r["spill_bytes"] == 0 for r in triton_rows), [r for r in triton_rows if r["spill_bytes"]]


def test_backward_row_loop_is_pipelined(triton_rows: list[dict[str, Any]]) -> None:
    bwd = [r for r in triton_rows if r["kernel"] == "triton kbench_bwd"]
    assert bwd and all(r["async_copies"] > 0 and r["shared_bytes"] > 0 for r in bwd), bwd
    fp32 = [r for r in bwd if r["dtype"] == "float32"]
    assert all(r["vector_loads"] > 0 for r in fp32), fp32  # 16-byte copies of x and dy


def test_registers_leave_room_for_several_blocks(triton_rows: list[dict[str, Any]]) -> None:
    """v3 needed 221 to 255 registers in every backward candidate; v4's scalar coefficients cut that."""
    for dtype in ("float32", "bfloat16"):
        bwd = [r["registers"] for r in triton_rows if r["kernel"] == "triton kbench_bwd" and r["dtype"] == dtype]
        fwd = [r["registers"] for r in triton_rows if r["kernel"] == "triton kbench_fwd" and r["dtype"] == dtype]
        assert min(bwd) <= 128 and max(bwd) <= 192, (dtype, bwd)  # 96 to 105 with Triton 3.6 to 3.8
        assert max(fwd) <= 64, (dtype, fwd)


def test_loop_length_is_the_longest_backward_branch_span() -> None:
    from kernels.rational.resources import loop_lengths

    sass = """
        Function : k1
        /*0000*/                   MOV R1, c[0x0][0x28] ;
        /*0010*/                   FFMA R2, R2, R3, R4 ;
        /*0020*/                   FFMA R2, R2, R3, R4 ;
        /*0030*/              @!P0 BRA 0x10 ;
        /*0040*/               @P1 BRA 0x30 ;
        /*0050*/                   BRA 0x50;
        Function : k2
        /*0000*/                   EXIT ;
        /*0010*/                   BRA 0x10;
    """
    assert loop_lengths(sass) == {"k1": 3, "k2": -1}  # 0x10..0x30; the self-branch is the end trap


def test_backward_per_element_work_is_read(triton_rows: list[dict[str, Any]]) -> None:
    """Each backward candidate's row loop is found and spread over its elements (about 60 instructions)."""
    per_element = [r["instructions_per_element"] for r in triton_rows if r["kernel"] == "triton kbench_bwd"]
    assert all(p is not None and 30 < p < 100 for p in per_element), per_element
