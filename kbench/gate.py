"""The regression gate: two result files in, pass/fail and a markdown summary out.

Each metric is compared as its measurement declares (schema 2: unit, better direction, noise):

- timing: the per-round medians of each side, a Welch t-test on their logs (p) and the ratio
  candidate/baseline with its t interval. A regression is a change in the worse direction that is
  larger than the tolerance and significant (p < alpha and the whole interval beyond 1). The
  tolerance is the claim's `max_slowdown` (default 5%) as the baseline recorded it (a candidate
  cannot loosen its own gate). A change beyond it that is not significant, or not larger than
  twice the baseline's own run-to-run spread (sd of its round medians, log scale), is `suspect`:
  neither a pass nor a regression, and the gate cannot judge (exit 2). Each side needs
  MIN_ROUNDS rounds; fewer cannot show significance honestly, and the gate refuses to judge
  (exit 2) and says how many it needs.
- seeds: paired by seed (the same seed is the same input), paired t-test on the logs.
- exact: compared exactly; a change in the worse direction is a regression.
- fit (laws): every fitted parameter of a law claim's forms, and its statistic, refitted per seed
  from the points (kbench.law_records.fitted_per_seed), paired by seed; `changed` when the paired
  difference is significant and larger than the tolerance relative to the baseline's value.
  Shown, not failing (a parameter has no better direction); the claim's verdict flipping fails.

Also failing: a claim that was `reproduced` and is now anything else, a claim or a metric the
baseline has and the candidate lacks. Unusable input (an interrupted run, different devices
with nothing device-independent to compare, too few rounds, a suspect change) exits 2, never 0.
Pure functions over loaded result dictionaries (kbench.reading.load validates them). One metric's
comparison is kbench.gate_metrics; the markdown summary is kbench.gate_summary.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kbench import law_records, replicates
from kbench.env import device_identity
from kbench.errors import KbenchError
from kbench.gate_metrics import Comparison, Key, compare_metric
from kbench.labels import case_label, subject_label

DEFAULT_THRESHOLD = 0.05
DEFAULT_ALPHA = 0.01


OTHER_DEVICE = ("different devices, or one not recorded precisely ({b} vs {c}): only device-independent metrics "
                "(FLOPs, parameter counts, seeded accuracies and errors) are compared, and no verdicts")
UNKNOWN = "unknown"


class GateInputError(KbenchError):
    """The two results cannot be compared (different devices, nothing in common, an interrupted run)."""


@dataclass(frozen=True)
class Flip:
    claim: str
    before: str
    after: str


@dataclass
class GateReport:
    baseline: str
    candidate: str
    device: str
    comparisons: list[Comparison] = field(default_factory=list)
    flips: list[Flip] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # claims or metrics only the baseline has
    notes: list[str] = field(default_factory=list)
    unjudged: list[str] = field(default_factory=list)  # the baseline's metrics that another device cannot judge

    @property
    def regressions(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.status == "regression"]

    @property
    def underpowered(self) -> list[Comparison]:
        """Comparisons the gate cannot judge: too few rounds or seeds, a suspect change, or an exact
        count that changed (the runs measured different things)."""
        return [c for c in self.comparisons
                if c.status in ("underpowered", "suspect") or (c.status == "changed" and c.noise == "exact")]

    @property
    def failed(self) -> bool:
        return bool(self.regressions or self.flips or self.missing)

    @property
    def exit_code(self) -> int:
        if self.failed:
            return 1
        return 2 if self.underpowered or self.unjudged else 0

    @property
    def verdict(self) -> str:
        return {0: "PASS", 1: "FAIL", 2: "CANNOT JUDGE"}[self.exit_code]


PRESENTATION = ("label", "paper_value")  # case fields that name or annotate a case, never change what it measures


def _case_meaning(case: Mapping[str, Any], kind: str | None) -> str:
    """A case as what it measures: without its label text, with every field its kind defaults
    filled in, so a case renamed, or one a newer file writes with a default spelled out, still
    matches its older self."""
    from kbench.kinds import KINDS  # here, not at the top: the kinds load torch and Triton, and `kbench run`
    # builds every command's parser (this module's included) before it chooses the device Triton runs on

    meaning = {k: v for k, v in case.items() if k not in PRESENTATION}
    params = KINDS[kind].case_params if kind in KINDS else {}
    for name, param in params.items():
        if name not in meaning and name not in PRESENTATION and param.default is not None:
            meaning[name] = param.default
    return case_label(meaning)


def _kinds(result: Mapping[str, Any]) -> dict[str, str]:
    return {v["claim"]: v.get("kind", "") for v in result["verdicts"]}


def _metrics(result: Mapping[str, Any], only_device_independent: bool) -> dict[Key, list[dict[str, Any]]]:
    """Usable measurements by (metric, subject, case): each distinct set of samples once, with every
    claim it is filed under (a run shares one timing between claims; merged shards can hold two
    timings of the same thing, and each is compared)."""
    found: dict[Key, list[dict[str, Any]]] = {}
    kinds = _kinds(result)
    for m in replicates.pooled(result["measurements"]):  # a seeded metric's replicates as one series
        if m["status"] != "ok" or not m["samples"] or m["role"] == "rejected":  # validated fields
            continue
        if only_device_independent and not m.get("device_independent"):
            continue
        key = (m["metric"], subject_label(m["subject"]), _case_meaning(m["case"], kinds.get(m["claim"])))
        entries = found.setdefault(key, [])
        same = next((e for e in entries if e["m"]["samples"] == m["samples"]), None)
        if same is None:
            entries.append({"m": m, "claims": [m["claim"]]})
        else:
            same["claims"].append(m["claim"])
    for key, entry in _law_fits(result).items():
        found.setdefault(key, []).append(entry)
    return found


def _law_fits(result: Mapping[str, Any]) -> dict[Key, dict[str, Any]]:
    """Fitted law parameters per seed, as measurements with `fit` noise (device independent: a
    law's points are seeded values)."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for m in replicates.pooled(result["measurements"]):
        if m["status"] == "ok" and m["samples"] and isinstance((m.get("extra") or {}).get("law"), dict):
            case = json.dumps(m.get("case"), sort_keys=True)  # each case of a claim is its own sweep
            groups.setdefault((m["claim"], str(m["role"]), case), []).append(m)
    out: dict[Key, dict[str, Any]] = {}
    for (claim, role, _), ms in groups.items():
        try:
            x, table, seeds, spec = law_records.points_table(ms, role)
        except law_records.PointsError:  # not judged either: the claim's verdict says why
            continue
        for name, values in law_records.fitted_per_seed(spec, x, table).items():
            key = (f"{name} ({claim}, {role})", subject_label(ms[0]["subject"]),
                   _case_meaning(ms[0]["case"], _kinds(result).get(claim)))
            m = {"metric": key[0], "samples": values, "groups": seeds, "noise": "fit", "better": "none",
                 "subject": ms[0]["subject"], "case": ms[0]["case"], "claim": claim}
            out[key] = {"m": m, "claims": [claim]}
    return out


def _pairs(b: list[dict[str, Any]], c: list[dict[str, Any]]) -> tuple[list[tuple[dict[str, Any], dict[str, Any]]],
                                                                       list[str]]:
    """Baseline and candidate entries of one key to compare, and the claims without a partner.
    One entry a side: compared once. Several: matched by the claims they are filed under."""
    if len(b) == 1 and len(c) == 1:
        return [(b[0], c[0])], []
    pairs, missing = [], []
    for entry in b:
        for claim in entry["claims"]:
            partner = next((e for e in c if claim in e["claims"]), None)
            if partner is None:
                missing.append(claim)
            else:
                pairs.append(({"m": entry["m"], "claims": [claim]}, {"m": partner["m"], "claims": [claim]}))
    return pairs, missing


def _check_usable(base: Mapping[str, Any], cand: Mapping[str, Any]) -> tuple[bool, list[str]]:
    """(compare only device-independent metrics?, notes); GateInputError when unusable."""
    for name, r in (("baseline", base), ("candidate", cand)):
        if r.get("interrupted"):
            raise GateInputError(f"the {name} run was interrupted ({r.get('_path', r['run_id'])}): it is not a "
                                 "complete run and cannot stand for its claims")
    if base.get("suite") != cand.get("suite"):
        raise GateInputError(f"the baseline is a run of suite {base.get('suite')!r} and the candidate of "
                             f"{cand.get('suite')!r}: a gate compares two runs of one suite")
    budgets = [(r.get("plan") or {}).get("budget", 1.0) for r in (base, cand)]
    if budgets[0] != budgets[1]:
        raise GateInputError(f"the baseline ran at budget {budgets[0]} and the candidate at {budgets[1]} (--quick "
                             "scales rounds, seeds and steps): their intervals are not comparable; rerun both alike")
    b_env, c_env = base["env"], cand["env"]
    notes = [f"{key} differs: {b_env.get(key)} (baseline) vs {c_env.get(key)} (candidate)"
             for key in ("torch", "triton", "cuda", "driver") if b_env.get(key) != c_env.get(key)]
    b_dev, c_dev = device_identity(b_env), device_identity(c_env)
    if b_dev is None or b_dev != c_dev:  # unknown is never the same device
        notes.append(OTHER_DEVICE.format(b=b_dev or UNKNOWN, c=c_dev or UNKNOWN))
        return True, notes
    return False, notes


def _thresholds(base: Mapping[str, Any], cand: Mapping[str, Any], notes: list[str]) -> Mapping[str, float]:
    """The baseline's thresholds decide: a candidate that changed its own is noted, not obeyed."""
    theirs, ours = base.get("thresholds") or {}, cand.get("thresholds") or {}
    notes += [f"claim {claim}: the candidate records max_slowdown {ours.get(claim)}, the baseline "  # pragma: no mutate
              f"{theirs.get(claim, 'the default')}; the baseline's is used"  # pragma: no mutate
              for claim in sorted(set(theirs) | set(ours)) if theirs.get(claim) != ours.get(claim)]
    return theirs


def compare(base: Mapping[str, Any], cand: Mapping[str, Any], *, default_threshold: float = DEFAULT_THRESHOLD,
            alpha: float = DEFAULT_ALPHA) -> GateReport:
    """Compare two loaded result files (kbench.reading.load)."""
    independent_only, notes = _check_usable(base, cand)
    report = GateReport(_name(base), _name(cand), device_identity(cand["env"]) or UNKNOWN, notes=notes)
    thresholds = _thresholds(base, cand, report.notes)
    b_metrics, c_metrics = _metrics(base, independent_only), _metrics(cand, independent_only)
    for key, entries in sorted(b_metrics.items()):
        if key not in c_metrics:
            report.missing.append("metric " + " / ".join(key))  # pragma: no mutate
            continue
        pairs, unmatched = _pairs(entries, c_metrics[key])
        report.missing += [f"metric {' / '.join(key)} of claim {claim}" for claim in unmatched]  # pragma: no mutate
        for b_entry, c_entry in pairs:
            b, c = b_entry["m"], c_entry["m"]
            methods = [(x.get("extra") or {}).get("timing") for x in (b, c)]
            if methods[0] != methods[1] and None not in methods:
                report.notes.append(f"{' / '.join(key)}: timed by {methods[0]} in the baseline and by {methods[1]} in "
                                    "the candidate; the two methods measure different things (launch overhead "
                                    "or not), so part of any difference is the method's")  # pragma: no mutate
            emulated = [(x.get("extra") or {}).get("emulated") for x in (b, c)]
            if any(emulated):
                report.notes.append(f"{' / '.join(key)}: timed in an emulation ({emulated[0] or 'native'} in the "
                                    f"baseline, {emulated[1] or 'native'} in the candidate): its times say nothing "
                                    "about the kernel's speed on the hardware it is written for")
            claims = tuple(dict.fromkeys(b_entry["claims"] + c_entry["claims"]))
            threshold = min([thresholds.get(cl, default_threshold) for cl in claims] or [default_threshold])
            report.comparisons.append(compare_metric(key, b, c, claims, threshold, alpha))
    if not independent_only:
        _compare_verdicts(base, cand, report)
    else:  # what only the same device could judge is not a pass either
        unjudged = sorted(set(_metrics(base, False)) - set(b_metrics))
        report.unjudged = ["metric " + " / ".join(key) for key in unjudged]  # pragma: no mutate
    if not report.comparisons and not report.flips and not report.missing:
        raise GateInputError("the two results share no comparable metric and no claim: nothing to compare "
                             f"(suites {base.get('suite')!r} and {cand.get('suite')!r})")
    return report


def _compare_verdicts(base: Mapping[str, Any], cand: Mapping[str, Any], report: GateReport) -> None:
    after = {v["claim"]: v["verdict"] for v in cand["verdicts"]}
    for v in base["verdicts"]:
        if v["claim"] not in after:
            report.missing.append(f"claim {v['claim']}")
        elif v["verdict"] == "reproduced" and after[v["claim"]] != "reproduced":
            report.flips.append(Flip(v["claim"], v["verdict"], after[v["claim"]]))
        elif v["verdict"] != after[v["claim"]]:  # every other change is said, though it fails nothing
            report.notes.append(f"claim {v['claim']}: verdict {v['verdict']} -> {after[v['claim']]}")


def _name(result: Mapping[str, Any]) -> str:  # pragma: no mutate block (presentation)
    return str(result.get("_path") or result["run_id"])
