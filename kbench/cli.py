"""Command line: `kbench run | validate | list | show | env | report | gate`.

User errors (`KbenchError`) are caught here, once: one line on stderr, exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Sequence

from kbench.errors import KbenchError

EXIT_USAGE = 2


def _add_run(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("run", help="run a suite file and write a result file")
    p.add_argument("suite", help="path to a suite file, e.g. suites/flashkat.toml")
    p.add_argument("--device", default="auto", help="auto (CUDA if present, else CPU), cuda or cpu")
    p.add_argument("--only", nargs="+", default=[], metavar="CLAIM", help="run only these claim ids")
    p.add_argument("--shard", help="run the i-th of N deterministic slices of the claims, e.g. 2/4")
    p.add_argument("--quick", action="store_true", help="short timing budgets (smoke runs; noisier numbers)")
    p.add_argument("--seed", type=int, default=0, help="base seed of every random input (default 0)")
    p.add_argument("--results", default="results", help="results folder (default: results)")
    p.add_argument("--require-gpu", action="store_true",
                   help="fail (exit 2) instead of running on the CPU; also set by KBENCH_REQUIRE_GPU=1")
    p.add_argument("--no-write", action="store_true", help="print the verdicts but write no result file")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kbench", description="Check ML papers' claims on your hardware.")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run(sub)
    p = sub.add_parser("validate", help="check suite files without running them")
    p.add_argument("suites", nargs="+")
    p = sub.add_parser("list", help="list operations, implementations, model families (and a suite's claims)")
    p.add_argument("suite", nargs="?")
    p = sub.add_parser("show", help="print the verdicts of a result file")
    p.add_argument("result")
    sub.add_parser("env", help="print the environment a run would record")
    from kbench.gate_cli import add_gate_parser
    from kbench.report.cli import add_report_parser

    add_report_parser(sub)
    add_gate_parser(sub)
    return parser


def _prepare(device_name: str) -> object:
    """Pick the device, then make Triton interpret on a CPU run.

    Must run before anything imports triton.language: the interpreter is chosen at import time.
    """
    from kbench import devices

    device = devices.pick(device_name)
    devices.prepare_triton(device)
    return device


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def cmd_run(args: argparse.Namespace) -> int:
    require_gpu = args.require_gpu or os.environ.get("KBENCH_REQUIRE_GPU", "") not in ("", "0")
    if require_gpu and args.device == "cpu":
        raise KbenchError("--require-gpu: a GPU is required but --device cpu was given")
    device = _prepare("cuda" if require_gpu else args.device)
    from kbench import console, results, runner, suite  # after _prepare: they import Triton
    loaded = suite.load(args.suite)
    shard = runner.Shard.parse(args.shard) if args.shard else None
    console.console.log(f"{loaded.name}: {len(loaded.claims)} claims from {loaded.path} on {device}")
    # A scheduler's or `timeout`'s SIGTERM stops the run like Ctrl-C: what was measured is kept.
    signal.signal(signal.SIGTERM, _interrupt)
    with console.progress() as update:
        options = runner.RunOptions(device=device, quick=args.quick, only=tuple(args.only), shard=shard,  # type: ignore[arg-type]
                                    seed=args.seed, progress=update)
        result = runner.run(loaded, options)
    data = result.as_dict()
    console.print_result(data)
    if not args.no_write:
        path = results.write(result, args.results)
        console.console.print(f"result written to {path}")
    if result.interrupted:
        console.console.print("[yellow]interrupted: the result holds what was measured before Ctrl-C[/]")
        return 130
    errors = [v.claim for v in result.verdicts if v.verdict == "error"]
    if errors:
        console.console.print(f"[red]claims with errors: {', '.join(errors)}[/]")
        return 1
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from kbench import suite

    _prepare("cpu")
    for path in args.suites:
        s = suite.load(path)
        print(f"{path}: ok ({len(s.claims)} claims)")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from kbench import registry, suite

    _prepare("auto")
    for package in registry.available_packages():
        registry.load_package(package)
    for name, op in registry.operations().items():
        print(f"operation {name} (reference: {op.reference})")
        for impl in registry.implementations(name).values():
            needs = f" [needs {', '.join(impl.requires)}]" if impl.requires else ""
            print(f"  {impl.name:<18} {impl.description}{needs}")
    for fam in registry.model_families().values():
        print(f"model family {fam.name}: sizes {', '.join(fam.sizes)}; {fam.description}")
    if args.suite:
        s = suite.load(args.suite)
        print(f"suite {s.name}: {s.paper.title}")
        for c in s.claims:
            print(f"  {c.id:<28} {c.kind:<20} rule {c.rule.describe()}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from kbench import console, results

    data = results.load(args.result)
    console.print_result(data)
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    from kbench import env

    print(json.dumps(env.collect(_prepare("auto")), indent=1))  # type: ignore[arg-type]
    return 0


COMMANDS = {"run": cmd_run, "validate": cmd_validate, "list": cmd_list, "show": cmd_show, "env": cmd_env}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command in COMMANDS:
            return COMMANDS[args.command](args)
        return int(args.handler(args))
    except KbenchError as exc:
        print(f"kbench: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
