"""Peak memory: exact against an allocator whose allocations are known, and the memory-ratio kind
(checked first, exact, in the right direction) through a scripted allocator."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kbench import memory, runner, suite
from kbench.claims import Claim
from kbench.judging import judge
from kbench.verdicts import Rule


class Ledger:
    """An allocator whose every allocation and free is called by hand: peaks known exactly."""

    def __init__(self, held: int = 0) -> None:
        self.held, self.high = held, held

    def alloc(self, n: int) -> None:
        self.held += n
        self.high = max(self.high, self.held)

    def free(self, n: int) -> None:
        self.held -= n

    def reset_peak(self) -> None:
        self.high = self.held

    def allocated(self) -> int:
        return self.held

    def peak(self) -> int:
        return self.high


def test_a_calls_peak_is_what_it_held_at_its_highest_beyond_its_inputs() -> None:
    ledger = Ledger(held=1000)  # the inputs, allocated before the call
    ledger.alloc(500)
    ledger.free(500)  # an earlier high that is not this call's

    def call() -> None:
        ledger.alloc(300)  # workspace
        ledger.alloc(200)  # output
        ledger.free(300)

    assert memory.peak_bytes(call, ledger) == 500
    assert memory.peak_bytes(lambda: None, ledger) == 0  # nothing allocated: nothing counted
    assert ledger.allocated() == 1200  # the output stays: it is the caller's now


def test_the_cpu_has_no_allocator_to_ask() -> None:
    assert memory.allocator_for(torch.device("cpu")) is None


class Scripted(Ledger):
    """Each call of `name` holds peaks[name] bytes at its highest: the workload's toy kernels cannot
    tell a CPU allocator what they hold, so the kind's plumbing is tested through a script."""

    def __init__(self, peaks: dict[str, int]) -> None:
        super().__init__()
        self.peaks, self.calls = peaks, 0

    def peak(self) -> int:
        name = sorted(self.peaks)[0] if len(self.peaks) == 1 else ("good" if self.calls < 3 else "other")
        self.calls += 1
        return self.held + self.peaks[name]


HEAD = """
schema_version = 2
[paper]
id = "mem"
title = "Memory"

[[claims]]
id = "m"
kind = "memory-ratio"
quote = "q"
operation = "toy_scale"
baseline = { impl = "good", pass = "fwd" }
candidate = { impl = "CAND", pass = "fwd" }
cases = [{ shape = [32, 8], dtype = "float32" }]
rule = { at_least = 2.0 }
"""


def run(tmp_path: Path, candidate: str) -> runner.Result:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "mem.toml"
    path.write_text(HEAD.replace("CAND", candidate))
    return runner.run(suite.load(path), runner.RunOptions(device=torch.device("cpu"), quick=True))


def test_a_memory_claim_on_the_cpu_is_skipped_with_the_reason(tmp_path: Path) -> None:
    (v,) = run(tmp_path, "good").verdicts
    assert v.verdict == "skipped" and v.reason == "peak memory is read from the CUDA allocator's statistics; this " \
                                                  "run is on the CPU"


def test_the_memory_ratio_is_baseline_over_candidate_after_both_are_checked(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "allocator_for", lambda device: Scripted({"good": 4096, "other": 1024}))
    result = run(tmp_path, "narrow_only")
    (v,) = result.verdicts
    assert v.verdict == "reproduced" and v.measured == pytest.approx(4.0) and v.interval == pytest.approx([4.0, 4.0])
    peaks = {m.role: m for m in result.measurements}
    assert peaks["baseline"].samples == [4096.0] and peaks["candidate"].samples == [1024.0]
    assert peaks["candidate"].extra["per_call"] == [1024] * 3 and peaks["candidate"].extra["checks_before"]
    assert peaks["candidate"].unit == "bytes" and peaks["candidate"].noise == "exact"
    wrong = run(tmp_path / "w", "off_by_last")  # checked against float64 before its memory counts
    assert wrong.verdicts[0].verdict == "error" and "wrong against float64" in (wrong.verdicts[0].reason or "")


def test_a_side_that_allocates_nothing_gives_no_ratio() -> None:
    def peak(role: str, value: float) -> dict:
        return {"claim": "m", "role": role, "metric": "peak_bytes", "case": {"shape": [4]}, "subject": {"impl": role},
                "status": "ok", "samples": [value], "noise": "exact", "extra": {}}

    v = judge(Claim("m", "memory-ratio", Rule(at_least=2.0)), [peak("baseline", 100.0), peak("candidate", 0.0)], {})
    assert v.verdict == "inconclusive" and "allocated nothing" in (v.reason or "")
    ok = judge(Claim("m", "memory-ratio", Rule(at_least=2.0)), [peak("baseline", 100.0), peak("candidate", 40.0)], {})
    assert ok.measured == pytest.approx(2.5) and ok.verdict == "reproduced"
