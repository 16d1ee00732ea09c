"""Reading result files: the one place that decides whether a file is usable.

`read(path)` parses, migrates a schema-1 file to schema 2, and validates every field the readers
(show, report, gate, merge) rely on: types, allowed values, sample and group counts, names that
become paths. Anything else is a ResultError naming the file and the field, never a traceback
further down.

Schema 1 -> 2: each measurement gets its unit, better direction, noise model, round/seed groups
and role (the side it measured: schema 1 wrote a pair's baseline first), and each verdict is
judged again by kbench.judging from the stored samples: one round of timing carries no
between-round noise, so such verdicts become `inconclusive` with that reason. The original
verdict is kept in the verdict's notes.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from kbench.errors import ResultError
from kbench.results import BETTER, NOISES, SCHEMA_VERSION, VERDICTS, safe_name

Check = Callable[[Any], bool]


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _opt(check: Check) -> Check:
    return lambda v: v is None or check(v)


def _list_of(check: Check) -> Check:
    return lambda v: isinstance(v, list) and all(check(x) for x in v)


_str: Check = lambda v: isinstance(v, str)  # noqa: E731
_dict: Check = lambda v: isinstance(v, dict)  # noqa: E731
_bool: Check = lambda v: isinstance(v, bool)  # noqa: E731
_int: Check = lambda v: isinstance(v, int) and not isinstance(v, bool)  # noqa: E731
_interval: Check = lambda v: v is None or (isinstance(v, list) and len(v) == 2  # noqa: E731
                                           and all(_number(x) for x in v) and v[0] <= v[1])

TOP: dict[str, tuple[Check, str]] = {
    "suite": (_str, "a string"), "suite_file": (_str, "a string"), "suite_sha256": (_str, "a string"),
    "run_id": (_str, "a string"), "created": (_str, "a string"), "env": (_dict, "an object"),
    "paper": (_dict, "an object"), "measurements": (lambda v: isinstance(v, list), "a list"),
    "verdicts": (lambda v: isinstance(v, list), "a list"),
}
TOP_OPTIONAL: dict[str, tuple[Check, str]] = {
    "shard": (_opt(_str), "a string or null"), "plan": (_dict, "an object"), "peaks": (_dict, "an object"),
    "provenance": (_dict, "an object"), "interrupted": (_bool, "true or false"),
    "finished": (_opt(_str), "a string or null"), "nonfinite": (_list_of(_str), "a list of strings"),
    "thresholds": (lambda v: isinstance(v, dict) and all(_number(x) and 0 < x < 1 for x in v.values()),
                   "an object of slowdown fractions between 0 and 1"),
}
ENV: dict[str, tuple[Check, str]] = {  # the environment fields that readers use, where present
    "gpu": (_opt(_str), "a string or null"), "cpu": (_opt(_str), "a string or null"),
    "cpu_count": (_opt(_int), "a whole number or null"), "git_commit": (_opt(_str), "a string or null"),
    "git_dirty": (_opt(_bool), "true, false or null"), "torch": (_opt(_str), "a string or null"),
    "triton": (_opt(_str), "a string or null"), "cuda": (_opt(_str), "a string or null"),
    "driver": (_opt(_str), "a string or null"),
}
MEASUREMENT: dict[str, tuple[Check, str]] = {
    "claim": (_str, "a string"), "case": (_dict, "an object"), "subject": (_dict, "an object"),
    "metric": (_str, "a string"), "unit": (_str, "a string"), "better": (lambda v: v in BETTER, f"one of {BETTER}"),
    "noise": (lambda v: v in NOISES, f"one of {NOISES}"), "role": (_str, "a string"),
    "status": (lambda v: v in ("ok", "skipped", "error"), "ok, skipped or error"),
    "samples": (_opt(_list_of(_opt(_number))), "a list of numbers or null"),
    "groups": (_opt(_list_of(lambda g: _int(g) and g >= 0)), "a list of round or seed numbers (0 or more) or null"),
    "summary": (_opt(_dict), "an object or null"),
    "extra": (_dict, "an object"), "reason": (_opt(_str), "a string or null"),
}
VERDICT: dict[str, tuple[Check, str]] = {
    "claim": (_str, "a string"), "kind": (_str, "a string"), "verdict": (lambda v: v in VERDICTS, f"one of {VERDICTS}"),
    "measured": (_opt(_number), "a number or null"), "interval": (_interval, "[low, high] with low <= high, or null"),
    "paper_value": (_opt(_number), "a number or null"), "ratio_to_paper": (_opt(_number), "a number or null"),
    "rule": (_dict, "an object"), "quote": (_str, "a string"), "reason": (_opt(_str), "a string or null"),
    "per_case": (_list_of(lambda c: isinstance(c, dict) and _dict(c.get("case")) and _opt(_number)(c.get("value"))
                          and _interval(c.get("interval"))), "a list of {case, value, interval}"),
    "notes": (_list_of(_str), "a list of strings"),
}
VERDICT_OPTIONAL: dict[str, tuple[Check, str]] = {
    "n": (lambda v: _int(v) and v >= 0, "a count (0 or more)"), "combine": (_str, "a string"),
    "unit": (_str, "a string"), "paper": (_dict, "an object"),
    "robustness": (lambda v: _dict(v) and _list_of(_dict)(v.get("replicates", [])) and _dict(v.get("sensitivity", {}))
                   and _list_of(_str)(v.get("blocks", [])),
                   "an object: replicates a list of objects, sensitivity an object, blocks a list of strings"),
}
PLAN: dict[str, tuple[Check, str]] = {  # the plan fields that readers use, where present
    "seed": (lambda v: _int(v) and 0 <= v < 2**31, "a whole number from 0 to 2**31 - 1"),
    "replicates": (lambda v: _int(v) and v >= 1, "a whole number, 1 or more"),
    "master_seeds": (_list_of(lambda v: _int(v) and 0 <= v < 2**31), "a list of master seeds"),
}
MEASUREMENT_OPTIONAL: dict[str, tuple[Check, str]] = {
    "replicate": (_opt(lambda r: _int(r) and 0 <= r < 2**31), "a master seed (0 to 2**31 - 1) or null"),
}
RULE: dict[str, tuple[Check, str]] = {
    "at_least": (_opt(_number), "a number or null"), "at_most": (_opt(_number), "a number or null"),
    "of_paper": (_bool, "true or false"),
}


def _fields(data: Mapping[str, Any], spec: Mapping[str, tuple[Check, str]], where: str, required: bool) -> None:
    for key, (check, expected) in spec.items():
        if key not in data:
            if required:
                raise ValueError(f"{where}{key}: missing (expected {expected})")
            continue
        if not check(data[key]):
            raise ValueError(f"{where}{key}: expected {expected}, got {str(data[key])[:80]!r}")


def measurement_identity(m: Mapping[str, Any]) -> str:
    """What one measurement is of: claim, side, metric, implementation, case and the replicate that
    took it (at most one per file)."""
    return json.dumps([m["claim"], m.get("role"), m["metric"], m.get("subject"), m.get("case"), m.get("replicate")],
                      sort_keys=True, default=str)


def validate(data: Any) -> None:
    """Raise ValueError naming the first field that is not what readers expect."""
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object at the top level")
    _fields(data, TOP, "", True)
    _fields(data, TOP_OPTIONAL, "", False)
    _fields(data["env"], ENV, "env.", False)
    _fields(data.get("plan") or {}, PLAN, "plan.", False)
    _check_shard(data.get("shard"))
    for key in ("suite", "run_id"):
        try:
            safe_name(data[key], key)
        except ResultError as exc:
            raise ValueError(str(exc)) from None
    try:
        datetime.fromisoformat(data["created"])
    except ValueError:
        raise ValueError(f"created: expected an ISO date and time, got {data['created'][:40]!r}") from None
    claims = set()
    for i, v in enumerate(data["verdicts"]):
        if not isinstance(v, dict):
            raise ValueError(f"verdicts[{i}]: expected an object")
        _fields(v, VERDICT, f"verdicts[{i}].", True)
        _fields(v, VERDICT_OPTIONAL, f"verdicts[{i}].", False)
        _fields(v["rule"], RULE, f"verdicts[{i}].rule.", False)
        if v["claim"] in claims:
            raise ValueError(f"verdicts[{i}].claim: {v['claim']!r} appears twice")
        claims.add(v["claim"])
    identities: dict[str, int] = {}
    for i, m in enumerate(data["measurements"]):
        if not isinstance(m, dict):
            raise ValueError(f"measurements[{i}]: expected an object")
        _fields(m, MEASUREMENT, f"measurements[{i}].", True)
        _fields(m, MEASUREMENT_OPTIONAL, f"measurements[{i}].", False)
        first = identities.setdefault(measurement_identity(m), i)
        if first != i:
            raise ValueError(f"measurements[{i}]: measures what measurements[{first}] measures (claim, role, metric, "
                             "subject and case): a file holds one measurement of each")
        _check_samples(m, f"measurements[{i}]")
        _check_law(m, f"measurements[{i}]")
        if m["claim"] not in claims:
            raise ValueError(f"measurements[{i}].claim: {m['claim']!r} has no verdict in the file")


def _check_shard(shard: Any) -> None:
    if shard is None:
        return
    match = re.fullmatch(r"([0-9]{1,6})/([0-9]{1,6})", str(shard))
    if match is None or not 1 <= int(match[1]) <= int(match[2]):
        raise ValueError(f"shard: expected i/N with 1 <= i <= N, got {shard!r}")


def _check_law(m: dict[str, Any], where: str) -> None:
    """A law's point (kbench.kinds.law): its statistic and forms are ones kbench knows, its amount
    a positive number."""
    extra = m.get("extra")
    if not isinstance(extra, dict) or "law" not in extra:
        return
    from kbench import laws

    if not isinstance(extra["law"], dict):
        raise ValueError(f"{where}.extra.law: expected an object")
    problem = laws.spec_problem(extra["law"])
    if problem:
        raise ValueError(f"{where}.extra.law.{problem}")
    x = extra.get("x")
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not 0 < x < 1e300:
        raise ValueError(f"{where}.extra.x: expected the positive amount the point was measured at, got {x!r}")


def _check_samples(m: dict[str, Any], where: str) -> None:
    """Sample and group counts agree (missing groups: one round, or one seed per sample); an ok
    measurement has finite samples, and times are positive."""
    samples = m.get("samples") or []
    if m.get("groups") is None and m["noise"] != "exact" and samples:
        m["groups"] = [0] * len(samples) if m["noise"] == "timing" else list(range(len(samples)))
    groups = m.get("groups")
    if groups is not None and len(groups) != len(samples):
        raise ValueError(f"{where}.groups: {len(groups)} labels for {len(samples)} samples")
    if m["noise"] == "seeds" and groups is not None and len(set(groups)) != len(groups):
        raise ValueError(f"{where}.groups: a seed appears twice (one value per seed)")
    if m["status"] == "ok" and (not samples or any(s is None for s in samples)):
        raise ValueError(f"{where}.samples: an ok measurement needs finite samples")
    if m["noise"] == "timing" and any(s is not None and s <= 0 for s in samples):
        raise ValueError(f"{where}.samples: a time must be positive")
    if any(s is not None and s != 0 and not 1e-100 <= abs(s) <= 1e100 for s in samples):
        raise ValueError(f"{where}.samples: values beyond 1e100 or below 1e-100 in size are not measurements")


def read(path: str | Path) -> dict[str, Any]:
    """Read, migrate and validate one result file; ResultError naming the file when unusable."""
    p = Path(path)
    try:
        data = json.loads(p.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise ResultError(f"{p}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ResultError(f"{p}: not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ResultError(f"{p}: not valid JSON (truncated or corrupt?): {exc}") from None
    except RecursionError:
        raise ResultError(f"{p}: nested too deeply to be a result file") from None
    if not isinstance(data, dict):
        raise ResultError(f"{p}: expected a JSON object at the top level")
    version = data.get("schema_version")
    try:
        if version == 1:
            data = migrate_v1(data)
        elif version != SCHEMA_VERSION:
            raise ValueError(f"schema_version {version!r}; this kbench reads versions 1 and {SCHEMA_VERSION}")
        validate(data)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:  # a shape no check foresaw
        raise ResultError(f"{p}: not a usable result file: {type(exc).__name__ if not str(exc) else ''}{exc}"
                          ) from None
    data["_path"] = str(p)
    return cast(dict[str, Any], data)


# --------------------------------------------------------------------------------------------
# Schema 1 -> 2

V1_METRICS: dict[str, tuple[str, str, str]] = {  # metric -> (unit, better, noise)
    "time_ms": ("ms", "lower", "timing"), "step_ms": ("ms", "lower", "timing"), "flops": ("FLOPs", "none", "exact"),
    "bitwise_equal": ("share", "higher", "exact"), "share": ("share", "none", "timing"),
}
PAIR_KINDS = ("speedup", "train-speedup", "error-ratio", "flops-ratio")


_BOUND = r"([<>]=)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
_RULE_TEXT = re.compile(rf"\s*{_BOUND}\s*(?:and\s+{_BOUND}\s*)?")


def parse_rule_text(text: Any) -> dict[str, Any]:
    """'>= 61.5', '<= 1e-06', '>= 0.95 and <= 1.05' (schema 1's stored rules) as rule data;
    anything else (an 'or', two lower bounds, an empty range) is refused, not guessed at."""
    match = _RULE_TEXT.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"rule: {str(text)[:60]!r} is not '>= N', '<= N' or '>= N and <= M'")
    rule: dict[str, Any] = {"at_least": None, "at_most": None, "of_paper": False, "text": text}
    bounds = [(match[1], match[2])] + ([(match[3], match[4])] if match[3] else [])
    for sign, number in bounds:
        key = "at_least" if sign == ">=" else "at_most"
        if rule[key] is not None:
            raise ValueError(f"rule: {text!r} bounds the same side twice")
        rule[key] = float(number)
        if not math.isfinite(rule[key]):
            raise ValueError(f"rule: {text!r} has a bound that is not a finite number")
    if rule["at_least"] is not None and rule["at_most"] is not None and rule["at_least"] > rule["at_most"]:
        raise ValueError(f"rule: {text!r} is an empty range")
    return rule


def _migrate_measurement(m: dict[str, Any]) -> dict[str, Any]:
    metric = str(m.get("metric", ""))
    unit, better, noise = V1_METRICS.get(metric, ("relative", "lower", "seeds") if metric.startswith("rel_err_")
                                         else ("", "none", "timing"))
    n = len(m.get("samples") or [])
    groups = [0] * n if noise == "timing" else list(range(n)) if noise == "seeds" else None
    return {**m, "unit": unit, "better": better, "noise": noise, "role": "subject", "groups": groups,
            "device_independent": metric == "flops"}


def _assign_roles(measurements: list[dict[str, Any]], kinds: Mapping[str, str]) -> None:
    """Schema 1 wrote each pair's baseline measurement before its candidate, per case and metric."""
    seen: dict[tuple[str, str, str], int] = {}
    for i, m in enumerate(measurements):
        if kinds.get(m["claim"]) not in PAIR_KINDS:
            continue
        key = (m["claim"], json.dumps(m.get("case"), sort_keys=True), m["metric"])
        if seen.get(key, 0) == 2:
            raise ValueError(f"measurements[{i}]: a third {m['metric']} of claim {m['claim']} for one case; a pair "
                             "has two sides")
        m["role"] = ("baseline", "candidate")[seen.get(key, 0)]
        seen[key] = seen.get(key, 0) + 1


V1_VERDICT: dict[str, tuple[Check, str]] = {
    "claim": (_str, "a string"), "kind": (_str, "a string"), "verdict": (lambda v: v in VERDICTS, f"one of {VERDICTS}"),
    "measured": (_opt(_number), "a number or null"), "interval": (_interval, "[low, high] or null"),
}
V1_MEASUREMENT: dict[str, tuple[Check, str]] = {
    "claim": (_str, "a string"), "metric": (_str, "a string"), "case": (_opt(_dict), "an object"),
    "subject": (_opt(_dict), "an object"), "samples": (_opt(_list_of(_opt(_number))), "a list of numbers or null"),
    "status": (lambda v: v in ("ok", "skipped", "error"), "ok, skipped or error"),
}


def _check_v1(data: Mapping[str, Any]) -> None:
    """The fields the migration reads, checked before it reads them."""
    _fields(data, TOP, "", True)
    for name, spec in (("verdicts", V1_VERDICT), ("measurements", V1_MEASUREMENT)):
        for i, item in enumerate(data[name]):
            if not isinstance(item, dict):
                raise ValueError(f"{name}[{i}]: expected an object")
            _fields(item, spec, f"{name}[{i}].", name == "verdicts")


def migrate_v1(data: dict[str, Any]) -> dict[str, Any]:
    """A schema-1 result as schema 2, its verdicts judged again from its samples."""
    from kbench.judging import ClaimInfo, judge
    from kbench.kinds import KINDS
    from kbench.verdicts import Rule

    _check_v1(data)

    out = {**data, "schema_version": SCHEMA_VERSION, "plan": {"migrated_from_schema": 1}, "provenance": {},
           "nonfinite": []}
    kinds = {v["claim"]: v["kind"] for v in data["verdicts"]}
    out["measurements"] = [_migrate_measurement(m) for m in data["measurements"]]
    _assign_roles(out["measurements"], kinds)
    verdicts = []
    for i, v in enumerate(data["verdicts"]):
        if not isinstance(v, dict) or "rule" not in v:
            raise ValueError(f"verdicts[{i}].rule: missing (schema 1 stores the rule as text, e.g. '>= 2')")
        try:
            rule = parse_rule_text(v["rule"])
        except ValueError as exc:
            raise ValueError(f"verdicts[{i}].{exc}") from None
        old = f"schema 1 verdict: {v['verdict']}" + (f" ({v['measured']:.4g}, within-run interval "
                                                       f"[{v['interval'][0]:.4g}, {v['interval'][1]:.4g}])"
                                                       if _number(v.get("measured")) and v.get("interval") else "")
        ms = [m for m in out["measurements"] if m["claim"] == v["claim"] and m.get("status") == "ok"]
        kept = v["verdict"] in ("error", "skipped")  # a wrong implementation stays wrong; a skip has no evidence
        if kept or not ms or v["kind"] not in KINDS:
            why = ("" if kept else f"kind {v['kind']!r} is unknown to this kbench" if v["kind"] not in KINDS
                   else "no usable measurements in the file")
            verdicts.append({**v, "rule": rule, "combine": "", "unit": "", "n": 0, "notes": [old],
                             **({} if kept else {"verdict": "inconclusive", "measured": None, "interval": None,
                                                 "ratio_to_paper": None, "per_case": [],
                                                 "reason": f"schema 1 file re-judged: {why}"})})
            continue
        info = ClaimInfo(v["claim"], v["kind"], Rule.from_dict(rule), v.get("quote", ""), v.get("paper_value"),
                         KINDS[v["kind"]].combine)
        new = judge(info, ms, data.get("peaks") or {})
        if v["kind"] in PAIR_KINDS:
            _agrees(v, new.measured, i)
        new.notes.append(old)
        verdicts.append(dataclasses.asdict(new))
    out["verdicts"] = verdicts
    return out


def _agrees(old: Mapping[str, Any], measured: float | None, i: int) -> None:
    """Schema 1 assigns a pair's sides by order: a file whose stored value its own samples, read that
    way, do not give (off by more than 2x, e.g. the inverse) has been edited, and is refused."""
    before = float(old["measured"]) if _number(old.get("measured")) else None
    if before is None or measured is None or before <= 0 or measured <= 0:
        return
    if abs(math.log(measured / before)) > math.log(2):
        raise ValueError(f"verdicts[{i}].measured: {before:.4g} stored, but the file's samples give {measured:.4g} "
                         "(sides in the wrong order? edited by hand?)")
