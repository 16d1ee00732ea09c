"""A kernel timing's own numbers (kbench.kinds._kernel_timing): the copy it is held against, the
rates it records, and when a rate is too fast to be real, with every figure checked by hand."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from kbench import runner, stats, suite, timing
from kbench.kinds import _kernel_timing
from kbench.kinds.base import Context
from tests.fakes import fake_timer
from tests.test_kinds import HEAD, kernel_claim

NBYTES = 2 * 64 * 33 * 4  # toy_scale's forward on its CPU case reads x and writes y, float32


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ms: list[float], copy: float,
         calls: list[tuple[int, int]] | None = None, peak: float | None = None) -> runner.Result:
    """One bandwidth-fraction claim whose rounds take `ms`, on a host whose copies reach `copy` GB/s
    and whose memory is rated `peak` GB/s (None: unknown, as on a CPU)."""
    fake_timer(monkeypatch, {"good": ms})
    monkeypatch.setattr(timing, "memory_peak_gbps", lambda device: peak)

    def copies(device: torch.device, nbytes: int = 0, reps: int = 20) -> np.ndarray:
        (calls if calls is not None else []).append((nbytes, reps))
        return np.array([copy / 2, copy, copy / 3])

    monkeypatch.setattr(timing, "copy_bandwidth_gbps", copies)
    path = tmp_path / "toy.toml"
    path.write_text(HEAD + kernel_claim("bandwidth-fraction", 'subject = { impl = "good", pass = "fwd" }',
                                        "{ at_least = 0.0 }", f"options = {{ rounds = {len(ms)} }}"))
    return runner.run(suite.load(path), runner.RunOptions(device=torch.device("cpu")))


def _rate(ms: float) -> float:
    return NBYTES / (ms * 1e-3) / 1e9


def test_a_timings_rates_are_its_bytes_over_its_times(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int]] = []
    result = _run(tmp_path, monkeypatch, [0.02, 0.03], copy=50.0, calls=calls)
    (m,) = [m for m in result.measurements if m.metric == "time_ms"]
    assert m.status == "ok" and m.extra["bytes"] == NBYTES
    assert m.extra["gbps"] == _rate(float(np.median(m.samples or [])))  # exactly: bytes / seconds / 1e9
    assert m.extra["slowest_round_gbps"] == _rate(0.03)
    assert m.extra["copy_ceiling_gbps"] == 50.0  # the best of the copies of the same bytes
    assert m.extra["copy_fraction"] == pytest.approx(m.extra["gbps"] / result.peaks["copy_gbps"])
    assert (NBYTES // 2, 30) in calls  # half read, half written; 30 copies


def test_a_rate_exactly_at_the_copy_is_allowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = _run(tmp_path, monkeypatch, [0.02, 0.02], copy=_rate(0.02))
    assert [m.status for m in result.measurements if m.metric == "time_ms"] == ["ok"]


def test_rounds_beyond_the_copy_beyond_their_noise_are_refused_though_one_is_slower(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nine rounds at twice the copy's rate and one just under it: the slowest round is possible,
    the rounds together are not (the log-scale interval's low end is above the copy)."""
    ms = [_rate(1.0) / 200.0] * 9 + [_rate(1.0) / 99.0]  # times that give 200 and 99 GB/s
    result = _run(tmp_path, monkeypatch, ms, copy=100.0)
    (v,) = result.verdicts
    rates = stats.Estimate.from_values([NBYTES / (t * 1e-3) / 1e9 for t in ms], "log")
    assert rates.low is not None and rates.low > 100.0
    assert v.verdict == "error" and f"{_rate(ms[-1]):.4g} GB/s in its slowest round ({rates.value:.4g} over all " \
        f"rounds), above the best copy of the same {NBYTES} bytes on this device (100 GB/s): the timing cannot be " \
        "real" in (v.reason or "")
    (rejected,) = [m for m in result.measurements if m.role == "rejected"]
    assert rejected.reason == "faster than the device can copy the bytes it must move"


def test_a_rate_above_the_copy_but_within_the_memorys_peak_is_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """torch's copy need not reach the memory's rated speed (an H200's ran at 70% of it), and a
    kernel may beat it: only a rate above both the copy and the rated peak is impossible."""
    ms = [_rate(1.0) / 150.0] * 4  # 150 GB/s: above a 100 GB/s copy, below a 160 GB/s memory
    kept = _run(tmp_path, monkeypatch, ms, copy=100.0, peak=160.0)
    (m,) = [m for m in kept.measurements if m.metric == "time_ms"]
    assert m.status == "ok" and m.extra["copy_ceiling_gbps"] == 160.0
    assert kept.peaks["memory_peak_gbps"] == 160.0
    refused = _run(tmp_path, monkeypatch, ms, copy=100.0, peak=140.0)
    (v,) = refused.verdicts
    assert v.verdict == "error" and "on this device (100 GB/s) and its memory's theoretical peak (140 GB/s)" in (
        v.reason or "")


def test_a_memorys_theoretical_peak_is_two_transfers_a_clock_over_its_bus() -> None:
    assert timing.ddr_gbps(2_619_000, 5120) == pytest.approx(3352.32)  # an H100's properties: 3.35 TB/s rated
    assert timing.ddr_gbps(1_000_000, 8) == pytest.approx(2.0)
    assert timing.ddr_gbps(0, 5120) is None and timing.ddr_gbps(2_619_000, 0) is None
    assert timing.memory_peak_gbps(torch.device("cpu")) is None


def _ctx(device: str = "cpu") -> Context:
    return Context(torch.device(device), timing.TimingConfig(), timing.TimingConfig())


@pytest.mark.parametrize(("device", "nbytes", "size"), [
    ("cpu", 1000, 500), ("cpu", 2, 4), ("cpu", 9, 4), ("cpu", 10, 5), ("cpu", 1 << 40, 1 << 28),
    ("cuda", 1 << 40, 1 << 30), ("meta", 1 << 40, 1 << 28)])
def test_the_copy_moves_half_the_bytes_within_limits_once_per_size(monkeypatch: pytest.MonkeyPatch, device: str,
                                                                   nbytes: int, size: int) -> None:
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(timing, "copy_bandwidth_gbps",
                        lambda dev, n, reps: (calls.append((n, reps)), np.array([1.0, 3.0, 2.0]))[1])
    ctx = _ctx(device)
    assert _kernel_timing.copy_ceiling(ctx, nbytes) == 3.0
    assert _kernel_timing.copy_ceiling(ctx, nbytes) == 3.0
    assert calls == [(size, 30)] and ctx.ceilings == {size: 3.0}
    assert not math.isnan(ctx.ceilings[size])
