"""Command line: `kbench run | validate | list | show | env | verify | schema | merge | report | gate`.

User errors (`KbenchError`) are caught here, once: one line on stderr, exit status 2. Ctrl-C
anywhere (even while torch loads) ends with one line and status 130; during a run, what was
measured is written first.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from kbench.cli_args import add_seed_options, folder, seed_arguments
from kbench.errors import KbenchError

if TYPE_CHECKING:  # for the annotation only: commands import their modules after the device is chosen
    from kbench.checkpoints import Checkpointer

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _add_run(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("run", help="run a suite file and write a result file")
    p.add_argument("suite", help="path to a suite file, e.g. suites/flashkat.toml")
    p.add_argument("--device", default="auto", help="auto (CUDA if present, else CPU), cuda or cpu")
    p.add_argument("--only", nargs="+", default=[], metavar="CLAIM", help="run only these claim ids")
    p.add_argument("--shard", help="run the i-th of N deterministic slices of the claims, e.g. 2/4")
    p.add_argument("--quick", action="store_true",
                   help="short budgets, fewer rounds, seeds and steps (smoke runs; wider intervals)")
    add_seed_options(p)
    p.add_argument("--results", type=folder, default="results", help="results folder (default: results)")
    p.add_argument("--require-gpu", action="store_true",
                   help="fail (exit 2) instead of running on the CPU; also set by KBENCH_REQUIRE_GPU=1")
    p.add_argument("--no-write", action="store_true", help="print the verdicts but write no result file")
    p.add_argument("--gpus", help="all, or GPU indices such as 0,1: one worker per GPU (cost-balanced shards), "
                                  "then one merged result; with one GPU or none the run stays in-process")


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
    p = sub.add_parser("verify", help="does a result's recorded source digest match this tree (or a commit)?")
    p.add_argument("result")
    p.add_argument("--commit", help="compare with this git commit instead of the working tree")
    sub.add_parser("schema", help="print the JSON Schema of suite files (for editors)")
    p = sub.add_parser("merge", help="join result files of one suite and source: shards, or rounds of repeated runs")
    p.add_argument("files", nargs="+", metavar="RESULT")
    p.add_argument("--results", type=folder, default="results", help="results folder to write the merged result to")
    p.add_argument("--partial", action="store_true",
                   help="write the merge even when shards or claims are missing (the file says which; exit 0)")
    from kbench.gate_cli import add_gate_parser
    from kbench.report.cli import add_report_parser
    from kbench.scaleout.cli import add_submit_parser

    add_report_parser(sub)
    add_gate_parser(sub)
    add_submit_parser(sub)
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


def _checkpoints(results_dir: str, suite_name: str) -> Checkpointer:
    """Prove the results folder writable (a run that cannot be saved is refused before it measures),
    promote the checkpoints that killed runs left there, and keep this run's."""
    from kbench import checkpoints, console, results

    folder = results.check_writable(results_dir, suite_name)

    def warn(text: str) -> None:
        console.say(f"[yellow]{console.plain(text)}[/]")

    for recovered in checkpoints.recover_checkpoints(folder, warn, suite_name):
        warn(f"a killed run's checkpoint was kept as {recovered}")
    return checkpoints.Checkpointer(folder, warn)


def _run_on_gpus(args: argparse.Namespace) -> int | None:
    """`--gpus`: one worker per GPU and a merge (kbench.scaleout.pool), or None to run in-process."""
    import torch

    from kbench.scaleout import pool

    if args.shard or args.no_write or args.only:
        raise KbenchError("--gpus makes its own shards of the whole suite and writes a merged result: drop --shard, "
                          "--only and --no-write (or run those in one process without --gpus)")
    visible = torch.cuda.device_count() if args.device != "cpu" else 0
    gpus = pool.parse_gpus(args.gpus, max(visible, 1) if args.gpus != "all" else visible)
    if len(gpus) <= 1:
        print(f"kbench: --gpus {args.gpus}: {visible} GPU(s) here, so the suite runs in this process", file=sys.stderr)
        return None
    extra = [*(["--quick"] if args.quick else []), *seed_arguments(args)]
    path = pool.run_pool(args.suite, gpus, args.results, "cuda", extra)
    return 0 if pool.complete(path) else 1


