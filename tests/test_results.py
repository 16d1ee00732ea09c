"""Result files: atomic, never overwritten, never lost, and read through one validator."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from kbench import checkpoints, labels, migration, reading, results
from kbench.errors import ResultError


def _result(run_id: str = "20260101T000000Z-cpu-abc123", suite: str = "toy") -> results.Result:
    return results.Result(
        suite=suite, suite_file="suites/toy.toml", suite_sha256="0" * 64, run_id=run_id,
        created="2026-01-01T00:00:00+00:00", env={"gpu": "cpu", "git_commit": "abc"}, paper={"id": suite},
        measurements=[results.Measurement(claim="c", case={"shape": [2, 3]}, subject={"impl": "good"},
                                          metric="time_ms", unit="ms", samples=[1.0, 1.1], groups=[0, 1],
                                          summary={"median": 1.05})],
        verdicts=[results.Verdict("c", "speedup", "reproduced", 2.0, [1.8, 2.2], 2.0, 1.0,
                                  {"at_least": 1.5, "at_most": None, "of_paper": False, "text": ">= 1.5"}, "q")],
    )


def test_write_then_load_round_trips(tmp_path: Path) -> None:
    path = results.write(_result(), tmp_path)
    assert path == tmp_path / "toy" / "20260101T000000Z-cpu-abc123.json"
    data = reading.load(path)
    assert data["schema_version"] == 2 and data["measurements"][0]["groups"] == [0, 1]
    assert data["verdicts"][0]["rule"]["text"] == ">= 1.5"
    assert list(path.parent.iterdir()) == [path], "no temporary file may remain"


def test_a_taken_name_gets_a_new_one_and_nothing_is_overwritten(tmp_path: Path) -> None:
    path = results.write(_result(), tmp_path)
    before = path.read_bytes()
    changed = _result()
    changed.verdicts[0].measured = 99.0
    second = results.write(changed, tmp_path)
    assert path.read_bytes() == before
    assert second.name == "20260101T000000Z-cpu-abc123-2.json"
    assert reading.load(second)["run_id"] == "20260101T000000Z-cpu-abc123-2"
    assert reading.load(second)["verdicts"][0]["measured"] == 99.0


def test_nan_is_stored_as_null_with_a_flag(tmp_path: Path) -> None:
    bad = _result()
    bad.verdicts[0].measured = float("nan")
    bad.measurements[0].extra["gbps"] = float("inf")
    data = json.loads(results.write(bad, tmp_path).read_text())
    assert data["verdicts"][0]["measured"] is None and data["measurements"][0]["extra"]["gbps"] is None
    assert data["nonfinite"] == ["/measurements/0/extra/gbps", "/verdicts/0/measured"]


def test_files_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = results.write(_result(), tmp_path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path: Path) -> None:
    folder = tmp_path / "toy"
    folder.mkdir()
    dead = folder / ".20250101T000000Z-cpu-000000.999999999.tmp"  # no process has that pid
    dead.write_text("{half")
    alive = folder / f".20250101T000000Z-cpu-000001.{os.getpid()}.tmp"
    alive.write_text("{half")
    results.write(_result(), tmp_path)
    assert not dead.exists() and alive.exists()


@pytest.mark.parametrize("bad", ["../../escape", "a/b", "..", ".hidden", "x" * 200, ""])
def test_names_from_files_never_leave_their_folder(tmp_path: Path, bad: str) -> None:
    root = tmp_path / "a" / "results"
    with pytest.raises(ResultError, match="cannot be part of a path"):
        results.write(_result(suite=bad), root)
    with pytest.raises(ResultError, match="cannot be part of a path"):
        results.write(_result(run_id=bad), root)
    assert not list(tmp_path.rglob("*.json")) and not root.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write a read-only folder")
def test_unwritable_folder_is_found_before_measuring(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(ResultError, match="not writable"):
            results.check_writable(tmp_path, "toy")
    finally:
        tmp_path.chmod(0o700)


def test_the_results_folder_is_created_with_its_parents(tmp_path: Path) -> None:
    folder = results.check_writable(tmp_path / "a" / "b", "toy")
    assert folder == tmp_path / "a" / "b" / "toy" and folder.is_dir() and not list(folder.iterdir())
    assert results.check_writable(tmp_path / "a" / "b", "toy") == folder  # an existing folder is fine


def test_a_file_in_the_way_is_found_before_measuring(tmp_path: Path) -> None:
    (tmp_path / "toy").write_text("not a folder")
    with pytest.raises(ResultError, match="not writable"):
        results.check_writable(tmp_path, "toy")


def test_a_failed_write_is_rescued_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the results folder should be")
    monkeypatch.setattr(results.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    path, problem = results.write_or_rescue(_result(), blocked)
    assert problem and str(blocked) in problem
    assert path.parent.parent == tmp_path / "tmp" / results.FALLBACK_DIR and reading.load(path)["suite"] == "toy"
    (tmp_path / "tmp").rename(tmp_path / "tmp-done")
    (tmp_path / "tmp").write_text("the first fallback is blocked too")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path, problem = results.write_or_rescue(_result(), blocked)
    assert path.parent.parent == tmp_path / "home" / results.FALLBACK_DIR
    ok, none = results.write_or_rescue(_result(run_id="20260101T000000Z-cpu-fff000"), tmp_path / "fine")
    assert none is None and ok.parent == tmp_path / "fine" / "toy"


def _valid() -> dict:
    return json.loads(json.dumps(_result().as_dict()))


CORRUPTIONS = {
    "truncated": None,
    "not an object": [1, 2],
    "future schema": {"schema_version": 99},
    "missing run_id": lambda d: d.pop("run_id"),
    "run_id escapes": lambda d: d.update(run_id="../../x"),
    "suite escapes": lambda d: d.update(suite="../x"),
    "measurements not a list": lambda d: d.update(measurements={}),
    "measurement not an object": lambda d: d["measurements"].append(3),
    "samples with text": lambda d: d["measurements"][0].update(samples=["1"]),
    "groups of another length": lambda d: d["measurements"][0].update(groups=[0]),
    "ok without samples": lambda d: d["measurements"][0].update(samples=[]),
    "unknown noise": lambda d: d["measurements"][0].update(noise="vibes"),
    "status unknown": lambda d: d["measurements"][0].update(status="fine"),
    "unknown verdict": lambda d: d["verdicts"][0].update(verdict="great"),
    "interval of three": lambda d: d["verdicts"][0].update(interval=[1, 2, 3]),
    "measured as text": lambda d: d["verdicts"][0].update(measured="2"),
    "measured infinite": lambda d: d["verdicts"][0].update(measured=1e999),
    "rule as a number": lambda d: d["verdicts"][0].update(rule=3),
    "per_case without case": lambda d: d["verdicts"][0].update(per_case=[{"value": 1}]),
    "duplicate claim": lambda d: d["verdicts"].append(dict(d["verdicts"][0])),
    "env not an object": lambda d: d.update(env=None),
    "interrupted not a flag": lambda d: d.update(interrupted="no"),
    "thresholds with text": lambda d: d.update(thresholds={"c": "5%"}),
    "negative time": lambda d: d["measurements"][0].update(samples=[-1.0, 1.1]),
    "zero time": lambda d: d["measurements"][0].update(samples=[0.0, 1.1]),
    "negative round": lambda d: d["measurements"][0].update(groups=[-1, 0]),
    "inverted interval": lambda d: d["verdicts"][0].update(interval=[5, 1]),
    "created is not a date": lambda d: d.update(created="yesterday"),
    "measurement of no claim": lambda d: d["measurements"][0].update(claim="ghost"),
    "the same measurement twice": lambda d: d["measurements"].append(dict(d["measurements"][0])),
    "threshold above 1": lambda d: d.update(thresholds={"c": 100}),
    "times near the float limit": lambda d: d["measurements"][0].update(samples=[1e308, 1e308]),
    "a time of 1e-300": lambda d: d["measurements"][0].update(samples=[1.0, 1e-300]),
    "threshold of zero": lambda d: d.update(thresholds={"c": 0}),
    "gpu not a name": lambda d: d["env"].update(gpu=["x"]),
    "core count as text": lambda d: d["env"].update(cpu_count="2"),
    "rule bound as text": lambda d: d["verdicts"][0]["rule"].update(at_least="x"),
    "n as text": lambda d: d["verdicts"][0].update(n="5"),
    "combine as a number": lambda d: d["verdicts"][0].update(combine=3),
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_corrupt_files_are_refused_with_their_name(tmp_path: Path, name: str) -> None:
    fix = CORRUPTIONS[name]
    path = tmp_path / "bad.json"
    if fix is None:
        path.write_text(json.dumps(_valid())[:60])
    elif callable(fix):
        data = _valid()
        fix(data)
        path.write_text(json.dumps(data))
    else:
        path.write_text(json.dumps(fix))
    with pytest.raises(ResultError) as info:
        reading.load(path)
    assert str(path) in str(info.value)


def test_missing_groups_mean_one_round(tmp_path: Path) -> None:
    data = _valid()
    data["measurements"][0]["groups"] = None
    (tmp_path / "r.json").write_text(json.dumps(data))
    assert reading.load(tmp_path / "r.json")["measurements"][0]["groups"] == [0, 0]


def test_non_utf8_and_deeply_nested_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_bytes(b'{"schema_version": 2, "suite": "\xff"}')
    (tmp_path / "b.json").write_text("[" * 100000 + "]" * 100000)
    for name in ("a.json", "b.json"):
        with pytest.raises(ResultError):
            reading.load(tmp_path / name)


def test_load_all_lists_bad_files_and_keeps_good_ones(tmp_path: Path) -> None:
    good = results.write(_result(), tmp_path)
    (tmp_path / "toy" / "truncated.json").write_text(good.read_text()[:50])
    (tmp_path / "toy" / "future.json").write_text(json.dumps({"schema_version": 99}))
    found, problems = reading.load_all(tmp_path)
    assert [r["run_id"] for r in found] == ["20260101T000000Z-cpu-abc123"]
    assert len(problems) == 2 and any("truncated.json" in p for p in problems)
    assert (tmp_path / "toy" / "truncated.json").read_text() == good.read_text()[:50], "never rewritten"
    with pytest.raises(ResultError, match="does not exist"):
        reading.load_all(tmp_path / "missing")


def test_tables(tmp_path: Path) -> None:
    r = _result()
    r.env.update(git_dirty=False)
    r.measurements[0].extra = {"gbps": 12.5, "timing": "perf-counter", "launch": {"fwd": "x"}}
    r.measurements[0].summary = {"median": 1.05, "ci_low": 1.0, "ci_high": 1.1, "n": 2, "rounds": 2,
                                 "between_sd_log": 0.07}
    r.verdicts[0].reason, r.verdicts[0].n = "why", 2
    r.measurements[0].reason = "because"
    path = results.write(r, tmp_path)
    found, _ = reading.load_all(tmp_path)
    verdicts = labels.verdict_table(found)
    assert verdicts.to_dict("records") == [{
        "suite": "toy", "run_id": r.run_id, "created": r.created, "device": "cpu", "commit": "abc", "dirty": False,
        "interrupted": False, "claim": "c", "timing": "perf-counter", "kind": "speedup", "verdict": "reproduced",
        "measured": 2.0, "low": 1.8, "high": 2.2, "paper_value": 2.0, "ratio_to_paper": 1.0, "rule": ">= 1.5",
        "reason": "why", "n": 2, "path": str(path)}]
    measurements = labels.measurement_table(found)
    assert measurements.to_dict("records") == [{
        "suite": "toy", "run_id": r.run_id, "created": r.created, "device": "cpu", "commit": "abc", "claim": "c",
        "metric": "time_ms", "unit": "ms", "subject": "good", "case": "2x3", "status": "ok", "median": 1.05,
        "low": 1.0, "high": 1.1, "n": 2, "rounds": 2, "between_sd_log": 0.07, "reason": "because", "gbps": 12.5,
        "timing": "perf-counter"}]


def test_labels_and_formats() -> None:
    assert labels.rule_text({"text": ">= 2", "at_least": 2}) == ">= 2"
    assert labels.rule_text({"at_least": 2}) == "" and labels.rule_text(">= 3") == ">= 3"
    assert labels.rule_text(None) == ""
    assert labels.subject_label({"impl": "k", "pass": "fwd"}) == "k:fwd"
    assert labels.subject_label({"impl": "k"}) == "k"
    assert labels.subject_label({"model": "kat", "impl": "k"}) == "kat[k]"
    assert labels.subject_label({"model": "vit"}) == "vit"
    two = [{"model": "kat", "impl": "k", "size": "tiny", "arch": {"rational_groups": g, "depth": 4}} for g in (0, 8)]
    assert [labels.subject_label(s) for s in two] == ["kat[k] tiny {depth=4, rational_groups=0}",
                                                       "kat[k] tiny {depth=4, rational_groups=8}"]
    assert labels.case_label({"shape": [2, 3], "dtype": "float32", "paper_value": 9.0}) == "2x3 dtype=float32"
    assert labels.case_label({"label": "mine", "shape": [2]}) == "mine"
    assert [labels.fmt(v) for v in (None, float("nan"), 0, 0.0, 1234.56, 0.012345, True, "x", 100, 99.94)] == \
        ["-", "-", "0", "0", "1234.6", "0.0123", "True", "x", "100.0", "99.9"]
    nan = float("nan")
    assert labels.measured(2.0, nan, 3.0) == labels.measured(2.0, 1.0, nan) == "2 [no interval]"
    assert labels.measured(2.0, 1.5, 2.5) == "2 [1.5, 2.5]"
    assert labels.measured(2.0, None, None) == "2 [no interval]" and labels.measured(None, 1, 2) == "-"


def test_committed_results_load_and_schema_1_is_judged_again(root: Path) -> None:
    """Every committed file loads; in schema-1 files a timing of one round has no between-round
    interval, so its verdict is inconclusive now, with the old verdict kept in the notes."""
    found, problems = reading.load_all(root / "results")
    assert not problems, problems
    old = [r for r in found if r["plan"].get("migrated_from_schema") == 1 and "merged_from" not in r["plan"]]
    merged = [r for r in found if "merged_from" in r["plan"]]
    assert old and merged
    for r in merged:  # back-to-back runs of one commit, joined: two rounds, a verdict with an interval
        assert all(v["n"] == 2 and v["interval"] for v in r["verdicts"] if v["verdict"] != "skipped")
    for r in old:
        for v in r["verdicts"]:
            assert any(n.startswith("schema 1 verdict") for n in v["notes"]), v["claim"]
            timed = [m for m in r["measurements"] if m["claim"] == v["claim"] and m["noise"] == "timing"]
            if timed and v["verdict"] not in ("skipped", "error"):
                assert v["verdict"] == "inconclusive" and v["interval"] is None, (r["run_id"], v["claim"])


def test_run_ids_do_not_collide() -> None:
    created = results.utc_now()
    assert results.new_run_id(created, "cpu") != results.new_run_id(created, "cpu")


V1 = "results/flashkat/20261123T014916Z-nvidia-h100-80gb-hbm3-d7917f.json"


def _v1(root: Path, tmp_path: Path, edit: Callable[[dict], object]) -> Path:
    data = json.loads((root / V1).read_text())
    edit(data)
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    return path


def _verdict(data: dict, claim: str) -> dict:
    return next(v for v in data["verdicts"] if v["claim"] == claim)


def test_schema_1_without_evidence_is_inconclusive_not_kept(root: Path, tmp_path: Path) -> None:
    def drop(d: dict) -> None:
        d["measurements"] = [m for m in d["measurements"] if m["claim"] != "flops-parity"]
        _verdict(d, "coefficient-rounding-error")["kind"] = "no-such-kind"

    loaded = reading.load(_v1(root, tmp_path, drop))
    for claim, why in (("flops-parity", "no usable measurements"), ("coefficient-rounding-error", "unknown")):
        v = _verdict(loaded, claim)
        assert v["verdict"] == "inconclusive" and v["interval"] is None and why in v["reason"]
        assert v["notes"][0].startswith("schema 1 verdict: reproduced")
    assert _verdict(reading.load(root / V1), "flops-parity")["verdict"] == "reproduced"  # the unedited file


def test_schema_1_error_stays_an_error(root: Path, tmp_path: Path) -> None:
    path = _v1(root, tmp_path, lambda d: _verdict(d, "flops-parity").update(verdict="error", reason="wrong output"))
    v = _verdict(reading.load(path), "flops-parity")
    assert v["verdict"] == "error" and v["reason"] == "wrong output"


@pytest.mark.parametrize("rule", [">= 5000 or <= 2000", ">= 5 and <= 2", ">= 1 and >= 2", "about 2", 3, ">= 1e999"])
def test_schema_1_rules_that_are_not_bounds_are_refused(root: Path, tmp_path: Path, rule: object) -> None:
    path = _v1(root, tmp_path, lambda d: d["verdicts"][1].update(rule=rule))
    with pytest.raises(ResultError, match=r"verdicts\[1\]\.rule"):
        reading.load(path)


def test_schema_1_rule_text_parses_both_bounds() -> None:
    rule = migration.parse_rule_text(">= 0.95 and <= 1.05")
    assert (rule["at_least"], rule["at_most"]) == (0.95, 1.05)
    assert migration.parse_rule_text("<= 1e-06")["at_most"] == 1e-6


def test_schema_1_sides_in_the_wrong_order_are_refused(root: Path, tmp_path: Path) -> None:
    def swap(d: dict) -> None:
        pair = [i for i, m in enumerate(d["measurements"]) if m["claim"] == "kat-slower-than-vit"][:2]
        d["measurements"][pair[0]], d["measurements"][pair[1]] = d["measurements"][pair[1]], d["measurements"][pair[0]]

    with pytest.raises(ResultError, match="sides in the wrong order"):
        reading.load(_v1(root, tmp_path, swap))


V1_SHAPES = {  # (what is broken, the field the error must name)
    "interval of one": (lambda d: d["verdicts"][0].update(interval=[1]), "verdicts[0].interval"),
    "interval of text": (lambda d: d["verdicts"][0].update(interval=["a", "b"]), "verdicts[0].interval"),
    "interval as an object": (lambda d: d["verdicts"][0].update(interval={"a": 1}), "verdicts[0].interval"),
    "measurements as text": (lambda d: d.update(measurements="abc"), "measurements"),
    "verdicts as an object": (lambda d: d.update(verdicts={}), "verdicts"),
    "a measurement as a number": (lambda d: d["measurements"].append(3), "measurements["),
    "a pair measured three times": (lambda d: d["measurements"].append(dict(next(
        m for m in d["measurements"] if m["claim"] == "kat-slower-than-vit"))), "a pair has two sides"),
}


@pytest.mark.parametrize("name", list(V1_SHAPES))
def test_schema_1_files_of_the_wrong_shape_name_the_field(root: Path, tmp_path: Path, name: str) -> None:
    fix, field = V1_SHAPES[name]
    with pytest.raises(ResultError) as info:
        reading.load(_v1(root, tmp_path, fix))
    assert field in str(info.value) and str(tmp_path / "old.json") in str(info.value)


def test_a_seed_given_twice_is_refused(tmp_path: Path) -> None:
    data = _valid()
    seeded = dict(data["measurements"][0], noise="seeds", groups=[0] * len(data["measurements"][0]["samples"]))
    data["measurements"][0] = seeded
    (tmp_path / "s.json").write_text(json.dumps(data))
    with pytest.raises(ResultError, match="a seed appears twice"):
        reading.load(tmp_path / "s.json")


# --------------------------------------------------------------------------------------------
# Checkpoints (a killed process: tests/test_cli.py kills a real run)


def _pending(claim: str = "later") -> results.Verdict:
    return results.Verdict(claim, "speedup", "skipped", None, None, None, None, {"at_least": 1.5}, "q",
                           "the run stopped (its process was killed) before this claim finished")


def _checkpoint(tmp_path: Path, run_id: str = "20260101T000000Z-cpu-dead00") -> tuple[Path, Path]:
    """A checkpoint of a run that no longer exists, as its run left it."""
    folder = tmp_path / "toy"
    folder.mkdir(parents=True, exist_ok=True)
    path = checkpoints.checkpoint_path(folder, run_id)
    checkpoints.write_checkpoint(_result(run_id), [_pending()], path)
    return folder, path


def test_a_checkpoint_is_a_complete_interrupted_result_with_the_rest_skipped(tmp_path: Path) -> None:
    folder, path = _checkpoint(tmp_path)
    assert path == folder / ".20260101T000000Z-cpu-dead00.inprogress.json"
    data = reading.load(path)
    assert data["interrupted"] is True and [v["claim"] for v in data["verdicts"]] == ["c", "later"]
    assert data["verdicts"][1]["verdict"] == "skipped" and "killed" in data["verdicts"][1]["reason"]
    assert [p.name for p in folder.iterdir()] == [path.name]  # no temporary left behind
    checkpoints.write_checkpoint(_result("20260101T000000Z-cpu-dead00"), [], path)  # replaced, claim by claim
    assert [v["claim"] for v in reading.load(path)["verdicts"]] == ["c"]
    with pytest.raises(ResultError):
        checkpoints.checkpoint_path(folder, "../escape")


def test_a_checkpoint_whose_folder_was_replaced_during_the_run_is_a_warning(tmp_path: Path) -> None:
    folder = tmp_path / "toy"
    folder.mkdir()
    said: list[str] = []
    keep = checkpoints.Checkpointer(folder, said.append)
    keep(_result("20260101T000000Z-cpu-live00"), [])
    for leftover in folder.iterdir():
        leftover.unlink()
    folder.rmdir()
    folder.write_text("")  # the suite's folder became a file: nothing under it can be removed
    keep.close()
    assert len(said) == 2 and all("could not remove" in s and "the result is written" in s for s in said)


def test_a_dead_runs_checkpoint_is_promoted_once(tmp_path: Path) -> None:
    folder, path = _checkpoint(tmp_path)
    said: list[str] = []
    (promoted,) = checkpoints.recover_checkpoints(folder, said.append)
    assert promoted == folder / "20260101T000000Z-cpu-dead00.json" and not path.exists() and said == []
    assert reading.load(promoted)["interrupted"] is True and "_path" not in json.loads(promoted.read_text())
    assert sorted(p.name for p in folder.iterdir()) == [promoted.name]  # the lock is gone too
    assert checkpoints.recover_checkpoints(folder, said.append) == []


def test_a_live_runs_checkpoint_is_left_alone(tmp_path: Path) -> None:
    said: list[str] = []
    keep = checkpoints.Checkpointer(tmp_path / "toy", said.append)
    (tmp_path / "toy").mkdir()
    keep(_result("20260101T000000Z-cpu-live00"), [_pending()])
    assert keep.path is not None and keep.path.exists()
    assert checkpoints.recover_checkpoints(tmp_path / "toy", said.append) == [] and keep.path.exists()
    keep(_result("20260101T000000Z-cpu-live00"), [])  # the next claim finished: the same file, replaced
    assert len(reading.load(keep.path)["verdicts"]) == 1
    path = keep.path
    keep.close()
    assert not path.exists() and list((tmp_path / "toy").iterdir()) == [] and said == []


def test_a_finished_runs_leftover_checkpoint_is_not_a_second_result(tmp_path: Path) -> None:
    folder, path = _checkpoint(tmp_path)
    results.write(_result("20260101T000000Z-cpu-dead00"), tmp_path)  # killed after writing, before tidying
    assert checkpoints.recover_checkpoints(folder, print) == [] and not path.exists()
    assert [p.name for p in folder.iterdir()] == ["20260101T000000Z-cpu-dead00.json"]


def test_a_corrupt_checkpoint_is_moved_aside_and_runs_go_on(tmp_path: Path) -> None:
    folder, path = _checkpoint(tmp_path)
    path.write_text(path.read_text()[:100])  # truncated
    said: list[str] = []
    assert checkpoints.recover_checkpoints(folder, said.append) == []
    aside = folder / ".20260101T000000Z-cpu-dead00.inprogress.corrupt"
    assert aside.exists() and not path.exists() and "moved aside" in said[0] and str(aside) in said[0]


def test_a_checkpoint_that_cannot_be_written_is_a_warning(tmp_path: Path) -> None:
    said: list[str] = []
    keep = checkpoints.Checkpointer(tmp_path / "gone", said.append)  # a folder removed under the run
    keep(_result(), [])
    keep(_result(), [])
    assert len(said) == 1 and "the run goes on" in said[0] and str(tmp_path / "gone") in said[0]
    keep.close()


def test_a_checkpoint_of_another_suite_is_not_promoted_into_this_one(tmp_path: Path) -> None:
    folder = tmp_path / "toy"
    folder.mkdir()
    stray = checkpoints.checkpoint_path(folder, "20260101T000000Z-cpu-other0")
    checkpoints.write_checkpoint(_result("20260101T000000Z-cpu-other0", suite="elsewhere"), [_pending()], stray)
    said: list[str] = []
    assert checkpoints.recover_checkpoints(folder, said.append, "toy") == [] and stray.exists()
    assert "suite 'elsewhere', not 'toy'" in said[0]
    assert not list(folder.glob("2026*.json"))  # nothing written under this suite's name


def test_load_all_keeps_one_file_per_run_oldest_first_and_skips_hidden_ones(tmp_path: Path) -> None:
    """A copied file (the same run id) is named as a problem with both paths and skipped, and the
    files after it still load; the order is by creation time, not by name; a dot-file (a run's
    checkpoint) and the gate's baselines/ are not runs."""
    late = _result("20260101T000000Z-cpu-aaaaaa")
    late.created = "2026-03-01T00:00:00+00:00"
    early = _result("20260101T000000Z-cpu-bbbbbb")
    early.created = "2026-02-01T00:00:00+00:00"
    first = results.write(late, tmp_path)
    results.write(early, tmp_path)
    copy = tmp_path / "toy" / "20260101T000000Z-cpu-aaaaab.json"  # sorts between the two, after the original
    copy.write_text(first.read_text())
    later = _result("20260101T000000Z-cpu-cccccc")
    later.created = "2026-04-01T00:00:00+00:00"
    results.write(later, tmp_path)
    (tmp_path / "toy" / ".20260101T000000Z-cpu-dddddd.json").write_text(first.read_text().replace("aaaaaa", "dddddd"))
    (tmp_path / "baselines").mkdir()
    (tmp_path / "baselines" / "cpu.json").write_text(first.read_text().replace("aaaaaa", "eeeeee"))
    found, problems = reading.load_all(tmp_path)
    assert [r["run_id"][-6:] for r in found] == ["bbbbbb", "aaaaaa", "cccccc"]
    assert problems == [f"{copy}: run id 20260101T000000Z-cpu-aaaaaa is also the run id of {first}; skipped"]


