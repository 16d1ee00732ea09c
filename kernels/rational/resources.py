"""What the GPU compiler makes of kbench's kernels, without a GPU: registers, spills, shared memory.

Registers per thread decide how many warps share a multiprocessor, spills send values to slow local
memory, and the width of the loads says whether a warp reads 16 bytes a thread or 4. All three are
fixed at compile time, so they can be read on any machine: Triton compiles for a named target
(here sm_90, Hopper) with the divisibility hints its launcher gives at run time for D and the group
width (both multiples of 16 at KAT's widths), and nvcc compiles the CUDA file with ptxas's report.

    python -m kernels.rational.resources            # a table
    python -m kernels.rational.resources --json     # one JSON object a row (tests read this)

Triton must not run in its interpreter here (TRITON_INTERPRET unset): the interpreter replaces
compiled kernels with Python ones.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HOPPER = ("cuda", 90, 32)  # GPUTarget(backend, compute capability, warp size)
TRITON_TYPES = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}


@dataclass
class Row:
    kernel: str
    config: str
    dtype: str
    registers: int
    spill_bytes: int  # stack frame: local memory a thread uses for spilled registers
    shared_bytes: int
    vector_loads: int  # 16-byte global loads in the PTX (ld.global.v4 or cp.async of 16 bytes)
    async_copies: int  # cp.async instructions: loads software-pipelined through shared memory
    loop_instructions: int  # SASS instructions in the kernel's longest loop body (-1: no loop)
    loop_elements: int  # elements one thread handles per trip through that loop (-1: not known)

    @property
    def instructions_per_element(self) -> float | None:
        """Per-element work: what bounds a kernel whose bytes are few (half precision)."""
        if self.loop_instructions < 0 or self.loop_elements <= 0:
            return None
        return self.loop_instructions / self.loop_elements


def _cuobjdump() -> str:
    import triton.backends.nvidia as nvidia

    return str(Path(nvidia.__file__).parent / "bin" / "cuobjdump")


def _cuobjdump_text(binary: bytes | Path, *flags: str) -> str:
    """cuobjdump's output for a cubin's bytes or an object file."""
    if isinstance(binary, Path):
        return subprocess.run([_cuobjdump(), *flags, str(binary)], capture_output=True, text=True, check=True).stdout
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(binary)
        f.flush()
        return _cuobjdump_text(Path(f.name), *flags)


def _cubin_usage(cubin: bytes) -> tuple[int, int, int]:
    """(registers, stack bytes, shared bytes) of the one kernel in a cubin."""
    out = _cuobjdump_text(cubin, "--dump-resource-usage")
    m = re.search(r"REG:(\d+) STACK:(\d+) SHARED:(\d+)", out)
    if m is None:
        raise RuntimeError(f"cuobjdump gave no resource line:\n{out}")
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


_BRANCH = re.compile(r"/\*([0-9a-f]{4,})\*/\s+(?:@!?U?P\w+\s+)?BRA(?:\.\w+)*\s+0x([0-9a-f]+)")


def loop_lengths(sass: str) -> dict[str, int]:
    """Per function of a SASS listing: instructions in its longest loop, the span from a backward
    branch's target to the branch (-1 when there is none; a branch to itself is the end trap)."""
    lengths: dict[str, int] = {}
    for block in re.split(r"\n\s*Function : ", sass)[1:]:
        name = block.split("\n", 1)[0].strip()
        spans = [(src - dst) // 16 + 1 for src, dst in ((int(a, 16), int(b, 16)) for a, b in _BRANCH.findall(block))
                 if dst < src]  # 16 bytes per sm_90 instruction
        lengths[name] = max(spans, default=-1)
    return lengths


def signature(fn: Any, pointers: dict[str, str]) -> dict[str, str]:
    """Triton's argument types for `fn`, read from its own parameters: constexprs, `*_ptr` pointers
    (element type from `pointers`, else fp32) and 32-bit integers for the rest."""
    return {p.name: "constexpr" if p.is_constexpr else pointers.get(p.name, "*fp32") if p.name.endswith("_ptr")
            else "i32" for p in fn.params}


