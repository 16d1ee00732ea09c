"""Rendering the report's pages from the model with jinja2 templates (templates/)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from kbench.labels import fmt, measured, rule_text
from kbench.report.tables import ReportModel, kernel_rows

TEMPLATES = Path(__file__).parent / "templates"


def _env() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


def _matrix(model: ReportModel) -> list[dict[str, Any]]:
    rows = []
    for suite, info in model.suites.items():
        for claim, cinfo in info["claims"].items():
            cells = []
            for device in model.devices:
                v = model.latest_verdict(suite, claim, device)
                cells.append(None if v is None else {
                    "verdict": v.verdict, "measured": measured(v.measured, v.low, v.high), "run_id": v.run_id,
                    "runs": model.run_count(suite, claim, device),
                    "hidden": model.hidden_newer(suite, claim, device, v)})
            rows.append({"suite": suite, "claim": claim, "kind": cinfo["kind"],
                         "paper_value": fmt(cinfo["paper_value"]), "cells": cells})
    return rows


def _claim_rows(model: ReportModel, suite: str, claim: str) -> list[dict[str, Any]]:
    rows = []
    for device in model.devices:
        v = model.latest_verdict(suite, claim, device)
        if v is not None:
            rows.append({"device": device, "verdict": v.verdict, "measured": measured(v.measured, v.low, v.high),
                         "n": fmt(v.n), "paper": fmt(v.paper_value), "ratio": fmt(v.ratio_to_paper),
                         "reason": v.reason or "", "run_id": v.run_id, "created": str(v.created)[:19]})
    return rows


def _kernel_tables(model: ReportModel, suite: str) -> list[dict[str, Any]]:
    tables = []
    for device, run in model.latest_runs(suite).items():
        rows = kernel_rows(run)
        if not rows:
            continue
        copy = (run.get("peaks") or {}).get("copy_gbps")
        out = []
        for r in rows:
            floor = r["median_ms"] * r["copy_fraction"] if r["copy_fraction"] else None
            out.append({"impl": r["impl"], "pass": r["pass"], "shape": r["shape"], "dtype": r["dtype"],
                        "median": fmt(r["median_ms"]), "ci": f"{fmt(r['ci_low'])}-{fmt(r['ci_high'])}", "n": r["n"],
                        "rounds": r["rounds"], "spread": _spread(r["between_sd_log"]),
                        "gbps": fmt(r["gbps"]), "fraction": fmt(r["copy_fraction"]), "floor": fmt(floor),
                        "err": fmt(r["max_err"]), "timing": r["timing"], "launch": r["launch"]})
        tables.append({"device": device, "run_id": run["run_id"], "copy_gbps": fmt(copy), "rows": out})
    return tables


def _spread(sd_log: float | None) -> str:
    """The run-to-run spread as a percentage (sd of the round medians, log scale)."""
    return "-" if sd_log is None else f"{sd_log:.1%}"


def _run_page(run: dict[str, Any]) -> dict[str, Any]:
    env = sorted((k, v) for k, v in run["env"].items() if k != "argv")
    verdicts = [{"claim": v["claim"], "verdict": v["verdict"],
                 "measured": measured(v["measured"], *(v.get("interval") or [None, None])),
                 "n": fmt(v.get("n")), "paper": fmt(v["paper_value"]), "rule": rule_text(v["rule"]),
                 "reason": "; ".join(filter(None, [v.get("reason"), *v.get("notes", [])]))}
                for v in run["verdicts"]]
    return {"run": run, "env": env + [("peaks", run.get("peaks", {}).get("copy_gbps"))], "verdicts": verdicts}


def render_all(model: ReportModel, figures: dict[str, dict[str, str]], out: Path) -> Path:
    env = _env()
    common = {"suites": list(model.suites)}
    for suite, info in model.suites.items():
        claims = [{"id": c, **ci, "rows": _claim_rows(model, suite, c), "figure": figures[suite][c]}
                  for c, ci in info["claims"].items()]
        page = env.get_template("suite.html").render(
            title=suite, suite=suite, paper=info["paper"], claims=claims, roofline=figures[suite].get("_roofline"),
            kernels=_kernel_tables(model, suite), **common)
        (out / f"suite-{suite}.html").write_text(page, encoding="utf-8")
    for run in model.runs:
        page = env.get_template("run.html").render(title=run["run_id"], **_run_page(run), **common)
        (out / f"run-{run['run_id']}.html").write_text(page, encoding="utf-8")
    runs = [{"created": str(r["created"])[:19], "suite": r["suite"], "device": r["env"].get("gpu"),
             "commit": str(r["env"].get("git_commit") or "?")[:10], "run_id": r["run_id"],
             "summary": ", ".join(f"{sum(v['verdict'] == k for v in r['verdicts'])} {k}"
                                  for k in ("reproduced", "not-reproduced", "inconclusive", "skipped", "error")
                                  if any(v["verdict"] == k for v in r["verdicts"]))}
            for r in reversed(model.runs)]
    index = out / "index.html"
    index.write_text(env.get_template("index.html").render(
        title="index", matrix=_matrix(model), devices=model.devices, n_runs=len(model.runs), runs=runs,
        problems=model.problems, **common), encoding="utf-8")
    return index