def cmd_run(args: argparse.Namespace) -> int:
    from kbench import env

    if args.gpus is not None:
        pooled = _run_on_gpus(args)
        if pooled is not None:
            return pooled

    require_gpu = args.require_gpu or bool(env.flag("KBENCH_REQUIRE_GPU"))
    if require_gpu and args.device == "cpu":
        raise KbenchError("--require-gpu: a GPU is required but --device cpu was given")
    if require_gpu:
        import torch

        if not torch.cuda.is_available():
            raise KbenchError("a GPU is required (--require-gpu or KBENCH_REQUIRE_GPU) but torch sees no CUDA device")
    device = _prepare("cuda" if require_gpu else args.device)
    from kbench import console, results, runner, suite  # after _prepare: they import Triton

    loaded = suite.load(args.suite)
    shard = runner.Shard.parse(args.shard) if args.shard else None
    claims = runner.select_claims(loaded, tuple(args.only), shard)
    keep = None if args.no_write else _checkpoints(args.results, loaded.name)
    console.say(f"{loaded.name}: {len(claims)} of {len(loaded.claims)} claims from {loaded.path} on {device}")
    from kbench import estimate

    console.say(estimate.expected(args.results, loaded.name, [c.id for c in claims], env.device_name(device),  # type: ignore[arg-type]
                                  args.replicates))
    # A scheduler's or `timeout`'s SIGTERM stops the run like Ctrl-C: what was measured is kept.
    signal.signal(signal.SIGTERM, _interrupt)
    with console.progress() as update:
        options = runner.RunOptions(device=device, quick=args.quick, only=tuple(args.only), shard=shard,  # type: ignore[arg-type]
                                    seed=args.seed, replicates=args.replicates, progress=update,
                                    checkpoint=keep)
        result = runner.run(loaded, options, claims)
    code = 0
    if not args.no_write:
        path, problem = results.write_or_rescue(result, args.results)
        if keep is not None:
            keep.close()
        if problem:
            console.say(f"[red]could not write to the results folder ({console.plain(problem)}); the result was "
                        f"saved to {console.plain(str(path))} instead[/]")
            code = 1
        else:
            console.say(f"result written to {console.plain(str(path))}")
    console.print_result(result.as_dict())
    if result.interrupted:
        console.say("[yellow]interrupted (Ctrl-C or SIGTERM): the result holds what was measured before it[/]")
        return EXIT_INTERRUPTED
    errors = [v.claim for v in result.verdicts if v.verdict == "error"]
    if errors:
        console.say(f"[red]claims with errors: {console.plain(', '.join(errors))}[/]")
        return 1
    return code


def cmd_validate(args: argparse.Namespace) -> int:
    _prepare("cpu")
    from kbench import suite

    for path in args.suites:
        s = suite.load(path)
        print(f"{path}: ok ({len(s.claims)} claims)")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    _prepare("auto")
    from kbench import registry, suite

    suite.load_kernels()
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
            print(f"  {c.id:<28} {c.kind:<20} rule {c.rule.describe(c.paper_value)}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from kbench import console, reading

    console.print_result(reading.load(args.result))
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    from kbench import env

    print(json.dumps(env.collect(_prepare("auto")), indent=1))  # type: ignore[arg-type]
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from kbench import provenance, reading

    data = reading.load(args.result)
    ok, differ = provenance.verify(data.get("provenance") or {}, args.commit)
    where = f"commit {args.commit}" if args.commit else "the working tree"
    recorded = data["env"].get("git_commit")
    if ok:
        print(f"{args.result}: the recorded source digest matches {where} (the result says commit {recorded})")
        return 0
    print(f"{args.result}: the recorded source digest does not match {where}; files that differ:")
    for path in differ:
        print(f"  {path}")
    return 1


def cmd_schema(args: argparse.Namespace) -> int:
    _prepare("cpu")
    from kbench import suite

    print(json.dumps(suite.json_schema(), indent=1))
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from kbench import merge, reading, results

    merged = merge.merge([reading.load(f) for f in args.files])
    missing = [*(f"shard {s}" for s in merged.plan.get("missing_shards") or ()),
               *(f"claim {c}" for c in merged.plan.get("missing_claims") or ())]
    if missing and not args.partial:
        print(f"kbench merge: incomplete: {', '.join(missing)} missing from the files given; nothing written "
              "(add --partial to write it anyway, marked incomplete)", file=sys.stderr)
        return 2
    path, problem = results.write_or_rescue(merged, args.results)
    print(f"merged {len(args.files)} result(s) into {path}" + (f" (fallback: {problem})" if problem else ""))
    return 1 if problem else 0


COMMANDS = {"run": cmd_run, "validate": cmd_validate, "list": cmd_list, "show": cmd_show, "env": cmd_env,
            "verify": cmd_verify, "schema": cmd_schema, "merge": cmd_merge}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        if args.command in COMMANDS:
            return COMMANDS[args.command](args)
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


if __name__ == "__main__":
    entry()
