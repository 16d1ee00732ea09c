"""The result validator, field by field: each break of a valid file is refused with the message
that names its field and what was expected; the edges of each range are accepted."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kbench.result_schema import measurement_identity, validate
from tests.synthetic import make_result

Edit = Callable[[dict[str, Any]], None]


@pytest.fixture(scope="module")
def valid(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(make_result(tmp_path_factory.mktemp("r"), seed=1, rounds=2, n=3).read_text())
    validate(copy.deepcopy(data))  # the starting point is valid
    return data


def timed(d: dict[str, Any]) -> dict[str, Any]:
    return next(m for m in d["measurements"] if m["noise"] == "timing")


def seeded(d: dict[str, Any]) -> dict[str, Any]:
    return next(m for m in d["measurements"] if m["noise"] == "seeds")


def index(d: dict[str, Any], m: dict[str, Any]) -> int:
    return d["measurements"].index(m)


def set_(path: str, value: Any) -> Edit:
    """An edit setting d[path...] (dots between keys, numbers as list indices) to `value`."""
    def edit(d: dict[str, Any]) -> None:
        *head, last = [int(k) if k.isdigit() else k for k in path.split(".")]
        for k in head:
            d = d[k]
        d[last] = value
    return edit


def drop(path: str) -> Edit:
    def edit(d: dict[str, Any]) -> None:
        *head, last = [int(k) if k.isdigit() else k for k in path.split(".")]
        for k in head:
            d = d[k]
        del d[last]
    return edit


def largest(samples: list[float], tried: Any = None) -> Edit:
    """The timed measurement made a size-ratio side's: its largest size and every size tried."""
    def edit(d: dict[str, Any]) -> None:
        m = timed(d)
        m.update(metric="largest_size", unit="elements", better="higher", noise="exact", samples=samples,
                 groups=None, summary={"median": samples[0]})
        m["extra"] = {} if tried is None else {"tried": tried}
    return edit


def law_point(x: Any) -> Edit:
    def edit(d: dict[str, Any]) -> None:
        seeded(d)["extra"].update(law={"statistic": "last"}, x=x)
    return edit


