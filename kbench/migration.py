"""Schema 1 -> 2: the only reader that judges.

Each measurement gets its unit, better direction, noise model, round/seed groups and role (the side
it measured: schema 1 wrote a pair's baseline first), and each verdict is judged again by
kbench.judging from the stored samples: one round of timing carries no between-round noise, so such
verdicts become `inconclusive` with that reason. The original verdict is kept in the verdict's notes.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from typing import Any

from kbench.claims import Claim
from kbench.judging import judge
from kbench.kinds import KINDS
from kbench.result_schema import TOP, Check, fields, interval, list_of, number, obj, opt, text
from kbench.results import SCHEMA_VERSION, VERDICTS
from kbench.verdicts import Rule

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
    for sign, bound in bounds:
        key = "at_least" if sign == ">=" else "at_most"
        if rule[key] is not None:
            raise ValueError(f"rule: {text!r} bounds the same side twice")
        rule[key] = float(bound)
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
    "claim": (text, "a string"), "kind": (text, "a string"), "verdict": (lambda v: v in VERDICTS, f"one of {VERDICTS}"),
    "measured": (opt(number), "a number or null"), "interval": (interval, "[low, high] or null"),
}
V1_MEASUREMENT: dict[str, tuple[Check, str]] = {
    "claim": (text, "a string"), "metric": (text, "a string"), "case": (opt(obj), "an object"),
    "subject": (opt(obj), "an object"), "samples": (opt(list_of(opt(number))), "a list of numbers or null"),
    "status": (lambda v: v in ("ok", "skipped", "error"), "ok, skipped or error"),
}


def _check_v1(data: Mapping[str, Any]) -> None:
    """The fields the migration reads, checked before it reads them."""
    fields(data, TOP, "", True)
    for name, spec in (("verdicts", V1_VERDICT), ("measurements", V1_MEASUREMENT)):
        for i, item in enumerate(data[name]):
            if not isinstance(item, dict):
                raise ValueError(f"{name}[{i}]: expected an object")
            fields(item, spec, f"{name}[{i}].", name == "verdicts")


def migrate_v1(data: dict[str, Any]) -> dict[str, Any]:
    """A schema-1 result as schema 2, its verdicts judged again from its samples."""
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
                                                       if number(v.get("measured")) and v.get("interval") else "")
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
        info = Claim(v["claim"], v["kind"], Rule.from_dict(rule), v.get("quote", ""), v.get("paper_value"),
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
    before = float(old["measured"]) if number(old.get("measured")) else None
    if before is None or measured is None or before <= 0 or measured <= 0:
        return
    if abs(math.log(measured / before)) > math.log(2):
        raise ValueError(f"verdicts[{i}].measured: {before:.4g} stored, but the file's samples give {measured:.4g} "
                         "(sides in the wrong order? edited by hand?)")
