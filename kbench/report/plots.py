"""Figures for the report, drawn with matplotlib into PNG files beside the pages.

Per claim: its per-case values with 95% intervals on each device's latest run (the paper's value
where it belongs: across the claim, or as a star on the one case that has its conditions; the
rule's bounds as lines), beside the history of the claim's value across runs and commits, one line
per device, on a linear range that holds every interval and spans at least a fifth of the values
(the regression plot; runs timed by different methods, eager calls or CUDA-graph replays, are
separate lines, never one); a law claim adds its data, every seed's points and their mean, with each
fitted form drawn over them; a matched claim adds each side's tuning curve (validation score per
learning rate tried, the rate picked circled, a censored edge crossed). Per suite: achieved
bandwidth of every timed kernel as a fraction of the copy bandwidth measured in the same run.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on CI or GPU hosts
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from kbench import laws  # noqa: E402
from kbench.labels import case_label  # noqa: E402
from kbench.report.tables import ReportModel, kernel_rows  # noqa: E402

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _bounds(rule: str) -> list[float]:
    """The absolute bounds a rule's text states ('>= 43.25 (0.5 x paper)' -> 43.25)."""
    return [float(v) for v in re.findall(r"[<>]= ([0-9.eE+-]+)", rule)]


def _use_log(values: list[float]) -> bool:
    """A log axis only for positive values spanning more than 20x: a signed quantity (an accuracy
    difference, a slope) stays linear, or its negative values would vanish."""
    if not values or any(v is None or not v > 0 for v in values):
        return False
    return max(values) / min(values) > 20


def _cases_axis(ax: Any, model: ReportModel, suite: str, claim: str, info: dict[str, Any]) -> None:
    values: list[float] = []
    shown_cases: list[dict[str, Any]] = []
    for i, (device, run) in enumerate(model.latest_runs(suite, claim).items()):
        verdict = next((v for v in run["verdicts"] if v["claim"] == claim), None)
        cases = (verdict or {}).get("per_case") or []
        if not cases:
            continue
        ys = [c["value"] for c in cases]
        lo = [c["value"] - (c.get("interval") or [c["value"]] * 2)[0] for c in cases]  # no interval: a bare point
        hi = [(c.get("interval") or [c["value"]] * 2)[1] - c["value"] for c in cases]
        xs = [j + 0.12 * i for j in range(len(cases))]
        ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o", capsize=4, color=COLORS[i % len(COLORS)], label=device)
        ax.set_xticks(range(len(cases)), [case_label(c["case"])[:28] for c in cases], rotation=20, ha="right",
                      fontsize=7)
        values += ys
        shown_cases = shown_cases or cases
    for bound in _bounds(info["rule"]):
        ax.axhline(bound, color="gray", linestyle="--", linewidth=1, label=f"rule {bound:g}")
        values.append(bound)
    if info.get("paper_value"):
        ax.axhline(info["paper_value"], color="black", linestyle=":", linewidth=1.5,
                   label=f"paper {info['paper_value']:g}")
        values.append(info["paper_value"])
    for j, case in enumerate(shown_cases):  # a paper value that belongs to one case's conditions: that case only
        paper = (case.get("case") or {}).get("paper_value")
        if paper is not None and not info.get("paper_value"):
            ax.plot([j], [paper], marker="*", markersize=12, color="black", linestyle="none",
                    label=f"paper {paper:g} (its conditions)")
            values.append(paper)
    if _use_log(values):
        ax.set_yscale("log")
    ax.set_ylabel(str(info.get("kind", "value")))
    ax.set_title("per case, latest run per device", fontsize=9)
    ax.legend(fontsize=7)


