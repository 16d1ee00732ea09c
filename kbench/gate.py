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
  from the points (kbench.laws.fitted_per_seed), paired by seed; `changed` when the paired
  difference is significant and larger than the tolerance relative to the baseline's value.
  Shown, not failing (a parameter has no better direction); the claim's verdict flipping fails.

Also failing: a claim that was `reproduced` and is now anything else, a claim or a metric the
baseline has and the candidate lacks. Unusable input (an interrupted run, different devices
with nothing device-independent to compare, too few rounds, a suspect change) exits 2, never 0.
Pure functions over loaded result dictionaries (kbench.results.load validates them).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from kbench import laws, replicates, stats
from kbench.env import device_identity
from kbench.errors import KbenchError
from kbench.labels import case_label, subject_label

DEFAULT_THRESHOLD = 0.05
DEFAULT_ALPHA = 0.01
MIN_ROUNDS = 3  # per side, for a timing comparison (Welch t with at least 2 df on each side)
NOISE_MULTIPLE = 2.0  # a regression must also exceed this many baseline round-to-round sds
# suspect: worse beyond the tolerance, but not shown to be (cannot judge); ambiguous: the same, better
Status = Literal["regression", "improvement", "unchanged", "suspect", "ambiguous", "underpowered", "changed"]


# What the gate says (text only; module constants, so mutation testing spends no mutants on wording)
FEW_ROUNDS = ("{b} baseline and {c} candidate round(s); the gate needs {n} per side to tell a change from "
              "run-to-run noise")
IN_THE_NOISE = ("the baseline's own rounds differ by up to {noise:.0%} (2 sd): a change of {change:.0%} cannot be "
                "told from that noise")
NOT_SIGNIFICANT = "not significant (p >= alpha or the interval reaches 1)"
EXACT_CHANGED = "an exact count changed: the runs measured different things (update the baseline if meant)"
OTHER_DEVICE = ("different devices, or one not recorded precisely ({b} vs {c}): only device-independent metrics "
                "(FLOPs, parameter counts, seeded accuracies and errors) are compared, and no verdicts")
UNKNOWN = "unknown"
FIT_DIFFERENCE = "a fitted parameter: low and high bound candidate minus baseline, paired by seed"


class GateInputError(KbenchError):
    """The two results cannot be compared (different devices, nothing in common, an interrupted run)."""


@dataclass(frozen=True)
class Comparison:
    claims: tuple[str, ...]
    metric: str
    subject: str
    case: str
    noise: str
    baseline: float  # the baseline's value (median, or geometric mean over seeds)
    candidate: float
    ratio: float  # candidate / baseline
    low: float | None
    high: float | None
    p_value: float | None
    tolerance: float
    status: Status
    reason: str = ""
    spread: float | None = None  # timings: the baseline's round-to-round sd (log scale), a regression exceeds 2x


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


Key = tuple[str, str, str]
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
            x, table, seeds, spec = laws.points_table(ms, role)
        except laws.PointsError:  # not judged either: the claim's verdict says why
            continue
        for name, values in laws.fitted_per_seed(spec, x, table).items():
            key = (f"{name} ({claim}, {role})", subject_label(ms[0]["subject"]),
                   _case_meaning(ms[0]["case"], _kinds(result).get(claim)))
            m = {"metric": key[0], "samples": values, "groups": seeds, "noise": "fit", "better": "none",
                 "subject": ms[0]["subject"], "case": ms[0]["case"], "claim": claim}
            out[key] = {"m": m, "claims": [claim]}
    return out


def _compare_fit(key: Key, b: Mapping[str, Any], c: Mapping[str, Any], claims: tuple[str, ...],
                 threshold: float, alpha: float) -> Comparison:
    """A fitted parameter, paired by seed: the candidate minus the baseline, on the linear scale
    (exponents, offsets and slopes can be negative)."""
    bs, cs = dict(zip(b["groups"], b["samples"], strict=True)), dict(zip(c["groups"], c["samples"], strict=True))
    seeds = [s for s in bs if s in cs]
    base, cand = float(np.mean([bs[s] for s in seeds] or [math.nan])), float(np.mean([cs[s] for s in seeds] or
                                                                                  [math.nan]))
    common: dict[str, Any] = dict(claims=claims, metric=key[0], subject=key[1], case=key[2], noise="fit",
                                  baseline=base, candidate=cand, ratio=cand / base if base else math.nan)
    if len(seeds) < 2:
        return Comparison(**common, low=None, high=None, p_value=None, tolerance=threshold, status="underpowered",
                          reason=f"{len(seeds)} seed(s) in common; a paired comparison needs 2")  # pragma: no mutate
    est = stats.Estimate.from_values([cs[s] - bs[s] for s in seeds], "linear")
    moved = est.p_value < alpha and abs(est.value) > threshold * abs(base)
    return Comparison(**common, low=est.low, high=est.high, p_value=est.p_value, tolerance=threshold,
                      status="changed" if moved else "unchanged",
                      reason=FIT_DIFFERENCE if est.has_interval else "")


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


