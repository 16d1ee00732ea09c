"""Joining result files of one suite and one source tree into one result.

Two uses: shards of one run (disjoint claims, `--shard i/N`), and repeated runs of the same claims
(each run's timing rounds become more rounds of one measurement, so the merged verdict's interval
covers the spread between the runs: how CI gates a pull request against its merge base measured
in the same job, runs interleaved). Files of different suites, suite files, source digests or
GPU models are refused with the reason; so are shards of different splits and shard files that
share a claim (the parts of one shard, from a requeued job that ran its remaining claims, join).
Every claim is judged again (kbench.judging) from the merged measurements.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from kbench import stats
from kbench.claims import Claim
from kbench.env import device_identity, device_slug
from kbench.errors import KbenchError
from kbench.judging import judge
from kbench.kinds import KINDS
from kbench.result_schema import measurement_identity
from kbench.results import Measurement, Result, Verdict, new_run_id, utc_now
from kbench.runner import UNFINISHED

PLAN_KEYS = ("kernel_rounds", "model_rounds", "budget", "seed", "replicates")  # shards of one run share these


class MergeError(KbenchError):
    """Result files that cannot be joined; the message says which and why."""


def _same(results: Sequence[Mapping[str, Any]], what: str, get: Any) -> None:
    values = {json.dumps(get(r), sort_keys=True) for r in results}  # read from JSON: always serializable
    if len(values) > 1:
        names = ", ".join(f"{r.get('_path', r['run_id'])}: {get(r)!r}" for r in results)
        raise MergeError(f"merge: the files differ in {what} ({names})")


def _same_source(results: Sequence[Mapping[str, Any]]) -> None:
    """The same source files: by their recorded digest, or where a file has none (schema 1) by its
    commit, and a tree without uncommitted changes."""
    if all((r.get("provenance") or {}).get("digest") for r in results):
        _same(results, "source digest", lambda r: r["provenance"]["digest"])
        return
    _same(results, "commit (a file records no source digest)", lambda r: r["env"].get("git_commit"))
    for r in results:
        if r["env"].get("git_commit") is None or r["env"].get("git_dirty") is not False:
            raise MergeError(f"merge: {r.get('_path', r['run_id'])} records no source digest and no clean commit: "
                             "what it ran cannot be matched with another run")


def _shards(results: Sequence[Mapping[str, Any]]) -> list[str] | None:
    shards = [r.get("shard") for r in results]
    if all(s is None for s in shards):
        return None
    if any(s is None for s in shards):
        raise MergeError("merge: some files are shards and some are whole runs")
    counts = {str(s).split("/")[1] for s in shards}
    if len(counts) > 1:
        raise MergeError(f"merge: shards of different splits ({', '.join(map(str, shards))})")
    owner: dict[str, str] = {}
    for r in results:  # a shard may come in parts (a requeued job ran its remaining claims), never overlapping
        for v in r["verdicts"]:
            if _unfinished(v):
                continue
            name = f"{r.get('_path', r['run_id'])} (shard {r['shard']})"
            if v["claim"] in owner:
                raise MergeError(f"merge: claim {v['claim']} is in two shard files ({owner[v['claim']]}, {name}): "
                                 "shards of one run hold disjoint claims")
            owner[v["claim"]] = name
    return sorted(set(map(str, shards)), key=lambda s: int(s.split("/")[0]))


def _unfinished(v: Mapping[str, Any]) -> bool:
    """A claim its run never got to (killed or interrupted before it): another part may hold it."""
    return v["verdict"] == "skipped" and v.get("reason") in UNFINISHED


def _still_unfinished(results: Sequence[Mapping[str, Any]]) -> bool:
    finished = {v["claim"] for r in results for v in r["verdicts"] if not _unfinished(v)}
    return any(_unfinished(v) and v["claim"] not in finished for r in results for v in r["verdicts"])


def _distinct_runs(results: Sequence[Mapping[str, Any]]) -> None:
    """A file merged with itself (or a copy) would pass its own numbers off as repeated rounds:
    each run has its own id and its own start time."""
    for field in ("run_id", "created"):
        seen: dict[str, str] = {}
        for r in results:
            name, value = str(r.get("_path", r["run_id"])), str(r.get(field))
            if value in seen:
                raise MergeError(f"merge: {seen[value]} and {name} share their {field} ({value}); a copy of a run "
                                 "is not a repeat of it")
            seen[value] = name


def _affine(a: np.ndarray, b: np.ndarray) -> bool:
    """b = s * a + t to within float rounding (a copy, scaled or shifted): independent timings or
    seeds are never that related, in their order or sorted."""
    if a.size != b.size or a.size < 3:
        return False
    for x, y in ((a, b), (np.sort(a), np.sort(b))):
        if np.ptp(x) == 0 or np.ptp(y) == 0:
            if np.ptp(x) == np.ptp(y) == 0:
                return True  # constant and constant: nothing independent about them
            continue
        fit = np.polyfit(x, y, 1)
        if np.max(np.abs(np.polyval(fit, x) - y)) <= 1e-9 * max(np.max(np.abs(y)), 1e-300):
            return True
    return False


def _refuse_copy(m: Mapping[str, Any], seen: list[list[Any]], run: Mapping[str, Any]) -> None:
    """Two independent runs never time (or, with other seeds, train) the same samples, nor samples
    that are an affine transform of another's (scaled, shifted, reordered); a copy does."""
    mine = np.asarray(m["samples"], dtype=float)
    for earlier in seen:
        if m["samples"] == earlier or _affine(np.asarray(earlier, dtype=float), mine):
            raise MergeError(f"merge: {run.get('_path', run['run_id'])} repeats the samples of {m['metric']} of "
                             f"{m.get('subject')} (claim {m['claim']}) from an earlier file, or a scaled or shifted "
                             "copy of them: a copy, not a new run")
    seen.append(m["samples"])


