"""What a paper claims, as kbench holds it once read: the paper, its claims, each claim's sides
(subjects) and rule. Plain frozen data, low in the house: suite files are read into it
(kbench.suite), the kinds measure and evaluate it, judging judges it, a stored verdict rebuilds it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kbench.labels import subject_label
from kbench.verdicts import Rule


@dataclass(frozen=True)
class Subject:
    """One side of a claim: an implementation and pass (kernels) or a model and its plugged impl."""

    fields: Mapping[str, Any]

    @property
    def impl(self) -> Any:
        return self.fields.get("impl")

    @property
    def pass_(self) -> Any:
        return self.fields.get("pass")

    @property
    def model(self) -> Any:
        return self.fields.get("model")

    @property
    def label(self) -> str:
        return subject_label(self.fields)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.fields)


@dataclass(frozen=True)
class Claim:
    """One claim of a paper: what kind of measurement, the rule that judges it, the paper's value
    and where it comes from, and (from a suite file) its sides, cases and options. A claim rebuilt
    from a stored verdict (`from_verdict`) has no sides or cases: it is enough to judge again."""

    id: str
    kind: str
    rule: Rule
    quote: str = ""
    paper_value: float | None = None  # the claim's own (cases may carry theirs)
    combine: str = "geomean"
    options: Mapping[str, Any] = field(default_factory=dict)
    paper_source: str = ""
    paper_conditions: str = ""
    cases: tuple[Mapping[str, Any], ...] = ()
    sides: Mapping[str, Subject] = field(default_factory=dict)
    cpu_cases: tuple[Mapping[str, Any], ...] | None = None  # used instead of `cases` on a CPU run
    operation: str | None = None
    requires: tuple[str, ...] = ()
    max_slowdown: float | None = None  # the gate's threshold for this claim's metrics
    notes: str = ""

    @classmethod
    def from_verdict(cls, v: Mapping[str, Any], default_combine: str) -> Claim:
        """The claim as a stored verdict describes it (for judging merged measurements again)."""
        paper = v.get("paper") or {}
        return cls(v["claim"], v["kind"], Rule.from_dict(v["rule"]), v.get("quote", ""),
                   paper.get("value", v.get("paper_value")), v.get("combine") or default_combine, {},
                   paper.get("source", ""), paper.get("conditions", ""))

    @property
    def paper(self) -> dict[str, Any]:
        return {"value": self.paper_value, "source": self.paper_source, "conditions": self.paper_conditions}

    def side(self, role: str) -> Subject:
        return self.sides[role]

    @property
    def subjects(self) -> tuple[Subject, ...]:
        return tuple(self.sides.values())

    def cases_for(self, device_type: str) -> tuple[Mapping[str, Any], ...]:
        return self.cpu_cases if device_type == "cpu" and self.cpu_cases is not None else self.cases


@dataclass(frozen=True)
class Paper:
    id: str
    title: str
    arxiv: str = ""
    url: str = ""
    extras: Sequence[str] = ()  # kbench's optional dependency groups its implementations need


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