def _worse(ratio: float, better: str) -> float:
    """How much worse the candidate is, as a fraction (negative when better)."""
    return ratio - 1 if better == "lower" else (1 / ratio - 1 if ratio > 0 else math.inf)


def _classify(change: float, significant: bool, interval_beyond: bool, interval_better: bool, tolerance: float,
              noise: float = 0.0) -> Status:
    """`change`: how much worse the candidate is (a fraction); `noise`: the baseline's own
    round-to-round change a regression must exceed too."""
    if change > tolerance:
        shown = significant and interval_beyond and change > noise
        return "regression" if shown else "suspect"
    if -change > tolerance:
        return "improvement" if significant and interval_better else "ambiguous"
    return "unchanged"


def _rounds(m: Mapping[str, Any]) -> np.ndarray:
    return stats.group_medians(m["samples"], m["groups"])  # the validator fills in missing groups


def _compare_timing(key: Key, b: Mapping[str, Any], c: Mapping[str, Any], claims: tuple[str, ...],
                    threshold: float, alpha: float) -> Comparison:
    br, cr = _rounds(b), _rounds(c)
    base_value, cand_value = float(np.exp(np.log(br).mean())), float(np.exp(np.log(cr).mean()))
    ratio = cand_value / base_value
    common: dict[str, Any] = dict(claims=claims, metric=key[0], subject=key[1], case=key[2], noise="timing",
                                  baseline=base_value, candidate=cand_value, ratio=ratio)
    if br.size < MIN_ROUNDS or cr.size < MIN_ROUNDS:
        return Comparison(**common, low=None, high=None, p_value=None, tolerance=threshold, status="underpowered",
                          reason=FEW_ROUNDS.format(b=br.size, c=cr.size, n=MIN_ROUNDS))
    spread = float(np.std(np.log(br), ddof=1))
    est = stats.unpaired_log_ratio(cr, br)
    status, reason = _judge(est, ratio, b["better"], threshold, alpha, math.expm1(NOISE_MULTIPLE * spread))
    return Comparison(**common, low=est.low, high=est.high, p_value=est.p_value, tolerance=threshold, status=status,
                      reason=reason, spread=spread)


def _judge(est: stats.Estimate, ratio: float, better: str, threshold: float, alpha: float, noise: float = 0.0
           ) -> tuple[Status, str]:
    """Status of a candidate/baseline ratio with its interval, and why when it is suspect."""
    significant = est.p_value < alpha
    if better == "none":  # no better direction (a share, a count): only whether it moved
        moved = significant and abs(math.log(ratio)) > math.log1p(threshold)
        return ("changed" if moved else "unchanged"), ""
    low, high = est.low, est.high
    beyond = low is not None and (low > 1 if better == "lower" else high is not None and high < 1)
    better_side = high is not None and (high < 1 if better == "lower" else low is not None and low > 1)
    change = _worse(ratio, better)
    status = _classify(change, significant, beyond, better_side, threshold, noise)
    if status != "suspect":
        return status, ""
    if significant and beyond:
        return status, IN_THE_NOISE.format(noise=noise, change=change)
    return status, NOT_SIGNIFICANT


def _compare_seeds(key: Key, b: Mapping[str, Any], c: Mapping[str, Any], claims: tuple[str, ...],
                   threshold: float, alpha: float) -> Comparison:
    # seed -> value: paired by seed, not position (the validator made the lengths agree)
    bs = dict(zip(b["groups"], b["samples"], strict=True))  # pragma: no mutate
    cs = dict(zip(c["groups"], c["samples"], strict=True))  # pragma: no mutate
    seeds = [s for s in bs if s in cs]
    common: dict[str, Any] = dict(claims=claims, metric=key[0], subject=key[1], case=key[2], noise="seeds")
    positive = len(seeds) >= 2 and min(bs[s] for s in seeds) > 0 and min(cs[s] for s in seeds) > 0
    if not positive:
        why = (f"{len(seeds)} seed(s) in common; a paired comparison needs 2" if len(seeds) < 2  # pragma: no mutate
               else "a ratio needs every paired value above 0")  # pragma: no mutate
        return Comparison(**common, baseline=float(np.median(b["samples"])), candidate=float(np.median(c["samples"])),
                          ratio=math.nan, low=None, high=None, p_value=None, tolerance=threshold,
                          status="underpowered", reason=why)
    bv, cv = [bs[s] for s in seeds], [cs[s] for s in seeds]
    est = stats.paired_log_ratio(cv, bv)
    status, reason = _judge(est, est.value, b["better"], threshold, alpha)
    return Comparison(**common, baseline=float(np.exp(np.log(bv).mean())), candidate=float(np.exp(np.log(cv).mean())),
                      ratio=est.value, low=est.low, high=est.high, p_value=est.p_value, tolerance=threshold,
                      status=status, reason=reason)