def _merge_measurements(results: Sequence[Mapping[str, Any]]) -> list[Measurement]:
    """Timings: rounds appended (new round numbers per file). Seeds: appended when the runs drew
    other seeds, else kept once (the same seed is the same draw). Exact: must agree."""
    merged: dict[str, dict[str, Any]] = {}
    seeds_used: dict[str, set[int]] = {}
    drawn: dict[str, list[list[Any]]] = {}  # per measurement, the samples of each run that drew new ones
    for r in results:
        run_seed = (r.get("plan") or {}).get("seed", 0)
        for m in r["measurements"]:
            key = measurement_identity(m)
            # a replicate's seeds are its master seed's, whichever run's --seed listed it
            drew = m["replicate"] if m.get("replicate") is not None else run_seed
            fresh = m["noise"] == "timing" or (m["noise"] == "seeds" and drew not in seeds_used.get(key, ()))
            if fresh and m.get("samples"):  # new rounds, or other seeds: never the same values to the last bit
                _refuse_copy(m, drawn.setdefault(key, []), r)
            if key not in merged:
                merged[key] = _copy(m)
                seeds_used[key] = {drew}
                continue
            into = merged[key]
            if into.get("status") == "skipped" and m.get("status") == "ok":  # a part finished what another began
                merged[key] = _copy(m)
                continue
            emulated = [(x.get("extra") or {}).get("emulated") for x in (into, m)]
            if m.get("status") == "ok" and emulated[0] != emulated[1]:
                raise MergeError(f"merge: {m['metric']} of {m.get('subject')} (claim {m['claim']}) was timed in "
                                 f"{emulated[0] or 'native code'} in one file and in {emulated[1] or 'native code'} "
                                 "in another: an emulation's times are not rounds of the real kernel's")
            if m.get("status") != "ok" or into.get("status") != "ok":
                if m.get("status") == "error":
                    into.update(status="error", reason=m.get("reason"))
                continue
            if fresh:
                offset = max(into["groups"], default=-1) + 1
                into["samples"] += m["samples"]
                into["groups"] += [offset + g for g in m["groups"]]
                seeds_used[key].add(drew)
            elif m["noise"] == "exact" and m["samples"] != into["samples"]:
                raise MergeError(f"merge: {m['metric']} of {m.get('subject')} is exact but differs between runs")
    out = []
    for m in merged.values():
        fields = {k: v for k, v in m.items() if k in Measurement.__dataclass_fields__}
        fields["groups"] = fields["groups"] or None
        if fields.get("status") == "ok" and fields["samples"]:
            fields["summary"] = stats.summarize(fields["samples"], fields["groups"]).as_dict()
        out.append(Measurement(**fields))
    return out


def _copy(m: Mapping[str, Any]) -> dict[str, Any]:
    # groups as read (kbench.reading fills a file's missing ones: one round of timings, one seed per value)
    return {**m, "samples": list(m.get("samples") or []), "groups": list(m.get("groups") or [])}


