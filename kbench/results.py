"""Result files: one JSON file per run, `results/<suite>/<run-id>.json`, only ever added.

A file is written under a temporary name in the same folder and linked to its final name, which
fails if that name exists: an interrupted write leaves no half file and nothing is overwritten.
Loading checks the schema version and skips (with a named problem) what it cannot read.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from kbench.errors import ResultError

SCHEMA_VERSION = 1
VerdictName = Literal["reproduced", "not-reproduced", "inconclusive", "skipped", "error"]
VERDICTS: tuple[str, ...] = ("reproduced", "not-reproduced", "inconclusive", "skipped", "error")
Status = Literal["ok", "skipped", "error"]


@dataclass
class Measurement:
    """One metric of one subject on one case: samples and their summary, or why there are none."""

    claim: str
    case: dict[str, Any]
    subject: dict[str, Any]
    metric: str  # e.g. "time_ms", "step_ms", "rel_err_dA", "flops", "share", "copy_fraction"
    status: Status = "ok"
    summary: dict[str, Any] | None = None
    samples: list[float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # bytes, gbps, errors found by the check, ...
    reason: str | None = None


@dataclass
class Verdict:
    claim: str
    kind: str
    verdict: VerdictName
    measured: float | None
    interval: list[float] | None  # 95% interval [low, high] of `measured`
    paper_value: float | None
    ratio_to_paper: float | None  # measured / paper_value
    rule: str
    quote: str
    reason: str | None = None
    per_case: list[dict[str, Any]] = field(default_factory=list)  # each case's value and interval


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
    peaks: dict[str, Any] = field(default_factory=dict)
    measurements: list[Measurement] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    interrupted: bool = False
    finished: str | None = None
    thresholds: dict[str, float] = field(default_factory=dict)  # claim -> the gate's max_slowdown

    def as_dict(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, **asdict(self)}


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_run_id(created: datetime, device_slug: str) -> str:
    """Time first (sorts by time), then device, then a random tag: two runs never collide."""
    return f"{created:%Y%m%dT%H%M%SZ}-{device_slug}-{secrets.token_hex(3)}"


def write(result: Result, results_dir: str | Path) -> Path:
    """Write atomically to `<results_dir>/<suite>/<run_id>.json`; never overwrite."""
    folder = Path(results_dir) / result.suite
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{result.run_id}.json"
    text = json.dumps(result.as_dict(), indent=1, allow_nan=False, default=str)
    fd, tmp = tempfile.mkstemp(prefix=f".{result.run_id}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, final)  # atomic, and fails if `final` exists
        except FileExistsError:
            raise ResultError(f"{final}: a result with this run id exists; results are never overwritten") from None
    finally:
        os.unlink(tmp)
    return final


def load(path: str | Path) -> dict[str, Any]:
    """Read one result file, checking that it is one this kbench understands."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultError(f"{p}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ResultError(f"{p}: not valid JSON (truncated or corrupt?): {exc}") from None
    if not isinstance(data, dict):
        raise ResultError(f"{p}: expected a JSON object at the top level")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ResultError(f"{p}: schema_version {version!r}; this kbench reads version {SCHEMA_VERSION}")
    for key in ("suite", "run_id", "created", "env", "measurements", "verdicts"):
        if key not in data:
            raise ResultError(f"{p}: missing key {key!r}")
    data["_path"] = str(p)
    return data


BASELINES = "baselines"  # results/baselines/<device>.json: the gate's references, not runs to report


def load_all(results_dir: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Every readable result under `results_dir`, oldest first, and a problem line per bad file."""
    found, problems = [], []
    for path in sorted(Path(results_dir).glob("*/*.json")):
        if path.parent.name == BASELINES:
            continue
        try:
            found.append(load(path))
        except ResultError as exc:
            problems.append(str(exc))
    found.sort(key=lambda r: str(r["created"]))
    return found, problems


def verdict_table(results: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (run, claim): the project's record as one pandas table."""
    rows = []
    for r in results:
        env = r["env"]
        for v in r["verdicts"]:
            interval = v.get("interval") or [None, None]
            rows.append({
                "suite": r["suite"], "run_id": r["run_id"], "created": r["created"], "device": env.get("gpu"),
                "commit": env.get("git_commit"), "dirty": env.get("git_dirty"), "claim": v["claim"],
                "kind": v["kind"], "verdict": v["verdict"], "measured": v["measured"], "low": interval[0],
                "high": interval[1], "paper_value": v["paper_value"], "ratio_to_paper": v["ratio_to_paper"],
                "rule": v["rule"], "reason": v.get("reason"), "path": r.get("_path"),
            })
    return pd.DataFrame(rows)


def measurement_table(results: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per measurement, with its run's device and commit."""
    rows = []
    for r in results:
        env = r["env"]
        for m in r["measurements"]:
            summary = m.get("summary") or {}
            case = m.get("case") or {}
            rows.append({
                "suite": r["suite"], "run_id": r["run_id"], "created": r["created"], "device": env.get("gpu"),
                "commit": env.get("git_commit"), "claim": m["claim"], "metric": m["metric"],
                "subject": subject_label(m.get("subject") or {}), "case": case_label(case),
                "status": m["status"], "median": summary.get("median"), "low": summary.get("ci_low"),
                "high": summary.get("ci_high"), "n": summary.get("n"), "reason": m.get("reason"),
                **{k: v for k, v in (m.get("extra") or {}).items() if isinstance(v, (int, float, str))},
            })
    return pd.DataFrame(rows)


def subject_label(subject: Mapping[str, Any]) -> str:
    """'impl:pass' for kernels, 'model[impl]' for models."""
    if "model" in subject:
        return f"{subject['model']}[{subject['impl']}]" if subject.get("impl") else str(subject["model"])
    return f"{subject.get('impl')}:{subject['pass']}" if subject.get("pass") else str(subject.get("impl"))


def fmt(value: Any) -> str:
    """A number as tables show it, on the terminal and in the report; "-" when missing."""
    if value is None or value != value:  # None or NaN
        return "-"
    if isinstance(value, (int, float)):
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:.1f}"
        return f"{value:.3g}"
    return str(value)


def measured(value: Any, low: Any, high: Any) -> str:
    """'value [low, high]'."""
    if value is None or value != value:
        return "-"
    return f"{fmt(value)} [{fmt(low)}, {fmt(high)}]"


def case_label(case: Mapping[str, Any]) -> str:
    """A case's label if it has one, else its fields, e.g. '128x197x768 dtype=float32'."""
    if "label" in case:
        return str(case["label"])
    parts = []
    for key, value in case.items():
        parts.append("x".join(map(str, value)) if isinstance(value, list) else f"{key}={value}")
    return " ".join(parts)
