"""`kbench gate [BASELINE] CANDIDATE`: exit 0 clean, 1 regression, 2 unusable input or cannot judge."""

from __future__ import annotations

import argparse
from pathlib import Path

from kbench import env, gate, results
from kbench.cli_args import folder
from kbench.errors import KbenchError


def add_gate_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]

    p = sub.add_parser("gate", help="compare two result files; fail on a significant slowdown")
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
    device = env.device_slug(results.load(candidate)["env"])
    baseline = Path(args.baselines) / f"{device}.json"
    if not baseline.exists():
        raise KbenchError(f"gate: no baseline for device {device!r} at {baseline}")
    return baseline, candidate


def run_gate(args: argparse.Namespace) -> int:
    if not 0 < args.threshold < 1 or not 0 < args.alpha < 1:
        raise KbenchError("gate: --threshold and --alpha must lie between 0 and 1")
    base_path, cand_path = _paths(args)
    report = gate.compare(results.load(base_path), results.load(cand_path), default_threshold=args.threshold,
                          alpha=args.alpha)
    text = gate.markdown(report)
    print(text)
    if args.summary:
        try:
            Path(args.summary).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise KbenchError(f"gate --summary {args.summary}: cannot write ({exc.strerror or exc})") from None
    return report.exit_code
