"""Each kind's collector end to end on the CPU with fakes of known value: a timer with known
times, implementations with known answers, a toy model with FLOPs known by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kbench import reading, results, runner, stats, suite, timing
from tests.fakes import fake_timer
from tests.fixtures import toy_model

HEAD = 'schema_version = 2\n[paper]\nid = "toy"\ntitle = "A toy paper"\n'


def run(tmp_path: Path, body: str, **options: object) -> runner.Result:
    """Run, then write and read the result back: every recorded field must pass the schema."""
    path = tmp_path / "toy.toml"
    path.write_text(HEAD + body)
    result = runner.run(suite.load(path), runner.RunOptions(device=torch.device("cpu"), quick=True, **options))  # type: ignore[arg-type]
    stored = reading.load(results.write(result, tmp_path / "results"))
    assert len(stored["measurements"]) == len(result.measurements)
    return result


def described(m: results.Measurement) -> tuple[object, ...]:
    return (m.claim, m.role, m.metric, m.unit, m.better, m.noise, m.device_independent)


def kernel_claim(kind: str, sides: str, rule: str, extra: str = "") -> str:
    return f"""
[[claims]]
id = "c"
kind = "{kind}"
quote = "q"
operation = "toy_scale"
{sides}
cpu_cases = [{{ shape = [64, 33], dtype = "float32" }}]
cases = [{{ shape = [2, 3, 16], dtype = "float32" }}]
rule = {rule}
{extra}
"""


def test_speedup_collects_both_sides_in_interleaved_rounds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_timer(monkeypatch, {"good": [2.0, 2.4], "flaky_bits": [1.0, 1.0]})
    sides = 'baseline = { impl = "good", pass = "fwd+bwd" }\ncandidate = { impl = "flaky_bits", pass = "fwd+bwd" }'
    result = run(tmp_path, kernel_claim("speedup", sides, "{ at_least = 1.5 }"))
    (v,) = result.verdicts
    assert v.measured == pytest.approx(stats.Estimate.from_values([2.0, 2.4]).value)
    roles = {m.role: m for m in result.measurements}
    assert [described(m) for m in result.measurements] == [("c", "baseline", "time_ms", "ms", "lower", "timing", False),
                                                          ("c", "candidate", "time_ms", "ms", "lower", "timing", False)]
    assert roles["candidate"].subject == {"impl": "flaky_bits", "pass": "fwd+bwd"}
    assert roles["candidate"].case == {"shape": [64, 33], "dtype": "float32"}
    assert roles["baseline"].groups == [0] * 5 + [1] * 5 and roles["baseline"].noise == "timing"
    assert roles["baseline"].extra["errors_before"]["y"] == 0.0  # 2x is exact in fp32
    assert roles["baseline"].extra["checks_before"][1]["variant"] == "strided layout"


def test_bandwidth_fraction_uses_the_runs_copy_bandwidth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_timer(monkeypatch, {"good": [0.01, 0.02]})
    result = run(tmp_path, kernel_claim("bandwidth-fraction", 'subject = { impl = "good", pass = "fwd" }',
                                        "{ at_least = 0.001 }"))
    (v,) = result.verdicts
    nbytes = 2 * 64 * 33 * 4
    expected = stats.Estimate.from_values([nbytes / (ms * 1e-3) / 1e9 / 100.0 for ms in (0.01, 0.02)])
    assert result.peaks["copy_gbps"] == 100.0
    assert v.measured == pytest.approx(expected.value) and v.interval == pytest.approx([expected.low, expected.high])


def test_no_copy_bandwidth_is_measured_when_no_claim_needs_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_timer(monkeypatch, {"good": [1.0, 1.0]})
    sides = 'baseline = { impl = "good", pass = "fwd" }\ncandidate = { impl = "good", pass = "fwd" }'
    assert run(tmp_path, kernel_claim("speedup", sides, "{ at_least = 0.5 }")).peaks == {}


def test_error_ratio_pairs_fresh_draws_by_seed(tmp_path: Path) -> None:
    sides = 'baseline = { impl = "thirds" }\ncandidate = { impl = "thirds" }'
    body = kernel_claim("error-ratio", sides, "{ at_least = 0.5 }", 'options = { seeds = 16, grads = ["y"] }')
    body = body.replace('cases = [{ shape = [64, 33], dtype = "float32" }]',
                        'cases = [{ shape = [64, 33], dtype = "float32" }, { shape = [8, 16], dtype = "float32" }]')
    result = run(tmp_path, body)
    (v,) = result.verdicts
    base = [m for m in result.measurements if m.role == "baseline"]
    assert [described(m) for m in base] == [("c", "baseline", "rel_err_y", "relative", "lower", "seeds", False)] * 2
    assert base[0].subject == {"impl": "thirds"} and [m.case["shape"] for m in base] == [[64, 33], [8, 16]]
    first, second = (m.samples for m in base)
    assert len(first) == 4 and len(set(first)) == 4 and set(first).isdisjoint(second)  # 16 seeds x 0.25
    assert all(0 < e < 4.8e-7 for e in first)
    assert v.measured == pytest.approx(1.0) and v.n == 4  # the same code on both sides, paired by seed


def test_error_ratio_records_errors_per_seed(tmp_path: Path) -> None:
    sides = 'baseline = { impl = "good" }\ncandidate = { impl = "flaky_bits" }'
    result = run(tmp_path, kernel_claim("error-ratio", sides, "{ at_least = 2 }", "options = { seeds = 8 }"))
    (v,) = result.verdicts
    base = [m for m in result.measurements if m.role == "baseline"]
    assert [m.metric for m in base] == ["rel_err_dx"]  # the gradients, by default
    assert len(base[0].samples) == 2 and base[0].groups == [0, 1]  # --quick: 8 seeds scaled by 0.25
    assert base[0].samples == [0.0, 0.0]  # good is exact: the ratio is undefined
    assert v.verdict == "inconclusive" and "zero" in (v.reason or "")


def test_max_error_reports_the_worst_seed(tmp_path: Path) -> None:
    result = run(tmp_path, kernel_claim("max-error", 'subject = { impl = "good" }', "{ at_most = 1e-9 }",
                                        'options = { seeds = 4, grads = ["y"] }'))
    (v,) = result.verdicts
    assert v.measured == 0.0 and v.verdict == "reproduced"
    assert [described(m) for m in result.measurements] == [("c", "subject", "rel_err_y", "relative", "lower", "seeds",
                                                           False)]
    thirds = run(tmp_path, kernel_claim("max-error", 'subject = { impl = "thirds" }', "{ at_most = 1e-6 }",
                                        "options = { seeds = 12 }"))
    few = run(tmp_path, kernel_claim("max-error", 'subject = { impl = "thirds" }', "{ at_most = 1e-6 }",
                                     "options = { seeds = 2 }"))
    assert [len(m.samples) for m in few.measurements] == [1, 1]  # one seed is enough for a bound
    assert few.measurements[0].groups == [0] and few.measurements[0].subject == {"impl": "thirds"}
    (v,) = thirds.verdicts
    worst = max(max(m.samples) for m in thirds.measurements)
    assert [m.metric for m in thirds.measurements] == ["rel_err_y", "rel_err_dx"]  # output and gradients by default
    assert v.measured == worst and len(thirds.measurements[0].samples) == 3
    assert [c["details"]["median"] for c in v.per_case] == [m.summary["median"] for m in thirds.measurements]


def test_bitwise_repeat_counts_identical_repeats(tmp_path: Path) -> None:
    body = kernel_claim("bitwise-repeat", 'subject = { impl = "flaky_bits" }', "{ at_least = 1.0 }",
                        "options = { repeats = 20 }")
    flaky = run(tmp_path, body)
    (v,) = flaky.verdicts
    assert v.measured == pytest.approx(0.4) and v.verdict == "not-reproduced"  # every other call differs a bit
    (m,) = flaky.measurements
    assert described(m) == ("c", "subject", "bitwise_equal", "share", "higher", "exact", False)
    assert m.samples == [0.0, 1.0, 0.0, 1.0, 0.0] and m.subject == {"impl": "flaky_bits"}  # 20 x 0.25
    (good,) = run(tmp_path, body.replace("flaky_bits", "good")).verdicts
    assert good.measured == 1.0 and good.verdict == "reproduced"
    two = run(tmp_path, body.replace("flaky_bits", "good").replace("repeats = 20", "repeats = 4"))
    assert two.measurements[0].samples == [1.0, 1.0]  # never fewer than two repeats
    assert two.measurements[0].summary["n"] == 2


def model_claim(kind: str, sides: str, rule: str, cases: str = '[{ size = "mini", batch = 4 }]',
                extra: str = "") -> str:
    return f"""
