"""The runner on the toy operation: checked before timed, skips and errors as verdicts, shards,
and an interrupted run that keeps what it measured."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kbench import kinds, runner, suite
from kbench.errors import KbenchError
from kbench.kinds.base import ClaimData, Context

HEAD = """
schema_version = 1
[paper]
id = "toy"
title = "A toy paper"
"""


def claim(cid: str, baseline: str, candidate: str, extra: str = "") -> str:
    return f"""
[[claims]]
id = "{cid}"
kind = "speedup"
quote = "q"
operation = "toy_scale"
baseline = {{ impl = "{baseline}", pass = "fwd+bwd" }}
candidate = {{ impl = "{candidate}", pass = "fwd+bwd" }}
cases = [{{ shape = [64, 33], dtype = "float32" }}]
pass = {{ at_least = 0.5 }}
{extra}
"""


def run(tmp_path: Path, text: str, **options: object) -> runner.Result:
    path = tmp_path / "toy.toml"
    path.write_text(HEAD + text)
    opts = runner.RunOptions(device=torch.device("cpu"), quick=True, measure_peaks=False, **options)  # type: ignore[arg-type]
    return runner.run(suite.load(path), opts)


def test_good_pair_is_timed_and_judged(tmp_path: Path) -> None:
    result = run(tmp_path, claim("same", "good", "good"))
    (v,) = result.verdicts
    assert v.verdict in ("reproduced", "inconclusive")  # same code both sides: ratio near 1
    assert v.interval is not None and v.interval[0] <= v.measured <= v.interval[1]
    m = result.measurements[0]
    assert m.metric == "time_ms" and m.samples and len(m.samples) >= 5
    assert m.extra["errors_before"]["dx"] < 1e-6 and m.extra["errors_after"]["y"] < 1e-6
    assert m.extra["launch"] == {"fwd": "BLOCK: 64"}  # what the implementation says it launched


@pytest.mark.parametrize("bad", ["off_by_last", "zeros_only"])
def test_wrong_implementation_is_refused_before_timing(tmp_path: Path, bad: str) -> None:
    result = run(tmp_path, claim("bad", "good", bad))
    (v,) = result.verdicts
    assert v.verdict == "error" and v.measured is None
    assert bad in (v.reason or "") and "wrong against float64" in (v.reason or "")
    assert not any(m.subject.get("impl") == bad for m in result.measurements)


def test_crash_becomes_an_error_verdict_and_the_run_goes_on(tmp_path: Path) -> None:
    result = run(tmp_path, claim("crash", "good", "crashes") + claim("after", "good", "good"))
    assert [v.verdict for v in result.verdicts][0] == "error"
    assert "planted crash" in (result.verdicts[0].reason or "")
    assert result.verdicts[1].verdict != "error"


def test_cuda_claim_is_skipped_on_cpu_with_reason(tmp_path: Path) -> None:
    result = run(tmp_path, claim("gpu", "good", "good", 'requires = ["cuda"]'))
    (v,) = result.verdicts
    assert v.verdict == "skipped" and "CUDA" in (v.reason or "")


def test_shards_partition_the_claims(tmp_path: Path) -> None:
    path = tmp_path / "toy.toml"
    path.write_text(HEAD + "".join(claim(f"c{i}", "good", "good") for i in range(5)))
    s = suite.load(path)
    shards = [runner.select_claims(s, (), runner.Shard(i, 3)) for i in range(3)]
    ids = [c.id for shard in shards for c in shard]
    assert sorted(ids) == [f"c{i}" for i in range(5)]
    assert [c.id for c in shards[1]] == [c.id for c in runner.select_claims(s, (), runner.Shard(1, 3))]
    assert runner.Shard.parse("2/3") == runner.Shard(1, 3)
    with pytest.raises(KbenchError, match="--shard"):
        runner.Shard.parse("4/3")
    with pytest.raises(KbenchError, match="no claim 'nope'"):
        runner.select_claims(s, ("nope",), None)


def interrupt_second_claim(monkeypatch: pytest.MonkeyPatch, measure_first: bool) -> None:
    """Make the second speedup claim raise Ctrl-C, optionally after measuring its baseline."""
    real = kinds.COLLECTORS["speedup"]
    calls = {"n": 0}

    def collector(c: suite.Claim, ctx: Context) -> ClaimData:
        calls["n"] += 1
        if calls["n"] < 2:
            return real(c, ctx)
        if measure_first:
            kinds.kernels.measure_time(kinds.kernels.registry.operation("toy_scale"), c.baseline, c.cases[0], ctx)
        raise KeyboardInterrupt

    monkeypatch.setitem(kinds.COLLECTORS, "speedup", collector)


def test_interrupt_keeps_measurements(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    interrupt_second_claim(monkeypatch, measure_first=True)
    text = claim("first", "good", "good") + claim("second", "good", "good").replace("[64, 33]", "[8, 9]")
    result = run(tmp_path, text)
    assert result.interrupted
    assert [v.verdict for v in result.verdicts][1] == "skipped"
    assert "interrupted" in (result.verdicts[1].reason or "")
    shapes = [m.case["shape"] for m in result.measurements]
    assert [8, 9] in shapes, "the measurement taken before Ctrl-C is kept"


def test_interrupt_does_not_duplicate_recorded_measurements(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    interrupt_second_claim(monkeypatch, measure_first=False)
    result = run(tmp_path, claim("first", "good", "good") + claim("second", "good", "good"))
    assert result.interrupted
    assert len(result.measurements) == 2  # the first claim's pair, once each
