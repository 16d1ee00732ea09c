"""Result files: atomic, never overwritten, and loaded defensively."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kbench import results
from kbench.errors import ResultError


def _result(run_id: str = "20260101T000000Z-cpu-abc123") -> results.Result:
    return results.Result(
        suite="toy", suite_file="suites/toy.toml", suite_sha256="0" * 64, run_id=run_id,
        created="2026-01-01T00:00:00+00:00", env={"gpu": "cpu", "git_commit": "abc"}, paper={"id": "toy"},
        measurements=[results.Measurement(claim="c", case={"shape": [2, 3]}, subject={"impl": "good"},
                                          metric="time_ms", summary={"median": 1.0}, samples=[1.0, 1.1])],
        verdicts=[results.Verdict("c", "speedup", "reproduced", 2.0, [1.8, 2.2], 2.0, 1.0, ">= 1.5", "q")],
    )


def test_write_then_load_round_trips(tmp_path: Path) -> None:
    path = results.write(_result(), tmp_path)
    assert path == tmp_path / "toy" / "20260101T000000Z-cpu-abc123.json"
    data = results.load(path)
    for key in ("suite", "run_id", "created", "env", "measurements", "verdicts"):
        assert key in data
    v = data["verdicts"][0]
    assert {"claim", "verdict", "measured", "interval", "paper_value", "reason"} <= set(v)
    assert list(path.parent.iterdir()) == [path], "no temporary file may remain"


def test_never_overwrites(tmp_path: Path) -> None:
    path = results.write(_result(), tmp_path)
    before = path.read_bytes()
    changed = _result()
    changed.verdicts[0].measured = 99.0
    with pytest.raises(ResultError, match="never overwritten"):
        results.write(changed, tmp_path)
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_nan_is_refused_not_written(tmp_path: Path) -> None:
    bad = _result()
    bad.verdicts[0].measured = float("nan")
    with pytest.raises(ValueError):
        results.write(bad, tmp_path)
    assert not list((tmp_path / "toy").glob("*.json"))


def test_truncated_and_foreign_files_are_reported_and_skipped(tmp_path: Path) -> None:
    good = results.write(_result(), tmp_path)
    (tmp_path / "toy" / "truncated.json").write_text(good.read_text()[:50])
    (tmp_path / "toy" / "future.json").write_text(json.dumps({"schema_version": 99}))
    found, problems = results.load_all(tmp_path)
    assert [r["run_id"] for r in found] == ["20260101T000000Z-cpu-abc123"]
    assert len(problems) == 2
    assert any("truncated.json" in p and "not valid JSON" in p for p in problems)
    assert any("future.json" in p and "schema_version 99" in p for p in problems)
    assert (tmp_path / "toy" / "truncated.json").read_text() == good.read_text()[:50], "never rewritten"


def test_tables(tmp_path: Path) -> None:
    results.write(_result(), tmp_path)
    found, _ = results.load_all(tmp_path)
    verdicts = results.verdict_table(found)
    assert verdicts.loc[0, "verdict"] == "reproduced" and verdicts.loc[0, "low"] == 1.8
    measurements = results.measurement_table(found)
    assert measurements.loc[0, "subject"] == "good" and measurements.loc[0, "case"] == "2x3"


def test_run_ids_do_not_collide() -> None:
    created = results.utc_now()
    assert results.new_run_id(created, "cpu") != results.new_run_id(created, "cpu")
