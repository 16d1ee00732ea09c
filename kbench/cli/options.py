"""Argument types and options that several commands share, declared once so that every command
reads them alike: `run` and `submit` take the run options (--quick, --seed, --replicates) from
`add_run_options` and pass them on to workers and shards with `run_arguments`."""

from __future__ import annotations

import argparse
import secrets
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: torch loads once a command needs it
    import torch

MAX_REPLICATES = 20
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def folder(text: str) -> str:
    """An argparse type for a folder argument: an empty name would silently mean the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a folder name, got an empty string")
    return text


def seed(text: str) -> int:
    """A base seed: a whole number from 0 to 2**31 - 1, or `random` (drawn now from the operating
    system's entropy and recorded in the result, for a held-out replication)."""
    if text.strip().lower() == "random":
        return secrets.randbelow(2**31)
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number or 'random', got {text!r}") from None
    if not 0 <= value < 2**31:
        raise argparse.ArgumentTypeError(f"expected 0 to {2**31 - 1}, got {value}")
    return value


def replicates(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 1 <= value <= MAX_REPLICATES:
        raise argparse.ArgumentTypeError(f"expected 1 to {MAX_REPLICATES}, got {value}")
    return value


def add_run_options(p: argparse.ArgumentParser) -> None:
    """What a run of a suite takes wherever it runs: in this process, on local GPUs (`run --gpus`),
    or as shards on a cluster (`submit`)."""
    p.add_argument("--quick", action="store_true",
                   help="short budgets, fewer rounds, seeds and steps (smoke runs; wider intervals)")
    p.add_argument("--seed", type=seed, default=0,
                   help="base seed of every random draw: inputs, data splits, initialisations, tuning "
                        "(default 0; 'random' draws one now and records it)")
    p.add_argument("--replicates", type=replicates, default=2,
                   help="master seeds each seeded claim (training, initialisation) runs under, each the whole "
                        "pipeline; a verdict stands only where every replicate reaches it (default 2; 1 skips "
                        "the replication check and says so)")


def run_arguments(args: argparse.Namespace) -> list[str]:
    """The run options as `kbench run` arguments for a worker or a shard."""
    return [*(["--quick"] if args.quick else []), "--seed", str(args.seed), "--replicates", str(args.replicates)]


def prepare(device_name: str) -> torch.device:
    """Pick the device, then make Triton interpret on a CPU run.

    Must run before anything imports triton.language: the interpreter is chosen at import time.
    """
    from kbench import devices

    device = devices.pick(device_name)
    devices.prepare_triton(device)
    return device
