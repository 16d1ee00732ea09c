"""The gate's report as markdown, fit for a pull-request comment (presentation only)."""

from __future__ import annotations

from kbench.gate import GateReport
from kbench.gate_metrics import MIN_ROUNDS, Comparison


def _num(value: float | None) -> str:  # pragma: no mutate block (presentation)
    return "-" if value is None or value != value else f"{value:.4g}"


def _row(c: Comparison) -> str:  # pragma: no mutate block (presentation)
    interval = f"[{_num(c.low)}, {_num(c.high)}]" if c.low is not None else "-"
    return (f"| {c.subject} | {c.case} | {c.metric} ({c.noise}) | {_num(c.baseline)} | {_num(c.candidate)} "
            f"| {c.ratio:.3f} {interval} | {_num(c.p_value)} | {c.tolerance:.1%} | {c.status} {c.reason} |")


def markdown(report: GateReport) -> str:  # pragma: no mutate block (presentation)
    """A summary fit for a pull-request comment."""

    def count(status: str) -> int:
        return sum(c.status == status for c in report.comparisons)

    lines = [f"## kbench gate: {report.verdict}", "",
             f"Device: **{report.device}**. Baseline `{report.baseline}`, candidate `{report.candidate}`.", "",
             f"{len(report.regressions)} regression(s), {len(report.flips)} verdict flip(s), "
             f"{len(report.missing)} missing, {count('improvement')} improvement(s), {count('suspect')} suspect, "
             f"{count('ambiguous')} ambiguous, "
             f"{count('underpowered')} that cannot be judged, {len(report.comparisons)} metric(s) compared.", ""]
    header = ["| subject | case | metric | baseline | candidate | ratio [95% CI] | p | tolerance | status |",
              "|---|---|---|---:|---:|---|---:|---:|---|"]
    if report.regressions:
        lines += ["### Regressions", "", *header, *(_row(c) for c in report.regressions), ""]
    if report.flips:
        lines += ["### Verdict changes", "", "| claim | before | after |", "|---|---|---|",
                  *(f"| {f.claim} | {f.before} | {f.after} |" for f in report.flips), ""]
    if report.missing:
        lines += ["### Missing from the candidate", "", *(f"- {m}" for m in report.missing), ""]
    if report.underpowered or report.unjudged:
        lines += ["### Cannot judge", "", *(f"- {c.subject} / {c.case} / {c.metric} ({c.status}): {c.reason}"
                                            for c in report.underpowered),
                  *(f"- {u}: measured on another device (or one not recorded precisely)" for u in report.unjudged),
                  "", f"Record at least {MIN_ROUNDS} rounds per timing on each side: `kbench run` takes 5 per kernel "
                  "timing and 3 per train step; `kbench merge` joins repeated runs of one commit into more rounds.", ""]
    if report.comparisons:
        lines += ["<details><summary>All compared metrics</summary>", "", *header,
                  *(_row(c) for c in report.comparisons), "", "</details>", ""]
    lines += [f"Note: {n}" for n in report.notes]
    return "\n".join(lines).rstrip() + "\n"