def compile_triton(fn: Any, pointers: dict[str, str], constexprs: dict[str, Any], divisible: tuple[str, ...],
                   num_warps: int, num_stages: int = 3) -> tuple[int, int, int, str, int]:
    """Compile one specialisation of a Triton JIT function for Hopper, every pointer and the arguments
    in `divisible` hinted as multiples of 16 (as a launch at KAT's widths specialises them):
    (registers, stack, shared, PTX, longest loop's SASS instructions)."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    types = signature(fn, pointers)
    names = list(types)
    hinted = [n for n in names if n.endswith("_ptr") or n in divisible]
    attrs = {(names.index(n),): [["tt.divisibility", 16]] for n in hinted}
    src = ASTSource(fn=fn, signature=types, constexprs=constexprs, attrs=attrs)
    kernel = triton.compile(src, target=GPUTarget(*HOPPER), options={"num_warps": num_warps, "num_stages": num_stages})
    regs, stack, _ = _cubin_usage(kernel.asm["cubin"])
    (loop,) = loop_lengths(_cuobjdump_text(kernel.asm["cubin"], "-sass")).values()
    return regs, stack, kernel.metadata.shared, kernel.asm["ptx"], loop  # shared: static and dynamic


def _ptx_loads(ptx: str) -> tuple[int, int]:
    vector = len(re.findall(r"ld\.global[\w.]*\.v4\.(?:b32|f32|u32)", ptx))
    vector += len(re.findall(r"cp\.async\.\w+\.shared\.global[^;]*, 0x10[,;]", ptx))
    return vector, len(re.findall(r"cp\.async\.\w+\.shared\.global", ptx))


def triton_rows() -> Iterator[Row]:
    """kbench_triton's forward and backward, every autotune candidate, fp32 and bf16."""
    from kernels.rational import kbench_triton as kt

    for dtype in ("float32", "bfloat16"):
        for spec in kt.static_specs(TRITON_TYPES[dtype]):
            regs, stack, shared, ptx, loop = compile_triton(**spec.compile_args)
            vector, copies = _ptx_loads(ptx)
            yield Row(spec.kernel, spec.config, dtype, regs, stack, shared, vector, copies, loop, spec.loop_elements)


def cuda_rows() -> Iterator[Row]:
    """kbench_cuda's and KAT 2024's kernels, from ptxas's report (needs nvcc)."""
    from kernels.rational import cuda_ext

    if shutil.which("nvcc") is None:
        return
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(["nvcc", "-c", "-O3", *cuda_ext.arch_flags((9, 0)), "-Xptxas", "-v",
                              str(cuda_ext.SOURCES / "rational_kernels.cu"), "-o", f"{tmp}/k.o"],
                             capture_output=True, text=True, check=True).stderr
        loops = loop_lengths(_cuobjdump_text(Path(f"{tmp}/k.o"), "-sass"))
    name, stack = "", 0
    for line in out.splitlines():
        if m := re.search(r"Compiling entry function '(\w+)'", line):
            name = m.group(1)
        elif m := re.search(r"(\d+) bytes stack frame", line):
            stack = int(m.group(1))
        elif m := re.search(r"Used (\d+) registers.*?(?:(\d+) bytes smem)?$", line):
            kernel, config, dtype = _demangle(name)
            # a kbench thread owns 16 bytes of channels when uniform, else 4 channels, per row
            elements = (16 // (4 if dtype == "float32" else 2) if config == "uniform" else 4) \
                if kernel.startswith("cuda kbench_") and config else -1
            yield Row(kernel, config, dtype, int(m.group(1)), stack, int(m.group(2) or 0), -1, -1,
                      loops.get(name, -1), elements)


def _demangle(name: str) -> tuple[str, str, str]:
    """kbench_bwd_kernelI6__halfLb1E... -> ("cuda kbench_bwd", "uniform", "float16")."""
    base = re.search(r"(kbench_\w+?_kernel|kat2024_\w+?_kernel)", name)
    kernel = "cuda " + (base.group(1).removesuffix("_kernel") if base else name)
    dtype = "float16" if "__half" in name else "bfloat16" if "bfloat16" in name else "float32"
    config = "uniform" if "Lb1E" in name else "per-channel" if "Lb0E" in name else ""
    return kernel, config, dtype


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="one JSON object a line")
    parser.add_argument("--only", choices=["triton", "cuda"], help="one language")
    args = parser.parse_args(argv)
    if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        parser.error("unset TRITON_INTERPRET: the interpreter does not compile kernels")
    rows = [*(triton_rows() if args.only != "cuda" else []), *(cuda_rows() if args.only != "triton" else [])]
    if args.json:
        for row in rows:
            print(json.dumps({**asdict(row), "instructions_per_element": row.instructions_per_element}))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="sm_90, per thread; 16B loads and cp.async are PTX counts, loop = SASS instructions "
                        "in the longest loop (-1: none or not read)")
    headers = {"kernel": "kernel", "config": "config", "dtype": "dtype", "registers": "regs", "spill_bytes": "spill B",
               "shared_bytes": "smem B", "vector_loads": "16B loads", "async_copies": "cp.async",
               "loop_instructions": "loop", "loop_elements": "elements"}
    for header in [*headers.values(), "per element"]:
        table.add_column(header, no_wrap=header != "config")
    for row in rows:
        per_element = "-" if row.instructions_per_element is None else f"{row.instructions_per_element:.1f}"
        table.add_row(*(str(getattr(row, field)) for field in headers), per_element)
    Console(width=max(Console().width, 150)).print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
