"""`kbench report [--results DIR] [--out DIR]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from kbench.cli.options import folder


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:

    p = sub.add_parser("report", help="build the static HTML report from a results folder")
    p.add_argument("--results", type=folder, default="results", help="results folder (default: results)")
    p.add_argument("--out", type=folder, default="build/report", help="output folder (default: build/report)")
    p.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace) -> int:
    from kbench.errors import KbenchError
    from kbench.report import build

    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".kbench-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise KbenchError(f"--out {args.out}: expected a folder kbench can create and write to "
                          f"({exc.strerror or exc})") from None
    build(args.results, args.out)
    return 0