[[claims]]
id = "m"
kind = "{kind}"
quote = "q"
{sides}
cpu_cases = {cases}
cases = [{{ size = "wide", batch = 2 }}]
rule = {rule}
{extra}
"""


def test_flops_ratio_counts_what_the_model_does(tmp_path: Path) -> None:
    sides = 'baseline = { model = "toy_mlp", impl = "good" }\ncandidate = { model = "toy_plain" }'
    cases = '[{ size = "mini" }, { size = "mini", arch = { hidden = 32 } }]'
    result = run(tmp_path, model_claim("flops-ratio", sides, "{ at_least = 0.5, at_most = 2 }", cases))
    (v,) = result.verdicts
    mini = toy_model.PRESETS["mini"]
    wide = {**mini, "hidden": 32}
    # the plain model counts the same matmuls; its activation is not a counted module
    assert v.per_case[0]["value"] == pytest.approx(toy_model.flops(mini) / (toy_model.flops(mini) - 16))
    assert v.per_case[1]["value"] == pytest.approx(toy_model.flops(wide) / (toy_model.flops(wide) - 32))
    flops = [m.samples[0] for m in result.measurements if m.role == "baseline"]
    assert flops == [toy_model.flops(mini), toy_model.flops(wide)]
    expected = [("m", role, "flops", "FLOPs", "none", "exact", True) for role in ("baseline", "candidate")]
    assert [described(m) for m in result.measurements[:2]] == expected
    assert result.measurements[1].subject == {"model": "toy_plain"}
    assert result.measurements[2].case == {"size": "mini", "batch": 1, "arch": {"hidden": 32}}
    assert result.measurements[0].extra["params"] == 16 * 16 + 16 + 16 * 3 + 3


def test_train_speedup_times_fresh_models_in_rounds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_timer(monkeypatch, {"toy_mlp[good]": [6.0, 6.6], "toy_mlp[flaky_bits]": [2.0, 2.0]})
    sides = ('baseline = { model = "toy_mlp", impl = "good" }\n'
             'candidate = { model = "toy_mlp", impl = "flaky_bits" }')
    result = run(tmp_path, model_claim("train-speedup", sides, "{ at_least = 2 }"))
    (v,) = result.verdicts
    assert v.measured == pytest.approx(stats.Estimate.from_values([3.0, 3.3]).value)
    m = result.measurements[0]
    assert described(m) == ("m", "baseline", "step_ms", "ms", "lower", "timing", False)
    assert m.extra["params"] == 16 * 16 + 16 + 16 * 3 + 3 and m.groups == [0] * 5 + [1] * 5
    assert m.extra["images_per_s"] == pytest.approx(4 / (m.summary["median"] * 1e-3))
    assert m.extra["flops"] == toy_model.flops(toy_model.PRESETS["mini"])
    assert m.extra["checks_before"][-1]["variant"] == "the whole model at batch 4 (before timing)"
    assert m.extra["checks_after"][-1]["variant"] == "the whole model at batch 4 (after timing)"


def test_time_share_needs_the_cuda_profiler(tmp_path: Path) -> None:
    body = model_claim("time-share", 'subject = { model = "toy_mlp", impl = "good" }', "{ at_least = 0.5 }")
    (v,) = run(tmp_path, body).verdicts
    assert v.verdict == "skipped" and "CUDA profiler" in (v.reason or "")


def test_the_check_after_timing_runs_the_implementation_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernel that goes wrong once its timed rounds are over is caught by the check after them
    (which would pass if it re-read the outputs taken before timing)."""
    from tests.fixtures import toy_scale

    fake_timer(monkeypatch, {"good": [2.0, 2.0], "spoils_after_timing": [1.0, 1.0]})
    timed_round = timing.cpu_round

    rounds = {"spoils_after_timing": 0}

    def then_spoil(work: object, config: timing.TimingConfig) -> timing.Round:
        out = timed_round(work, config)
        name = getattr(getattr(work, "impl", None), "name", "")
        rounds[name] = rounds.get(name, 0) + 1
        toy_scale.SPOILED["after_timing"] = rounds["spoils_after_timing"] == 2  # its last round is over
        return out

    monkeypatch.setattr(timing, "cpu_round", then_spoil)
    monkeypatch.setitem(toy_scale.SPOILED, "after_timing", False)
    sides = 'baseline = { impl = "good", pass = "fwd" }\ncandidate = { impl = "spoils_after_timing", pass = "fwd" }'
    (v,) = run(tmp_path, kernel_claim("speedup", sides, "{ at_least = 1.5 }")).verdicts
    assert v.verdict == "error" and "after timing" in (v.reason or "")


