"""A way in for pytest-benchmark users: a suite's kernel timings as pytest-benchmark tests.

`benchmarks/test_suites.py` turns every (implementation, pass, case) that a suite's `speedup` and
`bandwidth-fraction` claims time into one test. Each test checks the implementation against
float64 first, as a run does (the case and the operation's variants; a wrong one fails, untimed),
then hands the call to pytest-benchmark, whose storage and `--benchmark-compare-fail` work as
usual. Inputs rotate between calls as in kbench's own timings. pytest-benchmark times with a
host clock, so each call ends with a device synchronisation; kbench's own result files (rounds,
CUDA graphs) remain the record.

    KBENCH_SUITE=suites/grkan-kernels.toml pytest benchmarks --benchmark-autosave
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from kbench import correctness, devices, registry, suite
from kbench.kinds import KINDS
from kbench.kinds.base import case_key
from kbench.workloads import KernelWorkload


class Unavailable(Exception):
    """The implementation cannot run on this machine (the reason says why): the test skips."""


@dataclass(frozen=True)
class BenchCase:
    op: str
    impl: str
    pass_: str
    case: tuple[tuple[str, Any], ...]

    @property
    def id(self) -> str:
        shape = "x".join(map(str, dict(self.case)["shape"]))
        return f"{self.impl}-{self.pass_}-{shape}-{dict(self.case).get('dtype', 'float32')}"


def device() -> torch.device:
    return devices.pick(os.environ.get("KBENCH_DEVICE", "auto"))


def why_none(suite_path: str, on: torch.device) -> str:
    """Why `collect` found no timing: what the suite's kernel claims require that `on` lacks."""
    loaded = suite.load(suite_path)
    unmet = sorted({str(devices.unmet(c.requires, on)) for c in loaded.claims
                    if KINDS[c.kind].times_kernels and devices.unmet(c.requires, on)})
    if not unmet:
        timed = sorted(name for name, kind in KINDS.items() if kind.times_kernels)
        return f"{suite_path} has no kernel timing claims (kinds {', '.join(timed)})"
    return f"no kernel timing of {suite_path} can run on {on.type}: {'; '.join(unmet)}"


def collect(suite_path: str, on: torch.device) -> list[BenchCase]:
    """Every distinct kernel timing of the suite's kernel claims, with the cases for `on`."""
    loaded = suite.load(suite_path)
    found: dict[BenchCase, None] = {}
    for claim in loaded.claims:
        if not KINDS[claim.kind].times_kernels or devices.unmet(claim.requires, on):
            continue
        for subject in claim.subjects:
            for case in claim.cases_for(on.type):
                found[BenchCase(str(claim.operation), str(subject.impl), str(subject.pass_), case_key(case))] = None
    return list(found)


def prepare(bench: BenchCase, on: torch.device) -> tuple[Callable[[], object], dict[str, Any]]:
    """The checked, timed call for pytest-benchmark, and what to put in its extra_info."""
    op = registry.operation(bench.op)
    impl = registry.implementation(bench.op, bench.impl)
    reason = devices.unmet(impl.requires, on)
    if reason:
        raise Unavailable(f"{impl.name}: {reason}")
    case: dict[str, Any] = {k: list(v) if isinstance(v, tuple) else v for k, v in bench.case}
    dtype = correctness.DTYPES[case.get("dtype", "float32")]
    checks = correctness.check_all(op, impl, case, on, seed=1)
    if not checks[-1].ok:
        raise AssertionError(f"{impl.name}: {checks[-1].describe()}")
    work = KernelWorkload(op, impl, bench.pass_, case, on, dtype, [2, 3, 4])  # type: ignore[arg-type]
    calls = [0]

    def synced() -> None:
        work.prepare(calls[0])
        calls[0] += 1
        work()
        if on.type == "cuda":
            torch.cuda.synchronize(on)

    info = {"kbench_impl": impl.name, "kbench_pass": bench.pass_, "kbench_case": str(case),
            "kbench_bytes": op.bytes_moved(case, bench.pass_, dtype),  # type: ignore[arg-type]
            "kbench_errors": checks[0].errors}
    return synced, info