def test_every_dead_runs_checkpoint_is_promoted_past_a_live_one(tmp_path: Path) -> None:
    """Checkpoints are looked at in name order: a live run's (first) is passed over, and both dead
    runs' after it are promoted, each with its lock removed; the live one's lock file is named
    after its checkpoint and stays."""
    said: list[str] = []
    keep = checkpoints.Checkpointer(tmp_path / "toy", said.append)
    (tmp_path / "toy").mkdir()
    keep(_result("20260101T000000Z-cpu-aaaaaa"), [_pending()])
    folder, _ = _checkpoint(tmp_path, "20260101T000000Z-cpu-bbbbbb")
    _checkpoint(tmp_path, "20260101T000000Z-cpu-cccccc")
    promoted = checkpoints.recover_checkpoints(folder, said.append, suite="toy")  # the folder's own suite
    assert [p.name for p in promoted] == ["20260101T000000Z-cpu-bbbbbb.json", "20260101T000000Z-cpu-cccccc.json"]
    assert sorted(p.name for p in folder.iterdir()) == [
        ".20260101T000000Z-cpu-aaaaaa.inprogress.json", ".20260101T000000Z-cpu-aaaaaa.inprogress.lock",
        "20260101T000000Z-cpu-bbbbbb.json", "20260101T000000Z-cpu-cccccc.json"]
    keep.close()
    assert said == [] and sorted(p.name for p in folder.iterdir()) == [p.name for p in promoted]


def test_a_checkpoint_whose_liveness_cannot_be_told_is_left_and_the_rest_promoted(tmp_path: Path) -> None:
    folder, first = _checkpoint(tmp_path, "20260101T000000Z-cpu-aaaaaa")
    _checkpoint(tmp_path, "20260101T000000Z-cpu-bbbbbb")
    (folder / ".20260101T000000Z-cpu-aaaaaa.inprogress.lock").mkdir()  # a lock that cannot be opened
    said: list[str] = []
    promoted = checkpoints.recover_checkpoints(folder, said.append)
    assert [p.name for p in promoted] == ["20260101T000000Z-cpu-bbbbbb.json"] and first.exists()
    assert len(said) == 1 and said[0].startswith(f"cannot tell whether the run of {first} is alive (")
    assert "Is a directory" in said[0] and said[0].endswith("; left as it is")