def _history_axis(ax: Any, model: ReportModel, suite: str, claim: str) -> None:
    rows = model.verdicts[(model.verdicts.suite == suite) & (model.verdicts.claim == claim)].sort_values("created")
    values: list[float] = []
    for i, ((device, method), group) in enumerate(rows.groupby(["device", "timing"], sort=False)):
        group = group.dropna(subset=["measured"])
        if group.empty:
            continue
        labels = [f"{str(c)[5:16]}\n{str(sha or '?')[:7]}" for c, sha in zip(group.created, group.commit, strict=True)]
        lo = (group.measured - group.low).clip(lower=0).tolist()
        hi = (group.high - group.measured).clip(lower=0).tolist()
        ax.errorbar(labels, group.measured.tolist(), yerr=[lo, hi], fmt="-o", capsize=3,
                    color=COLORS[i % len(COLORS)], label=f"{device}, {method}" if method else str(device))
        values += group.measured.tolist()
    if _use_log(values):
        ax.set_yscale("log")
    elif values:
        _honest_range(ax, rows.dropna(subset=["measured"]))
    ax.set_ylabel(str(rows.kind.iloc[0]) if len(rows) else "")
    ax.tick_params(axis="x", labelsize=6)
    ax.set_title("history across runs (date, commit)", fontsize=9)
    if values:
        ax.legend(fontsize=7)


MIN_SPAN = 0.2  # a history axis spans at least 20% of the values' size: a 0.1% change must not look like a cliff


def _honest_range(ax: Any, rows: Any) -> None:
    """A linear y range that holds every interval and spans at least MIN_SPAN of the values' size
    (zero included where the values are signed), so noise looks like noise."""
    lows = rows.low.fillna(rows.measured).tolist() + rows.measured.tolist()
    highs = rows.high.fillna(rows.measured).tolist() + rows.measured.tolist()
    lo, hi = min(lows), max(highs)
    if lo < 0 < hi or lo <= 0 <= hi:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    size = max(abs(lo), abs(hi), 1e-12)
    if hi - lo < MIN_SPAN * size:
        middle = (hi + lo) / 2
        lo, hi = middle - MIN_SPAN * size / 2, middle + MIN_SPAN * size / 2
    pad = 0.05 * (hi - lo)
    ax.set_ylim(lo - pad, hi + pad)


