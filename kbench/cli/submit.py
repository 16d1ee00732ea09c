"""`kbench submit`: a suite's shards on a SLURM cluster (submitit) or a Ray cluster, then a merge."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kbench.cli.options import add_run_options, folder, run_arguments
from kbench.errors import KbenchError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("submit", help="run a suite's shards on a cluster (SLURM via submitit, or Ray) and merge")
    p.add_argument("suite", help="path to a suite file (the nodes must see the same path and source tree)")
    p.add_argument("--backend", required=True, choices=("slurm", "ray"))
    p.add_argument("--profile", help="the site's settings (TOML: [slurm] partition, gpu_types, ...; [ray] address)")
    p.add_argument("--shards", type=int, default=2, help="how many shards (jobs or tasks), each on one GPU")
    p.add_argument("--gpu-type", help="GPU type as the profile (SLURM) or Ray's accelerator_type names it, e.g. H100")
    p.add_argument("--device", default="cuda", help="the device each shard runs on (cpu only to try the path)")
    p.add_argument("--results", type=folder, default="results", help="where the merged result goes")
    add_run_options(p)  # the options `kbench run` takes, passed to every shard
    p.add_argument("--no-wait", action="store_true", help="SLURM: submit and return (merge later with kbench merge)")
    p.set_defaults(handler=cmd_submit)


def cmd_submit(args: argparse.Namespace) -> int:
    from kbench import suite as suite_file
    from kbench.scaleout import profile as site

    if args.shards < 1:
        raise KbenchError(f"--shards: expected at least 1, got {args.shards}")
    loaded = suite_file.load(args.suite)  # a bad suite fails here, not in every job
    if args.shards > len(loaded.claims):
        raise KbenchError(f"--shards {args.shards}: {args.suite} has {len(loaded.claims)} claims")
    prof = site.load(args.profile) if args.profile else site.Profile("(no profile)")
    extra = tuple(run_arguments(args))
    if args.device not in ("auto", "cuda", "cpu"):
        raise KbenchError(f"--device: expected auto, cuda or cpu, got {args.device!r}")
    try:
        path = _submit(args, prof, extra)
    except KbenchError:
        raise
    except Exception as exc:  # the engine's own errors (no srun, no Ray cluster, a rejected job): said plainly
        raise KbenchError(f"--backend {args.backend}: {type(exc).__name__}: {str(exc).strip()[:400]}") from None
    if path is not None:
        print(f"merged result: {path}")
        from kbench.scaleout.pool import complete

        if not complete(path):
            print("kbench: some shards or claims are missing from the merged result (see its plan)", file=sys.stderr)
            return 1
    return 0


def _submit(args: argparse.Namespace, prof: Any, extra: tuple[str, ...]) -> Any:
    if args.backend == "slurm":
        from kbench.scaleout import slurm

        if not args.profile:
            raise KbenchError("--backend slurm needs --profile (the site's partition and GPU types)")
        return slurm.submit(args.suite, args.shards, args.results, prof, args.gpu_type, args.device, extra,
                            wait=not args.no_wait)
    from kbench.scaleout import ray_backend

    path, _ = ray_backend.submit(args.suite, args.shards, args.results, args.gpu_type,
                                 str(prof.ray.get("address", "auto")), args.device, extra,
                                 int(prof.ray.get("max_retries", 3)))
    return path
