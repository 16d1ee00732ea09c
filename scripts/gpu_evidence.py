#!/usr/bin/env python3
"""One prepared command for a short GPU slot: the stages of scripts/gpu-plan.toml in priority order.

    OUT=/some/dir python3 scripts/gpu_evidence.py --budget 540      # on the GPU host
    python3 scripts/gpu_evidence.py --plan --budget 540             # dry run, on any machine

Each stage has an expected cost (seconds on the target GPU, an estimate: derived from the committed
result files of an earlier GPU where they record the claims, else the plan's own figure) and a
time limit. A stage that no longer fits what is left of the budget is skipped, saying so; a stage
past its limit gets SIGTERM (kbench then writes what it measured, marked interrupted), then SIGKILL
after a grace period (kbench's per-claim checkpoint is then promoted to a result file). Results go
to $OUT/res/<suite>/, logs to $OUT/<stage>.log, and a stage already measured at this commit on this
GPU model (in results/ or $OUT/res) is not measured again. Only the standard library is used here;
kbench runs in subprocesses (`python3 -m kbench`), so no nox and no install is needed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PLAN = ROOT / "scripts" / "gpu-plan.toml"
EXIT_PLAN = 2  # the plan is unusable or cannot fit: nothing ran
COMMAND_LIMIT_S = 600  # one command on a lent GPU machine runs at most this long
W = 22  # the stage names' column in tables
NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
MANAGED_ARGS = ("--results", "--only", "--device", "--no-write", "--gpus", "--shard")  # the script sets these
TIMING_FIELDS = ("warmup_ms", "budget_ms", "min_reps", "max_reps", "rounds")
STEP_EXTRA_CALLS = 6  # train steps per round besides warm-up and timed ones: 1 compiling, 2 estimating, 3 probing
KERNEL_EXTRA_CALLS = 4  # kernel calls per round besides warm-up and timed ones: 1 compiling, 3 estimating
PROFILER_FACTOR = 1.5  # a profiled train step (time-share claims) against a plain one: an assumption


class PlanError(Exception):
    """A plan that cannot be used: one line naming the file and the field."""

    def __init__(self, path: Path | str, where: str, problem: str) -> None:
        super().__init__(f"{path}: {where}: {problem}" if where else f"{path}: {problem}")


# --------------------------------------------------------------------------------------------
# The plan file


@dataclass(frozen=True)
class Timing:
    warmup_ms: float
    budget_ms: float
    min_reps: int
    max_reps: int
    rounds: int

    def calls(self, call_ms: float, extra: int) -> int:
        """Calls per round for a call of `call_ms`, as kbench.timing.TimingConfig.reps_for counts them."""
        est = max(call_ms, 1e-3)
        warm = int(min(max(self.warmup_ms / est, 1), self.max_reps))
        reps = int(min(max(self.budget_ms / est, self.min_reps), self.max_reps))
        return extra + warm + reps


@dataclass(frozen=True)
class Estimating:
    source_gpu: str
    factor: float
    factor_note: str
    startup_s: float
    startup_note: str
    kernel: Timing
    model: Timing


@dataclass(frozen=True)
class Stage:
    name: str
    priority: int
    covers: str
    expected_s: float
    expected_note: str
    limit_s: float
    suite: str | None = None
    only: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    command: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    baseline: bool = False
    repeatable: bool = False

    @property
    def quick(self) -> bool:
        return "--quick" in self.args


@dataclass(frozen=True)
class Plan:
    path: Path
    target_gpu: str
    reserve_s: float
    grace_s: float
    estimating: Estimating
    stages: tuple[Stage, ...]  # in the order they are considered: priority, then as written

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)


def _get(table: Mapping[str, Any], key: str, kind: type | tuple[type, ...], path: Path, where: str,
         default: Any = ..., check: Callable[[Any], str | None] | None = None) -> Any:
    """table[key] of type `kind` (bools are not numbers here), or PlanError naming `where.key`."""
    loc = f"{where}.{key}" if where else key
    if key not in table:
        if default is ...:
            raise PlanError(path, loc, "missing (a required field)")
        return default
    value = table[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise PlanError(path, loc, f"expected {names}, got {value!r}")
    problem = check(value) if check else None
    if problem:
        raise PlanError(path, loc, f"{problem}, got {value!r}")
    return value


def _positive(value: float) -> str | None:
    return None if value > 0 else "expected a number > 0"


def _not_negative(value: float) -> str | None:
    return None if value >= 0 else "expected a number >= 0"


def _text(value: str) -> str | None:
    return None if value.strip() else "expected a non-empty text"


def _strings(table: Mapping[str, Any], key: str, path: Path, where: str) -> tuple[str, ...]:
    items = _get(table, key, list, path, where, [])
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item.strip():
            raise PlanError(path, f"{where}.{key}[{i}]", f"expected a non-empty text, got {item!r}")
    return tuple(items)


def _no_unknown(table: Mapping[str, Any], known: Sequence[str], path: Path, where: str) -> None:
    for key in table:
        if key not in known:
            raise PlanError(path, f"{where}.{key}" if where else key, f"unknown field (known: {', '.join(known)})")


def _timing(table: Mapping[str, Any], key: str, path: Path) -> Timing:
    where = f"estimates.{key}"
    sub = _get(table, key, dict, path, "estimates")
    _no_unknown(sub, TIMING_FIELDS, path, where)
    return Timing(*(_get(sub, f, (int, float) if f.endswith("_ms") else int, path, where, check=_positive)
                    for f in TIMING_FIELDS))


def _estimating(data: Mapping[str, Any], path: Path) -> Estimating:
    table = _get(data, "estimates", dict, path, "")
    known = ("source_gpu", "factor", "factor_note", "startup_s", "startup_note", "kernel", "model")
    _no_unknown(table, known, path, "estimates")
    return Estimating(
        source_gpu=_get(table, "source_gpu", str, path, "estimates", check=_text),
        factor=float(_get(table, "factor", (int, float), path, "estimates", check=_positive)),
        factor_note=_get(table, "factor_note", str, path, "estimates", check=_text),
        startup_s=float(_get(table, "startup_s", (int, float), path, "estimates", check=_not_negative)),
        startup_note=_get(table, "startup_note", str, path, "estimates", check=_text),
        kernel=_timing(table, "kernel", path), model=_timing(table, "model", path))


STAGE_FIELDS = ("name", "priority", "covers", "expected_s", "expected_note", "limit_s", "suite", "only", "args",
                "command", "needs", "baseline", "repeatable")


def _stage(table: Any, i: int, path: Path) -> Stage:
    where = f"stages[{i}]"
    if not isinstance(table, dict):
        raise PlanError(path, where, f"expected a table ([[stages]]), got {table!r}")
    _no_unknown(table, STAGE_FIELDS, path, where)
    name = _get(table, "name", str, path, where,
                check=lambda v: None if NAME.fullmatch(v) else "expected lower-case letters, digits and dashes")
    stage = Stage(
        name=name, priority=_get(table, "priority", int, path, where, check=lambda v: _positive(v)),
        covers=_get(table, "covers", str, path, where, check=_text),
        expected_s=float(_get(table, "expected_s", (int, float), path, where, check=_not_negative)),
        expected_note=_get(table, "expected_note", str, path, where, check=_text),
        limit_s=float(_get(table, "limit_s", (int, float), path, where, check=_positive)),
        suite=_get(table, "suite", str, path, where, None, check=_text),
        only=_strings(table, "only", path, where), args=_strings(table, "args", path, where),
        command=_strings(table, "command", path, where), needs=_strings(table, "needs", path, where),
        baseline=_get(table, "baseline", bool, path, where, False),
        repeatable=_get(table, "repeatable", bool, path, where, False))
    _check_stage_shape(stage, path, where)
    return stage


def _check_stage_shape(stage: Stage, path: Path, where: str) -> None:
    if (stage.suite is None) == (not stage.command):
        raise PlanError(path, f"{where}.suite", "a stage runs either a suite (suite = ...) or a command "
                        "(command = [...]), exactly one of them")
    if stage.command and (stage.only or stage.args or stage.baseline or stage.repeatable):
        raise PlanError(path, f"{where}.command", "a command stage takes no only, args, baseline or repeatable")
    for i, arg in enumerate(stage.args):
        if arg.split("=")[0] in MANAGED_ARGS:
            raise PlanError(path, f"{where}.args[{i}]", f"{arg} is set by the script (results folder, --only, "
                            "device), not by the plan")
    if stage.repeatable and "--seed" in stage.args:
        raise PlanError(path, f"{where}.args", "a repeatable stage picks its own --seed for each repeat")


def load_plan(path: Path) -> Plan:
    """Read and check a plan file; PlanError (one line, file and field) when anything is wrong."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PlanError(path, "", f"cannot read the plan ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PlanError(path, "", f"not a TOML file ({exc})") from None
    _no_unknown(data, ("schema", "target_gpu", "reserve_s", "grace_s", "estimates", "stages"), path, "")
    _get(data, "schema", int, path, "", check=lambda v: None if v == 1 else "expected 1")
    raw = _get(data, "stages", list, path, "", check=lambda v: None if v else "expected at least one stage")
    stages = [_stage(t, i, path) for i, t in enumerate(raw)]
    plan = Plan(path=path, target_gpu=_get(data, "target_gpu", str, path, "", check=_text),
                reserve_s=float(_get(data, "reserve_s", (int, float), path, "", check=_not_negative)),
                grace_s=float(_get(data, "grace_s", (int, float), path, "", check=_positive)),
                estimating=_estimating(data, path),
                stages=tuple(sorted(stages, key=lambda s: (s.priority, stages.index(s)))))
    if plan.reserve_s < plan.grace_s:
        raise PlanError(path, "reserve_s", f"expected at least grace_s ({plan.grace_s:g} s): a stage cut off at "
                        "the end of the budget still needs its grace period, got {plan.reserve_s:g}")
    _check_names(plan, raw)
    for i, stage in enumerate(stages):
        if stage.suite is not None:
            _check_claims(stage, path, f"stages[{i}]")
    return plan


