"""How results read: the labels, numbers and tables that `kbench show`, the report and the gate
share, so one measurement is named alike wherever it appears."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd


def timing_methods(run: Mapping[str, Any], claim: str) -> str:
    """How a claim's timings were taken in a run ('cuda-graph', 'eager', 'perf-counter', ...; several
    joined by '+'), or '' for a claim that times nothing: runs timed differently are not one series."""
    methods = sorted({str(m["extra"]["timing"]) for m in run["measurements"]
                      if m["claim"] == claim and isinstance(m.get("extra"), dict) and m["extra"].get("timing")})
    return "+".join(methods)


def verdict_table(results: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (run, claim): the project's record as one pandas table."""
    rows = []
    for r in results:
        env = r["env"]
        for v in r["verdicts"]:
            interval = v.get("interval") or [None, None]
            rows.append({
                "suite": r["suite"], "run_id": r["run_id"], "created": r["created"], "device": env.get("gpu"),
                "commit": env.get("git_commit"), "dirty": env.get("git_dirty"),
                "interrupted": bool(r.get("interrupted")), "claim": v["claim"],
                "timing": timing_methods(r, v["claim"]),
                "kind": v["kind"], "verdict": v["verdict"], "measured": v["measured"], "low": interval[0],
                "high": interval[1], "paper_value": v["paper_value"], "ratio_to_paper": v["ratio_to_paper"],
                "rule": rule_text(v["rule"]), "reason": v.get("reason") or "", "n": v.get("n"), "path": r.get("_path"),
            })
    return pd.DataFrame(rows)


def measurement_table(results: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per measurement, with its run's device and commit."""
    rows = []
    for r in results:
        env = r["env"]
        for m in r["measurements"]:
            summary = m.get("summary") or {}
            rows.append({
                "suite": r["suite"], "run_id": r["run_id"], "created": r["created"], "device": env.get("gpu"),
                "commit": env.get("git_commit"), "claim": m["claim"], "metric": m["metric"], "unit": m.get("unit"),
                "subject": subject_label(m.get("subject") or {}), "case": case_label(m.get("case") or {}),
                "status": m["status"], "median": summary.get("median"), "low": summary.get("ci_low"),
                "high": summary.get("ci_high"), "n": summary.get("n"), "rounds": summary.get("rounds"),
                "between_sd_log": summary.get("between_sd_log"), "reason": m.get("reason"),
                **{k: v for k, v in (m.get("extra") or {}).items() if isinstance(v, (int, float, str))},
            })
    return pd.DataFrame(rows)


def rule_text(rule: Any) -> str:
    """A rule as stored (schema 2: a dict with its text; schema 1: the text itself)."""
    return str(rule.get("text", "")) if isinstance(rule, Mapping) else str(rule or "")


def subject_label(subject: Mapping[str, Any]) -> str:
    """'impl:pass' for kernels; 'model[impl]' for models, then the preset and architecture keywords
    when the subject names them (two sides of one family differ only there)."""
    if "model" not in subject:
        return f"{subject.get('impl')}:{subject['pass']}" if subject.get("pass") else str(subject.get("impl"))
    label = f"{subject['model']}[{subject['impl']}]" if subject.get("impl") else str(subject["model"])
    if subject.get("size"):
        label += f" {subject['size']}"
    if subject.get("arch"):
        label += " {" + ", ".join(f"{k}={v}" for k, v in sorted(subject["arch"].items())) + "}"
    return label


def fmt(value: Any) -> str:
    """A number as tables show it, on the terminal and in the report; "-" when missing."""
    if value is None or value != value:  # None or NaN
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        if abs(value) >= 100:
            return f"{value:.1f}"
        return f"{value:.3g}"
    return str(value)


def measured(value: Any, low: Any, high: Any) -> str:
    """'value [low, high]', or the value alone when there is no interval."""
    if value is None or value != value:
        return "-"
    if low is None or high is None or low != low or high != high:
        return f"{fmt(value)} [no interval]"
    return f"{fmt(value)} [{fmt(low)}, {fmt(high)}]"


def case_label(case: Mapping[str, Any]) -> str:
    """A case's label if it has one, else its fields, e.g. '128x197x768 dtype=float32'."""
    if "label" in case:
        return str(case["label"])
    parts = []
    for key, value in case.items():
        if key == "paper_value":
            continue
        parts.append("x".join(map(str, value)) if isinstance(value, list) else f"{key}={value}")
    return " ".join(parts)
