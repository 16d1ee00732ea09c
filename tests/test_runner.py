"""The runner on the toy operation: checked before timed, outputs of timed calls checked,
impossible speeds refused, skips and errors as verdicts, every measurement kept, shards."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kbench import claims, runner, suite
from kbench.errors import KbenchError
from kbench.kinds import KINDS
from kbench.kinds._kernel_timing import measure_times

HEAD = """
schema_version = 2
[paper]
id = "toy"
title = "A toy paper"
"""


def claim(cid: str, baseline: str, candidate: str, extra: str = "", op: str = "toy_scale",
          cases: str = '[{ shape = [64, 8], dtype = "float32" }]') -> str:
    return f"""
[[claims]]
id = "{cid}"
kind = "speedup"
quote = "q"
operation = "{op}"
baseline = {{ impl = "{baseline}", pass = "fwd+bwd" }}
candidate = {{ impl = "{candidate}", pass = "fwd+bwd" }}
cases = {cases}
rule = {{ at_least = 0.5 }}
{extra}
"""


def run(tmp_path: Path, text: str, **options: object) -> runner.Result:
    path = tmp_path / "toy.toml"
    path.write_text(HEAD + text)
    opts = runner.RunOptions(device=torch.device("cpu"), quick=True, **options)  # type: ignore[arg-type]
    return runner.run(suite.load(path), opts)


def test_good_pair_is_timed_in_rounds_and_judged(tmp_path: Path) -> None:
    result = run(tmp_path, claim("same", "good", "good"))
    (v,) = result.verdicts
    assert v.verdict in ("reproduced", "inconclusive") and v.n == 2  # --quick: 2 rounds
    assert v.interval is not None and v.interval[0] <= v.measured <= v.interval[1]
    m = result.measurements[0]
    assert m.metric == "time_ms" and m.unit == "ms" and m.noise == "timing" and m.better == "lower"
    assert sorted(set(m.groups)) == [0, 1] and len(m.samples) >= 10
    assert m.extra["errors_before"]["dx"] == 0.0 and m.extra["errors_after"]["y"] == 0.0
    assert m.extra["launch"] == {"fwd": "BLOCK: 64"}  # what the implementation says it launched
    assert m.extra["timing"] == "perf-counter" and m.summary["rounds"] == 2
    assert result.plan["kernel_rounds"] == 2 and "Student t" in result.plan["why"]


@pytest.mark.parametrize("bad", ["off_by_last", "zeros_only", "half_inside", "wrong_past_64_rows", "layout_blind"])
def test_wrong_implementation_is_refused_before_timing(tmp_path: Path, bad: str) -> None:
    result = run(tmp_path, claim("bad", "good", bad, cases='[{ shape = [37, 8], dtype = "float32" }]'))
    (v,) = result.verdicts
    assert v.verdict == "error" and v.measured is None
    assert bad in (v.reason or "") and "wrong against float64" in (v.reason or "")
    assert not any(m.subject.get("impl") == bad for m in result.measurements)


def test_a_cache_keyed_on_values_never_hits_while_timed(tmp_path: Path) -> None:
    """Every timed call gets values never seen before, so a cache that would be right is never used."""
    from tests.fixtures import toy_scale

    before = toy_scale.MEMO_HITS[0]
    result = run(tmp_path, claim("memo", "good", "memo_by_values"))
    assert toy_scale.MEMO_HITS[0] == before and result.verdicts[0].verdict != "error"


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_no_two_calls_of_a_timing_read_the_same_inputs(dtype: torch.dtype) -> None:
    from kbench import registry, workloads

    op = registry.operation("toy_scale")
    work = workloads.KernelWorkload(op, registry.implementation("toy_scale", "good"), "fwd", {"shape": [4, 8]},
                                    torch.device("cpu"), dtype, seeds=[1, 2, 3])
    seen = set()
    for i in range(3 * 61 * 8):  # far past every period of the set rotation and the scale cycle
        work.prepare(i)
        seen.add(b"".join(t.detach().float().numpy().tobytes() for t in work.live.owners()))
    assert len(seen) == 3 * 61 * 8


@pytest.mark.parametrize("cheat", ["caches_by_identity", "stale_by_shape"])
def test_a_kernel_that_reuses_results_is_caught_by_its_timed_outputs(tmp_path: Path, cheat: str) -> None:
    result = run(tmp_path, claim("cheat", "good", cheat))
    (v,) = result.verdicts
    assert v.verdict == "error" and v.measured is None
    # caught on a timed call, or before timing on a second input set of the timed shape
    assert any(where in (v.reason or "") for where in ("a timed call", "as timed", "edge of range")), v.reason
    assert not any(m.subject.get("impl") == cheat and m.role != "rejected" for m in result.measurements)


@pytest.mark.parametrize(("impl", "dtype"), [("returns_float64", "float32"), ("bf16_returns_float32", "bfloat16")])
def test_an_output_of_another_dtype_is_wrong(tmp_path: Path, impl: str, dtype: str) -> None:
    result = run(tmp_path, claim("dtype", "good", impl, cases=f'[{{ shape = [16, 8], dtype = "{dtype}" }}]'))
    (v,) = result.verdicts
    assert v.verdict == "error" and "wrong against float64" in (v.reason or "") and "inf" in (v.reason or "")


@pytest.mark.parametrize("impl", ["stale_by_shape", "right_first_calls"])
def test_bitwise_repeat_checks_every_repeat_against_float64(tmp_path: Path, impl: str) -> None:
    text = claim("bits", "good", "good").replace('kind = "speedup"', 'kind = "bitwise-repeat"').replace(
        'baseline = { impl = "good", pass = "fwd+bwd" }\ncandidate = { impl = "good", pass = "fwd+bwd" }',
        f'subject = {{ impl = "{impl}" }}').replace("rule = { at_least = 0.5 }",
                                                   "rule = { at_least = 1.0 }\noptions = { repeats = 40 }")
    (v,) = run(tmp_path, text).verdicts
    assert v.verdict == "error" and "wrong against float64" in (v.reason or ""), v.reason


def test_a_speed_beyond_the_copy_bandwidth_is_refused(tmp_path: Path) -> None:
    result = run(tmp_path, claim("heavy", "good", "good", op="toy_heavy"))
    (v,) = result.verdicts
    assert v.verdict == "error" and "cannot be real" in (v.reason or "")
    rejected = [m for m in result.measurements if m.role == "rejected"]
    assert rejected and rejected[0].status == "error"
    assert rejected[0].extra["slowest_round_gbps"] > rejected[0].extra["copy_ceiling_gbps"]


def test_crash_becomes_an_error_verdict_and_the_run_goes_on(tmp_path: Path) -> None:
    result = run(tmp_path, claim("crash", "good", "crashes") + claim("after", "good", "good"))
    assert result.verdicts[0].verdict == "error" and "planted crash" in (result.verdicts[0].reason or "")
    assert "test_runner" not in (result.verdicts[0].reason or "")  # a short traceback: the kernel's frames
    assert result.verdicts[1].verdict != "error"


def test_code_under_test_that_calls_exit_is_an_error_verdict_and_the_run_goes_on(tmp_path: Path) -> None:
    result = run(tmp_path, claim("exit", "good", "exits") + claim("after", "good", "good"))
    assert result.verdicts[0].verdict == "error" and result.verdicts[1].verdict != "error"
    assert result.verdicts[0].reason == "the code under test called sys.exit(3) while measuring"
    assert any(m.claim == "after" for m in result.measurements)  # the run went on to the next claim


def test_a_failing_claim_keeps_what_it_measured(tmp_path: Path) -> None:
    cases = '[{ shape = [64, 8], dtype = "float32" }, { shape = [64, 64], dtype = "float32" }]'
    result = run(tmp_path, claim("half", "good", "crashes_when_wide", cases=cases))
    (v,) = result.verdicts
    assert v.verdict == "error" and "wide" in (v.reason or "")
    kept = [(m.claim, m.role, m.case["shape"]) for m in result.measurements]
    assert kept == [("half", "baseline", [64, 8]), ("half", "candidate", [64, 8])]


def test_cuda_claim_is_skipped_on_cpu_with_reason(tmp_path: Path) -> None:
    result = run(tmp_path, claim("gpu", "good", "good", 'requires = ["cuda"]'))
    (v,) = result.verdicts
    assert v.verdict == "skipped" and "CUDA" in (v.reason or "")
    assert v.rule["text"] == ">= 0.5"


def test_shards_partition_the_claims(tmp_path: Path) -> None:
    path = tmp_path / "toy.toml"
    path.write_text(HEAD + "".join(claim(f"c{i}", "good", "good") for i in range(5)))
    s = suite.load(path)
    shards = [runner.select_claims(s, (), runner.Shard(i, 3)) for i in range(3)]
    ids = [c.id for shard in shards for c in shard]
    assert sorted(ids) == [f"c{i}" for i in range(5)] and len(ids) == 5
    assert runner.Shard.parse("2/3") == runner.Shard(1, 3)
    with pytest.raises(KbenchError, match="--shard"):
        runner.Shard.parse("4/3")
    with pytest.raises(KbenchError, match="no claim 'nope'"):
        runner.select_claims(s, ("nope",), None)
    with pytest.raises(KbenchError, match="holds no claims"):
        runner.select_claims(s, ("c0", "c1"), runner.Shard(2, 3))


def test_interrupt_keeps_measurements_under_their_claim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    speedup = KINDS["speedup"]
    real = speedup.collect
    calls = {"n": 0}

    def collect(c: claims.Claim, ctx: object) -> None:
        calls["n"] += 1
        if calls["n"] < 2:
            return real(c, ctx)
        measure_times(c, [("baseline", c.side("baseline"))], c.cases[0], ctx)  # type: ignore[arg-type]
        raise KeyboardInterrupt

    monkeypatch.setattr(speedup, "collect", collect)
    text = claim("first", "good", "good") + claim("second", "good", "good", cases='[{ shape = [8, 16] }]')
    result = run(tmp_path, text)
    assert result.interrupted
    assert [v.verdict for v in result.verdicts][1] == "skipped" and "interrupted" in (result.verdicts[1].reason or "")
    kept = [(m.claim, m.case["shape"]) for m in result.measurements]
    assert ("second", [8, 16]) in kept, "the measurement taken before Ctrl-C is kept, under its claim"
    assert len(kept) == 3  # the first claim's pair once each, and the second claim's baseline


def test_interrupted_rounds_are_kept_marked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kbench import timing

    real, calls = timing.cpu_round, {"n": 0}

    def round_then_stop(work: object, config: timing.TimingConfig) -> timing.Round:
        calls["n"] += 1
        if calls["n"] > 2:  # both sides took round 1; Ctrl-C during round 2
            raise KeyboardInterrupt
        return real(work, config)  # type: ignore[arg-type]

    monkeypatch.setattr(timing, "cpu_round", round_then_stop)
    result = run(tmp_path, claim("c", "good", "flaky_bits"))
    assert result.interrupted
    kept = [(m.claim, m.role, m.status, m.reason) for m in result.measurements]
    assert all(m.extra["timing"] == "perf-counter" and m.summary["rounds"] == 1 for m in result.measurements)
    assert kept == [("c", "baseline", "skipped", "interrupted after 1 round(s)"),
                    ("c", "candidate", "skipped", "interrupted after 1 round(s)")]
    assert all(m.samples for m in result.measurements)


def test_shared_timings_are_reused_not_retaken(tmp_path: Path) -> None:
    result = run(tmp_path, claim("a", "good", "flaky_bits") + claim("b", "good", "flaky_bits"))
    first = [m for m in result.measurements if m.claim == "a"]
    second = [m for m in result.measurements if m.claim == "b"]
    assert [m.samples for m in first] == [m.samples for m in second]


def test_a_speed_timed_in_tritons_interpreter_is_not_comparable(tmp_path: Path) -> None:
    """On the CPU a Triton kernel runs in Triton's interpreter: checked, timed and recorded as such,
    never given a speed verdict (it would read as a 1000x slowdown)."""
    result = run(tmp_path, claim("interpreted", "good", "good_as_triton"))
    (v,) = result.verdicts
    assert v.verdict == "skipped" and v.measured is None
    assert v.reason == ("not comparable: timed in an emulation (good_as_triton ran in Triton's interpreter "
                        "(TRITON_INTERPRET=1)): such a time says nothing about the kernel's speed on the hardware it "
                        "is written for")
    timed = {m.subject["impl"]: m for m in result.measurements if m.metric == "time_ms"}
    assert timed["good_as_triton"].extra["emulated"] == "Triton's interpreter (TRITON_INTERPRET=1)"
    assert "emulated" not in timed["good"].extra and timed["good_as_triton"].status == "ok"
    assert timed["good_as_triton"].extra["errors_before"]["y"] == 0.0  # checked against float64 all the same
