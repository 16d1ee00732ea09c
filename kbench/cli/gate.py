"""`kbench gate [BASELINE] CANDIDATE`: exit 0 clean, 1 regression, 2 unusable input or cannot judge."""

from __future__ import annotations

import argparse
from pathlib import Path

from kbench import env, gate, gate_summary, reading
from kbench.cli.options import folder
from kbench.errors import KbenchError

STATUSES = """each metric's status:
  regression    worse beyond the threshold, significant (p < alpha), and beyond twice the baseline's
                round-to-round spread: fails (exit 1)
  suspect       worse beyond the threshold but not shown to be: cannot judge (exit 2)
  ambiguous     better beyond the threshold but not shown to be (not significant): passes
  improvement   better beyond the threshold and significant: passes
  unchanged     no significant change beyond the threshold: passes
  underpowered  too few rounds or seeds to judge (fewer than 3 rounds, or 2 paired seeds): exit 2
  changed       a value with no better direction moved (a fitted law parameter: noted; an exact
                count such as FLOPs or parameters: the runs measured different things, exit 2)
claims: reproduced before and not now, or a claim or metric the candidate lacks: fails (exit 1);
every other verdict change, and timings taken by different methods, are noted.

exit status: 0 pass; 1 a regression, a lost verdict or something missing; 2 unusable input
(unreadable file, another suite, an interrupted run) or something the gate cannot judge."""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:

    p = sub.add_parser("gate", help="compare two result files; fail on a significant slowdown",
                       description="Compare a candidate result with a baseline, metric by metric, as each "
                                   "measurement's noise model says.",
                       epilog=STATUSES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", metavar="RESULT",
                   help="BASELINE CANDIDATE, or only CANDIDATE to compare with results/baselines/<device>.json")
    p.add_argument("--baselines", type=folder, default="results/baselines", help="folder of per-device baselines")
    p.add_argument("--threshold", type=float, default=gate.DEFAULT_THRESHOLD,
                   help="slowdown that fails when significant, unless a claim sets max_slowdown (default 0.05)")
    p.add_argument("--alpha", type=float, default=gate.DEFAULT_ALPHA, help="significance level (default 0.01)")
    p.add_argument("--summary", help="also write the markdown summary to this file")
    p.set_defaults(handler=run_gate)


def _paths(args: argparse.Namespace) -> tuple[Path, Path]:
    if len(args.files) > 2:
        raise KbenchError("gate: expected BASELINE CANDIDATE or CANDIDATE")
    if len(args.files) == 2:
        return Path(args.files[0]), Path(args.files[1])
    candidate = Path(args.files[0])
    device = env.device_slug(reading.load(candidate)["env"])
    baseline = Path(args.baselines) / f"{device}.json"
    if not baseline.exists():
        raise KbenchError(f"gate: no baseline for device {device!r} at {baseline}")
    return baseline, candidate


def run_gate(args: argparse.Namespace) -> int:
    if not 0 < args.threshold < 1 or not 0 < args.alpha < 1:
        raise KbenchError("gate: --threshold and --alpha must lie between 0 and 1")
    base_path, cand_path = _paths(args)
    report = gate.compare(reading.load(base_path), reading.load(cand_path), default_threshold=args.threshold,
                          alpha=args.alpha)
    text = gate_summary.markdown(report)
    print(text)
    if args.summary:
        try:
            Path(args.summary).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise KbenchError(f"gate --summary {args.summary}: cannot write ({exc.strerror or exc})") from None
    return report.exit_code
