"""The regression gate: two result files in, pass/fail and a markdown summary out.

For every timed metric present in both results (kernel time, train-step time; lower is better),
the ratio candidate/baseline of medians with a bootstrap 95% interval and a Mann-Whitney U test.
A regression is a slowdown both larger than the threshold (default 5%, or the claim's
`max_slowdown` in its suite file) and statistically significant (p < alpha and the interval above
1). A claim whose verdict flips from reproduced to not-reproduced (or to error) fails the gate too.
Pure functions over result dictionaries: no devices, no files (the CLI reads them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from kbench import stats
from kbench.errors import KbenchError
from kbench.results import case_label, subject_label

TIMED_METRICS = ("time_ms", "step_ms")
DEFAULT_THRESHOLD = 0.05
DEFAULT_ALPHA = 0.01
Status = Literal["regression", "improvement", "unchanged", "ambiguous"]


class GateInputError(KbenchError):
    """The two results cannot be compared (different devices, nothing in common)."""


@dataclass(frozen=True)
class Comparison:
    claims: tuple[str, ...]
    metric: str
    subject: str
    case: str
    baseline_median: float
    candidate_median: float
    ratio: float  # candidate / baseline; above 1 is slower
    low: float
    high: float
    p_value: float
    threshold: float
    status: Status


@dataclass(frozen=True)
class Flip:
    claim: str
    before: str
    after: str


@dataclass
class GateReport:
    baseline: str
    candidate: str
    device: str
    comparisons: list[Comparison] = field(default_factory=list)
    flips: list[Flip] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # metrics only the baseline has
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.status == "regression"]

    @property
    def failed(self) -> bool:
        return bool(self.regressions or self.flips)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def _timed(result: Mapping[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Timed measurements by (metric, subject, case); the same one filed under several claims
    (a shared, cached measurement) appears once, with every claim that uses it."""
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for m in result["measurements"]:
        if m.get("metric") not in TIMED_METRICS or m.get("status") != "ok" or not m.get("samples"):
            continue
        key = (m["metric"], subject_label(m.get("subject") or {}), case_label(m.get("case") or {}))
        entry = found.setdefault(key, {"samples": m["samples"], "claims": []})
        entry["claims"].append(m["claim"])
    return found


def _classify(ratio: float, low: float, high: float, p: float, threshold: float, alpha: float) -> Status:
    significant = p < alpha
    if ratio - 1 > threshold:
        return "regression" if significant and low > 1 else "ambiguous"
    if 1 - ratio > threshold:
        return "improvement" if significant and high < 1 else "ambiguous"
    return "unchanged"


def _check_comparable(base: Mapping[str, Any], cand: Mapping[str, Any]) -> list[str]:
    b_env, c_env = base.get("env", {}), cand.get("env", {})
    if b_env.get("gpu") != c_env.get("gpu"):
        raise GateInputError(f"different devices: the baseline ran on {b_env.get('gpu')!r}, the candidate on "
                             f"{c_env.get('gpu')!r}; timings from different devices are not comparable")
    notes = []
    for key in ("torch", "triton", "cuda", "driver"):
        if b_env.get(key) != c_env.get(key):
            notes.append(f"{key} differs: {b_env.get(key)} (baseline) vs {c_env.get(key)} (candidate)")
    return notes


def compare(base: Mapping[str, Any], cand: Mapping[str, Any], *, default_threshold: float = DEFAULT_THRESHOLD,
            alpha: float = DEFAULT_ALPHA) -> GateReport:
    """Compare two loaded result files (kbench.results.load)."""
    report = GateReport(str(base.get("_path", base.get("run_id"))), str(cand.get("_path", cand.get("run_id"))),
                        str(cand.get("env", {}).get("gpu")), notes=_check_comparable(base, cand))
    thresholds: Mapping[str, float] = cand.get("thresholds") or {}
    b_timed, c_timed = _timed(base), _timed(cand)
    common = sorted(set(b_timed) & set(c_timed))
    report.missing = [" / ".join(k) for k in sorted(set(b_timed) - set(c_timed))]
    for key in common:
        b, c = np.asarray(b_timed[key]["samples"]), np.asarray(c_timed[key]["samples"])
        claims = tuple(c_timed[key]["claims"])
        threshold = min([thresholds.get(cl, default_threshold) for cl in claims] or [default_threshold])
        ratio = float(np.median(c) / np.median(b))
        low, high = stats.interval(stats.ratio_draws(c, b))
        p = stats.mann_whitney_p(c, b)
        report.comparisons.append(Comparison(
            claims, key[0], key[1], key[2], float(np.median(b)), float(np.median(c)), ratio, low, high, p, threshold,
            _classify(ratio, low, high, p, threshold, alpha)))
    b_verdicts = {v["claim"]: v["verdict"] for v in base["verdicts"]}
    for v in cand["verdicts"]:
        before = b_verdicts.get(v["claim"])
        if before == "reproduced" and v["verdict"] in ("not-reproduced", "error"):
            report.flips.append(Flip(v["claim"], before, v["verdict"]))
    if not report.comparisons and not report.flips and not (set(b_verdicts) & {v["claim"] for v in cand["verdicts"]}):
        raise GateInputError("the two results share no timed metric and no claim: nothing to compare "
                             f"(suites {base.get('suite')!r} and {cand.get('suite')!r})")
    return report


def _fmt_ms(value: float) -> str:
    return f"{value:.4g}"


def _row(c: Comparison) -> str:
    return (f"| {c.subject} | {c.case} | {c.metric} | {_fmt_ms(c.baseline_median)} | {_fmt_ms(c.candidate_median)} "
            f"| {c.ratio:.3f} [{c.low:.3f}, {c.high:.3f}] | {c.p_value:.2g} | {c.threshold:.0%} | {c.status} |")


def markdown(report: GateReport) -> str:
    """A summary fit for a pull-request comment."""
    head = "FAIL" if report.failed else "PASS"
    lines = [f"## kbench gate: {head}", "",
             f"Device: **{report.device}**. Baseline `{report.baseline}`, candidate `{report.candidate}`.", "",
             f"{len(report.regressions)} regression(s), {len(report.flips)} verdict flip(s), "
             f"{sum(c.status == 'improvement' for c in report.comparisons)} improvement(s), "
             f"{sum(c.status == 'ambiguous' for c in report.comparisons)} ambiguous, "
             f"{len(report.comparisons)} metric(s) compared.", ""]
    header = ["| subject | case | metric | baseline ms | candidate ms | ratio [95% CI] | p | threshold | status |",
              "|---|---|---|---:|---:|---|---:|---:|---|"]
    if report.regressions:
        lines += ["### Regressions", "", *header, *(_row(c) for c in report.regressions), ""]
    if report.flips:
        lines += ["### Verdict flips", "", "| claim | before | after |", "|---|---|---|",
                  *(f"| {f.claim} | {f.before} | {f.after} |" for f in report.flips), ""]
    if report.comparisons:
        lines += ["<details><summary>All compared metrics</summary>", "", *header,
                  *(_row(c) for c in report.comparisons), "", "</details>", ""]
    if report.missing:
        lines += ["Metrics in the baseline but not in the candidate: " + "; ".join(report.missing), ""]
    lines += [f"Note: {n}" for n in report.notes]
    return "\n".join(lines).rstrip() + "\n"
