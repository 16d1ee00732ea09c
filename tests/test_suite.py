"""Suite files: a bad one is refused with the file, the field and what was expected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kbench import claims, suite
from kbench.errors import SuiteError

GOOD = """
schema_version = 2
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
rule = { at_least = 1.5 }
"""


def _load(tmp_path: Path, text: str | bytes) -> claims.Suite:
    path = tmp_path / "s.toml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return suite.load(path)


def _error(tmp_path: Path, text: str | bytes) -> SuiteError:
    with pytest.raises(SuiteError) as info:
        _load(tmp_path, text)
    assert str(tmp_path / "s.toml") in str(info.value)
    return info.value


def test_good_suite_loads(tmp_path: Path) -> None:
    s = _load(tmp_path, GOOD)
    claim = s.claim("twice-as-fast")
    assert claim.kind == "speedup" and claim.rule.at_least == 1.5 and claim.combine == "geomean"
    assert claim.side("baseline").label == "good:fwd"
    assert claim.cases[0] == {"shape": [4, 8], "dtype": "float32"}
    assert s.sha256 and s.name == "toy"


@pytest.mark.slow
def test_shipped_suites_are_valid(root: Path) -> None:
    for path in sorted((root / "suites").glob("*.toml")):
        assert suite.load(path).claims, path


def test_syntax_error_names_the_file(tmp_path: Path) -> None:
    err = _error(tmp_path, GOOD.replace('title = "A toy paper"', "title = "))
    assert "valid TOML" in str(err)


def test_non_utf8_bytes_are_refused(tmp_path: Path) -> None:
    err = _error(tmp_path, GOOD.encode().replace(b"A toy paper", b"A toy \xff paper"))
    assert "UTF-8" in str(err)


@pytest.mark.parametrize(("old", "new", "field", "expected"), [
    ('kind = "speedup"', 'kind = "fastness"', "claims[0].kind", "one of speedup"),
    ('impl = "good", pass = "fwd" }\ncandidate', 'impl = "nope", pass = "fwd" }\ncandidate',
     "claims[0].baseline.impl", "an implementation of 'toy_scale'"),
    ('quote = "twice as fast"\n', "", "claims[0].quote", "string (the field is missing)"),
    ("paper_value = 2.0", 'paper_value = "two"', "claims[0].paper_value", "a number"),
    ("paper_value = 2.0", "paper_value = nan", "claims[0].paper_value", "a finite number"),
    ("paper_value = 2.0", "paper_value = inf", "claims[0].paper_value", "a finite number"),
    ("paper_value = 2.0", "paper_vaule = 2.0", "claims[0].paper_vaule", "one of the fields"),
    ('pass = "fwd" }\ncases', 'pass = "sideways" }\ncases', "claims[0].candidate.pass", "one of fwd, bwd"),
    ("shape = [4, 8]", "shape = [4, -8]", "claims[0].cases[0].shape[1]", "a number in 1 to"),
    ("shape = [4, 8]", "shape = [4, 8.5]", "claims[0].cases[0].shape[1]", "an integer"),
    ("shape = [4, 8]", "shape = [65536, 65536]", "claims[0].cases[0].shape", "at most 1073741824 elements"),
    ("shape = [4, 8]", "shape = []", "claims[0].cases[0].shape", "a list with in 1 to 6"),
    ('dtype = "float32"', 'dtype = "float8"', "claims[0].cases[0].dtype", "one of float32"),
    ("rule = { at_least = 1.5 }", "rule = { }", "claims[0].rule", "at least one of at_least"),
    ("rule = { at_least = 1.5 }", "rule = { at_least = nan }", "claims[0].rule.at_least", "a finite number"),
    ("rule = { at_least = 1.5 }", "rule = { at_least = 3, at_most = 2 }", "claims[0].rule", "at_least <= at_most"),
    ("rule = { at_least = 1.5 }", "pass = { at_least = 1.5 }", "claims[0].pass", "one of the fields"),
    ('operation = "toy_scale"', 'operation = "nonexistent"', "claims[0].operation", "an operation"),
    ('operation = "toy_scale"\n', "", "claims[0].operation", "the field is missing"),
    ("schema_version = 2", "schema_version = 9", "schema_version", "2 (this kbench's suite schema)"),
    ("schema_version = 2", "schema_version = 1", "schema_version", "is now `rule"),
    ('id = "twice-as-fast"', 'id = "bad[/]id"', "claims[0].id", "a string matching"),
    ('id = "toy"', 'id = "../../escape"', "paper.id", "a string matching"),
    ('id = "toy"', 'id = "a.."', "paper.id", "a string matching"),
    ("schema_version = 2", "schema_version = 2.0", "schema_version", "2 (this kbench's suite schema)"),
    ('quote = "twice as fast"', 'quote = "twice\\u0000 as fast"', "claims[0].quote", "without control characters"),
    ('rule = { at_least = 1.5 }', 'rule = { at_least = 1.5 }\nrequires = ["cuda", "cuda"]', "claims[0].requires",
     "without repeated entries"),
    ('rule = { at_least = 1.5 }', 'rule = { at_least = 1.5 }\noptions = { rounds = 100000000000 }',
     "claims[0].options.rounds", "a number in 1 to 100"),
    ('rule = { at_least = 1.5 }', 'rule = { at_least = 1.5 }\noptions = { cuda_graph = 1 }',
     "claims[0].options.cuda_graph", "a boolean"),
    ('rule = { at_least = 1.5 }', 'rule = { at_least = 1.5, of_paper = true }\nmax_slowdown = 2.0',
     "claims[0].max_slowdown", "a number in"),
    ('rule = { at_least = 1.5 }', 'rule = { at_least = 1.5 }\nrequires = ["quantum"]', "claims[0].requires",
     "entries from cuda"),
    ('rule = { at_least = 1.5 }', 'rule = { at_least = 1.5 }\ncombine = "median"', "claims[0].combine",
     "one of geomean"),
])
def test_bad_field_is_named(tmp_path: Path, old: str, new: str, field: str, expected: str) -> None:
    assert old in GOOD
    err = _error(tmp_path, GOOD.replace(old, new, 1))
    assert err.field == field, str(err)
    assert expected in str(err)


def test_deep_nesting_is_refused_not_a_traceback(tmp_path: Path) -> None:
    nested = "[" * 2000 + "]" * 2000
    err = _error(tmp_path, GOOD.replace('pass = "fwd" }\ncases', f'pass = "fwd" }}\nnotes = {nested}\ncases'))
    assert "nested" in str(err)


def test_a_pipe_or_folder_is_not_read(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    with pytest.raises(SuiteError, match="a regular file"):
        suite.load(fifo)
    with pytest.raises(SuiteError, match="a regular file"):
        suite.load(tmp_path)


RATIONAL = GOOD.replace('operation = "toy_scale"', 'operation = "rational"').replace(
    'impl = "good"', 'impl = "torch_reference"').replace("shape = [4, 8]", "shape = [4, 16]")


@pytest.mark.parametrize(("old", "new", "field"), [
    ("shape = [4, 16]", "shape = [37, 63]", "claims[0].cases[0].shape"),
    ("shape = [4, 16]", 'shape = [4, 16], layout = "diagonal"', "claims[0].cases[0].layout"),
])
def test_cases_the_operation_cannot_take_are_refused_at_load(tmp_path: Path, old: str, new: str, field: str) -> None:
    assert _load(tmp_path, RATIONAL).claims
    err = _error(tmp_path, RATIONAL.replace(old, new))
    assert err.field == field and "operation 'rational'" in str(err)


def test_numbers_are_bounded_by_what_a_kind_can_run(tmp_path: Path) -> None:
    text = GOOD.replace('kind = "speedup"', 'kind = "error-ratio"').replace(', pass = "fwd"', "")
    for seeds, ok in (("1", False), ("2", True), ("1000", True), ("1001", False), ("100000000000000000000", False)):
        body = text.replace("rule = {", f"options = {{ seeds = {seeds} }}\nrule = {{")
        if ok:
            assert _load(tmp_path, body).claims[0].options["seeds"] == int(seeds)
        else:
            assert _error(tmp_path, body).field in ("claims[0].options.seeds", "")


def test_integers_are_numbers_where_numbers_are_expected(tmp_path: Path) -> None:
    s = _load(tmp_path, GOOD.replace("rule = { at_least = 1.5 }", "rule = { at_least = 2 }\nmax_slowdown = 0.5"))
    assert s.claims[0].rule.at_least == 2.0 and isinstance(s.claims[0].rule.at_least, float)


def test_relative_rule_needs_a_paper_value(tmp_path: Path) -> None:
    text = GOOD.replace("paper_value = 2.0\n", "").replace("rule = { at_least = 1.5 }",
                                                          "rule = { at_least = 0.5, of_paper = true }")
    err = _error(tmp_path, text)
    assert err.field == "claims[0].rule.of_paper"
    case_value = text.replace('dtype = "float32" }', 'dtype = "float32", paper_value = 2.0 }')
    assert _load(tmp_path, case_value).claims[0].cases[0]["paper_value"] == 2.0


def test_duplicate_claim_ids_are_refused(tmp_path: Path) -> None:
    claim = GOOD[GOOD.index("[[claims]]"):]
    err = _error(tmp_path, GOOD + claim)
    assert err.field == "claims[1].id"
    shouting = claim.replace('id = "twice-as-fast"', 'id = "Twice-As-Fast"')
    assert _error(tmp_path, GOOD + shouting).field == "claims[1].id"  # one name on a case-blind disk
    assert len(_load(tmp_path, GOOD + claim.replace('id = "twice-as-fast"', 'id = "twice"')).claims) == 2


def test_a_byte_order_mark_is_not_part_of_the_toml(tmp_path: Path) -> None:
    assert _load(tmp_path, b"\xef\xbb\xbf" + GOOD.encode()).claims[0].id == "twice-as-fast"


MODEL = GOOD[:GOOD.index("[[claims]]")] + """
[[claims]]
id = "m"
kind = "train-speedup"
quote = "q"
baseline = { model = "kat", impl = "kbench_triton" }
candidate = { model = "vit" }
cases = [{ size = "tiny", batch = 8 }]
rule = { at_least = 1.0 }
"""


@pytest.mark.parametrize(("old", "new", "field", "expected"), [
    ('size = "tiny"', 'size = "huge"', "claims[0].cases[0].size", "a size of kat"),
    ('model = "vit" }', 'model = "vit", impl = "x" }', "claims[0].candidate.impl", "no impl"),
    ('model = "vit" }', 'model = "bert" }', "claims[0].candidate.model", "a model family"),
    ('impl = "kbench_triton"', 'impl = "nope"', "claims[0].baseline.impl", "an implementation of 'rational'"),
    ("batch = 8", "batch = 8, arch = { depth = 2, wings = 3 }", "claims[0].cases[0].arch.wings",
     "an architecture keyword"),
    ("batch = 8", 'batch = 8, arch = { depth = "deep" }', "claims[0].cases[0].arch.depth", "an int"),
    ("batch = 8", "batch = 0", "claims[0].cases[0].batch", "a number in 1 to"),
])
def test_model_claims_check_family_size_and_architecture(tmp_path: Path, old: str, new: str, field: str,
                                                          expected: str) -> None:
    assert old in MODEL
    err = _error(tmp_path, MODEL.replace(old, new, 1))
    assert err.field == field, str(err)
    assert expected in str(err)


def test_model_architecture_overrides_load(tmp_path: Path) -> None:
    s = _load(tmp_path, MODEL.replace("batch = 8", "batch = 8, arch = { depth = 2, img_size = 32 }"))
    assert s.claims[0].cases[0]["arch"] == {"depth": 2, "img_size": 32}


def test_cpu_cases_replace_cases_on_cpu(tmp_path: Path) -> None:
    s = _load(tmp_path, GOOD.replace("cases = [{ shape = [4, 8]", "cpu_cases = [{ shape = [2, 8], dtype = "
                                     '"float32" }]\ncases = [{ shape = [4, 8]'))
    claim = s.claims[0]
    assert claim.cases_for("cpu")[0]["shape"] == [2, 8]
    assert claim.cases_for("cuda")[0]["shape"] == [4, 8]


def test_json_schema_describes_every_kind(tmp_path: Path) -> None:
    schema = suite.json_schema()
    json.dumps(schema)  # serialisable
    kinds = [c["properties"]["kind"]["enum"][0] for c in schema["properties"]["claims"]["items"]["oneOf"]]
    assert sorted(kinds) == sorted(suite.KINDS)
    speedup = next(c for c in schema["properties"]["claims"]["items"]["oneOf"]
                   if c["properties"]["kind"]["enum"] == ["speedup"])
    assert {"baseline", "candidate", "rule", "cases", "operation"} <= set(speedup["required"])
    shape = speedup["properties"]["cases"]["items"]["properties"]["shape"]
    assert shape["items"] == {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
    case = speedup["properties"]["cases"]["items"]
    assert {"window", "dilation", "sparsity", "layout"} <= set(case["properties"])  # the operations' own fields
    assert case["additionalProperties"] is False  # a misspelt field is caught in the editor too


def test_shipped_suites_satisfy_the_json_schema(root: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    import tomllib

    schema = suite.json_schema()
    for path in sorted((root / "suites").glob("*.toml")):
        jsonschema.validate(tomllib.loads(path.read_text()), schema)
