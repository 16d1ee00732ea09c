"""Command line: `kbench run | validate | list | show | env | verify | schema | merge | report | gate |
submit`. Each command's module declares its parser and its handler (`set_defaults(handler=...)`);
`main` dispatches to it.

User errors (`KbenchError`) are caught here, once: one line on stderr, exit status 2. Ctrl-C
anywhere (even while torch loads) ends with one line and status 130; during a run, what was
measured is written first. Building the parser imports no torch or Triton: `run` chooses the
device Triton runs on before anything loads it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from kbench.cli import files, gate, report, run, submit
from kbench.cli.options import EXIT_INTERRUPTED, EXIT_USAGE
from kbench.errors import KbenchError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kbench", description="Check ML papers' claims on your hardware.")
    sub = parser.add_subparsers(dest="command", required=True)
    run.add_parser(sub)
    files.add_parsers(sub)
    report.add_parser(sub)
    gate.add_parser(sub)
    submit.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        return int(args.handler(args))
    except KbenchError as exc:
        print(f"kbench: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("kbench: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def entry() -> None:
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C while Python was still importing, before main's handler
        print("kbench: interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
