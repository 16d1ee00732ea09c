"""`kbench run SUITE`: one suite on one device (or, with --gpus, on every local GPU and merged)."""

from __future__ import annotations

import argparse
import signal
import sys
from typing import TYPE_CHECKING

from kbench.cli.options import EXIT_INTERRUPTED, add_run_options, folder, prepare, run_arguments
from kbench.errors import KbenchError

if TYPE_CHECKING:  # for the annotation only: commands import their modules after the device is chosen
    from kbench.checkpoints import Checkpointer


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="run a suite file and write a result file")
    p.add_argument("suite", help="path to a suite file, e.g. suites/flashkat.toml")
    p.add_argument("--device", default="auto", help="auto (CUDA if present, else CPU), cuda or cpu")
    p.add_argument("--only", nargs="+", default=[], metavar="CLAIM", help="run only these claim ids")
    p.add_argument("--shard", help="run the i-th of N deterministic slices of the claims, e.g. 2/4")
    add_run_options(p)
    p.add_argument("--results", type=folder, default="results", help="results folder (default: results)")
    p.add_argument("--require-gpu", action="store_true",
                   help="fail (exit 2) instead of running on the CPU; also set by KBENCH_REQUIRE_GPU=1")
    p.add_argument("--no-write", action="store_true", help="print the verdicts but write no result file")
    p.add_argument("--gpus", help="all, or GPU indices such as 0,1: one worker per GPU (cost-balanced shards), "
                                  "then one merged result; with one GPU or none the run stays in-process")
    p.set_defaults(handler=cmd_run)


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
    extra = run_arguments(args)
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
    device = prepare("cuda" if require_gpu else args.device)
    from kbench import console, results, runner, suite  # after _prepare: they import Triton

    loaded = suite.load(args.suite)
    shard = runner.Shard.parse(args.shard) if args.shard else None
    claims = runner.select_claims(loaded, tuple(args.only), shard)
    keep = None if args.no_write else _checkpoints(args.results, loaded.name)
    console.say(f"{loaded.name}: {len(claims)} of {len(loaded.claims)} claims from {loaded.path} on {device}")
    from kbench import estimate

    console.say(estimate.expected(args.results, loaded.name, [c.id for c in claims], env.device_name(device),
                                  args.replicates))
    # A scheduler's or `timeout`'s SIGTERM stops the run like Ctrl-C: what was measured is kept.
    signal.signal(signal.SIGTERM, _interrupt)
    with console.progress() as update:
        options = runner.RunOptions(device=device, quick=args.quick, only=tuple(args.only), shard=shard,
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
