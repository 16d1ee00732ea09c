"""Measurements -> verdict: the one place a claim is judged (a fresh run, merged rounds, a
migrated schema-1 file). Pure: dictionaries as stored in result files in, a Verdict out.

1. The claim's kind turns each case's measurements into an estimate (kinds.base.Kind.evaluate).
2. Cases combine as the claim says: geometric or arithmetic mean, the worst case in the rule's
   direction, or `each` (every case judged, the claim takes the worst verdict).
3. Paper values belong to the conditions they were measured at: a case that carries its own
   `paper_value` is compared with it alone, and a rule relative to the paper judges exactly the
   cases that have the paper's conditions; other cases are shown, not judged.
4. A firm verdict (`reproduced`, `not-reproduced`) must survive what a re-run by someone else
   would change: every replicate (the whole seeded pipeline under another master seed,
   kbench.replicates) reaches it on its own, every analysis choice in the claim's declared
   neighbourhood (a kind's `CaseValue.alternatives`) gives it, and no case is blocked (tuning
   censored at its grid's edge). Otherwise the verdict is `inconclusive`, saying which, with the
   values; the verdict's `robustness` keeps what was tried.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from scipy import stats as sps

from kbench import replicates, stats, verdicts
from kbench.claims import Claim
from kbench.kinds import KINDS
from kbench.kinds.base import CaseValue, Impossible, NotComparable, NotJudged, case_key
from kbench.results import Verdict, VerdictName
from kbench.stats import Estimate
from kbench.verdicts import Rule


def _cases(measurements: Sequence[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], list[Mapping[str, Any]]]]:
    """Measurements grouped by case, in the order the cases were measured."""
    grouped: dict[tuple[Any, ...], tuple[Mapping[str, Any], list[Mapping[str, Any]]]] = {}
    for m in measurements:
        if m.get("role") == "rejected":
            continue
        entry = grouped.setdefault(case_key(m.get("case") or {}), (m.get("case") or {}, []))
        entry[1].append(m)
    return list(grouped.values())


def _interval(est: Estimate) -> list[float] | None:
    return [float(est.low), float(est.high)] if est.has_interval else None  # type: ignore[arg-type]


def _combine(values: Sequence[CaseValue], how: str, rule: Rule) -> Estimate:
    estimates = [v.estimate for v in values]
    if len(estimates) == 1:
        return estimates[0]
    if how == "geomean":
        return stats.geomean(estimates)
    if how == "mean":
        return stats.mean(estimates)
    if how.startswith("sampled-"):  # cases that stand for a family of tasks: their spread counts
        return stats.sampled_mean(estimates, "log" if how == "sampled-geomean" else "linear")
    return stats.worst(estimates, lower_is_worse=bool(rule.lower_is_worse))


def _case_entry(v: CaseValue, paper_value: float | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"case": dict(v.case), "value": v.estimate.value, "interval": _interval(v.estimate),
                             "n": v.estimate.n, "details": v.details}
    if paper_value is not None:
        entry["paper_value"] = paper_value
        entry["ratio_to_paper"] = verdicts.ratio_to_paper(v.estimate.value, paper_value)
    return entry


FIRM = ("reproduced", "not-reproduced")


def judge(claim: Claim, measurements: Sequence[Mapping[str, Any]], peaks: Mapping[str, Any]) -> Verdict:
    """The claim's verdict from its measurements; NotJudged inside becomes `inconclusive`."""
    base: dict[str, Any] = dict(claim=claim.id, kind=claim.kind, paper_value=claim.paper_value, quote=claim.quote,
                                combine=claim.combine, unit=KINDS[claim.kind].unit, paper=claim.paper)
    reps = replicates.of([m for m in measurements if m.get("role") != "rejected"])
    try:
        if len(reps) > 1:
            return _replicated(claim, measurements, peaks, reps, base)
        verdict = _decide(claim, _values(claim, measurements, peaks), base)
        if reps and reps[0] is not None:
            verdict.robustness["replicates"] = [_summary(reps[0], verdict)]
            verdict.notes.append(f"one replicate (master seed {reps[0]}): whether this verdict holds under another "
                                 "master seed was not checked")
        return verdict
    except Impossible as exc:
        return _not_judged(claim, base, str(exc), "error")
    except NotComparable as exc:
        return _not_judged(claim, base, str(exc), "skipped")
    except NotJudged as exc:
        return _not_judged(claim, base, str(exc))


NOT_JUDGED = {"inconclusive": "not judged", "error": "impossible", "skipped": "not comparable"}


def _not_judged(claim: Claim, base: dict[str, Any], why: str, verdict: VerdictName = "inconclusive") -> Verdict:
    return Verdict(verdict=verdict, measured=None, interval=None, ratio_to_paper=None,
                   rule=claim.rule.as_dict(claim.paper_value), reason=f"{NOT_JUDGED[verdict]}: {why}", **base)


