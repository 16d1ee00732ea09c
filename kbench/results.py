"""Result files: one JSON file per run, `results/<suite>/<run-id>.json`, only ever added.

Schema 2 (this file's dataclasses). Every measurement says what its numbers are: the unit, which
direction is better, and its noise model: `timing` (samples in independent rounds, `groups` gives
each sample's round), `seeds` (one sample per seed, `groups` gives the seed) or `exact` (no
noise). Verdicts keep their rule as data and each case's value, interval and details.

A file is written under a temporary name in the same folder and linked to its final name: an
interrupted write leaves no half file, and an existing name is never replaced (a collision gets
a new name). A folder that cannot be written is found before anything is measured; a write that
still fails puts the result in a fallback folder and says where, so a finished run is never lost.
Reading goes through kbench.result_schema (validation and the schema-1 migration).
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import re
import secrets
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd

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


def _dump(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, indent=1, allow_nan=False, default=str) + "\n"


def _write_synced(path: Path, text: str, exclusive: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, 0o666 & ~_umask())
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def _write_new(folder: Path, doc: dict[str, Any]) -> Path:
    """Write `doc` under a temporary name, then link it to a name that does not exist yet: its
    run id, or `<run id>-2` and on when taken (the document's run_id then says so)."""
    base = str(doc["run_id"])
    tmp = folder / f".{base}.{os.getpid()}.tmp"
    _write_synced(tmp, _dump(doc), exclusive=True)
    try:
        for attempt in range(1, 100):
            final = folder / f"{doc['run_id']}.json"
            try:
                os.link(tmp, final)  # atomic, and fails if `final` exists
                return final
            except FileExistsError:  # never overwrite: take the next free name, and say so inside
                doc["run_id"] = f"{base}-{attempt + 1}"
                _write_synced(tmp, _dump(doc), exclusive=False)
        raise ResultError(f"{folder}: no free name for run {base}")
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def _umask() -> int:
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
    path = _write_new(folder, doc)
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


# --------------------------------------------------------------------------------------------
# Checkpoints: a run killed without a chance to write (SIGKILL, the OOM killer, a lost node)
# still leaves its finished claims behind. Whether its run is alive is told by a lock, not a pid:
# the kernel drops a dead process's flock, in any pid namespace (and on NFS, across clients).


def checkpoint_path(folder: Path, run_id: str) -> Path:
    """`.<run id>.inprogress.json` (hidden: not a result yet), beside its lock `.<run id>.inprogress.lock`."""
    return folder / f".{safe_name(run_id, 'run id')}.inprogress.json"


def _lock_path(checkpoint: Path) -> Path:
    return checkpoint.with_name(checkpoint.name.removesuffix(".json") + ".lock")


def _try_lock(path: Path) -> int | None:
    """An open descriptor holding an exclusive flock on `path`, or None when another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except OSError:
        os.close(fd)
        raise
    return fd


def write_checkpoint(result: Result, pending: list[Verdict], path: Path) -> None:
    """The run so far as a complete result file, marked interrupted, with `pending` (the claims
    not finished, as skipped verdicts), replacing the last one atomically."""
    doc = result.as_dict()
    doc["interrupted"] = True
    doc["verdicts"] = doc["verdicts"] + [asdict(v) for v in pending]
    # `.<run>.inprogress.<pid>.tmp`: the stale-temporary sweep reads the pid before `.tmp`
    tmp = path.with_name(path.name.replace(".inprogress.json", f".inprogress.{os.getpid()}.tmp"))
    _write_synced(tmp, _dump(doc), exclusive=False)
    os.replace(tmp, path)


class Checkpointer:
    """Keeps one run's checkpoint up to date after each claim (kbench.runner calls it), holding its
    lock for as long as the run lives. A checkpoint that cannot be written is a warning, never the
    end of the run: the result is still written (or rescued) at the end."""

    def __init__(self, folder: Path, warn: Callable[[str], None]) -> None:
        self.folder, self.warn = folder, warn
        self.path: Path | None = None
        self._lock: int | None = None
        self._failed = False

    def __call__(self, result: Result, pending: list[Verdict]) -> None:
        if self._failed:
            return
        try:
            if self.path is None:
                self.path = checkpoint_path(self.folder, result.run_id)
                self._lock = _try_lock(_lock_path(self.path))
            write_checkpoint(result, pending, self.path)
        except OSError as exc:
            self._failed = True
            self.warn(f"cannot keep a checkpoint in {self.folder} ({exc.strerror or exc}); the run goes on, "
                      "and its result is written when it ends")

    def close(self) -> None:
        """The result is written: the checkpoint has served."""
        if self.path is not None:
            for path in (self.path, _lock_path(self.path)):
                path.unlink(missing_ok=True)
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None


def recover_checkpoints(folder: Path, warn: Callable[[str], None], suite: str | None = None) -> list[Path]:
    """Promote the checkpoints of runs that are gone to result files (new names only), and say so.
    A live run's checkpoint (its lock is held) is left alone; one whose run finished (its result
    exists) is removed; one that does not validate is moved aside as `.<run>.inprogress.corrupt`;
    one of another suite than `suite` (the folder's) is left where it is, with a warning."""
    recovered: list[Path] = []
    for checkpoint in sorted(folder.glob(".*.inprogress.json")):
        lock = _lock_path(checkpoint)
        try:
            fd = _try_lock(lock)
        except OSError as exc:
            warn(f"cannot tell whether the run of {checkpoint} is alive ({exc.strerror or exc}); left as it is")
            continue
        if fd is None:
            continue  # its run is alive
        try:
            found = _promote(checkpoint, folder, warn, suite)
            recovered += [found] if found else []
            lock.unlink(missing_ok=True)
        finally:
            os.close(fd)
    return recovered


def _promote(checkpoint: Path, folder: Path, warn: Callable[[str], None], suite: str | None) -> Path | None:
    run_id = checkpoint.name[1:].removesuffix(".inprogress.json")
    if not checkpoint.exists():
        return None  # another run promoted it a moment ago
    if (folder / f"{run_id}.json").exists():  # killed between writing its result and tidying up
        checkpoint.unlink()
        return None
    try:
        doc = load(checkpoint)
    except ResultError as exc:
        aside = checkpoint.with_name(checkpoint.name.removesuffix(".json") + ".corrupt")
        os.replace(checkpoint, aside)
        warn(f"a killed run's checkpoint cannot be read ({exc}); moved aside to {aside}")
        return None
    if suite is not None and doc.get("suite") != suite:
        warn(f"{checkpoint} is a checkpoint of suite {doc.get('suite')!r}, not {suite!r}: not promoted into this "
             "suite's results (move it to its own suite's folder)")
        return None
    path = _write_new(folder, {k: v for k, v in doc.items() if not k.startswith("_")})
    checkpoint.unlink()
    return path


# --------------------------------------------------------------------------------------------
# Reading: see kbench.result_schema for validation; these are the views every reader shares


def load(path: str | Path) -> dict[str, Any]:
    """Read and validate one result file (schema 1 files are migrated); ResultError if unusable."""
    from kbench.result_schema import read

    return read(path)


BASELINES = "baselines"  # results/baselines/<device>.json: the gate's references, not runs to report


def load_all(results_dir: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Every usable result under `results_dir`, oldest first, and a problem line per bad file."""
    root = Path(results_dir)
    if not root.is_dir():
        raise ResultError(f"results folder {root} does not exist (or is not a folder)")
    found, problems = [], []
    seen: dict[str, Path] = {}
    for path in sorted(root.glob("*/*.json")):
        if path.parent.name == BASELINES or path.name.startswith("."):  # hidden: a run's checkpoint
            continue
        try:
            data = load(path)
        except ResultError as exc:
            problems.append(str(exc))
            continue
        if data["run_id"] in seen:  # a copied file: one run, one page
            problems.append(f"{path}: run id {data['run_id']} is also the run id of {seen[data['run_id']]}; skipped")
            continue
        seen[data["run_id"]] = path
        found.append(data)
    found.sort(key=lambda r: str(r["created"]))
    return found, problems


def samples_of(m: Mapping[str, Any]) -> list[float]:
    return [float(s) for s in (m.get("samples") or [])]


def timing_methods(run: Mapping[str, Any], claim: str) -> str:
    """How a claim's timings were taken in a run ('cuda-graph', 'eager', 'perf-counter', ...; several
    joined by '+'), or '' for a claim that times nothing: runs timed differently are not one series."""
    methods = sorted({str(m["extra"]["timing"]) for m in run["measurements"]
                      if m["claim"] == claim and isinstance(m.get("extra"), dict) and m["extra"].get("timing")})
    return "+".join(methods)


def verdict_table(results: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (run, claim): the project's record as one pandas table."""
    rows = []
    for r in results:
        env = r["env"]
        for v in r["verdicts"]:
            interval = v.get("interval") or [None, None]
            rows.append({
                "suite": r["suite"], "run_id": r["run_id"], "created": r["created"], "device": env.get("gpu"),
                "commit": env.get("git_commit"), "dirty": env.get("git_dirty"),
                "interrupted": bool(r.get("interrupted")), "claim": v["claim"],
                "timing": timing_methods(r, v["claim"]),
                "kind": v["kind"], "verdict": v["verdict"], "measured": v["measured"], "low": interval[0],
                "high": interval[1], "paper_value": v["paper_value"], "ratio_to_paper": v["ratio_to_paper"],
                "rule": rule_text(v["rule"]), "reason": v.get("reason") or "", "n": v.get("n"), "path": r.get("_path"),
            })
    return pd.DataFrame(rows)


def measurement_table(results: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per measurement, with its run's device and commit."""
    rows = []
    for r in results:
        env = r["env"]
        for m in r["measurements"]:
            summary = m.get("summary") or {}
            rows.append({
                "suite": r["suite"], "run_id": r["run_id"], "created": r["created"], "device": env.get("gpu"),
                "commit": env.get("git_commit"), "claim": m["claim"], "metric": m["metric"], "unit": m.get("unit"),
                "subject": subject_label(m.get("subject") or {}), "case": case_label(m.get("case") or {}),
                "status": m["status"], "median": summary.get("median"), "low": summary.get("ci_low"),
                "high": summary.get("ci_high"), "n": summary.get("n"), "rounds": summary.get("rounds"),
                "between_sd_log": summary.get("between_sd_log"), "reason": m.get("reason"),
                **{k: v for k, v in (m.get("extra") or {}).items() if isinstance(v, (int, float, str))},
            })
    return pd.DataFrame(rows)


def rule_text(rule: Any) -> str:
    """A rule as stored (schema 2: a dict with its text; schema 1: the text itself)."""
    return str(rule.get("text", "")) if isinstance(rule, Mapping) else str(rule or "")


def subject_label(subject: Mapping[str, Any]) -> str:
    """'impl:pass' for kernels; 'model[impl]' for models, then the preset and architecture keywords
    when the subject names them (two sides of one family differ only there)."""
    if "model" not in subject:
        return f"{subject.get('impl')}:{subject['pass']}" if subject.get("pass") else str(subject.get("impl"))
    label = f"{subject['model']}[{subject['impl']}]" if subject.get("impl") else str(subject["model"])
    if subject.get("size"):
        label += f" {subject['size']}"
    if subject.get("arch"):
        label += " {" + ", ".join(f"{k}={v}" for k, v in sorted(subject["arch"].items())) + "}"
    return label


def fmt(value: Any) -> str:
    """A number as tables show it, on the terminal and in the report; "-" when missing."""
    if value is None or value != value:  # None or NaN
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        if abs(value) >= 100:
            return f"{value:.1f}"
        return f"{value:.3g}"
    return str(value)


def measured(value: Any, low: Any, high: Any) -> str:
    """'value [low, high]', or the value alone when there is no interval."""
    if value is None or value != value:
        return "-"
    if low is None or high is None or low != low or high != high:
        return f"{fmt(value)} [no interval]"
    return f"{fmt(value)} [{fmt(low)}, {fmt(high)}]"


def case_label(case: Mapping[str, Any]) -> str:
    """A case's label if it has one, else its fields, e.g. '128x197x768 dtype=float32'."""
    if "label" in case:
        return str(case["label"])
    parts = []
    for key, value in case.items():
        if key == "paper_value":
            continue
        parts.append("x".join(map(str, value)) if isinstance(value, list) else f"{key}={value}")
    return " ".join(parts)
