"""Kernels that know how kbench times them, run for real on the CPU (no fake timer): each ends in
an `error` naming what it did, through a speedup and a bandwidth-fraction claim; an honest kernel
keeps its speed with every defence on."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from kbench import results, runner, suite
from tests.test_kinds import HEAD, kernel_claim


def run(tmp_path: Path, body: str) -> runner.Result:
    path = tmp_path / "toy.toml"
    path.write_text(HEAD + body)
    result = runner.run(suite.load(path), runner.RunOptions(device=torch.device("cpu"), quick=True))
    results.load(results.write(result, tmp_path / "results"))
    return result


def speedup(impl: str) -> str:
    return kernel_claim("speedup", f'baseline = {{ impl = "good", pass = "fwd" }}\n'
                                   f'candidate = {{ impl = "{impl}", pass = "fwd" }}', "{ at_least = 1.0 }")


def fraction(impl: str) -> str:
    return kernel_claim("bandwidth-fraction", f'subject = {{ impl = "{impl}", pass = "fwd" }}', "{ at_least = 0.0 }")


@pytest.fixture
def real_clock() -> Iterator[None]:
    yield
    real = getattr(time, "_real_perf_counter", None)
    if real is not None:
        time.perf_counter = real
        del time._real_perf_counter  # type: ignore[attr-defined]


@pytest.mark.parametrize(("impl", "why"), [
    ("clamps_input", "edge of range"),
    ("defers_output", "not a plain dense torch.Tensor"),
    ("knows_the_schedule", "drawn after the round"),
    ("stops_the_clock", "the clock was replaced"),
])
@pytest.mark.parametrize("claim", [speedup, fraction])
def test_a_kernel_that_knows_the_harness_gets_an_error(tmp_path: Path, real_clock: None, impl: str, why: str,
                                                       claim: object) -> None:
    (v,) = run(tmp_path, claim(impl)).verdicts  # type: ignore[operator]
    assert v.verdict == "error" and why in (v.reason or ""), v.reason


def test_an_honest_kernel_keeps_its_speed_with_every_defence_on(tmp_path: Path) -> None:
    result = run(tmp_path, speedup("good") + fraction("good").replace('id = "c"', 'id = "f"'))
    assert {v.verdict for v in result.verdicts} <= {"reproduced", "inconclusive", "not-reproduced"}
    timed = [m for m in result.measurements if m.metric == "time_ms"]
    assert timed and all(m.extra["calls_checked"] >= 2 * min(8, m.extra["calls_timed"] // 2) for m in timed)
