"""What a usable schema-2 result file holds: every field the readers (show, report, gate, merge)
rely on, checked for type, allowed values, sample and group counts, and names that become paths.
`validate` raises ValueError naming the first field that is not so; kbench.reading turns it into
a ResultError naming the file. A pure check: it reads no file and judges nothing.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from kbench import law_records
from kbench.errors import ResultError
from kbench.results import BETTER, NOISES, VERDICTS, safe_name

Check = Callable[[Any], bool]


def number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def opt(check: Check) -> Check:
    return lambda v: v is None or check(v)


def list_of(check: Check) -> Check:
    return lambda v: isinstance(v, list) and all(check(x) for x in v)


text: Check = lambda v: isinstance(v, str)  # noqa: E731
obj: Check = lambda v: isinstance(v, dict)  # noqa: E731
flag: Check = lambda v: isinstance(v, bool)  # noqa: E731
whole: Check = lambda v: isinstance(v, int) and not isinstance(v, bool)  # noqa: E731
interval: Check = lambda v: v is None or (isinstance(v, list) and len(v) == 2  # noqa: E731
                                          and all(number(x) for x in v) and v[0] <= v[1])

TOP: dict[str, tuple[Check, str]] = {
    "suite": (text, "a string"), "suite_file": (text, "a string"), "suite_sha256": (text, "a string"),
    "run_id": (text, "a string"), "created": (text, "a string"), "env": (obj, "an object"),
    "paper": (obj, "an object"), "measurements": (lambda v: isinstance(v, list), "a list"),
    "verdicts": (lambda v: isinstance(v, list), "a list"),
}
TOP_OPTIONAL: dict[str, tuple[Check, str]] = {
    "shard": (opt(text), "a string or null"), "plan": (obj, "an object"), "peaks": (obj, "an object"),
    "provenance": (obj, "an object"), "interrupted": (flag, "true or false"),
    "finished": (opt(text), "a string or null"), "nonfinite": (list_of(text), "a list of strings"),
    "thresholds": (lambda v: isinstance(v, dict) and all(number(x) and 0 < x < 1 for x in v.values()),
                   "an object of slowdown fractions between 0 and 1"),
}
ENV: dict[str, tuple[Check, str]] = {  # the environment fields that readers use, where present
    "gpu": (opt(text), "a string or null"), "cpu": (opt(text), "a string or null"),
    "cpu_count": (opt(whole), "a whole number or null"), "git_commit": (opt(text), "a string or null"),
    "git_dirty": (opt(flag), "true, false or null"), "torch": (opt(text), "a string or null"),
    "triton": (opt(text), "a string or null"), "cuda": (opt(text), "a string or null"),
    "driver": (opt(text), "a string or null"),
}
MEASUREMENT: dict[str, tuple[Check, str]] = {
    "claim": (text, "a string"), "case": (obj, "an object"), "subject": (obj, "an object"),
    "metric": (text, "a string"), "unit": (text, "a string"), "better": (lambda v: v in BETTER, f"one of {BETTER}"),
    "noise": (lambda v: v in NOISES, f"one of {NOISES}"), "role": (text, "a string"),
    "status": (lambda v: v in ("ok", "skipped", "error"), "ok, skipped or error"),
    "samples": (opt(list_of(opt(number))), "a list of numbers or null"),
    "groups": (opt(list_of(lambda g: whole(g) and g >= 0)), "a list of round or seed numbers (0 or more) or null"),
    "summary": (opt(obj), "an object or null"),
    "extra": (obj, "an object"), "reason": (opt(text), "a string or null"),
}
VERDICT: dict[str, tuple[Check, str]] = {
    "claim": (text, "a string"), "kind": (text, "a string"), "verdict": (lambda v: v in VERDICTS, f"one of {VERDICTS}"),
    "measured": (opt(number), "a number or null"), "interval": (interval, "[low, high] with low <= high, or null"),
    "paper_value": (opt(number), "a number or null"), "ratio_to_paper": (opt(number), "a number or null"),
    "rule": (obj, "an object"), "quote": (text, "a string"), "reason": (opt(text), "a string or null"),
    "per_case": (list_of(lambda c: isinstance(c, dict) and obj(c.get("case")) and opt(number)(c.get("value"))
                          and interval(c.get("interval"))), "a list of {case, value, interval}"),
    "notes": (list_of(text), "a list of strings"),
}
VERDICT_OPTIONAL: dict[str, tuple[Check, str]] = {
    "n": (lambda v: whole(v) and v >= 0, "a count (0 or more)"), "combine": (text, "a string"),
    "unit": (text, "a string"), "paper": (obj, "an object"),
    "robustness": (lambda v: obj(v) and list_of(obj)(v.get("replicates", [])) and obj(v.get("sensitivity", {}))
                   and list_of(text)(v.get("blocks", [])),
                   "an object: replicates a list of objects, sensitivity an object, blocks a list of strings"),
}
PLAN: dict[str, tuple[Check, str]] = {  # the plan fields that readers use, where present
    "seed": (lambda v: whole(v) and 0 <= v < 2**31, "a whole number from 0 to 2**31 - 1"),
    "replicates": (lambda v: whole(v) and v >= 1, "a whole number, 1 or more"),
    "master_seeds": (list_of(lambda v: whole(v) and 0 <= v < 2**31), "a list of master seeds"),
}
MEASUREMENT_OPTIONAL: dict[str, tuple[Check, str]] = {
    "replicate": (opt(lambda r: whole(r) and 0 <= r < 2**31), "a master seed (0 to 2**31 - 1) or null"),
}
RULE: dict[str, tuple[Check, str]] = {
    "at_least": (opt(number), "a number or null"), "at_most": (opt(number), "a number or null"),
    "of_paper": (flag, "true or false"),
}


def fields(data: Mapping[str, Any], spec: Mapping[str, tuple[Check, str]], where: str, required: bool) -> None:
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
                      sort_keys=True)


def validate(data: Any) -> None:
    """Raise ValueError naming the first field that is not what readers expect."""
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object at the top level")
    fields(data, TOP, "", True)
    fields(data, TOP_OPTIONAL, "", False)
    fields(data["env"], ENV, "env.", False)
    fields(data.get("plan") or {}, PLAN, "plan.", False)
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
        fields(v, VERDICT, f"verdicts[{i}].", True)
        fields(v, VERDICT_OPTIONAL, f"verdicts[{i}].", False)
        fields(v["rule"], RULE, f"verdicts[{i}].rule.", False)
        if v["claim"] in claims:
            raise ValueError(f"verdicts[{i}].claim: {v['claim']!r} appears twice")
        claims.add(v["claim"])
    identities: dict[str, int] = {}
    for i, m in enumerate(data["measurements"]):
        if not isinstance(m, dict):
            raise ValueError(f"measurements[{i}]: expected an object")
        fields(m, MEASUREMENT, f"measurements[{i}].", True)
        fields(m, MEASUREMENT_OPTIONAL, f"measurements[{i}].", False)
        first = identities.setdefault(measurement_identity(m), i)
        if first != i:
            raise ValueError(f"measurements[{i}]: measures what measurements[{first}] measures (claim, role, metric, "
                             "subject and case): a file holds one measurement of each")
        _check_samples(m, f"measurements[{i}]")
        _check_law(m, f"measurements[{i}]")
        _check_marks(m, f"measurements[{i}]")
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
    if not isinstance(extra["law"], dict):
        raise ValueError(f"{where}.extra.law: expected an object")
    problem = law_records.spec_problem(extra["law"])
    if problem:
        raise ValueError(f"{where}.extra.law.{problem}")
    x = extra.get("x")
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not 0 < x < 1e300:
        raise ValueError(f"{where}.extra.x: expected the positive amount the point was measured at, got {x!r}")


def _check_marks(m: dict[str, Any], where: str) -> None:
    """What keeps a measurement from a verdict, as readers use it: why a case was outside an
    implementation's limits (on a skipped measurement only) and what emulated a timing (text)."""
    extra = m["extra"]
    for key in ("outside_limits", "emulated"):
        if key in extra and not (isinstance(extra[key], str) and extra[key]):
            raise ValueError(f"{where}.extra.{key}: expected a non-empty string, got {str(extra[key])[:80]!r}")
    if "outside_limits" in extra and m["status"] != "skipped":
        raise ValueError(f"{where}.extra.outside_limits: only a skipped measurement is outside the limits "
                         f"(this one is {m['status']})")
    if m.get("metric") == "time_ms" and "x" in extra:  # a point of a time-trend's sweep
        x = extra["x"]
        if isinstance(x, bool) or not isinstance(x, int) or x < 1:
            raise ValueError(f"{where}.extra.x: expected the sweep point, a whole number of at least 1, got {x!r}")
    if m.get("metric") == "largest_size":  # a size-ratio side: every size tried, and the largest it took
        tried = extra.get("tried")
        if not (isinstance(tried, list) and tried and all(
                isinstance(t, list) and len(t) == 2 and isinstance(t[0], int) and not isinstance(t[0], bool)
                and t[0] >= 1 and isinstance(t[1], str) for t in tried)):
            raise ValueError(f"{where}.extra.tried: expected [[size, outcome], ...], got {str(tried)[:80]!r}")
        if any(not isinstance(v, (int, float)) or isinstance(v, bool) or v < 1 for v in m.get("samples") or []):
            raise ValueError(f"{where}.samples: a largest size is a whole number of at least 1")


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
