"""Reading result files: the one place that decides whether a file is usable.

`load(path)` parses, migrates a schema-1 file to schema 2 (kbench.migration) and validates every
field the readers (show, report, gate, merge) rely on (kbench.result_schema). Anything else is a
ResultError naming the file and the field, never a traceback further down. Reading never judges:
only a schema-1 file, which stores no rule data, is judged again by its migration.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

from kbench.errors import ResultError
from kbench.result_schema import validate
from kbench.results import SCHEMA_VERSION


def load(path: str | Path) -> dict[str, Any]:
    """Read, migrate and validate one result file; ResultError naming the file when unusable."""
    p = Path(path)
    try:
        data = json.loads(p.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise ResultError(f"{p}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ResultError(f"{p}: not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ResultError(f"{p}: not valid JSON (truncated or corrupt?): {exc}") from None
    except RecursionError:
        raise ResultError(f"{p}: nested too deeply to be a result file") from None
    if not isinstance(data, dict):
        raise ResultError(f"{p}: expected a JSON object at the top level")
    version = data.get("schema_version")
    try:
        if version == 1:
            # here, not at the top: the migration judges again, which loads the kinds (torch, Triton),
            # and every command reads files, `kbench run` before it has chosen the device Triton runs on
            from kbench.migration import migrate_v1

            data = migrate_v1(data)
        elif version != SCHEMA_VERSION:
            raise ValueError(f"schema_version {version!r}; this kbench reads versions 1 and {SCHEMA_VERSION}")
        validate(data)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:  # a shape no check foresaw
        raise ResultError(f"{p}: not a usable result file: {type(exc).__name__ if not str(exc) else ''}{exc}"
                          ) from None
    data["_path"] = str(p)
    return cast(dict[str, Any], data)


BASELINES = "baselines"  # results/baselines/<device>.json: the gate's references, not runs to report


def load_all(results_dir: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Every usable result under `results_dir`, oldest first, and a problem line per bad file."""
    root = Path(results_dir)
    if not root.is_dir():
        raise ResultError(f"results folder {root} does not exist (or is not a folder)")
    found, problems = [], []
    seen: dict[str, Path] = {}
    for path in sorted(root.glob("*/*.json")):
        if path.parent.name == BASELINES or path.name.startswith("."):  # hidden: a run's checkpoint
            continue
        try:
            data = load(path)
        except ResultError as exc:
            problems.append(str(exc))
            continue
        if data["run_id"] in seen:  # a copied file: one run, one page
            problems.append(f"{path}: run id {data['run_id']} is also the run id of {seen[data['run_id']]}; skipped")
            continue
        seen[data["run_id"]] = path
        found.append(data)
    found.sort(key=lambda r: str(r["created"]))
    return found, problems