def _values(claim: Claim, measurements: Sequence[Mapping[str, Any]], peaks: Mapping[str, Any]
            ) -> list[CaseValue]:
    """Each case's values; a case outside an implementation's declared limits is left out, said."""
    values: list[CaseValue] = []
    outside: list[str] = []
    for case, ms in _cases(measurements):
        why = next(((m.get("extra") or {}).get("outside_limits") for m in ms
                    if (m.get("extra") or {}).get("outside_limits")), None)
        if why:
            outside.append(f"case {_case_label(case)} skipped: {why}")
            continue
        values += KINDS[claim.kind].evaluate(claim, case, ms, peaks)
    if not values:
        if outside:
            raise NotComparable("every case lies outside an implementation's limits (" + "; ".join(outside) + ")")
        raise NotJudged("no case was measured")
    values[0] = replace(values[0], notes=[*outside, *values[0].notes], left_out=outside)
    return values


def _case_label(case: Mapping[str, Any]) -> str:
    return str(case.get("label") or ", ".join(f"{k}={x}" for k, x in case.items() if k != "paper_value"))


def _summary(seed: int | None, v: Verdict) -> dict[str, Any]:
    return {"seed": seed, "verdict": v.verdict, "measured": v.measured, "interval": v.interval, "n": v.n,
            "reason": v.reason}


def _shown(v: Mapping[str, Any]) -> str:
    if v["measured"] is None:
        return f"{v['verdict']} ({v['reason']})"
    interval = "" if v["interval"] is None else f" [{v['interval'][0]:.4g}, {v['interval'][1]:.4g}]"
    return f"{v['measured']:.4g}{interval} {v['verdict']}"


def _replicated(claim: Claim, measurements: Sequence[Mapping[str, Any]], peaks: Mapping[str, Any],
                reps: list[int | None], base: dict[str, Any]) -> Verdict:
    """Each replicate judged on its own, then all pooled (per case, the replicates' estimates
    averaged, with an interval that covers every replicate's own); firm only where every replicate
    is firm the same way and measured the same cases."""
    judged: list[list[CaseValue]] = []
    summaries = []
    for r in reps:
        try:
            values = _values(claim, replicates.only(measurements, r), peaks)
            own = _decide(claim, values, base)
            judged.append(values)
        except (Impossible, NotComparable):
            raise  # the claim's own verdict (an error, or not comparable), not one replicate not judged
        except NotJudged as exc:
            own = _not_judged(claim, base, str(exc))
        summaries.append(_summary(r, own))
    if not judged:
        raise NotJudged("no replicate could be judged: " + "; ".join(
            f"master seed {s['seed']}: {s['reason']}" for s in summaries))
    verdict = _decide(claim, _pool(judged), base)
    verdict.robustness["replicates"] = summaries
    differing = [s for s in summaries if s["verdict"] != verdict.verdict]
    cases = [sorted(map(repr, (case_key(v.case) for v in values))) for values in judged]
    if verdict.verdict in FIRM and any(c != cases[0] for c in cases) and len(judged) == len(reps):
        verdict.reason = ("does not replicate: the replicates measured different cases (a case measured under only "
                          f"some master seeds was not replicated); pooled {verdict.verdict}")
        verdict.verdict = "inconclusive"
    elif differing and (verdict.verdict in FIRM or len({s["verdict"] for s in summaries}) > 1):
        verdict.reason = (f"does not replicate: pooled {verdict.verdict}, but " + "; ".join(
            f"master seed {s['seed']}: {_shown(s)}" for s in summaries))
        verdict.verdict = "inconclusive"
    return verdict


def _pool(per_replicate: list[list[CaseValue]]) -> list[CaseValue]:
    """One CaseValue per case: the replicates' estimates (and alternatives) averaged on the
    estimate's own scale, each interval covering the replicates' own; details of the first
    replicate with every replicate's value beside them."""
    grouped: dict[tuple[Any, ...], list[CaseValue]] = {}
    for values in per_replicate:
        for v in values:
            grouped.setdefault(case_key(v.case), []).append(v)
    out = []
    for vs in grouped.values():
        def average(estimates: list[Estimate]) -> Estimate:
            return _covering(stats.geomean(estimates) if estimates[0].scale == "log" else stats.mean(estimates),
                             estimates)

        labels = {label for v in vs for label in v.alternatives}
        alternatives = {label: average([v.alternatives.get(label, v.estimate) for v in vs]) for label in sorted(labels)}
        details = {**vs[0].details, "replicate_values": [{"value": v.estimate.value, "interval": _interval(v.estimate)}
                                                         for v in vs]}
        out.append(CaseValue(vs[0].case, average([v.estimate for v in vs]), details,
                             list(dict.fromkeys(n for v in vs for n in v.notes)), alternatives,
                             list(dict.fromkeys(b for v in vs for b in v.blocks))))
    return out