def _compare_exact(key: Key, b: Mapping[str, Any], c: Mapping[str, Any], claims: tuple[str, ...]
                   ) -> Comparison:
    bv, cv = float(np.mean(b["samples"])), float(np.mean(c["samples"]))
    status: Status = "unchanged"
    ratio, reason = 1.0, ""
    if cv != bv:  # exact: any difference is a change
        ratio = cv / bv if bv else math.inf
        worse = _worse(ratio, b["better"]) > 0
        status = "changed" if b["better"] == "none" else ("regression" if worse else "improvement")
        reason = EXACT_CHANGED
    return Comparison(claims, key[0], key[1], key[2], "exact", bv, cv, ratio, ratio, ratio, None, 0.0, status,
                      reason)


def _compare(key: Key, b: Mapping[str, Any], c: Mapping[str, Any], claims: tuple[str, ...], threshold: float,
             alpha: float) -> Comparison:
    noise = b["noise"]
    if noise == "timing":
        return _compare_timing(key, b, c, claims, threshold, alpha)
    if noise == "seeds":
        return _compare_seeds(key, b, c, claims, threshold, alpha)
    if noise == "fit":
        return _compare_fit(key, b, c, claims, threshold, alpha)
    return _compare_exact(key, b, c, claims)


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
    """Compare two loaded result files (kbench.results.load)."""
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
            claims = tuple(dict.fromkeys(b_entry["claims"] + c_entry["claims"]))
            threshold = min([thresholds.get(cl, default_threshold) for cl in claims] or [default_threshold])
            report.comparisons.append(_compare(key, b, c, claims, threshold, alpha))
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


def _num(value: float | None) -> str:  # pragma: no mutate block (presentation)
    return "-" if value is None or value != value else f"{value:.4g}"


def _row(c: Comparison) -> str:  # pragma: no mutate block (presentation)
    interval = f"[{_num(c.low)}, {_num(c.high)}]" if c.low is not None else "-"
    return (f"| {c.subject} | {c.case} | {c.metric} ({c.noise}) | {_num(c.baseline)} | {_num(c.candidate)} "
            f"| {c.ratio:.3f} {interval} | {_num(c.p_value)} | {c.tolerance:.1%} | {c.status} {c.reason} |")


def markdown(report: GateReport) -> str:  # pragma: no mutate block (presentation)
    """A summary fit for a pull-request comment."""

    def count(status: str) -> int:
        return sum(c.status == status for c in report.comparisons)

    lines = [f"## kbench gate: {report.verdict}", "",
             f"Device: **{report.device}**. Baseline `{report.baseline}`, candidate `{report.candidate}`.", "",
             f"{len(report.regressions)} regression(s), {len(report.flips)} verdict flip(s), "
             f"{len(report.missing)} missing, {count('improvement')} improvement(s), {count('suspect')} suspect, "
             f"{count('ambiguous')} ambiguous, "
             f"{count('underpowered')} that cannot be judged, {len(report.comparisons)} metric(s) compared.", ""]
    header = ["| subject | case | metric | baseline | candidate | ratio [95% CI] | p | tolerance | status |",
              "|---|---|---|---:|---:|---|---:|---:|---|"]
    if report.regressions:
        lines += ["### Regressions", "", *header, *(_row(c) for c in report.regressions), ""]
    if report.flips:
        lines += ["### Verdict changes", "", "| claim | before | after |", "|---|---|---|",
                  *(f"| {f.claim} | {f.before} | {f.after} |" for f in report.flips), ""]
    if report.missing:
        lines += ["### Missing from the candidate", "", *(f"- {m}" for m in report.missing), ""]
    if report.underpowered or report.unjudged:
        lines += ["### Cannot judge", "", *(f"- {c.subject} / {c.case} / {c.metric} ({c.status}): {c.reason}"
                                            for c in report.underpowered),
                  *(f"- {u}: measured on another device (or one not recorded precisely)" for u in report.unjudged),
                  "", f"Record at least {MIN_ROUNDS} rounds per timing on each side: `kbench run` takes 5 per kernel "
                  "timing and 3 per train step; `kbench merge` joins repeated runs of one commit into more rounds.", ""]
    if report.comparisons:
        lines += ["<details><summary>All compared metrics</summary>", "", *header,
                  *(_row(c) for c in report.comparisons), "", "</details>", ""]
    lines += [f"Note: {n}" for n in report.notes]
    return "\n".join(lines).rstrip() + "\n"