def _check_names(plan: Plan, raw: list[Any]) -> None:
    seen: set[str] = set()
    for i, table in enumerate(raw):
        name = table["name"]
        if name in seen:
            raise PlanError(plan.path, f"stages[{i}].name", f"a second stage named {name!r}")
        seen.add(name)
    order = [s.name for s in plan.stages]
    for i, table in enumerate(raw):
        for j, need in enumerate(table.get("needs", [])):
            if need not in seen:
                raise PlanError(plan.path, f"stages[{i}].needs[{j}]", f"no stage named {need!r}")
            if order.index(need) >= order.index(table["name"]):
                raise PlanError(plan.path, f"stages[{i}].needs[{j}]", f"{need!r} must come before the stage "
                                "that needs it (a lower priority number, or the same one written earlier)")


# --------------------------------------------------------------------------------------------
# Suite files, read as TOML (kbench validate checks them fully)


@dataclass(frozen=True)
class SuiteInfo:
    path: Path
    name: str  # the [paper] id: the results folder's name
    cases: dict[str, int]  # claim id -> number of GPU cases


def suite_path(text: str) -> Path:
    p = Path(text)
    return p if p.is_absolute() else ROOT / p


def read_suite(text: str, plan_path: Path, where: str) -> SuiteInfo:
    path = suite_path(text)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        name = str(data["paper"]["id"])
        cases = {str(c["id"]): len(c.get("cases", [])) for c in data["claims"]}
    except OSError as exc:
        raise PlanError(plan_path, where, f"suite {text!r} cannot be read ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise PlanError(plan_path, where, f"suite {text!r} is not a suite file ({type(exc).__name__}: {exc})") from None
    return SuiteInfo(path, name, cases)


def _check_claims(stage: Stage, plan_path: Path, where: str) -> None:
    suite = read_suite(str(stage.suite), plan_path, f"{where}.suite")
    for i, claim in enumerate(stage.only):
        if claim not in suite.cases:
            raise PlanError(plan_path, f"{where}.only[{i}]", f"{stage.suite} has no claim {claim!r}")


def stage_claims(stage: Stage) -> tuple[str, ...]:
    suite = read_suite(str(stage.suite), Path("?"), "")
    return stage.only or tuple(suite.cases)


# --------------------------------------------------------------------------------------------
# Estimates from committed result files


@dataclass(frozen=True)
class Estimate:
    seconds: float
    derived: bool
    source: str


def _load_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("verdicts"), list) else None