REFUSED: list[tuple[str, Edit, str]] = [
    ("suite missing", drop("suite"), "suite: missing (expected a string)"),
    ("suite not text", set_("suite", 5), "suite: expected a string, got '5'"),
    ("shard a number", set_("shard", 5), "shard: expected a string or null, got '5'"),
    ("shard 0 of 2", set_("shard", "0/2"), "shard: expected i/N with 1 <= i <= N, got '0/2'"),
    ("shard 3 of 2", set_("shard", "3/2"), "shard: expected i/N with 1 <= i <= N, got '3/2'"),
    ("shard in three parts", set_("shard", "1/2/3"), "shard: expected i/N with 1 <= i <= N, got '1/2/3'"),
    ("env gpu a number", set_("env.gpu", 5), "env.gpu: expected a string or null, got '5'"),
    ("plan seed negative", set_("plan.seed", -1), "plan.seed: expected a whole number from 0 to 2**31 - 1, got '-1'"),
    ("suite a path", set_("suite", "../up"), "suite '../up' cannot be part of a path"),
    ("created not a date", set_("created", "yesterday"), "created: expected an ISO date and time, got 'yesterday'"),
    ("verdict claim missing", drop("verdicts.0.claim"), "verdicts[0].claim: missing (expected a string)"),
    ("verdict notes a string", set_("verdicts.0.notes", "a note"),
     "verdicts[0].notes: expected a list of strings, got 'a note'"),
    ("verdict n negative", set_("verdicts.0.n", -1), "verdicts[0].n: expected a count (0 or more), got '-1'"),
    ("rule flag not a flag", set_("verdicts.0.rule.of_paper", "yes"),
     "verdicts[0].rule.of_paper: expected true or false, got 'yes'"),
    ("verdict twice", lambda d: d["verdicts"].append(copy.deepcopy(d["verdicts"][0])),
     "verdicts[3].claim: 'speed' appears twice"),
    ("measurement metric missing", drop("measurements.1.metric"),
     "measurements[1].metric: missing (expected a string)"),
    ("replicate negative", set_("measurements.1.replicate", -1),
     "measurements[1].replicate: expected a master seed (0 to 2**31 - 1) or null, got '-1'"),
    ("measurement twice", lambda d: d["measurements"].append(copy.deepcopy(d["measurements"][1])),
     "measurements[4]: measures what measurements[1] measures"),
    ("claim without a verdict", set_("measurements.1.claim", "other"),
     "measurements[1].claim: 'other' has no verdict in the file"),
    ("group count", set_("measurements.0.groups", [0, 0]), "measurements[0].groups: 2 labels for 6 samples"),
    ("seed twice", lambda d: seeded(d).update(groups=[0, 0, 1, 2, 3]),
     "measurements[2].groups: a seed appears twice (one value per seed)"),
    ("ok with a missing sample", lambda d: timed(d)["samples"].__setitem__(0, None),
     "measurements[0].samples: an ok measurement needs finite samples"),
    ("ok without samples", lambda d: timed(d).update(samples=[], groups=[]),
     "measurements[0].samples: an ok measurement needs finite samples"),
    ("a time of zero", lambda d: timed(d)["samples"].__setitem__(0, 0.0), "measurements[0].samples: a time must be "
                                                                         "positive"),
    ("a value too large", lambda d: seeded(d)["samples"].__setitem__(0, 1.1e100),
     "measurements[2].samples: values beyond 1e100 or below 1e-100 in size are not measurements"),
    ("a value too small", lambda d: seeded(d)["samples"].__setitem__(0, 9e-101),
     "measurements[2].samples: values beyond 1e100"),
    ("a law that is not an object", lambda d: seeded(d)["extra"].update(law="power"),
     "measurements[2].extra.law: expected an object"),
    ("a law without a statistic", lambda d: seeded(d)["extra"].update(law={"forms": ["power"]}, x=2.0),
     "measurements[2].extra.law.statistic: one of slope, fit-advantage, last, param (got None)"),
    ("a law point at zero", law_point(0), "measurements[2].extra.x: expected the positive amount the point was "
                                          "measured at, got 0"),
    ("a law point at 1e300", law_point(1e300), "measurements[2].extra.x: expected the positive amount"),
    ("a law point that is a flag", law_point(True), "measurements[2].extra.x: expected the positive amount"),
    ("a law point that is text", law_point("8"), "measurements[2].extra.x: expected the positive amount"),
    ("an outside-limits mark that is not text", lambda d: timed(d)["extra"].update(outside_limits=5),
     "measurements[0].extra.outside_limits: expected a non-empty string, got '5'"),
    ("a measured case marked outside the limits", lambda d: timed(d)["extra"].update(outside_limits="too wide"),
     "measurements[0].extra.outside_limits: only a skipped measurement is outside the limits (this one is ok)"),
    ("an emulation mark that is empty", lambda d: timed(d)["extra"].update(emulated=""),
     "measurements[0].extra.emulated: expected a non-empty string, got ''"),
    ("a sweep point of text", lambda d: timed(d)["extra"].update(x="abc"),
     "measurements[0].extra.x: expected the sweep point, a whole number of at least 1, got 'abc'"),
    ("a sweep point of 0", lambda d: timed(d)["extra"].update(x=0),
     "measurements[0].extra.x: expected the sweep point, a whole number of at least 1, got 0"),
    ("a sweep point of true", lambda d: timed(d)["extra"].update(x=True),
     "measurements[0].extra.x: expected the sweep point, a whole number of at least 1, got True"),
    ("a largest size without its sizes", largest([64.0]),
     "measurements[0].extra.tried: expected [[size, outcome], ...], got 'None'"),
    ("a size tried of 0", largest([64.0], [[0, "ok"]]),
     "measurements[0].extra.tried: expected [[size, outcome], ...], got \"[[0, 'ok']]\""),
    ("a size tried without its outcome", largest([64.0], [[64]]),
     "measurements[0].extra.tried: expected [[size, outcome], ...]"),
    ("a largest size of 0", largest([0.0], [[1, "ok"]]),
     "measurements[0].samples: a largest size is a whole number of at least 1"),
]