def _law_series(details: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    if "x" in details:
        return [("", details)]
    return [(f"{role} ", details[role]) for role in ("baseline", "candidate") if isinstance(details.get(role), dict)]


def _law_axis(ax: Any, model: ReportModel, suite: str, claim: str) -> None:
    """The latest run's points per seed (faint), their mean, and every fitted form's curve."""
    runs = model.latest_runs(suite, claim)
    if not runs:
        return
    device, run = next(iter(runs.items()))
    verdict = next((v for v in run["verdicts"] if v["claim"] == claim), None)
    cases = (verdict or {}).get("per_case") or []
    try:
        _draw_law(ax, cases)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:  # details edited by hand
        ax.text(0.5, 0.5, f"cannot draw the fit: {type(exc).__name__}", ha="center", transform=ax.transAxes)
    ax.set_xscale("log")
    ax.set_xlabel("amount (x)")
    ax.set_ylabel("quantity")
    ax.set_title(f"data and fits, {device}", fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6)


def _draw_law(ax: Any, cases: list[dict[str, Any]]) -> None:
    styles = iter(["-", "--", ":", "-."] * 4)
    for i, (name, d) in enumerate(s for c in cases[:1] for s in _law_series(c.get("details") or {})):
        x, color = np.asarray(d["x"], dtype=float), COLORS[i % len(COLORS)]
        for row in d.get("per_seed") or []:
            ax.plot(x, row, "o", color=color, alpha=0.25, markersize=3)
        ax.plot(x, d["mean"], "o", color=color, label=f"{name}mean of {len(d.get('seeds') or [])} seeds")
        dense = np.geomspace(x.min(), x.max(), 200)
        fits = d.get("fits") or {}
        for form, fit in fits.items():
            if not isinstance(fit, dict) or "params" not in fit:
                continue
            curve = laws.FORMS[form].fn(dense / float(fits["x_scale"]), *fit["params"].values())
            ax.plot(dense, curve, next(styles), color=color, linewidth=1, label=f"{name}{form}")


def _tuning_axis(ax: Any, model: ReportModel, suite: str, claim: str) -> None:
    """Each side's validation score per learning rate tried (latest run, first case, every
    replicate), the rate it picked circled, and a cross where its tuning stopped at an edge."""
    runs = model.latest_runs(suite, claim)
    if not runs:
        return
    device, run = next(iter(runs.items()))
    tuned = [m for m in run["measurements"] if m["claim"] == claim and isinstance((m.get("extra") or {}).get(
        "tuning"), dict) and m["extra"]["tuning"]]
    first_case = tuned[0]["case"] if tuned else None
    for m in (m for m in tuned if m["case"] == first_case):
        color = COLORS[("baseline", "candidate").index(m["role"]) % 2] if m["role"] in ("baseline", "candidate") \
            else COLORS[2]
        points = sorted((float(lr), v) for lr, v in m["extra"]["tuning"].items() if v is not None)
        label = f"{m['role']}" + (f" (master seed {m['replicate']})" if m.get("replicate") is not None else "")
        ax.plot([p[0] for p in points], [p[1] for p in points], "-o", color=color, markersize=3, label=label)
        picked = [v for lr, v in points if lr == m["extra"].get("lr")]
        if picked:
            ax.plot([m["extra"]["lr"]], picked, "o", markersize=10, markerfacecolor="none", color=color)
        if m["extra"].get("tuning_censored") and picked:
            ax.plot([m["extra"]["lr"]], picked, "x", markersize=12, color="black")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("validation " + (str(tuned[0]["metric"]) if tuned else "score"))
    ax.set_title(f"tuning, {device}" + (f", {case_label(first_case)[:30]}" if first_case else ""), fontsize=9)
    if tuned:
        ax.legend(fontsize=6)


def _holds(model: ReportModel, suite: str, claim: str, key: str) -> bool:
    """Whether the claim's latest runs stored `extra[key]` (a law's points, a tuning curve): the
    figure draws what the file holds, whatever kind of claim wrote it."""
    return any(m["claim"] == claim and isinstance((m.get("extra") or {}).get(key), dict)
               for run in model.latest_runs(suite, claim).values() for m in run["measurements"])


def claim_figure(model: ReportModel, suite: str, claim: str, info: dict[str, Any], out: Path) -> str:
    law = _holds(model, suite, claim, "law")
    tuned = not law and _holds(model, suite, claim, "tuning")
    fig, axes = plt.subplots(1, 3 if law or tuned else 2, figsize=(16 if law or tuned else 11, 3.6))
    left, right = axes[0], axes[1]
    _cases_axis(left, model, suite, claim, info)
    _history_axis(right, model, suite, claim)
    if law:
        _law_axis(axes[2], model, suite, claim)
    if tuned:
        _tuning_axis(axes[2], model, suite, claim)
    fig.suptitle(f"{claim} ({info['kind']})", fontsize=10)
    fig.tight_layout()
    name = f"{_slug(suite)}--{_slug(claim)}.png"
    fig.savefig(out / name, dpi=90)
    plt.close(fig)
    return name


def roofline_figure(model: ReportModel, suite: str, out: Path) -> str | None:
    panels = [(device, [r for r in kernel_rows(run) if r["copy_fraction"] is not None])
              for device, run in model.latest_runs(suite).items()]
    panels = [(d, rows) for d, rows in panels if rows]
    if not panels:
        return None
    height = max(len(rows) for _, rows in panels)
    fig, axes = plt.subplots(1, len(panels), figsize=(7 * len(panels), 0.28 * height + 1.5), squeeze=False)
    for ax, (device, rows) in zip(axes[0], panels, strict=True):
        rows = sorted(rows, key=lambda r: r["copy_fraction"])
        labels = [f"{r['impl']} {r['pass']} {r['shape']} {r['dtype']}" for r in rows]
        ax.barh(labels, [r["copy_fraction"] for r in rows], color="#1f77b4")
        ax.axvline(1.0, color="black", linewidth=1, label="measured copy bandwidth")
        ax.set_xscale("log")
        ax.tick_params(axis="y", labelsize=6)
        ax.set_xlabel("achieved bytes/s / copy bandwidth (log)")
        ax.set_title(device, fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    name = f"{_slug(suite)}--roofline.png"
    fig.savefig(out / name, dpi=90)
    plt.close(fig)
    return name


def draw_all(model: ReportModel, out: Path) -> dict[str, dict[str, str]]:
    """suite -> {claim id or '_roofline': file name}."""
    figures: dict[str, dict[str, str]] = {}
    for suite, info in model.suites.items():
        names = {claim: claim_figure(model, suite, claim, cinfo, out) for claim, cinfo in info["claims"].items()}
        roof = roofline_figure(model, suite, out)
        if roof:
            names["_roofline"] = roof
        figures[suite] = names
    return figures
