"""Peak memory: exact against an allocator whose allocations are known, and the memory-ratio kind
(checked first, exact, in the right direction) through a scripted allocator."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from kbench import memory, registry, runner, suite
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


def test_a_side_of_another_operation_is_measured_as_that_operation(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The candidate computes toy_square (its own operation): checked and run as toy_square, and its
    measurement says so, in full (case, subject, direction, per-case details)."""
    from tests.fixtures import toy_mixers  # noqa: F401  (registers toy_square)

    monkeypatch.setattr(memory, "allocator_for", lambda device: Scripted({"good": 4096, "other": 1024}))
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "mem.toml"
    path.write_text(HEAD.replace('impl = "CAND", pass = "fwd"', 'operation = "toy_square", impl = "up_to_64", '
                                                                 'pass = "fwd"'))
    result = runner.run(suite.load(path), runner.RunOptions(device=torch.device("cpu"), quick=True))
    (v,) = result.verdicts
    assert v.verdict == "reproduced" and v.measured == pytest.approx(4.0)
    assert v.per_case[0]["details"] == {"baseline_bytes": 4096.0, "candidate_bytes": 1024.0}
    cand = next(m for m in result.measurements if m.role == "candidate")
    assert cand.subject == {"impl": "up_to_64", "pass": "fwd", "operation": "toy_square"}
    assert cand.case == {"shape": [32, 8], "dtype": "float32"} and cand.better == "lower"
    assert cand.metric == "peak_bytes" and cand.summary == {"median": 1024.0}


class Counting(Ledger):
    """Peaks that tell whether the implementation ran inside the measured call."""

    def __init__(self) -> None:
        super().__init__()
        self.at_reset = 0

    def reset_peak(self) -> None:
        super().reset_peak()
        self.at_reset = CALLS["n"]

    def peak(self) -> int:
        return self.held + (1 if CALLS["n"] == self.at_reset else 1000)


CALLS = {"n": 0}


def test_a_backward_memory_claim_measures_the_backward_call_only(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Its forward runs before the measured call (as the timing kinds do): the implementation is
    not called inside it, so the peak is the backward's."""
    from tests.fixtures import toy_scale

    def counted(x: torch.Tensor) -> torch.Tensor:
        CALLS["n"] += 1
        return toy_scale.good(x)

    monkeypatch.setattr(memory, "allocator_for", lambda device: Counting())
    impl = registry.implementation("toy_scale", "good")
    monkeypatch.setitem(registry._REGISTRY.implementations, ("toy_scale", "good"),
                        dataclasses.replace(impl, fn=counted))
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "mem.toml"
    path.write_text(HEAD.replace('impl = "CAND", pass = "fwd"', 'impl = "good", pass = "bwd"'))
    result = runner.run(suite.load(path), runner.RunOptions(device=torch.device("cpu"), quick=True))
    peaks = {m.role: m.extra["per_call"] for m in result.measurements}
    assert peaks == {"baseline": [1000] * 3, "candidate": [1] * 3}


def test_no_ratio_when_either_side_allocated_nothing() -> None:
    def peak(role: str, value: float) -> dict:
        return {"claim": "m", "role": role, "metric": "peak_bytes", "case": {"shape": [4]}, "subject": {"impl": role},
                "status": "ok", "samples": [value], "noise": "exact", "extra": {}}

    v = judge(Claim("m", "memory-ratio", Rule(at_least=2.0)), [peak("baseline", 0.0), peak("candidate", 40.0)], {})
    assert v.verdict == "inconclusive" and "baseline 0 B, candidate 40 B" in (v.reason or "")


def test_a_single_byte_is_an_allocation() -> None:
    """The bound is 'nothing' (0 bytes), not 1: a call that held one byte gives a ratio."""
    def peak(role: str, value: float) -> dict:
        return {"claim": "m", "role": role, "metric": "peak_bytes", "case": {"shape": [4]}, "subject": {"impl": role},
                "status": "ok", "samples": [value], "noise": "exact", "extra": {}}

    for b, c in ((1.0, 2.0), (2.0, 1.0)):
        v = judge(Claim("m", "memory-ratio", Rule(at_least=0.1)), [peak("baseline", b), peak("candidate", c)], {})
        assert v.measured == pytest.approx(b / c) and v.verdict == "reproduced"
