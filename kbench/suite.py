"""Suite files: one TOML file per paper, parsed once into typed, validated objects.

A bad file is refused with its path, the field and what was expected (`SuiteError`), never a
traceback. Validation runs in two steps: the shape of the file (fields, types, known claim kinds),
then its references (operations, implementations and model families registered under
`kernels/`), so that a typo in an implementation name is caught before anything runs.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast, get_args

from kbench import registry
from kbench.errors import SuiteError

SCHEMA_VERSION = 1

Kind = Literal["speedup", "error-ratio", "max-error", "bitwise-repeat", "bandwidth-fraction", "train-speedup",
               "time-share", "flops-ratio"]
KINDS: tuple[str, ...] = get_args(Kind)
PASSES: tuple[str, ...] = get_args(registry.Pass)
DTYPES = ("float32", "float16", "bfloat16")
REQUIREMENTS = ("cuda", "triton", "nvcc")


@dataclass(frozen=True)
class KindSpec:
    """What a claim of one kind must state."""

    description: str
    pair: bool  # True: baseline + candidate, measured = cost(baseline) / cost(candidate)
    subject_keys: frozenset[str]  # keys a subject table may hold
    case_keys: Mapping[str, type]  # keys every case must hold, with their types
    options: Mapping[str, type] = field(default_factory=dict)  # optional claim-level knobs
    combine: Literal["geomean", "max"] = "geomean"  # how per-case values make the claim's value


_KERNEL = frozenset({"impl", "pass"})
_MODEL = frozenset({"model", "impl"})
_SHAPE_CASE: Mapping[str, type] = {"shape": list, "dtype": str}
_MODEL_CASE: Mapping[str, type] = {"size": str, "batch": int}

KIND_SPECS: dict[str, KindSpec] = {
    "speedup": KindSpec("kernel time of baseline / kernel time of candidate", True, _KERNEL, _SHAPE_CASE,
                        {"cuda_graph": bool}),
    "error-ratio": KindSpec(
        "gradient error of baseline / of candidate, both against float64", True, frozenset({"impl"}),
        _SHAPE_CASE, {"seeds": int, "grads": list},
    ),
    "max-error": KindSpec(
        "largest relative error against float64 over the named outputs and gradients", False,
        frozenset({"impl"}), _SHAPE_CASE, {"seeds": int, "grads": list}, combine="max",
    ),
    "bitwise-repeat": KindSpec(
        "share of repeated backward calls on the same inputs whose gradients equal the first bit for bit",
        False, frozenset({"impl"}), _SHAPE_CASE, {"repeats": int},
    ),
    "bandwidth-fraction": KindSpec(
        "achieved bytes/s of the subject / copy bandwidth measured in the same run", False, _KERNEL, _SHAPE_CASE,
        {"cuda_graph": bool},
    ),
    "train-speedup": KindSpec(
        "train-step time of baseline / of candidate (images/s of candidate / of baseline)", True, _MODEL,
        _MODEL_CASE, {"steps": int, "image_size": int},
    ),
    "time-share": KindSpec(
        "share of a train step's device time spent in kernels whose name matches", False, _MODEL, _MODEL_CASE,
        {"kernel_pattern": str, "steps": int, "image_size": int},
    ),
    "flops-ratio": KindSpec("counted FLOPs of baseline / of candidate, one image", True, _MODEL, {"size": str}),
}


@dataclass(frozen=True)
class PassRule:
    """The rule that turns a measured interval into a verdict (see kbench.verdicts)."""

    at_least: float | None = None
    at_most: float | None = None

    def describe(self) -> str:
        parts = []
        if self.at_least is not None:
            parts.append(f">= {self.at_least:g}")
        if self.at_most is not None:
            parts.append(f"<= {self.at_most:g}")
        return " and ".join(parts)


@dataclass(frozen=True)
class Subject:
    """What is measured: an implementation and pass (kernels) or a model and its plugged impl."""

    impl: str | None = None
    pass_: str | None = None
    model: str | None = None

    @property
    def label(self) -> str:
        from kbench.results import subject_label

        return subject_label(self.as_dict())

    def as_dict(self) -> dict[str, str]:
        raw = {"impl": self.impl, "pass": self.pass_, "model": self.model}
        return {k: v for k, v in raw.items() if v is not None}


@dataclass(frozen=True)
class Claim:
    id: str
    kind: Kind
    quote: str
    rule: PassRule
    cases: tuple[Mapping[str, Any], ...]
    cpu_cases: tuple[Mapping[str, Any], ...] | None = None  # used instead of `cases` on a CPU run
    paper_value: float | None = None
    operation: str | None = None
    baseline: Subject | None = None
    candidate: Subject | None = None
    subject: Subject | None = None
    requires: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    max_slowdown: float | None = None  # the gate's threshold for this claim's metrics
    notes: str = ""

    @property
    def subjects(self) -> tuple[Subject, ...]:
        found = (self.baseline, self.candidate, self.subject)
        return tuple(s for s in found if s is not None)

    def cases_for(self, device_type: str) -> tuple[Mapping[str, Any], ...]:
        return self.cpu_cases if device_type == "cpu" and self.cpu_cases is not None else self.cases


@dataclass(frozen=True)
class Paper:
    id: str
    title: str
    arxiv: str = ""
    url: str = ""


@dataclass(frozen=True)
class Suite:
    path: str
    paper: Paper
    claims: tuple[Claim, ...]
    sha256: str

    @property
    def name(self) -> str:
        return self.paper.id

    def claim(self, claim_id: str) -> Claim:
        for c in self.claims:
            if c.id == claim_id:
                return c
        raise KeyError(claim_id)


# --------------------------------------------------------------------------------------------
# Reading fields with errors that name them


class _Table:
    """A TOML table with its dotted location, handing out typed fields or a SuiteError."""

    def __init__(self, path: str, where: str, data: object) -> None:
        if not isinstance(data, dict):
            raise SuiteError(path, where, "a table", type(data).__name__)
        self.path, self.where, self.data = path, where, cast(dict[str, Any], data)

    def loc(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def reject_unknown(self, allowed: set[str] | frozenset[str]) -> None:
        for key in self.data:
            if key not in allowed:
                raise SuiteError(self.path, self.loc(key), f"one of the fields {sorted(allowed)}", "an unknown field")

    def get(self, key: str, kind: type | tuple[type, ...], *, required: bool = True, default: Any = None) -> Any:
        if key not in self.data:
            if required:
                raise SuiteError(self.path, self.loc(key), f"a {_type_name(kind)} (the field is missing)")
            return default
        value = self.data[key]
        # TOML integers are fine where floats are expected; booleans are never numbers.
        ok = isinstance(value, kind) and not (isinstance(value, bool) and kind in (int, float, (int, float)))
        if not ok:
            raise SuiteError(self.path, self.loc(key), f"a {_type_name(kind)}", value)
        return value

    def table(self, key: str, *, required: bool = True) -> _Table | None:
        if key not in self.data and not required:
            return None
        return _Table(self.path, self.loc(key), self.get(key, dict))


def _type_name(kind: type | tuple[type, ...]) -> str:
    names = {int: "integer", float: "number", str: "string", list: "list", dict: "table", bool: "boolean"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


# --------------------------------------------------------------------------------------------
# Step 1: the shape of the file


def _parse_rule(t: _Table) -> PassRule:
    t.reject_unknown({"at_least", "at_most"})
    lo = t.get("at_least", (int, float), required=False)
    hi = t.get("at_most", (int, float), required=False)
    if lo is None and hi is None:
        raise SuiteError(t.path, t.where, "at least one of at_least, at_most")
    if lo is not None and hi is not None and lo > hi:
        raise SuiteError(t.path, t.where, "at_least <= at_most", f"{lo} > {hi}")
    return PassRule(None if lo is None else float(lo), None if hi is None else float(hi))


def _parse_subject(t: _Table, allowed: frozenset[str]) -> Subject:
    t.reject_unknown(allowed)
    if "model" in allowed:
        return Subject(model=t.get("model", str), impl=t.get("impl", str, required=False))
    pass_ = t.get("pass", str, required="pass" in allowed) if "pass" in allowed else None
    if pass_ is not None and pass_ not in PASSES:
        raise SuiteError(t.path, t.loc("pass"), f"one of {', '.join(PASSES)}", pass_)
    return Subject(impl=t.get("impl", str), pass_=pass_)


def _parse_case(t: _Table, spec: KindSpec) -> dict[str, Any]:
    t.reject_unknown(set(spec.case_keys) | {"label"})
    case = {key: t.get(key, kind) for key, kind in spec.case_keys.items()}
    if "shape" in case:
        shape = case["shape"]
        if not (2 <= len(shape) <= 3) or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0
                                                  for d in shape):
            raise SuiteError(t.path, t.loc("shape"), "a list of 2 or 3 positive integers", shape)
    if "dtype" in case and case["dtype"] not in DTYPES:
        raise SuiteError(t.path, t.loc("dtype"), f"one of {', '.join(DTYPES)}", case["dtype"])
    if "batch" in case and case["batch"] <= 0:
        raise SuiteError(t.path, t.loc("batch"), "a positive integer", case["batch"])
    if "label" in t.data:
        case["label"] = t.get("label", str)
    return case


def _parse_cases(claim: _Table, key: str, spec: KindSpec) -> tuple[dict[str, Any], ...] | None:
    if key not in claim.data:
        return None
    raw = claim.get(key, list)
    if not raw:
        raise SuiteError(claim.path, claim.loc(key), "a non-empty list of cases")
    return tuple(_parse_case(_Table(claim.path, f"{claim.loc(key)}[{i}]", c), spec) for i, c in enumerate(raw))


_CLAIM_FIELDS = {"id", "kind", "quote", "paper_value", "operation", "baseline", "candidate", "subject", "cases",
                 "cpu_cases", "requires", "pass", "options", "max_slowdown", "notes"}


def _parse_claim(t: _Table) -> Claim:
    t.reject_unknown(_CLAIM_FIELDS)
    kind = t.get("kind", str)
    if kind not in KIND_SPECS:
        raise SuiteError(t.path, t.loc("kind"), f"one of {', '.join(KINDS)}", kind)
    spec = KIND_SPECS[kind]
    sides = ("baseline", "candidate") if spec.pair else ("subject",)
    for other in {"baseline", "candidate", "subject"} - set(sides):
        if other in t.data:
            raise SuiteError(t.path, t.loc(other), f"no {other} for kind {kind!r} (it takes {' and '.join(sides)})")
    subjects = {s: _parse_subject(cast(_Table, t.table(s)), spec.subject_keys) for s in sides}
    requires = tuple(t.get("requires", list, required=False, default=[]))
    for need in requires:
        if need not in REQUIREMENTS:
            raise SuiteError(t.path, t.loc("requires"), f"entries from {', '.join(REQUIREMENTS)}", need)
    options_t = t.table("options", required=False)
    options: dict[str, Any] = {}
    if options_t is not None:
        options_t.reject_unknown(set(spec.options))
        options = {k: options_t.get(k, v) for k, v in spec.options.items() if k in options_t.data}
    needs_op = spec.subject_keys != _MODEL
    paper_value = t.get("paper_value", (int, float), required=False)
    max_slowdown = t.get("max_slowdown", (int, float), required=False)
    if max_slowdown is not None and not 0 < max_slowdown < 1:
        raise SuiteError(t.path, t.loc("max_slowdown"), "a fraction between 0 and 1, e.g. 0.05", max_slowdown)
    return Claim(
        id=t.get("id", str),
        kind=cast(Kind, kind),
        quote=t.get("quote", str),
        rule=_parse_rule(cast(_Table, t.table("pass"))),
        cases=_parse_cases(t, "cases", spec) or _missing(t, "cases"),
        cpu_cases=_parse_cases(t, "cpu_cases", spec),
        paper_value=None if paper_value is None else float(paper_value),
        operation=t.get("operation", str) if needs_op else None,
        baseline=subjects.get("baseline"),
        candidate=subjects.get("candidate"),
        subject=subjects.get("subject"),
        requires=requires,
        options=options,
        max_slowdown=None if max_slowdown is None else float(max_slowdown),
        notes=t.get("notes", str, required=False, default=""),
    )


def _missing(t: _Table, key: str) -> tuple[dict[str, Any], ...]:
    raise SuiteError(t.path, t.loc(key), "a non-empty list of cases (the field is missing)")


def parse(text: str, path: str) -> Suite:
    """Parse and check the shape of a suite file's text (no registry lookups)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(path, "", "valid TOML", str(exc)) from None
    top = _Table(path, "", data)
    top.reject_unknown({"schema_version", "paper", "claims"})
    version = top.get("schema_version", int)
    if version != SCHEMA_VERSION:
        raise SuiteError(path, "schema_version", f"{SCHEMA_VERSION} (this kbench's suite schema)", version)
    paper_t = cast(_Table, top.table("paper"))
    paper_t.reject_unknown({"id", "title", "arxiv", "url"})
    paper = Paper(paper_t.get("id", str), paper_t.get("title", str), paper_t.get("arxiv", str, required=False,
                  default=""), paper_t.get("url", str, required=False, default=""))
    raw_claims = top.get("claims", list)
    if not raw_claims:
        raise SuiteError(path, "claims", "at least one [[claims]] table")
    claims = tuple(_parse_claim(_Table(path, f"claims[{i}]", c)) for i, c in enumerate(raw_claims))
    seen: set[str] = set()
    for i, c in enumerate(claims):
        if c.id in seen:
            raise SuiteError(path, f"claims[{i}].id", "a claim id used once in the file", c.id)
        seen.add(c.id)
    return Suite(path, paper, claims, hashlib.sha256(text.encode()).hexdigest())


