"""Suite files: one TOML file per paper, parsed once into typed, validated objects.

A bad file is refused with its path, the field and what was expected (`SuiteError`), never a
traceback. Validation runs in two steps: the shape of the file (fields, types, bounds, known
claim kinds; every field is read through a `Param` that the claim's kind declares), then its
references (operations, implementations and model families registered under `kernels/`), so that
a typo in an implementation name is caught before anything runs. `json_schema()` describes the
same fields for editors.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kbench import registry
from kbench.claims import Claim, Paper, Subject, Suite
from kbench.errors import SuiteError
from kbench.kinds import KINDS
from kbench.kinds.base import Kind
from kbench.params import Param, object_schema, read_table
from kbench.verdicts import Rule

SCHEMA_VERSION = 2
REQUIREMENTS = ("cuda", "triton", "nvcc")
COMBINES = ("geomean", "mean", "sampled-geomean", "sampled-mean", "worst", "each")
ID_PATTERN = r"(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._-]{0,127}"  # also a folder or file name: no '..'
MAX_ELEMENTS = 2**30  # a kernel case's elements: beyond this no device here holds its float64 reference

PAPER_FIELDS = {
    "id": Param(str, "the suite's name; results go to results/<id>/", required=True, pattern=ID_PATTERN),
    "title": Param(str, "the paper's title", required=True),
    "arxiv": Param(str, "arXiv id"),
    "url": Param(str, "where the paper or its code lives"),
    "extras": Param(list, "kbench's optional dependency groups its implementations need (the authors' packages); "
                          "the suite's nox session installs them", item=str, high=8),
}
RULE_FIELDS = {
    "at_least": Param(float, "the whole 95% interval must be at least this"),
    "at_most": Param(float, "the whole 95% interval must be at most this"),
    "of_paper": Param(bool, "the bounds are multiples of the paper's value", default=False),
}
CLAIM_FIELDS = {
    "id": Param(str, "unique in the file", required=True, pattern=ID_PATTERN),
    "kind": Param(str, "what is measured", required=True, choices=tuple(KINDS)),
    "quote": Param(str, "the paper's sentence", required=True),
    "paper_value": Param(float, "the paper's number for the claim as a whole"),
    "paper_source": Param(str, "where the paper's number comes from (abstract, a table, a secondary summary)"),
    "paper_conditions": Param(str, "the conditions of the paper's number (model, batch, GPU)"),
    "operation": Param(str, "an operation under kernels/ (kernel kinds)"),
    "requires": Param(list, "what the claim needs to run", item=str, high=8),
    "combine": Param(str, "how cases make the claim's value", choices=COMBINES),
    "max_slowdown": Param(float, "the gate's minimum slowdown for this claim's timings", low=1e-6, high=0.999999),
    "notes": Param(str, "how the claim is read"),
}
TABLES = frozenset({"baseline", "candidate", "subject", "cases", "cpu_cases", "rule", "options"})


# --------------------------------------------------------------------------------------------
# Step 1: the shape of the file


def _parse_rule(data: Any, path: str, where: str) -> Rule:
    raw = read_table(data, RULE_FIELDS, path, where)
    lo, hi = raw.get("at_least"), raw.get("at_most")
    if lo is None and hi is None:
        raise SuiteError(path, where, "at least one of at_least, at_most")
    if lo is not None and hi is not None and lo > hi:
        raise SuiteError(path, where, "at_least <= at_most", f"{lo} > {hi}")
    return Rule(lo, hi, bool(raw.get("of_paper", False)))


def _parse_cases(data: Mapping[str, Any], key: str, kind: Kind, path: str, where: str
                 ) -> tuple[dict[str, Any], ...] | None:
    if key not in data:
        return None
    raw = data[key]
    loc = f"{where}.{key}"
    if not isinstance(raw, list) or not raw:
        raise SuiteError(path, loc, "a non-empty list of cases", raw if not isinstance(raw, list) else "[]")
    if len(raw) > 256:
        raise SuiteError(path, loc, "at most 256 cases", len(raw))
    cases = []
    for i, c in enumerate(raw):
        # A kernel kind's case may hold its operation's own fields: kept as given, checked in step 2
        own = frozenset(c) - set(kind.case_params) if kind.needs_operation and isinstance(c, Mapping) else frozenset()
        case = read_table(c, kind.case_params, path, f"{loc}[{i}]", extra=own)
        case.update((key, c[key]) for key in own)
        if "shape" in case and math.prod(case["shape"]) > MAX_ELEMENTS:
            raise SuiteError(path, f"{loc}[{i}].shape", f"at most {MAX_ELEMENTS} elements", case["shape"])
        cases.append(case)
    return tuple(cases)


def _parse_claim(data: Any, path: str, where: str) -> Claim:
    if not isinstance(data, Mapping):
        raise SuiteError(path, where, "a table", type(data).__name__)
    top = read_table(data, CLAIM_FIELDS, path, where, extra=TABLES)
    kind = KINDS[top["kind"]]
    for other in {"baseline", "candidate", "subject"} - set(kind.sides):
        if other in data:
            raise SuiteError(path, f"{where}.{other}", f"no {other} for kind {kind.name!r} (it takes "
                             f"{' and '.join(kind.sides)})")
    sides = {}
    for role in kind.sides:
        if role not in data:
            raise SuiteError(path, f"{where}.{role}", "a table (the field is missing)")
        sides[role] = Subject(read_table(data[role], kind.side_params, path, f"{where}.{role}"))
    if kind.needs_operation and "operation" not in top:
        raise SuiteError(path, f"{where}.operation", "an operation under kernels/ (the field is missing)")
    if not kind.needs_operation and "operation" in top:
        raise SuiteError(path, f"{where}.operation", f"no operation: kind {kind.name!r} measures models, not an "
                         "operation under kernels/", top["operation"])
    for need in top.get("requires", []):
        if need not in REQUIREMENTS:
            raise SuiteError(path, f"{where}.requires", f"entries from {', '.join(REQUIREMENTS)}", need)
    if "rule" not in data:
        raise SuiteError(path, f"{where}.rule", "a table such as { at_least = 2.0 } (the field is missing)")
    cases = _parse_cases(data, "cases", kind, path, where)
    if cases is None:
        raise SuiteError(path, f"{where}.cases", "a non-empty list of cases (the field is missing)")
    claim = Claim(
        id=top["id"], kind=kind.name, quote=top["quote"], rule=_parse_rule(data["rule"], path, f"{where}.rule"),
        cases=cases, sides=sides, cpu_cases=_parse_cases(data, "cpu_cases", kind, path, where),
        paper_value=top.get("paper_value"), paper_source=top.get("paper_source", ""),
        paper_conditions=top.get("paper_conditions", ""), operation=top.get("operation"),
        requires=tuple(top.get("requires", [])),
        options=read_table(data.get("options", {}), kind.options, path, f"{where}.options"),
        combine=top.get("combine", kind.combine), max_slowdown=top.get("max_slowdown"), notes=top.get("notes", ""),
    )
    if claim.rule.of_paper and claim.paper_value is None and not any("paper_value" in c for c in claim.cases):
        raise SuiteError(path, f"{where}.rule.of_paper", "a paper_value on the claim or on a case to be relative to")
    return claim


def parse(text: str, path: str) -> Suite:
    """Parse and check the shape of a suite file's text (no registry lookups)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(path, "", "valid TOML", str(exc)) from None
    except RecursionError:
        raise SuiteError(path, "", "TOML nested to a sane depth", "values nested too deeply to read") from None
    version = data.get("schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:
        hint = " (schema 1: the verdict rule `pass = {...}` is now `rule = {...}`)" if version == 1 else ""
        raise SuiteError(path, "schema_version", f"{SCHEMA_VERSION} (this kbench's suite schema){hint}", version)
    for key in data:
        if key not in ("schema_version", "paper", "claims"):
            raise SuiteError(path, key, "one of the fields ['claims', 'paper', 'schema_version']", "an unknown field")
    paper = Paper(**read_table(data.get("paper"), PAPER_FIELDS, path, "paper"))
    raw_claims = data.get("claims")
    if not isinstance(raw_claims, list) or not raw_claims:
        raise SuiteError(path, "claims", "at least one [[claims]] table")
    claims = tuple(_parse_claim(c, path, f"claims[{i}]") for i, c in enumerate(raw_claims))
    seen: set[str] = set()
    for i, c in enumerate(claims):  # ids differing only in case would collide in file names and filters
        if c.id.casefold() in seen:
            raise SuiteError(path, f"claims[{i}].id", "a claim id used once in the file (letter case aside)", c.id)
        seen.add(c.id.casefold())
    return Suite(path, paper, claims, hashlib.sha256(text.encode()).hexdigest())


# --------------------------------------------------------------------------------------------
# Step 2: references to what kernels/ registers


def load_kernels() -> None:
    for package in registry.available_packages():
        registry.load_package(package)


def _known_extras() -> tuple[str, ...] | None:
    """kbench's optional dependency groups: from the source tree's pyproject.toml where kbench runs
    from one (its installed metadata may predate an edit), else as installed; None if neither says."""
    import importlib.metadata

    source = Path(__file__).resolve().parent.parent / "pyproject.toml"
    if source.is_file():
        return tuple(tomllib.loads(source.read_text())["project"].get("optional-dependencies", {}))
    try:
        return tuple(importlib.metadata.metadata("kbench").get_all("Provides-Extra") or ())
    except importlib.metadata.PackageNotFoundError:
        return None


def check_references(suite: Suite) -> None:
    """Every operation, implementation and model family a claim names must be registered, and
    every optional dependency group the paper names must be one of kbench's."""
    known = _known_extras()
    for extra in suite.paper.extras:
        if known is not None and extra not in known:
            raise SuiteError(suite.path, "paper.extras", f"kbench's optional dependency groups ({', '.join(known)})",
                             extra)
    load_kernels()
    for i, claim in enumerate(suite.claims):
        where = f"claims[{i}]"
        kind = KINDS[claim.kind]
        if claim.operation is not None:
            if claim.operation not in registry.operations():
                raise SuiteError(suite.path, f"{where}.operation",
                                 f"an operation under kernels/ ({', '.join(registry.operations()) or 'none'})",
                                 claim.operation)
            op = registry.operation(claim.operation)
            _check_cases(suite.path, where, claim, op)
            for role, subject in claim.sides.items():
                _check_side(suite.path, f"{where}.{role}", claim, subject, op)
            names = (op.output_name, *op.grad_names)
            for g in claim.options.get("grads") or ():
                if g not in names:
                    raise SuiteError(suite.path, f"{where}.options.grads",
                                     f"output and gradient names of {claim.operation!r} ({', '.join(names)})", g)
        kind.check_references(claim, suite.path, where)


def _check_side(path: str, where: str, claim: Claim, subject: Subject, op: registry.Operation) -> None:
    """A side's own operation (if it names one), its implementation and its pass, against the registry."""
    own = subject.fields.get("operation")
    if own is not None:
        if own not in registry.operations():
            known = ", ".join(registry.operations())
            raise SuiteError(path, f"{where}.operation", f"an operation under kernels/ ({known})", own)
        op = registry.operation(own)
        _check_cases(path, where.rsplit(".", 1)[0], claim, op)
    if subject.impl is not None:
        registry.check_impl(path, f"{where}.impl", op.name, subject.impl)
    if subject.pass_ in ("bwd", "fwd+bwd") and not op.grad_names:
        raise SuiteError(path, f"{where}.pass", f"fwd (operation {op.name!r} is forward only: it has no gradients)",
                         subject.pass_)


def _check_cases(path: str, where: str, claim: Claim, op: registry.Operation) -> None:
    """Each case's fields against those the operation declares (a field it does not declare would
    be silently ignored), then the cases it cannot take (a width its groups do not divide)."""
    fields = {**KINDS[claim.kind].case_params, **op.case_fields}
    for key, cases in (("cases", claim.cases), ("cpu_cases", claim.cpu_cases or ())):
        for i, case in enumerate(cases):
            try:  # read through the Params: an integer where a float is declared becomes one (sparsity = 0)
                case.update(read_table(case, fields, path, f"{where}.{key}[{i}]"))  # type: ignore[attr-defined]
            except SuiteError as exc:
                raise SuiteError(path, exc.field, f"{exc.expected} (operation {op.name!r})", exc.got) from None
            problem = op.check_case(case) if op.check_case is not None else None
            if problem is not None:
                field, expected, got = problem
                raise SuiteError(path, f"{where}.{key}[{i}].{field}", f"{expected} (operation {op.name!r})", got)


def load(path: str | Path) -> Suite:
    """Read, parse and check a suite file; raises SuiteError naming the file and field."""
    p = Path(path)
    if p.exists() and not p.is_file():
        raise SuiteError(str(path), "", "a regular file", "a folder, a pipe or a device")
    try:
        text = p.read_bytes().decode("utf-8-sig")  # a byte-order mark (some Windows editors) is not TOML
    except OSError as exc:
        raise SuiteError(str(path), "", "a readable suite file", exc.strerror) from None
    except UnicodeDecodeError as exc:
        raise SuiteError(str(path), "", "a UTF-8 text file", f"a byte that is not UTF-8 at offset {exc.start}"
                         ) from None
    suite = parse(text, str(path))
    check_references(suite)
    return suite


# --------------------------------------------------------------------------------------------
# JSON Schema for editors


def json_schema() -> dict[str, Any]:
    """A JSON Schema of suite files (schema 2), from the same declarations the loader reads."""
    rule = object_schema(RULE_FIELDS)
    load_kernels()
    # every operation's own case fields, none required here: the loader checks each case against its
    # claim's operations (which fields each requires), the schema only catches a field no operation has
    op_fields = {k: dataclasses.replace(p, required=False) for name in registry.operations()
                 for k, p in registry.operation(name).case_fields.items()}
    claims = []
    for kind in KINDS.values():
        case = object_schema({**op_fields, **kind.case_params} if kind.needs_operation else kind.case_params)
        cases = {"type": "array", "minItems": 1, "items": case}
        tables = {"rule": rule, "cases": cases, "cpu_cases": cases, "options": object_schema(kind.options),
                  **{role: object_schema(kind.side_params) for role in kind.sides}}
        fields = {**CLAIM_FIELDS, "kind": Param(str, kind.description, required=True, choices=(kind.name,))}
        schema = object_schema(fields, tables)
        schema["required"] = sorted({*schema["required"], "rule", "cases", *kind.sides,
                                     *(("operation",) if kind.needs_operation else ())})
        claims.append(schema)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "kbench suite file",
        "type": "object",
        "additionalProperties": False,
        "required": ["schema_version", "paper", "claims"],
        "properties": {"schema_version": {"const": SCHEMA_VERSION}, "paper": object_schema(PAPER_FIELDS),
                       "claims": {"type": "array", "minItems": 1, "items": {"oneOf": claims}}},
    }
