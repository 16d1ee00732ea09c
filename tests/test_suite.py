"""Suite files: a bad one is refused with the file, the field and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from kbench import suite
from kbench.errors import SuiteError

GOOD = """
schema_version = 1
[paper]
id = "toy"
title = "A toy paper"

[[claims]]
id = "twice-as-fast"
kind = "speedup"
quote = "twice as fast"
paper_value = 2.0
operation = "toy_scale"
baseline = { impl = "good", pass = "fwd" }
candidate = { impl = "good", pass = "fwd" }
cases = [{ shape = [4, 8], dtype = "float32" }]
pass = { at_least = 1.5 }
"""


def _load(tmp_path: Path, text: str) -> suite.Suite:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return suite.load(path)


def _error(tmp_path: Path, text: str) -> SuiteError:
    with pytest.raises(SuiteError) as info:
        _load(tmp_path, text)
    assert str(tmp_path / "s.toml") in str(info.value)
    return info.value


def test_good_suite_loads(tmp_path: Path) -> None:
    s = _load(tmp_path, GOOD)
    claim = s.claim("twice-as-fast")
    assert claim.kind == "speedup" and claim.rule.at_least == 1.5
    assert claim.baseline is not None and claim.baseline.label == "good:fwd"
    assert s.sha256 and s.name == "toy"


def test_shipped_suites_are_valid(root: Path) -> None:
    for path in sorted((root / "suites").glob("*.toml")):
        assert suite.load(path).claims, path


def test_syntax_error_names_the_file(tmp_path: Path) -> None:
    err = _error(tmp_path, GOOD.replace('title = "A toy paper"', "title = "))
    assert "valid TOML" in str(err)


@pytest.mark.parametrize(("old", "new", "field", "expected"), [
    ('kind = "speedup"', 'kind = "fastness"', "claims[0].kind", "one of speedup"),
    ('impl = "good", pass = "fwd" }\ncandidate', 'impl = "nope", pass = "fwd" }\ncandidate',
     "claims[0].baseline.impl", "an implementation of 'toy_scale'"),
    ('quote = "twice as fast"\n', "", "claims[0].quote", "string (the field is missing)"),
    ("paper_value = 2.0", 'paper_value = "two"', "claims[0].paper_value", "integer or number"),
    ("paper_value = 2.0", "paper_vaule = 2.0", "claims[0].paper_vaule", "one of the fields"),
    ('pass = "fwd" }\ncases', 'pass = "sideways" }\ncases', "claims[0].candidate.pass", "one of fwd, bwd"),
    ("shape = [4, 8]", "shape = [4, -8]", "claims[0].cases[0].shape", "positive integers"),
    ('dtype = "float32"', 'dtype = "float8"', "claims[0].cases[0].dtype", "one of float32"),
    ("pass = { at_least = 1.5 }", "pass = { }", "claims[0].pass", "at least one of at_least"),
    ('operation = "toy_scale"', 'operation = "nonexistent"', "claims[0].operation", "an operation"),
    ("schema_version = 1", "schema_version = 9", "schema_version", "1 (this kbench's suite schema)"),
])
def test_bad_field_is_named(tmp_path: Path, old: str, new: str, field: str, expected: str) -> None:
    assert old in GOOD
    err = _error(tmp_path, GOOD.replace(old, new, 1))
    assert err.field == field, str(err)
    assert expected in str(err)


def test_duplicate_claim_ids_are_refused(tmp_path: Path) -> None:
    claim = GOOD[GOOD.index("[[claims]]"):]
    err = _error(tmp_path, GOOD + claim)
    assert err.field == "claims[1].id"


def test_model_claim_checks_the_family_and_size(tmp_path: Path) -> None:
    text = GOOD[:GOOD.index("[[claims]]")] + """
[[claims]]
id = "m"
kind = "train-speedup"
quote = "q"
baseline = { model = "kat", impl = "kbench_triton" }
candidate = { model = "vit" }
cases = [{ size = "huge", batch = 8 }]
pass = { at_least = 1.0 }
"""
    err = _error(tmp_path, text)
    assert "has size 'huge'" in str(err)
    err = _error(tmp_path, text.replace('"huge"', '"tiny"').replace('model = "vit"', 'model = "vit", impl = "x"'))
    assert err.field == "claims[0].candidate.impl"


def test_cpu_cases_replace_cases_on_cpu(tmp_path: Path) -> None:
    s = _load(tmp_path, GOOD.replace("cases = [{ shape = [4, 8]", "cpu_cases = [{ shape = [2, 8], dtype = "
                                     '"float32" }]\ncases = [{ shape = [4, 8]'))
    claim = s.claims[0]
    assert claim.cases_for("cpu")[0]["shape"] == [2, 8]
    assert claim.cases_for("cuda")[0]["shape"] == [4, 8]