# --------------------------------------------------------------------------------------------
# Step 2: references to what kernels/ registers


def check_references(suite: Suite) -> None:
    """Every operation, implementation and model family a claim names must be registered."""
    packages = registry.available_packages()
    for i, claim in enumerate(suite.claims):
        where = f"claims[{i}]"
        if claim.operation is not None:
            _check_operation(suite.path, f"{where}.operation", claim.operation, packages)
        for side in ("baseline", "candidate", "subject"):
            subject = getattr(claim, side)
            if subject is not None:
                _check_subject(suite.path, f"{where}.{side}", claim, subject, packages)
        for key in ("grads",):
            wanted = claim.options.get(key)
            if wanted is not None and claim.operation is not None:
                _check_grads(suite.path, f"{where}.options.{key}", claim, wanted)


def _check_operation(path: str, loc: str, name: str, packages: list[str]) -> None:
    if name in packages:
        registry.load_package(name)
    if name not in registry.operations():
        raise SuiteError(path, loc, f"an operation under kernels/ ({', '.join(registry.operations()) or 'none'})",
                         name)


def _check_impl(path: str, loc: str, op: str, name: str) -> None:
    known = registry.implementations(op)
    if name not in known:
        raise SuiteError(path, loc, f"an implementation of {op!r} ({', '.join(sorted(known))})", name)


