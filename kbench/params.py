"""Typed, bounded parameters: how a suite file's fields are declared, read and described.

A kind declares its case keys, options and side fields as `Param`s; the suite loader reads every
field through them (a wrong type, a number out of bounds, NaN, an unknown choice: a SuiteError
naming the file and field), and `json_schema` turns the same declarations into a JSON Schema so
editors can check suite files as they are typed. One declaration, two uses, no drift.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from kbench.errors import SuiteError

_NAMES = {int: "integer", float: "number", str: "string", list: "list", dict: "table", bool: "boolean"}
_JSON = {int: "integer", float: "number", str: "string", list: "array", dict: "object", bool: "boolean"}


@dataclass(frozen=True)
class Param:
    """One field: its type, whether it is required, its default and bounds.

    Numbers: `low`/`high` bound the value (inclusive). Lists: `item` is the element type,
    `low`/`high` bound the length, `item_low`/`item_high` each element. Strings: `choices` or a
    `pattern` (regular expression the whole string must match).
    """

    kind: type
    help: str = ""
    required: bool = False
    default: Any = None
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    item: type | None = None
    item_low: float | None = None
    item_high: float | None = None
    pattern: str | None = None

    @property
    def type_name(self) -> str:
        name = _NAMES.get(self.kind, self.kind.__name__)
        if self.kind is float:
            name = "number"
        return f"list of {_NAMES.get(self.item, 'values')}s" if self.kind is list and self.item else name

    def read(self, value: Any, path: str, where: str) -> Any:
        """`value` checked and normalised (integers widened where numbers are expected)."""
        value = _typed(value, self.kind, path, where, self.type_name)
        if self.kind in (int, float):
            _bounded(value, self.low, self.high, path, where)
        if self.kind is list:
            _bounded(len(value), self.low, self.high, path, where, "a list with")
            if self.item is not None:
                value = [_bounded(_typed(v, self.item, path, f"{where}[{i}]", _NAMES.get(self.item, "value")),
                                  self.item_low, self.item_high, path, f"{where}[{i}]")
                         for i, v in enumerate(value)]
        if self.kind is list and self.item is str and len(set(value)) != len(value):  # names: each once
            raise SuiteError(path, where, "a list without repeated entries", value)
        if isinstance(value, str) and any(ord(c) < 32 and c not in "\n\t" for c in value):
            raise SuiteError(path, where, "text without control characters", value)
        if self.choices is not None and value not in self.choices:
            raise SuiteError(path, where, f"one of {', '.join(map(str, self.choices))}", value)
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            raise SuiteError(path, where, f"a string matching {self.pattern}", value)
        return value

    def json_schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": _JSON.get(self.kind, "string")}
        if self.help:
            out["description"] = self.help
        if self.choices is not None:
            out["enum"] = list(self.choices)
        if self.pattern is not None:
            out["pattern"] = f"^(?:{self.pattern})$"
        bound_keys = ("minItems", "maxItems") if self.kind is list else ("minimum", "maximum")
        for key, bound in zip(bound_keys, (self.low, self.high), strict=True):
            if bound is not None:
                out[key] = int(bound) if self.kind is list else bound
        if self.kind is list and self.item is not None:
            item: dict[str, Any] = {"type": _JSON[self.item]}
            if self.item_low is not None:
                item["minimum"] = self.item_low
            if self.item_high is not None:
                item["maximum"] = self.item_high
            out["items"] = item
        if self.default is not None:
            out["default"] = self.default
        return out


def _article(name: str) -> str:
    return f"an {name}" if name[:1] in "aeiou" else f"a {name}"


def _typed(value: Any, kind: type, path: str, where: str, name: str) -> Any:
    # TOML integers are fine where numbers are expected; booleans are never numbers.
    if isinstance(value, bool) and kind is not bool:
        raise SuiteError(path, where, _article(name), value)
    if kind is float and isinstance(value, int):
        return float(value)
    if not isinstance(value, kind):
        raise SuiteError(path, where, _article(name), value)
    if kind is float and not math.isfinite(cast(float, value)):
        raise SuiteError(path, where, "a finite number", value)
    return value


def _bounded(value: Any, low: float | None, high: float | None, path: str, where: str, what: str = "a number") -> Any:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return value
    if (low is not None and value < low) or (high is not None and value > high):
        span = f"{'-inf' if low is None else f'{low:g}'} to {'inf' if high is None else f'{high:g}'}"
        raise SuiteError(path, where, f"{what} in {span}", value)
    return value


def read_table(data: Any, params: Mapping[str, Param], path: str, where: str,
               extra: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Every declared field of a table read through its Param; unknown fields refused (except
    `extra`, left for the caller), missing required ones named, defaults filled in."""
    if not isinstance(data, Mapping):
        raise SuiteError(path, where, "a table", type(data).__name__)

    def loc(key: str) -> str:
        return f"{where}.{key}" if where else key

    for key in data:
        if key not in params and key not in extra:
            raise SuiteError(path, loc(key), f"one of the fields {sorted(set(params) | extra)}", "an unknown field")
    out: dict[str, Any] = {}
    for key, param in params.items():
        if key in data:
            out[key] = param.read(data[key], path, loc(key))
        elif param.required:
            raise SuiteError(path, loc(key), f"{_article(param.type_name)} (the field is missing)")
        elif param.default is not None:
            out[key] = param.default
    return out


def object_schema(params: Mapping[str, Param], extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A JSON Schema object for a table of Params (no unknown fields)."""
    props = {k: p.json_schema() for k, p in params.items()}
    props.update(extra or {})
    return {"type": "object", "properties": props, "additionalProperties": False,
            "required": sorted(k for k, p in params.items() if p.required)}
