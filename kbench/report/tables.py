"""The report's data: pandas tables of verdicts and measurements, and the views pages need."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from kbench.labels import measurement_table, rule_text, verdict_table


@dataclass
class ReportModel:
    runs: list[dict[str, Any]]
    problems: list[str]
    verdicts: pd.DataFrame  # one row per (run, claim)
    measurements: pd.DataFrame  # one row per measurement
    devices: list[str] = field(default_factory=list)
    suites: dict[str, dict[str, Any]] = field(default_factory=dict)  # suite -> paper, claims (ordered)

    def latest_runs(self, suite: str, claim: str | None = None) -> dict[str, dict[str, Any]]:
        """Per device, the newest run of `suite` that holds `claim`; without a claim, the newest of
        the runs that hold the most claims (a run of a few claims with --only does not hide a full one)."""
        latest: dict[str, dict[str, Any]] = {}
        for r in self.runs:  # oldest first
            if r["suite"] != suite or (claim is not None and all(v["claim"] != claim for v in r["verdicts"])):
                continue
            device = r["env"].get("gpu", "?")
            if claim is not None or len(r["verdicts"]) >= len(latest.get(device, {"verdicts": []})["verdicts"]):
                latest[device] = r
        return latest

    def latest_verdict(self, suite: str, claim: str, device: str) -> pd.Series | None:
        """The verdict shown for a claim on a device: the newest from a finished run of a clean tree
        that judged it (not `skipped`); only where there is none, the newest of the others. A local
        run that was interrupted, or taken on a modified tree, never hides committed evidence."""
        rows = self.verdicts[(self.verdicts.suite == suite) & (self.verdicts.claim == claim)
                             & (self.verdicts.device == device)]
        if rows.empty:
            return None
        ranked = rows.assign(_evidence=(~rows.interrupted) & (rows.dirty == False) & (rows.verdict != "skipped"))  # noqa: E712
        return ranked.sort_values(["_evidence", "created"]).iloc[-1]

    def hidden_newer(self, suite: str, claim: str, device: str, shown: pd.Series) -> int:
        """How many newer runs of the claim on the device are not shown (interrupted, modified tree, skipped)."""
        v = self.verdicts
        return int(((v.suite == suite) & (v.claim == claim) & (v.device == device) & (v.created > shown.created)).sum())

    def run_count(self, suite: str, claim: str, device: str) -> int:
        v = self.verdicts
        return int(((v.suite == suite) & (v.claim == claim) & (v.device == device)).sum())


def build(runs: list[dict[str, Any]], problems: list[str]) -> ReportModel:
    model = ReportModel(runs, problems, verdict_table(runs), measurement_table(runs))
    model.devices = sorted({r["env"].get("gpu", "?") for r in runs}, key=lambda d: (d == "cpu", d))
    for r in runs:
        info = model.suites.setdefault(r["suite"], {"paper": r.get("paper", {}), "claims": {}})
        for v in r["verdicts"]:
            info["claims"].setdefault(v["claim"], {"kind": v["kind"], "quote": v["quote"], "rule": rule_text(v["rule"]),
                                                   "paper_value": v["paper_value"]})
    return model


def kernel_rows(run: dict[str, Any]) -> list[dict[str, Any]]:
    """Every timed kernel of a run once (shared measurements appear under several claims)."""
    seen: dict[tuple[str, str, str], dict[str, Any]] = {}
    for m in run["measurements"]:
        if m.get("metric") != "time_ms" or not m.get("summary") or m.get("role") == "rejected":
            continue
        case = m.get("case") or {}
        subject = m.get("subject") or {}
        key = (str(subject.get("impl")), str(subject.get("pass")), f"{case.get('shape')} {case.get('dtype')}")
        if key in seen:
            continue
        extra = m.get("extra") or {}
        errors = extra.get("errors_before") or {}
        seen[key] = {
            "impl": key[0], "pass": key[1], "shape": "x".join(map(str, case.get("shape", []))),
            "dtype": case.get("dtype", ""), "median_ms": m["summary"]["median"], "ci_low": m["summary"]["ci_low"],
            "ci_high": m["summary"]["ci_high"], "n": m["summary"]["n"], "rounds": m["summary"].get("rounds", 1),
            "between_sd_log": m["summary"].get("between_sd_log"), "gbps": extra.get("gbps"),
            "copy_fraction": extra.get("copy_fraction"), "timing": extra.get("timing", ""),
            "max_err": max(errors.values()) if errors else None,
            "launch": "; ".join(f"{k}: {v}" for k, v in (extra.get("launch") or {}).items()),
        }
    return list(seen.values())