def _check_subject(path: str, loc: str, claim: Claim, subject: Subject, packages: list[str]) -> None:
    if subject.model is None:
        _check_impl(path, f"{loc}.impl", cast(str, claim.operation), cast(str, subject.impl))
        return
    if "models" in packages:
        registry.load_package("models")
    families = registry.model_families()
    if subject.model not in families:
        raise SuiteError(path, f"{loc}.model", f"a model family ({', '.join(sorted(families))})", subject.model)
    family = families[subject.model]
    if family.plugs is None and subject.impl is not None:
        raise SuiteError(path, f"{loc}.impl", f"no impl: model family {family.name!r} has no pluggable layer")
    if family.plugs is not None:
        if subject.impl is None:
            raise SuiteError(path, f"{loc}.impl", f"the implementation of {family.plugs!r} that {family.name!r} uses")
        _check_operation(path, f"{loc}.model", family.plugs, packages)
        _check_impl(path, f"{loc}.impl", family.plugs, subject.impl)
    for case in claim.cases + (claim.cpu_cases or ()):
        if case["size"] not in family.sizes:
            raise SuiteError(path, f"{loc}.model", f"a family that has size {case['size']!r} "
                             f"({family.name} has {', '.join(family.sizes)})", subject.model)


def _check_grads(path: str, loc: str, claim: Claim, wanted: list[Any]) -> None:
    op = registry.operation(cast(str, claim.operation))
    names = (op.output_name, *op.grad_names)
    for g in wanted:
        if g not in names:
            raise SuiteError(path, loc, f"gradient names of {claim.operation!r} ({', '.join(names)})", g)


def load(path: str | Path) -> Suite:
    """Read, parse and check a suite file; raises SuiteError naming the file and field."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise SuiteError(str(path), "", "a readable suite file", exc.strerror) from None
    suite = parse(text, str(path))
    check_references(suite)
    return suite
