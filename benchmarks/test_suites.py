"""A suite's kernel timings as pytest-benchmark tests (see kbench/pytest_bench.py).

    KBENCH_SUITE=suites/grkan-kernels.toml pytest benchmarks --benchmark-autosave
    KBENCH_SUITE=suites/grkan-kernels.toml pytest benchmarks --benchmark-compare --benchmark-compare-fail=median:5%

Only an implementation that cannot run here (no CUDA, no nvcc) skips; any other failure (out of
memory, a CUDA error, a wrong answer) fails its test.
"""

from __future__ import annotations

import os

import pytest

from kbench import devices

ON = devices.pick(os.environ.get("KBENCH_DEVICE", "auto"))
devices.prepare_triton(ON)  # before any kernel import

from kbench import pytest_bench  # noqa: E402

SUITE = os.environ.get("KBENCH_SUITE", "suites/grkan-kernels.toml")
CASES = pytest_bench.collect(SUITE, ON)


if not CASES:  # say why, rather than collect nothing in silence
    @pytest.mark.skip(reason=pytest_bench.why_none(SUITE, ON))
    def test_no_kernel_timing_runs_here() -> None:
        """A placeholder that is always skipped, with the reason."""

else:
    @pytest.mark.parametrize("bench", CASES, ids=[c.id for c in CASES])
    def test_kernel(benchmark, bench: pytest_bench.BenchCase) -> None:  # type: ignore[no-untyped-def]
        try:
            call, info = pytest_bench.prepare(bench, ON)
        except pytest_bench.Unavailable as exc:
            pytest.skip(str(exc))
        benchmark.extra_info.update(info)
        benchmark.pedantic(call, rounds=20, warmup_rounds=3, iterations=1)