def test_timings_are_not_shared_between_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One run, the same implementation and case timed forward by one claim and backward by
    another: the second is measured, not served from the first's cache."""
    fake_timer(monkeypatch, {"good": [2.0, 2.0, 6.0, 6.0], "flaky_bits": [1.0, 1.0, 1.0, 1.0]})
    body = "".join(kernel_claim("speedup", f'baseline = {{ impl = "good", pass = "{p}" }}\n'
                                           f'candidate = {{ impl = "flaky_bits", pass = "{p}" }}',
                                "{ at_least = 1.5 }").replace('id = "c"', f'id = "{p}"') for p in ("fwd", "bwd"))
    result = run(tmp_path, body)
    base = {m.claim: m for m in result.measurements if m.role == "baseline"}
    assert base["fwd"].subject["pass"] == "fwd" and base["bwd"].subject["pass"] == "bwd"
    assert base["fwd"].summary["median"] == 2.0 and base["bwd"].summary["median"] == 6.0
    fake_timer(monkeypatch, {"good": [2.0, 2.0, 6.0, 6.0], "flaky_bits": [1.0, 1.0, 1.0, 1.0]})
    again = run(tmp_path, body.replace('id = "bwd"', 'id = "fwd-again"').replace('"bwd"', '"fwd"'))
    reused = {m.claim: m for m in again.measurements if m.role == "baseline"}
    assert reused["fwd-again"].summary == reused["fwd"].summary  # the same work is timed once


