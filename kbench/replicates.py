"""Replicates: the whole seeded pipeline (data split, initialisation, tuning, training) run again
under another master seed.

Seeds inside one run vary the initialisation and batch order, but not the run-level choices (the
split, the tuning draw, which seeds happen to be drawn). A claim kind that trains (`Kind.replicated`)
therefore runs once per master seed; each measurement records the master seed that took it
(`Measurement.replicate`). Judging (kbench.judging) judges each replicate on its own and all of
them pooled, and a verdict stands only where every replicate reaches it. Readers that want one
series per metric (the gate, plots) pool them here: the seeds of replicate r are numbered after
those of the replicates before it, so seed-paired comparisons stay paired.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

SEED_SPACING = 1_000_003  # master seeds of one run: seed, seed + 1 * this, ... (mod 2**31)


def master_seeds(seed: int, count: int) -> list[int]:
    """The master seeds of a run with base seed `seed` and `count` replicates; the first is `seed`
    itself, so a run of one replicate is the run it always was."""
    return [(seed + r * SEED_SPACING) % (2**31) for r in range(count)]


def of(measurements: Sequence[Mapping[str, Any]]) -> list[int | None]:
    """The replicates (master seeds) present, in the order they were taken."""
    seen: list[int | None] = []
    for m in measurements:
        r = m.get("replicate")
        if r not in seen:
            seen.append(r)
    return seen


def only(measurements: Sequence[Mapping[str, Any]], replicate: int | None) -> list[Mapping[str, Any]]:
    return [m for m in measurements if m.get("replicate") == replicate]


def _identity(m: Mapping[str, Any]) -> str:
    return json.dumps([m.get("claim"), m.get("role"), m.get("metric"), m.get("subject"), m.get("case")],
                      sort_keys=True, default=str)


def pooled(measurements: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One measurement per identity for seeded metrics taken by several replicates: samples
    appended, seed groups renumbered after the previous replicate's. Everything else (timings,
    exact values, a second measurement of the same replicate) passes through as it is. Order is
    kept."""
    out: list[dict[str, Any]] = []
    joined: dict[str, dict[str, Any]] = {}
    for m in measurements:
        key = _identity(m)
        into = joined.get(key)
        if m.get("noise") != "seeds" or m.get("replicate") is None or (
                into is not None and m.get("replicate") in into["extra"]["replicates"]):
            out.append(dict(m))
            continue
        if into is None:
            into = {**m, "samples": list(m.get("samples") or []), "groups": list(m.get("groups") or []),
                    "replicate": None, "extra": {**dict(m.get("extra") or {}), "replicates": [m.get("replicate")]}}
            joined[key] = into
            out.append(into)
            continue
        if m.get("status") != "ok" or into.get("status") != "ok":
            if m.get("status") == "error":
                into.update(status="error", reason=m.get("reason"))
            continue
        offset = max(into["groups"] or [-1]) + 1
        groups = m.get("groups") or list(range(len(m.get("samples") or [])))
        into["samples"] = into["samples"] + list(m.get("samples") or [])
        into["groups"] = into["groups"] + [offset + g for g in groups]
        into["extra"]["replicates"].append(m.get("replicate"))
        if "per_seed" in (m.get("extra") or {}) and "per_seed" in into["extra"]:
            into["extra"]["per_seed"] = list(into["extra"]["per_seed"]) + [
                {**p, "seed": offset + int(p.get("seed", 0))} for p in m["extra"]["per_seed"]]
    return out