def result_files(folder: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Readable result files of one suite's folder (not checkpoints), newest first."""
    for path in sorted(folder.glob("[!.]*.json"), reverse=True):
        data = _load_json(path)
        if data is not None:
            yield path, data


def _seconds(data: Mapping[str, Any]) -> float | None:
    try:
        start, end = datetime.fromisoformat(data["created"]), datetime.fromisoformat(data["finished"])
    except (KeyError, TypeError, ValueError):
        return None
    return (end - start).total_seconds()


def full_budget(data: Mapping[str, Any]) -> bool:
    """Measured without --quick (schema 1 files have no plan: their command line says)."""
    plan = data.get("plan") or {}
    if "budget" in plan:
        return float(plan["budget"]) >= 1
    return "--quick" not in (data.get("env") or {}).get("argv", [])


def measured_claims(data: Mapping[str, Any]) -> set[str]:
    return {v.get("claim") for v in data["verdicts"] if v.get("verdict") not in ("skipped", None)}


def _cases_measured(data: Mapping[str, Any], claim: str) -> int:
    return len({json.dumps(m.get("case"), sort_keys=True) for m in data.get("measurements", [])
                if m.get("claim") == claim})


def _timing_source(data: Mapping[str, Any], gpu: str) -> bool:
    """A single run (not a merge: its times span days) of the full budget on `gpu`, complete."""
    plan = data.get("plan") or {}
    return ((data.get("env") or {}).get("gpu") == gpu and not data.get("interrupted") and not plan.get("merged_from")
            and full_budget(data) and _seconds(data) is not None)


def _source_for(claim: str, cases: int, files: list[tuple[Path, dict[str, Any]]]) -> tuple[Path, dict[str, Any]] | None:
    for path, data in files:
        if claim in measured_claims(data) and _cases_measured(data, claim) >= cases:
            return path, data
    return None


def _ms(m: Mapping[str, Any]) -> list[float]:
    samples = m.get("samples") or []
    return [float(s) for s in samples if isinstance(s, int | float)]


def _key(m: Mapping[str, Any]) -> str:
    """Measurements that claims share (kbench reuses a timing) have the same samples."""
    samples = _ms(m)
    return json.dumps([m.get("subject"), m.get("case"), m.get("metric"), len(samples), sum(samples)], sort_keys=True)


def _unique(measurements: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return list({_key(m): m for m in measurements}.values())


def _rounds_then(m: Mapping[str, Any]) -> int:
    return max(len(set(m.get("groups") or [0])), 1)


def _step_ms(m: Mapping[str, Any], all_m: Sequence[Mapping[str, Any]]) -> float | None:
    for other in all_m:
        if other.get("metric") == "step_ms" and other.get("subject") == m.get("subject") \
                and other.get("case") == m.get("case") and _ms(other):
            return statistics.median(_ms(other))
    return None


def measurement_cost(m: Mapping[str, Any], all_m: Sequence[Mapping[str, Any]], est: Estimating) -> float:
    """Seconds of calls this measurement takes now: its recorded median call time, times the calls
    kbench's current timing takes per round (warm-up, timed, compiling and estimating calls), times
    its rounds. Metrics without a time of their own (FLOPs, errors) cost only the fixed part."""
    metric, samples = m.get("metric"), _ms(m)
    if metric == "time_ms" and samples:
        t = statistics.median(samples)
        return est.kernel.rounds * est.kernel.calls(t, KERNEL_EXTRA_CALLS) * t / 1e3
    if metric == "step_ms" and samples:
        t = statistics.median(samples)
        return est.model.rounds * est.model.calls(t, STEP_EXTRA_CALLS) * t / 1e3
    step = _step_ms(m, all_m) if metric == "share" else None
    if step is not None:  # each round: 2 warm-up steps, then the profiled ones
        per_round = len(samples) / _rounds_then(m)
        return est.model.rounds * (2 + per_round) * step * PROFILER_FACTOR / 1e3
    return 0.0


def fixed_cost(data: Mapping[str, Any]) -> float:
    """Seconds per measurement not spent in timed calls in that run (compiling, checks against
    float64, models built): its wall time less its timed samples, shared out evenly."""
    all_m = _unique(data.get("measurements", []))
    timed = sum(sum(_ms(m)) for m in all_m if m.get("metric") in ("time_ms", "step_ms")) / 1e3
    return max(float(_seconds(data) or 0.0) - timed, 0.0) / max(len(all_m), 1)


def _file_cost(data: Mapping[str, Any], claims: set[str], est: Estimating) -> float:
    all_m = _unique(data.get("measurements", []))
    mine = [m for m in all_m if m.get("claim") in claims or _shared_with(m, data, claims)]
    fixed = fixed_cost(data)
    return sum(measurement_cost(m, all_m, est) + fixed for m in mine)


def _shared_with(m: Mapping[str, Any], data: Mapping[str, Any], claims: set[str]) -> bool:
    key = _key(m)
    return any(_key(o) == key and o.get("claim") in claims for o in data.get("measurements", []))


def estimate(stage: Stage, plan: Plan, results_dir: Path) -> Estimate:
    """Derived from the newest complete full-budget runs on the source GPU that measured every
    claim and case of the stage; else the plan's figure, saying why."""
    est = plan.estimating
    fallback = f"plan figure ({stage.expected_note})"
    if stage.suite is None:
        return Estimate(stage.expected_s, False, fallback)
    suite = read_suite(stage.suite, plan.path, "")
    files = [(p, d) for p, d in result_files(results_dir / suite.name) if _timing_source(d, est.source_gpu)]
    chosen: dict[Path, tuple[dict[str, Any], set[str]]] = {}
    for claim in stage_claims(stage):
        found = _source_for(claim, suite.cases[claim], files)
        if found is None:
            why = f"no complete {est.source_gpu} run in {results_dir.name}/{suite.name} measured every case of {claim}"
            return Estimate(stage.expected_s, False, f"{fallback}; {why}")
        chosen.setdefault(found[0], (found[1], set()))[1].add(claim)
    seconds = sum(_file_cost(d, c, est) for d, c in chosen.values()) * est.factor + est.startup_s
    runs = ", ".join(p.stem for p in chosen)
    return Estimate(seconds, True, f"derived from {est.source_gpu} run(s) {runs} x {est.factor:g} + "
                                   f"{est.startup_s:g} s start-up")


# --------------------------------------------------------------------------------------------
# Fitting stages into the budget


@dataclass
class Outcome:
    stage: str
    status: str  # ok | failed | cut-off | interrupted | skipped-time | skipped-done | skipped-needs | skipped-unneeded
    reason: str = ""
    expected_s: float = 0.0
    estimate_source: str = ""
    seconds: float = 0.0
    limit_s: float = 0.0
    exit_code: int | None = None
    files: list[str] = field(default_factory=list)
    log: str = ""

    @property
    def ran(self) -> bool:
        return not self.status.startswith("skipped")

    @property
    def complete(self) -> bool:
        return self.status in ("ok", "skipped-done")

    @property
    def words(self) -> str:
        return WORDS.get(self.status, self.status)


WORDS = {"skipped-time": "skipped for time", "skipped-done": "skipped, done already",
         "skipped-needs": "skipped, a stage it needs did not complete", "skipped-unneeded": "skipped, not needed",
         "cut-off": "cut off at its limit"}


def dependents(plan: Plan, stage: Stage) -> list[Stage]:
    return [s for s in plan.stages if stage.name in s.needs]


def fit_reason(stage: Stage, expected: Mapping[str, Estimate], left: float, waiting: Sequence[Stage]) -> str | None:
    """Why `stage` does not fit in `left` seconds, or None when it does. A stage others need (a
    build) fits only with room for at least one of the stages waiting on it."""
    cost = expected[stage.name].seconds
    if cost > left:
        return f"expected {cost:.0f} s ({_kind(expected[stage.name])}), {max(left, 0):.0f} s left of the budget"
    if waiting:
        after = min(expected[s.name].seconds for s in waiting)
        if cost + after > left:
            return (f"expected {cost:.0f} s, and the cheapest stage that needs it {after:.0f} s more: "
                    f"{cost + after:.0f} s > {max(left, 0):.0f} s left")
    return None


def _kind(e: Estimate) -> str:
    return "estimate derived from results" if e.derived else "the plan's figure"


def simulate(plan: Plan, expected: Mapping[str, Estimate], budget: float, done: Mapping[str, list[str]]
             ) -> list[Outcome]:
    """What a run would do if every stage took exactly its expected time."""
    left, outcomes = budget - plan.reserve_s, dict[str, Outcome]()
    for stage in plan.stages:
        outcome = decide(plan, stage, expected, left, done, outcomes)
        if outcome.status == "ok":
            left -= expected[stage.name].seconds
        outcomes[stage.name] = outcome
    return list(outcomes.values())


def decide(plan: Plan, stage: Stage, expected: Mapping[str, Estimate], left: float, done: Mapping[str, list[str]],
           outcomes: Mapping[str, Outcome]) -> Outcome:
    """The decision for one stage before it runs: status "ok" means run it."""
    e = expected[stage.name]
    base = Outcome(stage.name, "ok", expected_s=e.seconds, estimate_source=e.source, limit_s=stage.limit_s)
    if stage.name in done:
        base.status, base.reason = "skipped-done", "already measured at this commit on this GPU: " + ", ".join(
            done[stage.name])
        return base
    missing = [n for n in stage.needs if not outcomes[n].complete]
    if missing:
        base.status, base.reason = "skipped-needs", "; ".join(
            f"needs {n}, which was {outcomes[n].words}" for n in missing)
        return base
    waiting = [s for s in dependents(plan, stage) if s.name not in done]
    if dependents(plan, stage) and not waiting:
        base.status, base.reason = "skipped-unneeded", "every stage that needs it is done already"
        return base
    why = fit_reason(stage, expected, left, waiting)
    if why:
        base.status, base.reason = "skipped-time", why
    return base


def refusal(plan: Plan, outcomes: Sequence[Outcome]) -> str | None:
    """The plan is refused when a first-priority stage that is not done cannot fit."""
    top = min(s.priority for s in plan.stages)
    names = {s.name for s in plan.stages if s.priority == top}
    bad = [o for o in outcomes if o.stage in names and o.status in ("skipped-time", "skipped-needs")]
    if not bad:
        return None
    return "; ".join(f"first-priority stage {o.stage} cannot fit: {o.reason}" for o in bad)


# --------------------------------------------------------------------------------------------
# What is done already (resume)


@dataclass(frozen=True)
class Here:
    """The device and source this run measures: what a result must match to count as done."""

    identity: str | None
    slug: str
    commit: str | None


def device_identity(env: Mapping[str, Any]) -> str | None:
    """As kbench.env.device_identity (which imports torch): the GPU model, or the CPU and its cores."""
    gpu = str(env.get("gpu") or "cpu")
    if gpu != "cpu":
        return gpu
    cpu, cores = str(env.get("cpu") or ""), env.get("cpu_count")
    if cpu.lower() in ("", "x86_64", "amd64", "aarch64", "arm64", "i386", "i686", "ppc64le", "s390x") or not cores:
        return None
    return f"cpu ({cpu}, {cores} cores)"


def device_slug(env: Mapping[str, Any]) -> str:
    """As kbench.env.device_slug: the name results/baselines/<slug>.json uses."""
    name = str(env.get("gpu") or "cpu").lower()
    return "".join(c if c.isalnum() else "-" for c in name).strip("-")


def source_digest(suite: Path) -> str:
    """kbench's provenance digest of this tree and the suite (kbench.provenance needs no torch)."""
    sys.path.insert(0, str(ROOT))
    try:
        from kbench import provenance
    finally:
        sys.path.remove(str(ROOT))
    return str(provenance.record(str(suite), ROOT)["digest"])


def counts(data: Mapping[str, Any], here: Here, digest: str | None, quick: bool) -> bool:
    """A complete result measured here: same GPU model, same commit, same sources, same budget."""
    env = data.get("env") or {}
    recorded = (data.get("provenance") or {}).get("digest")
    return (not data.get("interrupted") and here.commit is not None and env.get("git_commit") == here.commit
            and here.identity is not None and device_identity(env) == here.identity
            and (recorded is None or recorded == digest) and full_budget(data) != quick)


def matching_files(stage: Stage, folders: Sequence[Path], here: Here) -> list[tuple[Path, dict[str, Any]]]:
    suite = read_suite(str(stage.suite), Path("?"), "")
    digest = source_digest(suite.path)
    return [(p, d) for folder in folders for p, d in result_files(folder / suite.name)
            if counts(d, here, digest, stage.quick)]


def done_by(stage: Stage, folders: Sequence[Path], here: Here) -> list[str] | None:
    """The result files that together measured every claim of the stage here, or None."""
    if stage.suite is None:
        return None
    files, used = matching_files(stage, folders, here), []
    for claim in stage_claims(stage):
        found = next((p for p, d in files if claim in measured_claims(d)), None)
        if found is None:
            return None
        used += [] if str(found) in used else [str(found)]
    return used


def repeats(stage: Stage, folders: Sequence[Path], here: Here) -> list[tuple[Path, dict[str, Any]]]:
    """Single runs (not merges) here that measured every claim of the stage: parts to merge."""
    return [(p, d) for p, d in matching_files(stage, folders, here)
            if set(stage_claims(stage)) <= measured_claims(d) and not (d.get("plan") or {}).get("merged_from")]


def next_seed(stage: Stage, folders: Sequence[Path], here: Here) -> int:
    """A seed no earlier run used: `kbench merge` refuses a second copy of the same samples."""
    seeds = [int((d.get("plan") or {}).get("seed", 0)) for _, d in repeats(stage, folders, here)]
    return max(seeds) + 1 if seeds else 0


# --------------------------------------------------------------------------------------------
# Running stages


PROBE = """
import json, sys
from kbench import devices, env
info = env.collect(devices.pick(sys.argv[1]))
print(json.dumps({"identity": env.device_identity(info), "slug": env.device_slug(info)}))
"""
PROMOTE = """
import sys
from pathlib import Path
from kbench import checkpoints
for folder in sys.argv[1:]:
    for kept in checkpoints.recover_checkpoints(Path(folder), print):
        print(f"a killed stage's checkpoint was kept as {kept}")
"""
SHOW = """
import sys
from kbench import cli
codes = [cli.main(["show", path]) for path in sys.argv[1:]]
sys.exit(max(codes, default=0))
"""
CHECK = """
import json, sys
from kbench import cli
if cli.main(["validate", *sys.argv[1:]]):  # `kbench validate SUITE ...`, its one-line error on stderr
    sys.exit(2)
from kbench import runner
fields = ("warmup_ms", "budget_ms", "min_reps", "max_reps", "rounds")
print(json.dumps({name: {f: getattr(getattr(runner, const), f) for f in fields}
                  for name, const in (("kernel", "FULL_KERNEL"), ("model", "FULL_MODEL"))}))
"""


def git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def stage_environment(device: str) -> dict[str, str]:
    """KBENCH_REQUIRE_GPU=1 unless the CPU is allowed; the commit from git where .git exists, else
    what the environment gives (a lent host's copy of the tree has no .git)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "KBENCH_REQUIRE_GPU": "1" if device == "cuda" else "0"}
    if (ROOT / ".git").exists():
        commit, status = git("rev-parse", "HEAD"), git("status", "--porcelain", "--untracked-files=no")
        if commit:
            env["KBENCH_GIT_COMMIT"] = commit
            env["KBENCH_GIT_DIRTY"] = "1" if status else "0"
    return env


def current_commit(env: Mapping[str, str]) -> str | None:
    return env.get("KBENCH_GIT_COMMIT") or None


def say(text: str = "") -> None:
    print(text, flush=True)


def _stop(proc: subprocess.Popen[bytes], grace: float) -> bool:
    """SIGTERM to the stage's process group, then SIGKILL after `grace` s; True when it was killed."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 30.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return False
        try:
            proc.wait(timeout=wait)
            return sig == signal.SIGKILL
        except subprocess.TimeoutExpired:
            continue
    return True


def run_limited(argv: Sequence[str], log: Path, limit: float, grace: float, env: Mapping[str, str]
                ) -> tuple[str, int | None, float]:
    """Run `argv` (its own process group) into `log` for at most `limit` s: (status, exit code, seconds)."""
    start = time.monotonic()
    with log.open("ab") as out:
        out.write(f"== {datetime.now().isoformat(timespec='seconds')} {shlex.join(argv)}\n".encode())
        out.flush()
        proc = subprocess.Popen(list(argv), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=dict(env),
                                start_new_session=True)
        try:
            code = proc.wait(timeout=max(limit, 0.1))
            status = "ok" if code == 0 else "failed"
        except subprocess.TimeoutExpired:
            killed = _stop(proc, grace)
            code, status = proc.returncode, "cut-off"
            out.write(f"== cut off after {limit:.0f} s: SIGTERM{', then SIGKILL' if killed else ''}\n".encode())
        except KeyboardInterrupt:
            _stop(proc, grace)
            code, status = proc.returncode, "interrupted"
    return status, code, time.monotonic() - start


@dataclass(frozen=True)
class Settings:
    plan: Plan
    out: Path
    results: Path  # the repository's results/, for estimates and resume
    device: str
    kbench: tuple[str, ...]
    resume: bool
    repeat: bool
    env: Mapping[str, str]

    @property
    def res(self) -> Path:
        return self.out / "res"

    @property
    def folders(self) -> list[Path]:
        return [self.results, self.res]


def kbench_argv(s: Settings, stage: Stage, seed: int | None) -> list[str]:
    argv = [*s.kbench, "run", str(stage.suite), "--results", str(s.res), "--device", s.device, *stage.args]
    argv += ["--seed", str(seed)] if seed is not None else []
    return argv + (["--only", *stage.only] if stage.only else [])


def command_argv(stage: Stage) -> list[str]:
    return [sys.executable if part == "{python}" else part for part in stage.command]


def run_stage(s: Settings, stage: Stage, outcome: Outcome, left: float, here: Here) -> None:
    """Run one stage under min(its limit, what is left), and note what it wrote."""
    seed = next_seed(stage, s.folders, here) if stage.repeatable and s.repeat else None
    argv = kbench_argv(s, stage, seed) if stage.suite else command_argv(stage)
    folder = s.res / read_suite(stage.suite, s.plan.path, "").name if stage.suite else None
    before = set(folder.glob("*.json")) if folder and folder.is_dir() else set()
    outcome.limit_s = min(stage.limit_s, max(left, 1.0))
    outcome.log = str(s.out / f"{stage.name}.log")
    now = datetime.now().strftime("%H:%M:%S")
    say(f"== {stage.name} ({now}): {stage.covers}; expected {outcome.expected_s:.0f} s, limit {outcome.limit_s:.0f} s")
    outcome.status, outcome.exit_code, outcome.seconds = run_limited(argv, Path(outcome.log), outcome.limit_s,
                                                                      s.plan.grace_s, s.env)
    if folder is not None and folder.is_dir():
        if outcome.status in ("cut-off", "interrupted"):
            promote(s, folder)
        outcome.files = sorted(str(p) for p in set(folder.glob("*.json")) - before)
    say(f"   {outcome.status} after {outcome.seconds:.0f} s (exit {outcome.exit_code})"
        + "".join(f"\n   -> {f}" for f in outcome.files))


def promote(s: Settings, folder: Path) -> None:
    """A stage killed past its grace period left a checkpoint of its finished claims: keep it now."""
    if list(folder.glob(".*.inprogress.json")):
        subprocess.run([sys.executable, "-c", PROMOTE, str(folder)], cwd=ROOT, env=dict(s.env), timeout=120)


def probe(s: Settings) -> Here:
    """The device kbench will measure on (kbench's own code says which), and the commit."""
    out = subprocess.run([sys.executable, "-c", PROBE, s.device], cwd=ROOT, capture_output=True, text=True,
                         env=dict(s.env), timeout=300)
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise PlanError(s.plan.path, "", f"kbench cannot start on --device {s.device}: {last}")
    info = json.loads(out.stdout.strip().splitlines()[-1])
    return Here(info["identity"], info["slug"], current_commit(s.env))


def copy_baseline(s: Settings, source: str) -> str:
    data = _load_json(Path(source)) or {}
    target = s.out / "baselines" / f"{device_slug(data.get('env') or {})}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return str(target)


def merge_repeats(s: Settings, stage: Stage, here: Here) -> str | None:
    """Join this commit's complete runs of a repeatable stage into one file of more rounds."""
    parts = [str(p) for p, _ in repeats(stage, s.folders, here)]
    if len(parts) < 2:
        return None
    folder = s.res / read_suite(str(stage.suite), s.plan.path, "").name
    before = set(folder.glob("*.json"))
    log = s.out / f"{stage.name}-merge.log"
    status, code, _ = run_limited([*s.kbench, "merge", *parts, "--results", str(s.res)], log, 120, 10, s.env)
    new = sorted(set(folder.glob("*.json")) - before)
    say(f"== merge of {len(parts)} {stage.name} runs: {status} (exit {code}); log {log}")
    return str(new[0]) if status == "ok" and new else None


# --------------------------------------------------------------------------------------------
# Command line


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="gpu_evidence.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--budget", type=float, default=540.0, help="seconds for the whole command (default 540)")
    p.add_argument("--out", default=os.environ.get("OUT"), help="folder for result files and logs (default: $OUT)")
    p.add_argument("--plan", action="store_true", help="dry run: estimates, what fits, and every check the CPU can do")
    p.add_argument("--plan-file", type=Path, default=DEFAULT_PLAN, help="the plan (default scripts/gpu-plan.toml)")
    p.add_argument("--results", type=Path, default=ROOT / "results",
                   help="committed results: estimates and what is done already (default results/)")
    p.add_argument("--device", choices=("cuda", "cpu", "auto"), default="cuda",
                   help="cuda (default; KBENCH_REQUIRE_GPU=1 for every stage), or cpu/auto for tests")
    p.add_argument("--allow-cpu", action="store_true", help="the same as --device auto")
    p.add_argument("--no-resume", dest="resume", action="store_false",
                   help="measure every stage even if results/ or $OUT/res already hold it at this commit")
    p.add_argument("--repeat-flagship", action="store_true",
                   help="run the repeatable (flagship) stage again with the next seed even when done, then merge")
    p.add_argument("--kbench", default=f"{shlex.quote(sys.executable)} -m kbench",
                   help="the command that runs kbench (default: this Python's -m kbench)")
    args = p.parse_args(argv)
    if args.allow_cpu:
        args.device = "auto"
    if not args.budget > 0:
        p.error(f"--budget: expected seconds > 0, got {args.budget:g}")
    return args


def print_plan(plan: Plan, budget: float, expected: Mapping[str, Estimate], outcomes: Sequence[Outcome]) -> None:
    say(f"plan {plan.path}: {len(plan.stages)} stages for one {plan.target_gpu}; budget {budget:.0f} s, of which "
        f"{plan.reserve_s:.0f} s are kept for the start, the closing tables and merges")
    say(f"Expected seconds are ESTIMATES on the {plan.target_gpu}, not measurements: derived from the committed "
        f"{plan.estimating.source_gpu} result files where they record the stage's claims, scaled by "
        f"{plan.estimating.factor:g} ({plan.estimating.factor_note}); else the plan's own figure.")
    say(f"{'stage':<{W}} {'prio':>4} {'expected':>9} {'limit':>6}  {'fits?':<5}  estimate")
    for stage, o in zip(plan.stages, outcomes, strict=True):
        fits = {"ok": "yes", "skipped-time": "NO"}.get(o.status, o.status.removeprefix("skipped-"))
        e = expected[stage.name]
        over = f"; over its own limit ({stage.limit_s:.0f} s): it would be cut off" if e.seconds > stage.limit_s else ""
        say(f"{stage.name:<{W}} {stage.priority:>4} {e.seconds:>7.0f} s {stage.limit_s:>4.0f} s  {fits:<5}  "
            f"{'derived from results' if e.derived else 'plan figure'}{over}")
    say("where each estimate comes from:")
    for stage in plan.stages:
        say(f"  {stage.name}: {expected[stage.name].source}")
    runs = [o for o in outcomes if o.status == "ok"]
    say(f"would run: {', '.join(o.stage for o in runs) or 'nothing'} "
        f"(about {sum(o.expected_s for o in runs):.0f} s of {budget - plan.reserve_s:.0f} s)")
    for o in outcomes:
        if o.status != "ok":
            say(f"would skip {o.stage}: {o.reason}")


def checks(plan: Plan) -> list[str]:
    """What the CPU can check: kbench imports, every suite passes `kbench validate` (which loads the
    kernels the suites name), and the plan's timing constants are kbench's; one process."""
    suites = sorted({str(s.suite) for s in plan.stages if s.suite})
    env = {**os.environ, "TRITON_INTERPRET": "1"}  # only loading: no GPU needed
    check = subprocess.run([sys.executable, "-c", CHECK, *suites], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=300)
    last = (check.stderr.strip().splitlines() or ["no output"])[-1]
    if check.returncode == 2:
        return [f"kbench validate: {last}"]
    if check.returncode != 0:
        return [f"kbench does not import: {last}"]
    problems = _constants(plan, json.loads(check.stdout.strip().splitlines()[-1]))
    if not problems:
        say(f"checks: the plan parses and its fields are valid; {len(suites)} suites exist and pass kbench validate; "
            f"{sum(len(s.only) for s in plan.stages)} --only claim ids exist; kbench and the kernels import; "
            "the plan's timing constants are kbench.runner's")
    return problems


def _constants(plan: Plan, found: Mapping[str, Mapping[str, float]]) -> list[str]:
    problems = []
    for name in ("kernel", "model"):
        mine = getattr(plan.estimating, name)
        for f in TIMING_FIELDS:
            if float(getattr(mine, f)) != float(found[name][f]):
                problems.append(f"{plan.path}: estimates.{name}.{f}: the plan says {getattr(mine, f)} but "
                                f"kbench.runner has {found[name][f]}: update the plan")
    return problems


def dry_run(plan: Plan, args: argparse.Namespace, expected: Mapping[str, Estimate]) -> int:
    outcomes = simulate(plan, expected, args.budget, {})
    print_plan(plan, args.budget, expected, outcomes)
    if args.budget > COMMAND_LIMIT_S:
        say(f"note: --budget {args.budget:.0f} s is more than a lent GPU's {COMMAND_LIMIT_S} s per command")
    refused = refusal(plan, outcomes)
    if refused:
        print(f"gpu-evidence: error: {plan.path}: {refused}: nothing would run (kbench checks not run)",
              file=sys.stderr)
        return EXIT_PLAN
    problems = checks(plan)
    for problem in problems:
        print(f"gpu-evidence: error: {problem}", file=sys.stderr)
    say("(a dry run assumes nothing is measured yet; a real run also skips stages already measured at this commit)")
    return EXIT_PLAN if problems else 0


def execute(s: Settings, budget: float, expected: Mapping[str, Estimate], start: float) -> list[Outcome]:
    here = probe(s)
    say(f"device: {here.identity}; commit {here.commit or 'unknown (no .git, no KBENCH_GIT_COMMIT): no resume'}")
    done = {st.name: files for st in s.plan.stages if s.resume and not (st.repeatable and s.repeat)
            and (files := done_by(st, s.folders, here))}
    refused = refusal(s.plan, simulate(s.plan, expected, budget - (time.monotonic() - start), done))
    if refused:
        raise PlanError(s.plan.path, "", f"{refused}: nothing was run")
    outcomes: dict[str, Outcome] = {}
    for stage in s.plan.stages:
        left = budget - s.plan.reserve_s - (time.monotonic() - start)
        outcome = outcomes[stage.name] = decide(s.plan, stage, expected, left, done, outcomes)
        if outcome.status != "ok":
            say(f"== {stage.name}: {outcome.words}: {outcome.reason}")
            continue
        run_stage(s, stage, outcome, left, here)
        after_stage(s, stage, outcome, here)
        if outcome.status == "interrupted":
            break
    return list(outcomes.values())


def after_stage(s: Settings, stage: Stage, outcome: Outcome, here: Here) -> None:
    """The flagship's result is the gate's baseline for this GPU; repeats are merged into one."""
    if not stage.baseline or outcome.status != "ok" or not outcome.files:
        return
    source = merge_repeats(s, stage, here) if s.repeat else None
    if source:
        outcome.files.append(source)
    target = copy_baseline(s, source or outcome.files[0])
    say(f"   baseline for the gate: {target}")


def summary(s: Settings, outcomes: Sequence[Outcome]) -> None:
    ran = [o for o in outcomes if o.ran]
    say("\n== what ran (measured seconds)")
    for o in ran:
        say(f"  {o.stage:<{W}} {o.words:<20} {o.seconds:>5.0f} s (expected {o.expected_s:.0f} s, "
            f"limit {o.limit_s:.0f} s, exit {o.exit_code}); log {o.log}")
    say("== skipped")
    for o in outcomes:
        if not o.ran:
            say(f"  {o.stage:<{W}} {o.words}: {o.reason}")
    (s.out / "gpu-evidence.json").write_text(json.dumps([asdict(o) for o in outcomes], indent=1) + "\n")
    files = [f for o in ran for f in o.files]
    say("== verdicts" + ("" if files else ": no result file was written by this run"))
    if files:
        # kbench prints its tables on stderr: here they belong after the summary, on stdout
        subprocess.run([sys.executable, "-c", SHOW, *files], cwd=ROOT, env=dict(s.env), timeout=300,
                       stderr=subprocess.STDOUT)


def main(argv: Sequence[str] | None = None) -> int:
    start = time.monotonic()
    args = parse_args(argv)
    try:
        plan = load_plan(args.plan_file)
        expected = {stage.name: estimate(stage, plan, args.results) for stage in plan.stages}
        if args.plan:
            return dry_run(plan, args, expected)
        if not args.out:
            raise PlanError(plan.path, "", "no --out folder (or $OUT) for result files and logs")
        s = Settings(plan, Path(args.out).resolve(), args.results, "cuda" if args.device == "cuda" else args.device,
                     tuple(shlex.split(args.kbench)), args.resume, args.repeat_flagship, stage_environment(args.device))
        s.res.mkdir(parents=True, exist_ok=True)
        signal.signal(signal.SIGTERM, _interrupt)
        outcomes = execute(s, args.budget, expected, start)
    except PlanError as exc:
        print(f"gpu-evidence: error: {exc}", file=sys.stderr)
        return EXIT_PLAN
    except KeyboardInterrupt:
        print("gpu-evidence: interrupted", file=sys.stderr)
        return 130
    summary(s, outcomes)
    return 0 if all(o.status in ("ok",) for o in outcomes if o.ran) else 1


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
