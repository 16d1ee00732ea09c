"""Merging result files: repeated runs become more rounds, shards become one run; mismatches refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kbench import cli, merge, reading
from kbench.claims import Claim
from kbench.errors import KbenchError
from kbench.kinds import KINDS
from tests.synthetic import make_result, mark_timings


def _load(*paths: Path) -> list[dict]:
    return [reading.load(p) for p in paths]


def test_repeated_runs_become_rounds_of_one_measurement(tmp_path: Path) -> None:
    a = make_result(tmp_path / "a", seed=1, rounds=2, n=4)
    b = make_result(tmp_path / "b", seed=2, rounds=3, n=4)
    merged = merge.merge(_load(a, b))
    slow = next(m for m in merged.measurements if m.subject["impl"] == "slow")
    assert len(slow.samples) == 20 and sorted(set(slow.groups)) == [0, 1, 2, 3, 4]
    assert slow.summary["rounds"] == 5
    seeded = next(m for m in merged.measurements if m.noise == "seeds")
    assert len(seeded.samples) == 10  # the runs drew other seeds (plan.seed 1 and 2): 5 + 5
    v = merged.verdicts[0]
    assert v.n == 5 and v.interval is not None and v.measured == pytest.approx(2.0, rel=0.02)
    assert merged.plan["merged_from"] == [r["run_id"] for r in _load(a, b)]


def test_the_same_seeds_are_not_counted_twice(tmp_path: Path) -> None:
    a, b = _load(make_result(tmp_path / "a", seed=1), make_result(tmp_path / "b", seed=2))
    b["plan"]["seed"] = a["plan"]["seed"]  # another run that drew the same seeds: the same inputs again
    merged = merge.merge([a, b])
    assert len(next(m for m in merged.measurements if m.noise == "seeds").samples) == 5
    assert len(next(m for m in merged.measurements if m.noise == "timing").samples) == 200  # rounds do add up


def test_seeded_values_copied_under_another_run_seed_are_refused(tmp_path: Path) -> None:
    a, b = _load(make_result(tmp_path / "a", seed=1), make_result(tmp_path / "b", seed=2))
    seeded = next(i for i, m in enumerate(a["measurements"]) if m["noise"] == "seeds")
    b["measurements"][seeded]["samples"] = list(a["measurements"][seeded]["samples"])  # "other seeds", same values
    with pytest.raises(merge.MergeError, match="a copy, not a new run"):
        merge.merge([a, b])
    b["plan"]["seed"] = a["plan"]["seed"]  # the same seeds: the same values are expected, and kept once
    assert len(next(m for m in merge.merge([a, b]).measurements if m.noise == "seeds").samples) == 5


def test_a_run_merged_with_itself_or_a_copy_is_refused(tmp_path: Path) -> None:
    a = make_result(tmp_path / "a", seed=1, rounds=1)
    with pytest.raises(merge.MergeError, match="share their run_id"):
        merge.merge(_load(a, a))
    copy = json.loads(a.read_text())
    copy["run_id"] = copy["run_id"][:-6] + "ffffff"  # a renamed copy: same samples to the last bit
    (tmp_path / "copy.json").write_text(json.dumps(copy))
    with pytest.raises(merge.MergeError, match="share their created"):
        merge.merge(_load(a, tmp_path / "copy.json"))
    copy["created"] = "2026-02-02T00:00:00"  # ... and a start time of its own
    (tmp_path / "copy.json").write_text(json.dumps(copy))
    with pytest.raises(merge.MergeError, match="a copy, not a new run"):
        merge.merge(_load(a, tmp_path / "copy.json"))


@pytest.mark.parametrize("forge", [
    lambda xs: [x * (1 + 1e-9) for x in xs],  # every sample scaled: a "repeat" that narrows the interval
    lambda xs: [x + 1e-6 for x in xs],  # shifted
    lambda xs: sorted(xs)[::-1],  # reordered
])
def test_a_transformed_copy_of_a_run_is_not_a_repeat(tmp_path: Path, forge: object) -> None:
    a = make_result(tmp_path / "a", seed=1, rounds=2)
    copy = json.loads(a.read_text())
    copy["run_id"], copy["created"] = copy["run_id"][:-6] + "ffffff", "2026-02-02T00:00:00"
    for m in copy["measurements"]:
        if m["noise"] == "timing":
            m["samples"] = forge(m["samples"])  # type: ignore[operator]
    (tmp_path / "copy.json").write_text(json.dumps(copy))
    with pytest.raises(merge.MergeError, match="scaled or shifted copy"):
        merge.merge(_load(a, tmp_path / "copy.json"))
    assert merge.merge(_load(a, make_result(tmp_path / "b", seed=2, rounds=2))).verdicts  # a real repeat joins


def test_an_incomplete_set_of_shards_is_said_and_exits_2_unless_partial(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    a = make_result(tmp_path / "a", seed=1, shard="1/3")
    b = reading.load(make_result(tmp_path / "b", seed=2, shard="2/3"))
    b["plan"]["seed"] = 1
    b = _other_claims(b, "-2")
    (tmp_path / "b2.json").write_text(json.dumps(b))
    out = tmp_path / "out"
    assert cli.main(["merge", str(a), str(tmp_path / "b2.json"), "--results", str(out)]) == 2
    assert "shard 3/3 missing" in capsys.readouterr().err and not out.exists()
    assert cli.main(["merge", str(a), str(tmp_path / "b2.json"), "--results", str(out), "--partial"]) == 0
    (written,) = out.rglob("*.json")
    assert reading.load(written)["plan"]["missing_shards"] == ["3/3"]


def _other_claims(result: dict, suffix: str) -> dict:
    """The same file as if it had run other claims (a shard holds its own)."""
    for entry in result["measurements"] + result["verdicts"]:
        entry["claim"] += suffix
    return result


def test_shards_join_and_say_what_is_missing(tmp_path: Path) -> None:
    a, b = _load(make_result(tmp_path / "a", seed=1, shard="3/3"), make_result(tmp_path / "b", seed=2, shard="1/3"))
    with pytest.raises(merge.MergeError, match="--seed"):  # shards of one run share its seed
        merge.merge([a, _other_claims(b, "-b")])
    b["plan"]["seed"] = a["plan"]["seed"]
    merged = merge.merge([a, _other_claims(b, "-b")])
    assert merged.plan["shards"] == ["1/3", "3/3"] and merged.plan["missing_shards"] == ["2/3"]
    assert len(merged.verdicts) == len(a["verdicts"]) + len(b["verdicts"])


def test_the_parts_of_one_shard_join_when_their_claims_differ(tmp_path: Path) -> None:
    a, b = _load(make_result(tmp_path / "a", seed=1, shard="2/2"), make_result(tmp_path / "b", seed=2, shard="2/2"))
    b["plan"]["seed"] = a["plan"]["seed"]
    merged = merge.merge([a, _other_claims(b, "-rest")])  # a requeued job ran the claims the first part had not
    assert merged.plan["shards"] == ["2/2"] and merged.plan["missing_shards"] == ["1/2"]


@pytest.mark.parametrize(("change", "message"), [
    ({"suite": "other"}, "suite"), ({"device": "cpu"}, "device"), ({"digest": "e" * 64}, "source digest"),
    ({"shard": "1/2"}, "shards and some are whole"),
])
def test_mismatches_are_refused_with_the_reason(tmp_path: Path, change: dict, message: str) -> None:
    a = make_result(tmp_path / "a", seed=1)
    b = make_result(tmp_path / "b", seed=2, **change)
    with pytest.raises(merge.MergeError, match=message):
        merge.merge(_load(a, b))


def test_overlapping_or_mismatched_shards_are_refused(tmp_path: Path) -> None:
    a = make_result(tmp_path / "a", seed=1, shard="1/2")
    b = make_result(tmp_path / "b", seed=2, shard="1/2")
    c = make_result(tmp_path / "c", seed=3, shard="2/3")
    with pytest.raises(merge.MergeError, match="in two shard files"):
        merge.merge(_load(a, b))
    loaded = _load(a, make_result(tmp_path / "d", seed=4, shard="2/2"))
    with pytest.raises(merge.MergeError, match="shards of one run hold disjoint claims"):
        merge.merge(loaded)  # other shard numbers, the same claims: not a split of one run
    with pytest.raises(merge.MergeError, match="different splits"):
        merge.merge(_load(a, c))


def test_an_exact_metric_that_differs_is_refused(tmp_path: Path) -> None:
    a = make_result(tmp_path / "a", seed=1)
    b = make_result(tmp_path / "b", seed=2, flops=2e9)
    with pytest.raises(merge.MergeError, match="exact"):
        merge.merge(_load(a, b))


def test_merge_command_writes_a_result_the_gate_reads(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    a = make_result(tmp_path / "a", seed=1, rounds=2)
    b = make_result(tmp_path / "b", seed=2, rounds=2)
    assert cli.main(["merge", str(a), str(b), "--results", str(tmp_path / "out")]) == 0
    (path,) = (tmp_path / "out" / "toy").glob("*.json")
    assert reading.load(path)["plan"]["merged_from"]
    assert cli.main(["merge", str(a), "--results", str(tmp_path / "out")]) == 2
    assert "at least two" in capsys.readouterr().err


def test_merging_leaves_its_inputs_as_they_were(tmp_path: Path) -> None:
    a, b = _load(make_result(tmp_path / "a", seed=1, rounds=2), make_result(tmp_path / "b", seed=2, rounds=2))
    before = json.dumps([a, b], sort_keys=True)
    merge.merge([a, b])
    assert json.dumps([a, b], sort_keys=True) == before


def test_only_the_same_measurement_is_joined(tmp_path: Path) -> None:
    a, b = _load(make_result(tmp_path / "a", seed=1, rounds=2, n=3), make_result(tmp_path / "b", seed=2, rounds=2,
                                                                                n=3))
    slow = next(m for m in b["measurements"] if m["subject"]["impl"] == "slow")
    reordered = dict(slow, case=dict(reversed(list(slow["case"].items()))))  # the same case, keys reordered
    b["measurements"] = [m if m is not slow else reordered for m in b["measurements"]]
    for field, value in (("role", "candidate"), ("subject", {"impl": "other", "pass": "fwd"}),
                         ("case", {"shape": [1, 8], "dtype": "float32"})):
        b["measurements"].append(dict(slow, **{field: value}))
    merged = merge.merge([a, b])
    timed = [m for m in merged.measurements if m.metric == "time_ms"]
    joined = next(m for m in timed if m.subject == {"impl": "slow", "pass": "fwd"} and m.role == "baseline")
    assert len(joined.samples) == 12 and len(timed) == 5  # fast, slow (joined), and the three that differ


def test_seeds_of_runs_without_a_recorded_seed_count_once(tmp_path: Path) -> None:
    a, b = _load(make_result(tmp_path / "a", seed=1), make_result(tmp_path / "b", seed=2))
    for r in (a, b):
        r["plan"] = {}
    merged = merge.merge([a, b])
    assert len(next(m for m in merged.measurements if m.noise == "seeds").samples) == 5


def test_a_wrong_implementation_in_any_run_makes_the_claim_an_error(tmp_path: Path) -> None:
    a, b = _load(make_result(tmp_path / "a", seed=1), make_result(tmp_path / "b", seed=2))
    b["verdicts"][0] = dict(b["verdicts"][0], verdict="error", measured=None, interval=None, reason="wrong in run b")
    b["measurements"][0] = dict(b["measurements"][0], status="error", reason="wrong against float64")
    merged = merge.merge([a, b])
    speed = next(v for v in merged.verdicts if v.claim == "speed")
    assert speed.verdict == "error" and speed.reason == "wrong in run b"
    failed = next(m for m in merged.measurements if m.subject == b["measurements"][0]["subject"])
    assert failed.status == "error" and failed.reason == "wrong against float64"


def test_a_claim_of_a_kind_this_kbench_does_not_know_is_refused_by_name(tmp_path: Path) -> None:
    a, b = _load(make_result(tmp_path / "a", seed=1), make_result(tmp_path / "b", seed=2))
    for r in (a, b):
        r["verdicts"][0] = dict(r["verdicts"][0], kind="old-kind")
    with pytest.raises(KbenchError, match="claim speed: kind 'old-kind' is unknown to this kbench"):
        merge.merge([a, b])


def test_a_claim_skipped_in_one_run_takes_the_other_runs_verdict(tmp_path: Path) -> None:
    a, b = _load(make_result(tmp_path / "a", seed=1), make_result(tmp_path / "b", seed=2))
    for r, verdict in ((a, "skipped"), (b, "inconclusive")):
        r["verdicts"].append(dict(r["verdicts"][0], claim="gpu-only", verdict=verdict, measured=None, interval=None,
                                  reason=verdict))
    merged = merge.merge([a, b])
    assert next(v for v in merged.verdicts if v.claim == "gpu-only").verdict == "inconclusive"


def test_a_verdict_describes_its_claim_for_judging_again() -> None:
    from kbench.judging import judge
    from kbench.verdicts import Rule
    from tests.fakes import timed

    info = Claim("c", "speedup", Rule(at_least=0.5, of_paper=True), "a quote", 4.0, "worst", {}, "table 2",
                     "batch 1024")
    verdict = judge(info, [timed("baseline", [3.0, 3.1, 2.9]), timed("candidate", [1.0, 1.0, 1.0])], {})
    import dataclasses

    assert Claim.from_verdict(dataclasses.asdict(verdict), "geomean") == info
    old = {"claim": "c", "kind": "flops-ratio", "rule": {"at_least": 1.0}, "paper_value": 2.0}  # schema 1 style
    rebuilt = Claim.from_verdict(old, KINDS[old["kind"]].combine)
    assert (rebuilt.paper_value, rebuilt.combine, rebuilt.quote, rebuilt.paper_source) == (2.0, "each", "", "")


def test_files_without_a_digest_must_share_a_clean_commit(tmp_path: Path) -> None:
    a, b = _load(make_result(tmp_path / "a", seed=1), make_result(tmp_path / "b", seed=2))
    for r in (a, b):
        r["provenance"] = {}
        r["env"]["git_dirty"] = False
    b["env"]["git_commit"] = "fffffff"
    with pytest.raises(merge.MergeError, match="commit"):
        merge.merge([a, b])
    b["env"]["git_commit"] = a["env"]["git_commit"]
    assert merge.merge([a, b]).suite == "toy"
    b["env"]["git_dirty"] = True
    with pytest.raises(merge.MergeError, match="no clean commit"):
        merge.merge([a, b])


def test_a_cpu_run_that_does_not_say_which_cpu_cannot_be_merged(tmp_path: Path) -> None:
    a, b = _load(make_result(tmp_path / "a", seed=1, device="cpu"), make_result(tmp_path / "b", seed=2, device="cpu"))
    for r in (a, b):
        r["env"].update(cpu="x86_64")
    with pytest.raises(merge.MergeError, match="does not record its device precisely"):
        merge.merge([a, b])
    for r in (a, b):
        r["env"].update(cpu="AMD EPYC 9654", cpu_count=2)
    assert merge.merge([a, b]).env["cpu"] == "AMD EPYC 9654"


def test_a_merged_result_keeps_what_its_runs_share(tmp_path: Path) -> None:
    a, b = _load(make_result(tmp_path / "a", seed=1), make_result(tmp_path / "b", seed=2,
                                                                  created="2026-01-02T00:00:00"))
    a["peaks"], b["peaks"] = {"copy_gbps": 3000.0, "flops": 1.0}, {"copy_gbps": 2000.0}
    a["thresholds"], b["thresholds"] = {"speed": 0.1}, {"other": 0.2}
    merged = merge.merge([a, b])
    assert merged.peaks == {"copy_gbps": 2500.0, "flops": 1.0}  # the median copy bandwidth of the runs
    assert merged.thresholds == {"speed": 0.1, "other": 0.2} and merged.provenance == a["provenance"]
    assert merged.plan["merged_from"] == [a["run_id"], b["run_id"]] and merged.plan["seed"] == 1
    assert merged.env == a["env"] and merged.paper == a["paper"] and merged.suite_sha256 == a["suite_sha256"]
    assert merged.created == "2026-01-02T00:00:00" and merged.finished is not None and not merged.interrupted
    assert merged.run_id not in (a["run_id"], b["run_id"]) and "nvidia" in merged.run_id
    assert {v.claim for v in merged.verdicts} == {"speed", "precise", "flops"}
    b["interrupted"] = True
    assert merge.merge([a, b]).interrupted


@pytest.mark.parametrize(("field", "value", "message"), [("suite_sha256", "f" * 64, "suite file"),
                                                         ("gpu", "NVIDIA A100-SXM4-80GB", "device")])
def test_runs_of_another_suite_file_or_gpu_are_refused(tmp_path: Path, field: str, value: str, message: str) -> None:
    a, b = _load(make_result(tmp_path / "a", seed=1), make_result(tmp_path / "b", seed=2))
    (b["env"] if field == "gpu" else b)[field] = value
    with pytest.raises(merge.MergeError, match=f"differ in {message}"):
        merge.merge([a, b])


# --- what each run adds, and what is a copy ---------------------------------------------------

@pytest.mark.parametrize(("a", "b", "copy"), [
    ([1.0, 1.5, 2.0], [5.0, 6.0, 7.0], True),  # b = 2a + 3: a spread of exactly 1 is no exception
    ([2.0, 3.0, 4.0], [1.0, 1.5, 2.0], True),  # b = a / 2, the copy's spread exactly 1
    ([3.0, 1.0, 2.0], [1.0, 2.0, 3.0], True),  # reordered: three samples are enough to tell
    ([1.0, 2.0, 3.0, 4.0], [1.0, 4.0, 9.0, 16.0], False),  # b = a^2: related, but not a scaled copy
    ([1.0, 2.0, 4.0], [1.1, 2.3, 3.9], False),  # independent draws of the same thing
    ([2.0, 2.0, 2.0], [2.0, 2.0, 2.0], True),  # constant and constant
    ([2.0, 2.0, 2.0], [1.0, 2.0, 3.0], False),  # constant and varying
    ([1.0, 2.0, 3.0], [3.0, 2.0, 2.0], False),
    ([1.0, 2.0], [2.0, 4.0], False),  # two samples always fit a line: not evidence of a copy
])
def test_a_copy_is_an_affine_map_of_another_runs_samples(a: list[float], b: list[float], copy: bool) -> None:
    import numpy as np

    assert merge._affine(np.asarray(a), np.asarray(b)) is copy
    assert merge._affine(np.asarray(b), np.asarray(a)) is copy


def _claim_status(r: dict, claim: str, status: str, reason: str) -> None:
    for m in r["measurements"]:
        if m["claim"] == claim:
            m.update(status=status, reason=reason, samples=None)
    for v in r["verdicts"]:
        if v["claim"] == claim:
            v.update(verdict="skipped", reason=reason, measured=None, interval=None)


def test_a_part_that_finishes_a_claim_replaces_the_unfinished_one(tmp_path: Path) -> None:
    from kbench.runner import UNFINISHED

    a, b = _load(make_result(tmp_path / "a", seed=1, rounds=2, n=3, shard="1/2"),
                 make_result(tmp_path / "b", seed=2, rounds=2, n=3, shard="1/2"))
    b["plan"]["seed"] = a["plan"]["seed"]
    _claim_status(a, "speed", "skipped", UNFINISHED[0])  # part a was killed before "speed" ...
    for r in (b,):  # ... part b ran only "speed"
        r["measurements"] = [m for m in r["measurements"] if m["claim"] == "speed"]
        r["verdicts"] = [v for v in r["verdicts"] if v["claim"] == "speed"]
    merged = merge.merge([a, b])
    slow = next(m for m in merged.measurements if m.subject["impl"] == "slow")
    fast = next(m for m in merged.measurements if m.subject["impl"] == "fast" and m.metric == "time_ms")
    b_slow = next(m for m in b["measurements"] if m["subject"]["impl"] == "slow")
    assert slow.status == "ok" and slow.samples == b_slow["samples"] and slow.groups == b_slow["groups"]
    assert fast.status == "ok" and len(fast.samples) == 6  # the measurement after it in part b is kept too
    assert next(v for v in merged.verdicts if v.claim == "speed").verdict != "skipped"
    assert merged.interrupted is False and merged.plan["missing_claims"] == []


def test_a_claim_no_part_finished_is_said_missing_and_the_merge_interrupted(tmp_path: Path) -> None:
    from kbench.runner import UNFINISHED

    a, b = _load(make_result(tmp_path / "a", seed=1, shard="1/2"), make_result(tmp_path / "b", seed=1, shard="2/2",
                                                                                created="2026-01-01T01:00:00"))
    _other_claims(b, "-b")
    a["plan"]["shard_claims"] = ["speed", "precise", "flops"]
    b["plan"]["shard_claims"] = ["speed-b", "precise-b", "flops-b"]
    merged = merge.merge([a, b])
    assert merged.interrupted is False and merged.plan["missing_claims"] == []
    _claim_status(b, "precise-b", "skipped", UNFINISHED[0])
    merged = merge.merge([a, b])
    assert merged.interrupted is True and merged.plan["missing_claims"] == ["precise-b"]
    v = next(v for v in merged.verdicts if v.claim == "precise-b")
    assert v.verdict == "skipped" and v.reason == UNFINISHED[0]


def test_a_claim_skipped_for_a_reason_keeps_that_reason_over_an_unfinished_part(tmp_path: Path) -> None:
    from kbench.runner import UNFINISHED

    a, b = _load(make_result(tmp_path / "a", seed=1, shard="1/1"), make_result(tmp_path / "b", seed=1, shard="1/1",
                                                                                created="2026-01-01T01:00:00"))
    _other_claims(b, "-b")
    b["verdicts"].append(dict(a["verdicts"][1], claim="gpu", verdict="skipped", reason="needs CUDA",
                              measured=None, interval=None))
    a["verdicts"].append(dict(a["verdicts"][1], claim="gpu", verdict="skipped", reason=UNFINISHED[0],
                              measured=None, interval=None))
    merged = merge.merge([a, b])
    assert next(v for v in merged.verdicts if v.claim == "gpu").reason == "needs CUDA"


def test_a_failed_measurement_does_not_cut_off_the_rest_of_its_run(tmp_path: Path) -> None:
    a, b = _load(make_result(tmp_path / "a", seed=1, rounds=2, n=3), make_result(tmp_path / "b", seed=2, rounds=2,
                                                                                n=3))
    b["measurements"][0] = dict(b["measurements"][0], status="skipped", samples=None, reason="out of memory")
    merged = merge.merge([a, b])
    timed = {m.subject["impl"]: m for m in merged.measurements if m.metric == "time_ms"}
    assert len(timed["fast"].samples) == 6 and timed["fast"].status == "ok"  # a's rounds, b's did not run
    assert len(timed["slow"].samples) == 12 and sorted(set(timed["slow"].groups)) == [0, 1, 2, 3]  # type: ignore[arg-type]


def test_a_replicates_seed_is_its_master_seed_whatever_the_runs_seed(tmp_path: Path) -> None:
    a, b = _load(make_result(tmp_path / "a", seed=1), make_result(tmp_path / "b", seed=2))
    i = next(i for i, m in enumerate(a["measurements"]) if m["noise"] == "seeds")
    for r in (a, b):
        r["measurements"][i]["replicate"] = 7  # both ran master seed 7, listed by --seed 1 and --seed 2
    b["measurements"][i]["samples"] = list(a["measurements"][i]["samples"])  # so they drew the same values
    assert len(next(m for m in merge.merge([a, b]).measurements if m.noise == "seeds").samples) == 5


def test_a_run_without_a_recorded_seed_drew_seed_0(tmp_path: Path) -> None:
    a, b = _load(make_result(tmp_path / "a", seed=1), make_result(tmp_path / "b", seed=2))
    a["plan"] = {"seed": 0}
    b["plan"] = {}
    assert len(next(m for m in merge.merge([a, b]).measurements if m.noise == "seeds").samples) == 5


def test_merged_bandwidth_claims_are_judged_with_the_runs_copy_bandwidth(tmp_path: Path) -> None:
    a, b = _load(make_result(tmp_path / "a", seed=1, rounds=3), make_result(tmp_path / "b", seed=2, rounds=3))
    for r, copy in ((a, 4000.0), (b, 6000.0)):
        r["peaks"]["copy_gbps"] = copy
        r["verdicts"].append(dict(r["verdicts"][0], claim="speed", kind="bandwidth-fraction"))
        r["verdicts"] = r["verdicts"][1:]  # "speed" judged as the fraction of the copy's bandwidth
        r["measurements"] = [m for m in r["measurements"] if m["subject"].get("impl") != "slow"]
        for m in r["measurements"]:
            m["extra"]["bytes"] = 10**9  # in 1 ms: 1000 GB/s
            m["role"] = "subject" if m["claim"] == "speed" else m["role"]
    merged = merge.merge([a, b])
    assert merged.peaks["copy_gbps"] == 5000.0  # the median of the runs' copies
    v = next(v for v in merged.verdicts if v.claim == "speed")
    assert v.measured == pytest.approx(1000.0 / 5000.0, rel=0.02), v.reason


def test_a_stored_verdict_without_a_combine_takes_its_kinds(tmp_path: Path) -> None:
    a, b = _load(make_result(tmp_path / "a", seed=1), make_result(tmp_path / "b", seed=2))
    for r in (a, b):
        r["verdicts"][2].pop("combine")
    merged = merge.merge([a, b])
    assert next(v for v in merged.verdicts if v.claim == "flops").combine == KINDS["flops-ratio"].combine


def test_a_refusal_names_each_file_and_what_it_holds(tmp_path: Path) -> None:
    a, b = _load(make_result(tmp_path / "a", seed=1), make_result(tmp_path / "b", seed=2, suite="other"))
    with pytest.raises(merge.MergeError) as exc:
        merge.merge([a, b])
    assert str(exc.value) == f"merge: the files differ in suite ({a['_path']}: 'toy', {b['_path']}: 'other')"
    a, b = _load(make_result(tmp_path / "c", seed=1), make_result(tmp_path / "d", seed=2, digest="e" * 64))
    with pytest.raises(merge.MergeError, match=r"^merge: the files differ in source digest \("):
        merge.merge([a, b])
    a, b = _load(make_result(tmp_path / "e", seed=1), make_result(tmp_path / "f", seed=1))
    with pytest.raises(merge.MergeError) as exc:
        merge.merge([a, b])
    assert str(exc.value).startswith(f"merge: {a['_path']} and {b['_path']} share their run_id")


def test_an_overlapping_shard_is_named_with_the_file_that_had_the_claim(tmp_path: Path) -> None:
    from kbench.runner import UNFINISHED

    a, b = _load(make_result(tmp_path / "a", seed=1, shard="1/2"),
                 make_result(tmp_path / "b", seed=1, shard="2/2", created="2026-01-01T01:00:00"))
    b["verdicts"][0] = dict(b["verdicts"][0], claim="first", verdict="skipped", reason=UNFINISHED[0])
    b["verdicts"][1]["claim"] = "second"  # b's third claim ("flops") is also a's: after an unfinished one
    with pytest.raises(merge.MergeError) as exc:
        merge.merge([a, b])
    assert str(exc.value) == (f"merge: claim flops is in two shard files ({a['_path']} (shard 1/2), {b['_path']} "
                              "(shard 2/2)): shards of one run hold disjoint claims")


def test_shards_are_listed_in_number_order(tmp_path: Path) -> None:
    a, b = _load(make_result(tmp_path / "a", seed=1, shard="10/12"),
                 make_result(tmp_path / "b", seed=1, shard="2/12", created="2026-01-01T01:00:00"))
    merged = merge.merge([a, _other_claims(b, "-b")])
    assert merged.plan["shards"] == ["2/12", "10/12"]
    assert merged.plan["missing_shards"] == [f"{i}/12" for i in range(1, 13) if i not in (2, 10)]


def test_shards_plans_compare_whatever_their_key_order(tmp_path: Path) -> None:
    a, b = _load(make_result(tmp_path / "a", seed=1, shard="1/2"),
                 make_result(tmp_path / "b", seed=1, shard="2/2", created="2026-01-01T01:00:00"))
    a["plan"] = {"seed": 1, "kernel_rounds": 5}
    b["plan"] = {"kernel_rounds": 5, "seed": 1}
    assert merge.merge([a, _other_claims(b, "-b")]).plan["shards"] == ["1/2", "2/2"]


def test_a_merged_plan_lists_every_runs_seeds(tmp_path: Path) -> None:
    a, b, c = _load(make_result(tmp_path / "a", seed=3), make_result(tmp_path / "b", seed=1),
                    make_result(tmp_path / "c", seed=2))
    a["plan"]["master_seeds"], b["plan"]["master_seeds"] = [3, 4], [1, 3]
    c["plan"] = {}  # a run that recorded no seed drew seed 0
    merged = merge.merge([a, b, c])
    assert merged.plan["seeds"] == [0, 1, 3] and merged.plan["master_seeds"] == [1, 3, 4]


def test_a_third_run_on_an_earlier_runs_seed_adds_nothing(tmp_path: Path) -> None:
    a, b, c = _load(make_result(tmp_path / "a", seed=1), make_result(tmp_path / "b", seed=2),
                    make_result(tmp_path / "c", seed=3))
    i = next(i for i, m in enumerate(a["measurements"]) if m["noise"] == "seeds")
    c["plan"]["seed"] = 2
    c["measurements"][i]["samples"] = list(b["measurements"][i]["samples"])  # seed 2 again: the same draws
    seeded = next(m for m in merge.merge([a, b, c]).measurements if m.noise == "seeds")
    assert len(seeded.samples) == 10 and sorted(set(seeded.groups)) == list(range(10))  # type: ignore[arg-type]


def test_an_interrupted_whole_run_makes_the_merge_interrupted(tmp_path: Path) -> None:
    a, b = _load(make_result(tmp_path / "a", seed=1), make_result(tmp_path / "b", seed=2))
    assert merge.merge([a, b]).interrupted is False
    b["interrupted"] = True
    assert merge.merge([a, b]).interrupted is True


def test_runs_without_a_copy_bandwidth_merge_without_one(tmp_path: Path) -> None:
    a, b = _load(make_result(tmp_path / "a", seed=1), make_result(tmp_path / "b", seed=2))
    for r in (a, b):
        r["peaks"] = {}
    assert "copy_gbps" not in merge.merge([a, b]).peaks


def test_timings_taken_in_an_emulation_do_not_join_native_ones(tmp_path: Path) -> None:
    a, b = _load(make_result(tmp_path / "a", seed=1), make_result(tmp_path / "b", seed=2))
    mark_timings(b, emulated="Triton's interpreter (TRITON_INTERPRET=1)")
    with pytest.raises(merge.MergeError, match="timed in native code in one file and in Triton's interpreter"):
        merge.merge([a, b])
    with pytest.raises(merge.MergeError, match="an emulation's times are not rounds of the real kernel's"):
        merge.merge([b, a])
