"""The time-trend kind (Lightning Attention's "constant speed"): the slope of ln(time) against
ln(x) over a sweep of cases, with an interval from every round at every point; and the block form
of decayed linear attention, which the suite times, against its recurrence."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from kbench import reading, registry, results, runner, stats, suite
from kbench.claims import Claim
from kbench.errors import SuiteError
from kbench.judging import judge
from kbench.verdicts import Rule
from kernels.lightning_attn import reference
from kernels.lightning_attn.ops import decay_logs
from tests.fakes import fake_timer, timed

CONSTANT = Rule(at_least=-0.1, at_most=0.1)


def sweep(times: dict[int, list[float]], method: str = "perf-counter", **extra: Any) -> list[dict[str, Any]]:
    """Stored timings of one subject at points x (each with its rounds' medians)."""
    out = []
    for x, rounds in times.items():
        m = timed("subject", rounds, case={"shape": [4096 // x, x, 2, 8], "label": f"T={x}"}, method=method)
        m["extra"].update({"x": x, **extra})
        out.append(m)
    return out


def trend_claim(rule: Rule = CONSTANT) -> Claim:
    return Claim("c", "time-trend", rule, "q", None, "trend", {"along": 1})


def test_the_slope_is_the_growth_exponent() -> None:
    linear = sweep({x: [0.01 * x * f for f in (1.0, 1.02, 0.99)] for x in (128, 256, 512, 1024)})
    v = judge(trend_claim(Rule(at_least=0.5)), linear, {})
    assert v.verdict == "reproduced" and v.measured == pytest.approx(1.0, abs=0.02)
    flat = sweep({x: [3.0, 3.1, 2.95] for x in (128, 256, 512, 1024)})
    v = judge(trend_claim(), flat, {})
    assert v.verdict == "reproduced" and abs(v.measured) < 0.02 and v.interval is not None
    assert v.interval[0] < 0 < v.interval[1]
    quadratic = sweep({x: [1e-4 * x * x] * 3 for x in (128, 256, 512)})
    assert judge(trend_claim(), quadratic, {}).verdict == "not-reproduced"
    assert judge(trend_claim(), quadratic, {}).measured == pytest.approx(2.0, abs=1e-6)


def test_rounds_that_disagree_widen_the_interval() -> None:
    calm = judge(trend_claim(), sweep({x: [3.0, 3.01, 2.99] for x in (128, 256, 512, 1024)}), {})
    noisy = judge(trend_claim(), sweep({x: [3.0, 4.5, 2.0] for x in (128, 256, 512, 1024)}), {})
    width = [v.interval[1] - v.interval[0] for v in (calm, noisy)]  # type: ignore[index]
    assert width[1] > 10 * width[0]
    assert noisy.verdict == "inconclusive" and calm.verdict == "reproduced"


def test_every_round_is_a_point_of_the_fit() -> None:
    times = {128: [1.0, 1.5, 1.2], 256: [1.1, 1.3, 1.6], 512: [2.0, 1.7, 1.9]}
    v = judge(trend_claim(Rule(at_least=0.0)), sweep(times), {})
    xs = [math.log(x) for x, rounds in times.items() for _ in rounds]
    ys = [math.log(t) for rounds in times.values() for t in rounds]
    want = stats.trend(np.array(xs), np.array(ys))
    assert v.measured == pytest.approx(want.value) and v.n == 9
    assert v.interval == pytest.approx([want.low, want.high])


def test_stats_trend_is_least_squares_with_a_t_interval() -> None:
    x = np.arange(10.0)
    y = 0.5 * x + np.array([0.1, -0.1] * 5)
    est = stats.trend(x, y)
    slope, intercept = np.polyfit(x, y, 1)
    assert est.value == pytest.approx(slope) and est.df == 8 and est.n == 10
    resid = y - (slope * x + intercept)
    se = math.sqrt(resid @ resid / 8 / ((x - x.mean()) @ (x - x.mean())))
    assert est.high - est.value == pytest.approx(2.306004 * se, rel=1e-5)  # type: ignore[operator]
    with pytest.raises(ValueError, match="three points"):
        stats.trend(np.array([1.0, 1.0, 1.0]), np.array([1.0, 2.0, 3.0]))


def test_an_emulated_or_mixed_sweep_is_never_judged() -> None:
    times = {x: [1.0, 1.0, 1.0] for x in (128, 256, 512)}
    emulated = judge(trend_claim(), sweep(times, emulated="Triton's interpreter"), {})
    assert emulated.verdict == "skipped" and "emulation" in emulated.reason
    mixed = sweep(times)
    mixed[0]["extra"]["timing"] = "cuda-synced"
    assert judge(trend_claim(), mixed, {}).verdict == "inconclusive"
    unmarked = sweep(times)
    del unmarked[1]["extra"]["x"]
    assert "which point of the sweep" in judge(trend_claim(), unmarked, {}).reason
    one_point = sweep({128: [1.0, 1.1, 1.2]})
    assert judge(trend_claim(), one_point, {}).verdict == "inconclusive"


SUITE = """schema_version = 2
[paper]
id = "trend"
title = "trend"
[[claims]]
id = "c"
kind = "time-trend"
quote = "q"
operation = "lightning_attention"
subject = { impl = "masked", pass = "fwd" }
cases = [CASES]
rule = { at_least = -0.1, at_most = 0.1 }
"""


@pytest.mark.parametrize(("cases", "extra", "field", "expected"), [
    ('{ shape = [4, 64, 2, 8] }, { shape = [2, 128, 2, 8] }', 'combine = "each"', "combine", "no combine"),
    ('{ shape = [4, 64, 2, 8] }, { shape = [2, 64, 2, 8] }', "", "cases", "two or more sizes of axis 1"),
    ('{ shape = [4, 64, 2, 8] }, { shape = [2, 128, 2, 8] }', "options = { along = 4 }", "cases[0].shape",
     "an axis 4"),
])
def test_a_sweep_that_cannot_be_a_trend_is_refused(tmp_path: Path, cases: str, extra: str, field: str,
                                                    expected: str) -> None:
    path = tmp_path / "t.toml"
    path.write_text(SUITE.replace("CASES", cases) + extra + "\n")
    with pytest.raises(SuiteError) as exc:
        suite.load(path)
    assert exc.value.field == f"claims[0].{field}" and expected in str(exc.value)


def test_a_trend_collected_on_the_cpu_records_its_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Timed per case (the timer says 1 ms x T / 32: linear), each point marked, read back, judged."""
    fake_timer(monkeypatch, {"masked": [1.0, 1.0, 2.0, 2.0, 4.0, 4.0]})
    path = tmp_path / "t.toml"
    path.write_text(SUITE.replace("CASES", '{ shape = [4, 32, 2, 8] }, { shape = [2, 64, 2, 8] }, '
                                           '{ shape = [1, 128, 2, 8] }').replace("at_least = -0.1, at_most = 0.1",
                                                                                  "at_least = 0.9")
                    + "options = { rounds = 2 }\n")
    result = runner.run(suite.load(path), runner.RunOptions(device=torch.device("cpu")))
    stored = reading.load(results.write(result, tmp_path / "results"))
    assert [m["extra"]["x"] for m in stored["measurements"]] == [32, 64, 128]
    (v,) = stored["verdicts"]
    assert v["verdict"] == "reproduced" and v["measured"] == pytest.approx(1.0) and v["n"] == 6


def recurrence(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    b, n, h, d = q.shape
    decay = torch.exp(decay_logs(h, q.device, q.dtype))[None, :, None, None]
    state, out = q.new_zeros(b, h, d, d), torch.empty_like(q)
    for t in range(n):
        state = decay * state + k[:, t, :, :, None] * v[:, t, :, None, :]
        out[:, t] = torch.einsum("bhd,bhde->bhe", q[:, t] * d ** -0.5, state)
    return out


@pytest.mark.parametrize("n", [1, 63, 64, 65, 150])
def test_both_forms_are_the_decayed_recurrence(n: int) -> None:
    op = registry.operation("lightning_attention")
    q, k, v = (t.detach() for t in op.make_inputs({"shape": [2, n, 3, 8]}, torch.device("cpu"), torch.float64,
                                                    n).args)
    want = recurrence(q, k, v)
    assert torch.allclose(reference.masked(q, k, v), want, rtol=0, atol=1e-11)
    assert torch.allclose(reference.blocks_torch(q, k, v), want, rtol=0, atol=1e-11)
    assert decay_logs(3, q.device, q.dtype).tolist() == pytest.approx([0.0, -8 / 3, -16 / 3])


@pytest.mark.parametrize(("extra", "field"), [
    ("cases = [{ shape = [4, 64, 2, 8], paper_value = 0.0 }, { shape = [2, 128, 2, 8] }]", "claims[0].cases"),
    ("rule = { at_least = 0.9, of_paper = true }\npaper_value = 0.1", "claims[0].rule.of_paper"),
])
def test_a_trend_takes_no_paper_value_per_case(tmp_path: Path, extra: str, field: str) -> None:
    text = SUITE.replace("CASES", '{ shape = [4, 64, 2, 8] }, { shape = [2, 128, 2, 8] }')
    key = extra.split(" = ")[0]
    lines = [line for line in text.splitlines() if not line.startswith(key + " =")]
    path = tmp_path / "t.toml"
    path.write_text("\n".join(lines) + "\n" + extra + "\n")
    with pytest.raises(SuiteError) as exc:
        suite.load(path)
    assert exc.value.field == field and "no paper value per case" in str(exc.value)


def state_never_decays(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The block form with the carried state's decay forgotten: right while one block carries it."""
    qh, kh, vh = (t.transpose(1, 2).double() for t in (q * q.shape[-1] ** -0.5, k, v))
    b, h, n, d = qh.shape
    g = decay_logs(h, q.device, qh.dtype)[:, None]
    state, out = qh.new_zeros(b, h, d, d), []
    for start in range(0, n, reference.BLOCK):
        qb, kb, vb = (x[:, :, start:start + reference.BLOCK] for x in (qh, kh, vh))
        i = torch.arange(qb.shape[2], dtype=qh.dtype)
        gap = i[:, None] - i[None, :]
        inside = torch.where(gap >= 0, torch.exp(g[:, :, None] * gap.clamp(min=0)), torch.zeros((), dtype=qh.dtype))
        out.append(((qb @ kb.transpose(-1, -2)) * inside) @ vb + (qb * torch.exp(g * (i + 1))[..., None]) @ state)
        state = state + (kb * torch.exp(g * (qb.shape[2] - 1 - i))[..., None]).transpose(-1, -2) @ vb
    return torch.cat(out, dim=2).transpose(1, 2).to(q.dtype)


def test_a_block_form_that_forgets_to_decay_its_state_is_refused() -> None:
    from kbench import correctness
    from kbench.registry import Implementation

    op = registry.operation("lightning_attention")
    wrong = Implementation("lightning_attention", "state_never_decays", state_never_decays, dtypes=("float32",))
    checks = correctness.check_all(op, wrong, {"shape": [2, 100, 3, 8], "dtype": "float32"}, torch.device("cpu"), 3)
    assert not checks[-1].ok and checks[-1].variant == "odd length"  # two blocks pass; the variant has four


def test_two_points_or_three_rounds_in_all_are_enough_for_a_trend() -> None:
    two = judge(trend_claim(Rule(at_least=0.5)), sweep({128: [1.0, 1.01, 0.99], 256: [2.0, 2.02, 1.98]}), {})
    assert two.verdict == "reproduced" and two.measured == pytest.approx(1.0, abs=0.02) and two.n == 6
    three = judge(trend_claim(Rule(at_least=0.5)), sweep({128: [1.0], 256: [2.0], 512: [4.1]}), {})
    assert three.measured == pytest.approx(stats.trend(np.log([128, 256, 512]), np.log([1.0, 2.0, 4.1])).value)
    assert three.n == 3 and three.interval is not None


def test_each_points_value_is_the_geometric_mean_of_its_rounds_one_round_without_groups() -> None:
    v = judge(trend_claim(Rule(at_least=0.0)), sweep({128: [1.0, 4.0], 256: [2.0, 8.0]}), {})
    assert [c["value"] for c in v.per_case] == pytest.approx([2.0, 4.0])  # sqrt(1 x 4), sqrt(2 x 8)
    ungrouped = sweep({128: [1.0], 256: [2.0], 512: [4.0]})
    for m in ungrouped:
        m["groups"] = None  # no groups stored: all samples one round
    assert judge(trend_claim(Rule(at_least=0.5)), ungrouped, {}).n == 3


def test_cpu_cases_at_one_size_are_refused_by_their_own_name(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(SUITE.replace("CASES", '{ shape = [4, 64, 2, 8] }, { shape = [2, 128, 2, 8] }')
                    + 'cpu_cases = [{ shape = [4, 64, 2, 8] }, { shape = [2, 64, 2, 8] }]\n')
    with pytest.raises(SuiteError) as exc:
        suite.load(path)
    assert exc.value.field == "claims[0].cpu_cases"
    path.write_text(SUITE.replace("CASES", '{ shape = [4, 64, 2, 8] }, { shape = [2, 128, 2, 8] }'))
    assert suite.load(path).claims[0].cases  # two sizes are a trend
