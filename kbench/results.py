"""Result files: one JSON file per run, `results/<suite>/<run-id>.json`, only ever added.

Schema 2 (this file's dataclasses). Every measurement says what its numbers are: the unit, which
direction is better, and its noise model: `timing` (samples in independent rounds, `groups` gives
each sample's round), `seeds` (one sample per seed, `groups` gives the seed) or `exact` (no
noise). Verdicts keep their rule as data and each case's value, interval and details.

A file is written under a temporary name in the same folder and linked to its final name: an
interrupted write leaves no half file, and an existing name is never replaced (a collision gets
a new name). A folder that cannot be written is found before anything is measured; a write that
still fails puts the result in a fallback folder and says where, so a finished run is never lost.
Checkpoints of a running claim are kbench.checkpoints; reading is kbench.reading (validation:
kbench.result_schema); labels and tables for readers are kbench.labels.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from kbench.errors import ResultError

SCHEMA_VERSION = 2
VerdictName = Literal["reproduced", "not-reproduced", "inconclusive", "skipped", "error"]
VERDICTS: tuple[str, ...] = ("reproduced", "not-reproduced", "inconclusive", "skipped", "error")
Status = Literal["ok", "skipped", "error"]
Noise = Literal["timing", "seeds", "exact"]
Better = Literal["lower", "higher", "none"]
NOISES: tuple[str, ...] = ("timing", "seeds", "exact")
BETTER: tuple[str, ...] = ("lower", "higher", "none")

# Names that become parts of paths: a suite (paper) id and a run id. Nothing else from a file is
# ever joined to a folder.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def safe_name(value: object, what: str) -> str:
    """`value` if it can be a file or folder name (letters, digits, '.', '_', '-'; no '..')."""
    text = str(value)
    if not NAME.match(text) or ".." in text:
        raise ResultError(f"{what} {text!r} cannot be part of a path: expected letters, digits, '.', '_' or '-', "
                          "starting with a letter or digit, without '..'")
    return text


@dataclass
class Measurement:
    """One metric of one subject on one case: samples and their summary, or why there are none."""

    case: dict[str, Any]
    subject: dict[str, Any]
    metric: str  # e.g. "time_ms", "step_ms", "rel_err_dA", "flops", "share", "bitwise_equal"
    claim: str = ""  # filed when the measurement is recorded under a claim (kinds.base.Context.record)
    unit: str = ""
    better: Better = "lower"
    noise: Noise = "timing"
    role: str = "subject"  # "baseline", "candidate" or "subject": the side of the claim it measures
    status: Status = "ok"
    samples: list[float] | None = None
    groups: list[int] | None = None  # the round (timing) or seed (seeds) of each sample
    summary: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # bytes, gbps, errors found by the check, ...
    reason: str | None = None
    device_independent: bool = False  # comparable across devices (FLOPs, parameter counts)
    replicate: int | None = None  # the master seed of the replicate that took it (seeded claims; runner)


@dataclass
class Verdict:
    claim: str
    kind: str
    verdict: VerdictName
    measured: float | None
    interval: list[float] | None  # 95% interval [low, high] of `measured`, including between-round noise
    paper_value: float | None
    ratio_to_paper: float | None  # measured / paper_value, only where the conditions match
    rule: dict[str, Any]  # kbench.verdicts.Rule as data
    quote: str
    reason: str | None = None
    per_case: list[dict[str, Any]] = field(default_factory=list)  # case, value, interval, n, details
    combine: str = "geomean"
    unit: str = ""
    n: int = 0  # independent rounds or seeds behind the interval (the fewest over cases)
    notes: list[str] = field(default_factory=list)  # host-bound cases, timing methods, paper conditions
    paper: dict[str, Any] = field(default_factory=dict)  # the claim's paper value, its source and conditions
    # what the verdict survived, or did not: each replicate's own verdict, the analysis choices tried
    robustness: dict[str, Any] = field(default_factory=dict)


@dataclass
class Result:
    suite: str
    suite_file: str
    suite_sha256: str
    run_id: str
    created: str
    env: dict[str, Any]
    paper: dict[str, Any]
    shard: str | None = None
    plan: dict[str, Any] = field(default_factory=dict)  # rounds, repetitions and why
    peaks: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)  # digest of the source files the run used
    measurements: list[Measurement] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    interrupted: bool = False
    finished: str | None = None
    thresholds: dict[str, float] = field(default_factory=dict)  # claim -> the gate's max_slowdown
    nonfinite: list[str] = field(default_factory=list)  # where a NaN or infinity was stored as null

    def as_dict(self) -> dict[str, Any]:
        data = {"schema_version": SCHEMA_VERSION, **asdict(self)}
        found: list[str] = []
        clean = _finite(data, "", found)
        clean["nonfinite"] = sorted(set(self.nonfinite) | set(found))
        return clean  # type: ignore[no-any-return]


def _finite(value: Any, where: str, found: list[str]) -> Any:
    """`value` with every NaN or infinity replaced by null, their locations collected: JSON has no
    NaN, and one must never stop a run from being written."""
    if isinstance(value, float) and not math.isfinite(value):
        found.append(where or "/")
        return None
    if isinstance(value, dict):
        return {k: _finite(v, f"{where}/{k}", found) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v, f"{where}/{i}", found) for i, v in enumerate(value)]
    return value


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_run_id(created: datetime, device_slug: str) -> str:
    """Time first (sorts by time), then device, then a random tag: two runs never collide."""
    return f"{created:%Y%m%dT%H%M%SZ}-{device_slug}-{secrets.token_hex(3)}"


# --------------------------------------------------------------------------------------------
# Writing


def check_writable(results_dir: str | Path, suite: str) -> Path:
    """The folder a run of `suite` will write to, created and proven writable now: a run that
    cannot be saved is refused before it measures anything."""
    folder = Path(results_dir) / safe_name(suite, "suite id")  # pragma: no mutate (the label is text)
    probe = folder / f".kbench-probe.{os.getpid()}.tmp"  # pragma: no mutate (any name of ours)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ResultError(f"results folder {folder} is not writable ({exc.strerror or exc}); "
                          "choose another with --results") from None
    return folder


def _clean_stale_temporaries(folder: Path, max_age_s: float = 3600.0) -> None:
    """Remove temporary files that a killed writer left (`.<run>.<pid>.tmp`): those of processes
    that no longer exist, or older than an hour."""
    for tmp in folder.glob(".*.tmp"):
        parts = tmp.name.rsplit(".", 2)
        alive = len(parts) == 3 and _process_alive(parts[-2])
        try:
            if not alive or time.time() - tmp.stat().st_mtime > max_age_s:
                tmp.unlink()
        except OSError:
            pass


def _process_alive(pid_text: str) -> bool:
    try:
        os.kill(int(pid_text), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def dump_json(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, indent=1, allow_nan=False, default=str) + "\n"


def write_synced(path: Path, text: str, exclusive: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, 0o666 & ~umask())
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def write_new(folder: Path, doc: dict[str, Any]) -> Path:
    """Write `doc` under a temporary name, then link it to a name that does not exist yet: its
    run id, or `<run id>-2` and on when taken (the document's run_id then says so)."""
    base = str(doc["run_id"])
    tmp = folder / f".{base}.{os.getpid()}.tmp"
    write_synced(tmp, dump_json(doc), exclusive=True)
    try:
        for attempt in range(1, 100):
            final = folder / f"{doc['run_id']}.json"
            try:
                os.link(tmp, final)  # atomic, and fails if `final` exists
                return final
            except FileExistsError:  # never overwrite: take the next free name, and say so inside
                doc["run_id"] = f"{base}-{attempt + 1}"
                write_synced(tmp, dump_json(doc), exclusive=False)
        raise ResultError(f"{folder}: no free name for run {base}")
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write(result: Result, results_dir: str | Path) -> Path:
    """Write atomically to `<results_dir>/<suite>/<run_id>.json`; never overwrite (a taken name
    becomes `<run_id>-2.json`, and the file's run_id says so)."""
    safe_name(result.run_id, "run id")
    folder = Path(results_dir) / safe_name(result.suite, "suite id")
    folder.mkdir(parents=True, exist_ok=True)
    _clean_stale_temporaries(folder)
    doc = result.as_dict()
    path = write_new(folder, doc)
    result.run_id = doc["run_id"]
    return path


FALLBACK_DIR = "kbench-unsaved"


def write_or_rescue(result: Result, results_dir: str | Path) -> tuple[Path, str | None]:
    """Write the result; if its folder fails now (disk full, permissions changed during the run),
    write it to a fallback folder instead. Returns the path and, on fallback, why."""
    try:
        return write(result, results_dir), None
    except (OSError, ResultError) as exc:
        problem = f"{Path(results_dir)}: {getattr(exc, 'strerror', None) or exc}"  # pragma: no mutate (text)
    for fallback in (Path(tempfile.gettempdir()) / FALLBACK_DIR, Path.home() / FALLBACK_DIR, Path.cwd()):
        try:
            return write(result, fallback), problem
        except (OSError, ResultError):
            continue
    raise ResultError(f"could not write the result anywhere ({problem}); nothing was saved")