def _verdicts(results: Sequence[Mapping[str, Any]], measurements: list[Measurement], peaks: Mapping[str, Any]
              ) -> list[Verdict]:
    import dataclasses

    stored: dict[str, list[Mapping[str, Any]]] = {}
    for r in results:
        for v in r["verdicts"]:
            stored.setdefault(v["claim"], []).append(v)
    dicts = [dataclasses.asdict(m) for m in measurements]
    out = []
    for claim, versions in stored.items():
        errors = [v for v in versions if v["verdict"] == "error"]
        # measured, or a case left out for an implementation's limits (judging says so in its notes)
        ms = [m for m in dicts
              if m["claim"] == claim and (m["status"] == "ok" or (m["extra"] or {}).get("outside_limits"))]
        first = versions[0]
        if errors:  # a wrong or crashing implementation in any run is wrong
            out.append(Verdict(**{k: v for k, v in errors[0].items() if k in Verdict.__dataclass_fields__}))
        elif not ms:
            measured = ([v for v in versions if v["verdict"] not in ("skipped",)]
                        or [v for v in versions if not _unfinished(v)] or versions)
            out.append(Verdict(**{k: v for k, v in measured[0].items() if k in Verdict.__dataclass_fields__}))
        elif first["kind"] not in KINDS:
            raise KbenchError(f"claim {claim}: kind {first['kind']!r} is unknown to this kbench (it knows "
                              f"{', '.join(sorted(KINDS))}), so its merged measurements cannot be judged")
        else:
            out.append(judge(Claim.from_verdict(first, KINDS[first["kind"]].combine), ms, peaks))
    return out


def merge(results: Sequence[Mapping[str, Any]]) -> Result:
    """One result from several of the same suite, suite file, source and GPU model."""
    if len(results) < 2:
        raise MergeError("merge: give at least two result files")
    _same(results, "suite", lambda r: r["suite"])
    _same(results, "suite file (sha256)", lambda r: r.get("suite_sha256"))
    _same_source(results)
    for r in results:
        if device_identity(r["env"]) is None:
            raise MergeError(f"merge: {r.get('_path', r['run_id'])} does not record its device precisely (a CPU "
                             "run needs the processor model and core count): its timings cannot join another run's")
    _same(results, "device", lambda r: device_identity(r["env"]))
    _distinct_runs(results)
    shards = _shards(results)
    if shards:  # the parts of one run: measured the same way
        _same(results, "plan (--quick, rounds, budget, --seed, --replicates)",
              lambda r: {k: (r.get("plan") or {}).get(k) for k in PLAN_KEYS})
    first = results[0]
    measurements = _merge_measurements(results)
    copies = [r["peaks"]["copy_gbps"] for r in results if (r.get("peaks") or {}).get("copy_gbps")]
    peaks = {**(first.get("peaks") or {}), **({"copy_gbps": float(np.median(copies))} if copies else {})}
    created = max(str(r["created"]) for r in results)
    merged = Result(
        suite=first["suite"], suite_file=first["suite_file"], suite_sha256=first["suite_sha256"],
        run_id=new_run_id(utc_now(), device_slug(first["env"])), created=created,
        env=dict(first["env"]), paper=dict(first["paper"]), peaks=peaks,
        plan={**(first.get("plan") or {}), "merged_from": [r["run_id"] for r in results],
              "seeds": sorted({int((r.get("plan") or {}).get("seed", 0)) for r in results}),
              "master_seeds": sorted({int(s) for r in results
                                      for s in (r.get("plan") or {}).get("master_seeds") or ()}),
              "shards": shards, "missing_shards": _missing(shards), "missing_claims": _missing_claims(results)},
        provenance=dict(first.get("provenance") or {}), measurements=measurements,
        interrupted=_still_unfinished(results) or any(r.get("interrupted") and r.get("shard") is None for r in results),
        finished=utc_now().isoformat(),
        thresholds={k: v for r in results for k, v in (r.get("thresholds") or {}).items()},
    )
    merged.verdicts = _verdicts(results, measurements, peaks)
    return merged


def _missing_claims(results: Sequence[Mapping[str, Any]]) -> list[str]:
    """Claims a shard was assigned that no file finished (a shard run with --only, or cut short)."""
    assigned = {c for r in results for c in (r.get("plan") or {}).get("shard_claims") or ()}
    finished = {v["claim"] for r in results for v in r["verdicts"] if not _unfinished(v)}
    return sorted(assigned - finished)


def _missing(shards: list[str] | None) -> list[str]:
    if not shards:
        return []
    n = int(shards[0].split("/")[1])
    have = {int(s.split("/")[0]) for s in shards}
    return [f"{i}/{n}" for i in range(1, n + 1) if i not in have]
