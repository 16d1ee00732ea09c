"""Schema 1 -> 2 on hand-made files: every field the migration writes, each metric's noise model,
a pair's sides by the order schema 1 wrote them, the stored rule text, the old verdict kept in the
notes, and a file whose stored value its own samples contradict refused."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kbench import migration

CASE = {"shape": [4, 8], "dtype": "float32"}


def measurement(claim: str, metric: str, samples: list[float] | None, case: dict[str, Any] | None = None,
                **more: Any) -> dict[str, Any]:
    return {"claim": claim, "metric": metric, "case": dict(case or CASE), "subject": {"impl": "k"},
            "samples": samples, "status": "ok", "summary": {"median": samples[len(samples) // 2] if samples else None},
            **more}


def verdict(claim: str, kind: str, measured: float | None, rule: str = ">= 1.5", verdict: str = "reproduced",
            interval: list[float] | None = None, **more: Any) -> dict[str, Any]:
    return {"claim": claim, "kind": kind, "verdict": verdict, "measured": measured, "interval": interval,
            "rule": rule, "quote": "q", **more}


def v1(measurements: list[dict[str, Any]], verdicts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schema_version": 1, "suite": "toy", "suite_file": "suites/toy.toml", "suite_sha256": "0" * 64,
            "run_id": "20260101T000000Z-cpu-000001", "created": "2026-01-01T00:00:00", "env": {"gpu": "cpu"},
            "paper": {"id": "toy"}, "measurements": measurements, "verdicts": verdicts}


def test_rule_text_becomes_rule_data() -> None:
    assert migration.parse_rule_text(">= 2") == {"at_least": 2.0, "at_most": None, "of_paper": False, "text": ">= 2"}
    assert migration.parse_rule_text("<= 1e-06") == {"at_least": None, "at_most": 1e-6, "of_paper": False,
                                                     "text": "<= 1e-06"}
    both = migration.parse_rule_text(">= 1 and <= 1")  # a point is a range, not an empty one
    assert (both["at_least"], both["at_most"]) == (1.0, 1.0)
    with pytest.raises(ValueError, match="empty range"):
        migration.parse_rule_text(">= 1.0001 and <= 1")
    with pytest.raises(ValueError, match="same side twice"):
        migration.parse_rule_text("<= 1 and <= 2")


@pytest.mark.parametrize(("metric", "samples", "want"), [
    ("time_ms", [1.0, 2.0, 3.0], {"unit": "ms", "better": "lower", "noise": "timing", "groups": [0, 0, 0],
                                  "device_independent": False}),
    ("step_ms", [5.0], {"unit": "ms", "better": "lower", "noise": "timing", "groups": [0],
                        "device_independent": False}),
    ("flops", [7.0], {"unit": "FLOPs", "better": "none", "noise": "exact", "groups": None, "device_independent": True}),
    ("bitwise_equal", [1.0], {"unit": "share", "better": "higher", "noise": "exact", "groups": None,
                              "device_independent": False}),
    ("share", [0.5, 0.6], {"unit": "share", "better": "none", "noise": "timing", "groups": [0, 0],
                           "device_independent": False}),
    ("rel_err_dA", [1e-7, 2e-7, 3e-7], {"unit": "relative", "better": "lower", "noise": "seeds", "groups": [0, 1, 2],
                                        "device_independent": False}),
    ("mystery", [1.0], {"unit": "", "better": "none", "noise": "timing", "groups": [0], "device_independent": False}),
    ("time_ms", None, {"unit": "ms", "better": "lower", "noise": "timing", "groups": [], "device_independent": False}),
])
def test_each_metric_gets_its_unit_direction_noise_and_groups(metric: str, samples: list[float] | None,
                                                               want: dict[str, Any]) -> None:
    out = migration.migrate_v1(v1([measurement("c", metric, samples)], [verdict("c", "max-error", None,
                                                                                 verdict="skipped")]))
    m = out["measurements"][0]
    assert {k: m[k] for k in want} == want and m["role"] == "subject" and m["samples"] == samples


def test_a_pairs_sides_are_its_first_and_second_measurement_per_case_and_metric() -> None:
    """The same case written with its keys in another order is the same case."""
    reordered = {"dtype": "float32", "shape": [4, 8]}
    ms = [measurement("p", "time_ms", [2.0]), measurement("p", "time_ms", [1.0], case=reordered),
          measurement("p", "time_ms", [4.0], case={"shape": [8, 8]}), measurement("q", "rel_err_y", [1.0, 1.0]),
          measurement("p", "time_ms", [2.0], case={"shape": [8, 8]})]
    out = migration.migrate_v1(v1(ms, [verdict("p", "speedup", 2.0), verdict("q", "max-error", 1.0, "<= 2")]))
    assert [m["role"] for m in out["measurements"]] == ["baseline", "candidate", "baseline", "subject", "candidate"]


def test_the_file_is_schema_2_with_the_old_verdict_in_the_notes() -> None:
    data = v1([measurement("p", "time_ms", [2.0]), measurement("p", "time_ms", [1.0])],
              [verdict("p", "speedup", 2.0, interval=[1.9, 2.1]), verdict("e", "speedup", None, verdict="error",
                                                                           reason="wrong output")])
    before = copy.deepcopy(data)
    out = migration.migrate_v1(data)
    assert data == before  # the file as read is not changed
    assert (out["schema_version"], out["plan"], out["provenance"], out["nonfinite"]) == (2, {"migrated_from_schema": 1},
                                                                                         {}, [])
    judged, kept = out["verdicts"]
    assert judged["measured"] == pytest.approx(2.0) and judged["verdict"] == "inconclusive"  # one round: no interval
    assert judged["notes"][-1] == "schema 1 verdict: reproduced (2, within-run interval [1.9, 2.1])"
    assert judged["rule"] == {"at_least": 1.5, "at_most": None, "of_paper": False, "text": ">= 1.5"}
    assert kept == {**data["verdicts"][1], "rule": {"at_least": 1.5, "at_most": None, "of_paper": False,
                                                    "text": ">= 1.5"},
                    "combine": "", "unit": "", "n": 0, "notes": ["schema 1 verdict: error"]}


@pytest.mark.parametrize(("change", "why"), [
    ({"kind": "no-such-kind"}, "kind 'no-such-kind' is unknown to this kbench"),
    ({"claim": "nothing-measured"}, "no usable measurements in the file"),
])
def test_a_verdict_that_cannot_be_judged_again_is_inconclusive_saying_why(change: dict[str, Any], why: str) -> None:
    ms = [measurement("p", "time_ms", [2.0]), measurement("p", "time_ms", [1.0], status="skipped")]
    out = migration.migrate_v1(v1(ms, [{**verdict("p", "speedup", 2.0), **change}]))
    (v,) = out["verdicts"]
    assert (v["verdict"], v["measured"], v["interval"], v["ratio_to_paper"], v["per_case"]) == (
        "inconclusive", None, None, None, [])
    assert v["reason"] == f"schema 1 file re-judged: {why}" and v["notes"] == ["schema 1 verdict: reproduced"]


@pytest.mark.parametrize(("stored", "base", "cand", "refused"), [
    (2.0, 2.0, 1.0, False),
    (1.0, 2.0, 1.0, False),   # exactly 2x off: still taken
    (1.0, 2.9, 1.0, True),    # more than 2x off
    (0.5, 2.0, 1.0, True),    # the inverse: sides swapped
    (0.9, 0.3, 1.0, True),    # below 1 on both: still compared
    (0.3, 0.9, 1.0, True),
    (-1.0, 2.0, 1.0, False),  # no positive stored value: nothing to compare
    (0.0, 2.0, 1.0, False),
    (None, 2.0, 1.0, False),
])
def test_a_stored_value_its_own_samples_contradict_is_refused(stored: float | None, base: float, cand: float,
                                                              refused: bool) -> None:
    data = v1([measurement("p", "time_ms", [base]), measurement("p", "time_ms", [cand])],
              [verdict("p", "speedup", stored)])
    if refused:
        with pytest.raises(ValueError, match=r"verdicts\[0\]\.measured: .* stored, but the file's samples give"):
            migration.migrate_v1(data)
    else:
        assert migration.migrate_v1(data)["verdicts"][0]["measured"] == pytest.approx(base / cand)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d.pop("suite_file"), "suite_file: missing (expected a string)"),
    (lambda d: d["verdicts"][0].pop("interval"), "verdicts[0].interval: missing (expected [low, high] or null)"),
    (lambda d: d["verdicts"][0].update(kind=3), "verdicts[0].kind: expected a string, got '3'"),
    (lambda d: d["measurements"][0].update(status="fine"), "measurements[0].status: expected ok, skipped or error"),
    (lambda d: d["verdicts"][0].pop("rule"), "verdicts[0].rule: missing (schema 1 stores the rule as text"),
])
def test_a_broken_file_is_refused_naming_the_field(edit: Any, message: str) -> None:
    data = v1([measurement("p", "time_ms", [2.0]), measurement("p", "time_ms", [1.0])],
              [verdict("p", "speedup", 2.0)])
    edit(data)
    with pytest.raises(ValueError) as exc:
        migration.migrate_v1(data)
    assert str(exc.value).startswith(message)


def test_a_measurement_needs_only_what_the_migration_reads() -> None:
    """Schema 1 measurements may lack a case or a subject (only verdicts must be complete)."""
    m = measurement("p", "flops", [3.0])
    del m["subject"], m["case"]
    out = migration.migrate_v1(v1([m], [verdict("p", "max-error", None, verdict="skipped")]))
    assert out["measurements"][0]["device_independent"] is True


def test_a_judged_again_verdict_keeps_the_claims_quote_paper_value_and_kind_combine() -> None:
    """Re-judged with the stored quote and paper value (its ratio to the paper follows), the kind's
    own way of combining cases (max-error: the worst), and the run's peaks (bandwidth claims)."""
    err = [measurement("e", "rel_err_y", [1e-7, 2e-7, 3e-7], case={"shape": [1]}),
           measurement("e", "rel_err_y", [1e-6, 2e-6, 3e-6], case={"shape": [2]})]
    timing = [measurement("s", "time_ms", [2.0, 2.0]), measurement("s", "time_ms", [1.0, 1.0])]
    data = v1(err + timing, [verdict("e", "max-error", 3e-6, "<= 1e-5", quote="as precise"),
                             verdict("s", "speedup", 2.0, "<= 1e3", paper_value=4.0),
                             verdict("k", "speedup", None, verdict="skipped", reason="needs CUDA")])
    e, s, k = migration.migrate_v1(data)["verdicts"]
    assert e["quote"] == "as precise" and e["combine"] == "worst" and e["measured"] == pytest.approx(3e-6)
    assert s["paper_value"] == 4.0 and s["ratio_to_paper"] == pytest.approx(0.5)
    assert k["verdict"] == "skipped" and k["reason"] == "needs CUDA"


def test_a_bandwidth_claim_is_judged_again_against_the_files_own_copy_peak() -> None:
    m = measurement("b", "time_ms", [1.0, 1.0, 1.0], extra={"bytes": 10**9})
    data = {**v1([m], [verdict("b", "bandwidth-fraction", 0.5, ">= 0.1")]), "peaks": {"copy_gbps": 2000.0}}
    (b,) = migration.migrate_v1(data)["verdicts"]
    assert b["measured"] == pytest.approx(0.5)  # 1 GB in 1 ms = 1000 GB/s, half the copy's 2000
    (none,) = migration.migrate_v1({**data, "peaks": {}})["verdicts"]
    assert none["measured"] is None and "no copy bandwidth" in none["reason"]


def test_a_verdict_without_a_quote_is_judged_again_with_an_empty_one() -> None:
    v = verdict("s", "speedup", 2.0)
    del v["quote"]
    (judged,) = migration.migrate_v1(v1([measurement("s", "time_ms", [2.0]), measurement("s", "time_ms", [1.0])],
                                        [v]))["verdicts"]
    assert judged["quote"] == ""