def test_a_timing_reused_by_another_claim_is_filed_under_that_claims_own_case(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two claims time the same case (each with its own label and paper value): the second reuses
    the first's timing, and judges it against its own paper value, under its own label."""
    fake_timer(monkeypatch, {"good": [2.0, 2.0], "flaky_bits": [1.0, 1.0]})
    sides = 'baseline = { impl = "good", pass = "fwd" }\ncandidate = { impl = "flaky_bits", pass = "fwd" }'
    body = "".join(
        kernel_claim("speedup", sides, "{ at_least = 0.9, of_paper = true }").replace('id = "c"', f'id = "{cid}"')
        .replace('cpu_cases = [{ shape = [64, 33], dtype = "float32" }]',
                 f'cpu_cases = [{{ shape = [64, 33], dtype = "float32", label = "{cid}\'s", paper_value = {pv} }}]')
        .replace('cases = [{ shape = [2, 3, 16], dtype = "float32" }]',
                 f'cases = [{{ shape = [2, 3, 16], dtype = "float32", paper_value = {pv} }}]')
        for cid, pv in (("a", 100.0), ("b", 2.0)))
    result = run(tmp_path, body)
    verdicts = {v.claim: v for v in result.verdicts}
    assert verdicts["a"].verdict == "not-reproduced" and verdicts["b"].verdict == "reproduced"
    assert verdicts["b"].per_case[0]["case"]["label"] == "b's" and verdicts["b"].per_case[0]["paper_value"] == 2.0
    cases = {(m.claim, m.role): m.case["label"] for m in result.measurements}
    assert cases == {("a", "baseline"): "a's", ("a", "candidate"): "a's", ("b", "baseline"): "b's",
                     ("b", "candidate"): "b's"}