@pytest.mark.parametrize(("edit", "message"), [(e, m) for _, e, m in REFUSED], ids=[n for n, _, _ in REFUSED])
def test_a_broken_field_is_refused_by_name(valid: dict[str, Any], edit: Edit, message: str) -> None:
    data = copy.deepcopy(valid)
    edit(data)
    with pytest.raises(ValueError) as exc:
        validate(data)
    assert str(exc.value).startswith(message)


ACCEPTED: list[tuple[str, Edit]] = [
    ("a sweep point of 1", lambda d: timed(d)["extra"].update(x=1)),
    ("a largest size of 1", largest([1.0], [[1, "ok"], [2, "raised"]])),
    ("shard 1 of 1", set_("shard", "1/1")),
    ("shard 2 of 2", set_("shard", "2/2")),
    ("no shard", set_("shard", None)),
    ("a gpu of null", set_("env.gpu", None)),
    ("no plan", drop("plan")),
    ("a skipped measurement without samples", lambda d: timed(d).update(status="skipped", samples=None, groups=None)),
    ("an error with a missing sample", lambda d: timed(d).update(status="error") or timed(d)["samples"].__setitem__(
        0, None)),
    ("values of 1e100, 1e-100, 0 and 1", lambda d: seeded(d).update(samples=[1e100, 1e-100, 0.0, 1.0, -1.0])),
    ("a law point at 1e-5", law_point(1e-5)),
    ("a law point just below 1e300", law_point(9.9e299)),
    ("a skipped case outside the limits", lambda d: timed(d).update(status="skipped", samples=None, groups=None,
                                                                   extra={"outside_limits": "too wide"})),
    ("an emulated timing", lambda d: timed(d)["extra"].update(emulated="Triton's interpreter")),
    ("measurements that differ only in role", lambda d: d["measurements"].append(dict(copy.deepcopy(
        d["measurements"][1]), role="candidate"))),
]


@pytest.mark.parametrize("edit", [e for _, e in ACCEPTED], ids=[n for n, _ in ACCEPTED])
def test_the_edges_of_each_range_are_accepted(valid: dict[str, Any], edit: Edit) -> None:
    data = copy.deepcopy(valid)
    edit(data)
    validate(data)


def test_a_file_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ValueError, match="^expected a JSON object at the top level$"):
        validate([1, 2])


def test_missing_groups_are_filled_as_their_noise_means(valid: dict[str, Any]) -> None:
    data = copy.deepcopy(valid)
    for m in data["measurements"]:
        m["groups"] = None
    validate(data)
    noise = {m["noise"]: m["groups"] for m in data["measurements"]}
    assert noise["timing"] == [0] * 6 and noise["seeds"] == [0, 1, 2, 3, 4] and noise["exact"] is None


def test_a_measurement_is_the_same_whatever_the_order_of_its_case_keys(valid: dict[str, Any]) -> None:
    m = copy.deepcopy(valid["measurements"][0])
    reordered = dict(m, case=dict(reversed(list(m["case"].items()))))
    assert measurement_identity(m) == measurement_identity(reordered)
    assert measurement_identity(m) != measurement_identity(dict(m, role="other"))
    assert measurement_identity(m) != measurement_identity(dict(m, replicate=3))
    data = copy.deepcopy(valid)
    data["measurements"].append(reordered)
    with pytest.raises(ValueError, match=r"measurements\[4\]: measures what measurements\[0\] measures"):
        validate(data)


def test_the_starting_file_is_the_synthetic_one(valid: dict[str, Any], tmp_path: Path) -> None:
    """A guard for the tables above: the indices they name hold what they say."""
    assert [m["noise"] for m in valid["measurements"]] == ["timing", "timing", "seeds", "exact"]
    assert [v["claim"] for v in valid["verdicts"]] == ["speed", "precise", "flops"]
    assert len(timed(valid)["samples"]) == 6 and index(valid, seeded(valid)) == 2