def _covering(pooled: Estimate, estimates: list[Estimate]) -> Estimate:
    """The replicates' average with an interval that covers every replicate's own: averaging
    independent errors alone would give an interval narrower than the replicates' disagreement."""
    if any(not e.has_interval or e.df is None for e in (pooled, *estimates)):
        return pooled
    scale = (lambda v: math.log(v)) if pooled.scale == "log" else (lambda v: v)
    lows, highs = [scale(float(e.low)) for e in estimates], [scale(float(e.high)) for e in estimates]  # type: ignore[arg-type]
    half = max(pooled.center - min(lows), max(highs) - pooled.center)
    df = min(float(e.df) for e in estimates)  # type: ignore[arg-type]
    return Estimate._build(pooled.center, half / float(sps.t.ppf(0.975, df)), df, pooled.scale, pooled.n)


def _decide(claim: Claim, values: list[CaseValue], base: dict[str, Any]) -> Verdict:
    """The verdict of these case values, then what may stop it from being firm: a blocked case,
    or an analysis choice in the declared neighbourhood that gives another verdict."""
    verdict = _decide_plain(claim, values, base)
    blocks = list(dict.fromkeys(b for v in values for b in v.blocks))
    labels = sorted({label for v in values for label in v.alternatives})
    if labels:
        tried = {}
        for label in labels:  # (what could stop judging, the paper's conditions, stopped the verdict above)
            alt = [replace(v, estimate=v.alternatives.get(label, v.estimate)) for v in values]
            tried[label] = _summary(None, _decide_plain(claim, alt, base))
        verdict.robustness["sensitivity"] = tried
        changed = {label: s for label, s in tried.items() if s["verdict"] != verdict.verdict}
        if verdict.verdict in FIRM and changed:
            choices = sorted({label.split("=")[0] for label in changed})
            verdict.reason = (f"sensitive to {', '.join(choices)}: as declared {verdict.verdict}, but " + "; ".join(
                f"{label}: {_shown(s)}" for label, s in changed.items()))
            verdict.verdict = "inconclusive"
    if blocks:
        verdict.robustness["blocks"] = blocks
        if verdict.verdict in FIRM:
            verdict.reason = f"{'; '.join(blocks)} (the interval alone would say {verdict.verdict})"
            verdict.verdict = "inconclusive"
    return verdict


def _decide_plain(claim: Claim, values: list[CaseValue], base: dict[str, Any]) -> Verdict:
    rule = claim.rule
    notes = [n for v in values for n in v.notes]
    with_paper = [v for v in values if v.case.get("paper_value") is not None]
    if with_paper:
        notes.append(f"{len(with_paper)} of {len(values)} case(s) carry the paper's own value and conditions; "
                     "the paper is compared with those cases only")
    per_case = [_case_entry(v, v.case.get("paper_value", claim.paper_value)) for v in values]
    if rule.of_paper and claim.paper_value is None:
        if not with_paper:
            raise NotJudged("the rule is relative to the paper's value, and no case run here has the paper's "
                            "conditions" + "".join(f"; {n}" for v in values for n in v.left_out))
        return _each(claim, with_paper, per_case, notes, base, case_paper=True)
    across = KINDS[claim.kind].across_cases(claim, values)
    if across is None and (claim.combine == "each" or (claim.combine == "worst" and rule.lower_is_worse is None)):
        return _each(claim, values, per_case, notes, base, case_paper=False)
    est = _combine(values, claim.combine, rule) if across is None else across
    bounds = KINDS[claim.kind].bounds
    if bounds is not None:  # a combined interval stays inside what the quantity can be
        est = stats.clipped(est, *bounds)
    verdict, reason = verdicts.decide(rule, est, claim.paper_value)
    ratio = verdicts.ratio_to_paper(est.value, claim.paper_value)
    if ratio is None and len(with_paper) == 1:
        ratio = per_case[values.index(with_paper[0])]["ratio_to_paper"]
    return Verdict(verdict=verdict, measured=est.value, interval=_interval(est), ratio_to_paper=ratio,
                   rule=rule.as_dict(claim.paper_value), reason=reason, per_case=per_case, n=est.n, notes=notes,
                   **base)


def _each(claim: Claim, judged: list[CaseValue], per_case: list[dict[str, Any]], notes: list[str],
          base: dict[str, Any], case_paper: bool) -> Verdict:
    """Every judged case against the rule; the claim takes the worst verdict (and that case's value)."""
    results = []
    for v in judged:
        paper = v.case.get("paper_value") if case_paper else claim.paper_value
        verdict, reason = verdicts.decide(claim.rule, v.estimate, paper)
        results.append((verdict, reason, v, paper))
    worst = min(results, key=lambda r: verdicts.SEVERITY[r[0]])
    verdict, reason, v, paper = worst
    if reason and len(judged) > 1:
        reason = f"case {_case_label(v.case)}: {reason}"
    base = {**base, "paper_value": paper}
    return Verdict(verdict=verdict, measured=v.estimate.value, interval=_interval(v.estimate),
                   ratio_to_paper=verdicts.ratio_to_paper(v.estimate.value, paper), rule=claim.rule.as_dict(paper),
                   reason=reason, per_case=per_case, n=min(r[2].estimate.n for r in results), notes=notes,
                   combine="each", **{k: x for k, x in base.items() if k != "combine"})
