"""The house's shape: kbench's modules import one another without a circle, counting imports inside
functions too (a function-level import is for start-up time or the device choice, never to dodge a
cycle), and the data flows one way: reading a result file never loads the judge.

The same check by hand: `python -m tests.test_architecture` prints the module graph's layers.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def kbench_imports(path: Path, modules: set[str], root: Path = ROOT) -> set[str]:
    """The kbench modules `path` imports anywhere in its body (annotation-only imports left out)."""
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "kbench"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "kbench":
            for alias in node.names:  # `from kbench import results` imports the module kbench.results
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in modules else node.module)
    me = module_name(path, root)
    return {m for m in found if m in modules and m != me}


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    files = sorted((root / "kbench").rglob("*.py"))
    modules = {module_name(f, root) for f in files}
    return {module_name(f, root): kbench_imports(f, modules, root) for f in files}


def circle(graph: dict[str, set[str]]) -> list[str] | None:
    try:
        list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        return list(exc.args[1])
    return None


def reaches(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def test_kbench_imports_form_no_circle() -> None:
    found = circle(import_graph())
    assert found is None, f"import circle: {' -> '.join(found or [])}"


def test_the_checker_sees_a_circle_closed_by_an_import_inside_a_function(tmp_path: Path) -> None:
    pkg = tmp_path / "kbench"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from kbench import b\n")
    (pkg / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from kbench import a\n")
    assert circle(import_graph(tmp_path)) is None  # an annotation-only import is no circle
    (pkg / "b.py").write_text("def f():\n    from kbench.a import x\n")
    assert set(circle(import_graph(tmp_path)) or []) == {"kbench.a", "kbench.b"}


def test_reading_a_result_never_loads_the_judge_or_the_kinds() -> None:
    """Only the schema-1 migration judges; reading, validating, labelling and checkpointing do not."""
    graph = import_graph()
    for reader in ("kbench.reading", "kbench.result_schema", "kbench.labels", "kbench.checkpoints", "kbench.results"):
        # a schema-1 file is migrated, and judged again: the one reader that may reach the judge
        below = reaches({**graph, "kbench.reading": graph["kbench.reading"] - {"kbench.migration"}}, reader)
        assert not below & {"kbench.judging", "kbench.kinds", "kbench.suite", "kbench.runner"}, (reader, below)


def test_the_claim_type_sits_below_reading_a_suite_judging_and_the_kinds() -> None:
    below = reaches(import_graph(), "kbench.claims")
    assert not below & {"kbench.suite", "kbench.judging", "kbench.kinds", "kbench.runner", "kbench.reading"}, below


def test_a_kind_knows_no_file_format() -> None:
    graph = import_graph()
    kinds = [m for m in graph if m.startswith("kbench.kinds")]
    for kind in kinds:
        assert not reaches(graph, kind) & {"kbench.reading", "kbench.result_schema", "kbench.migration",
                                           "kbench.checkpoints"}, kind


if __name__ == "__main__":
    for name in graphlib.TopologicalSorter(import_graph()).static_order():
        print(name)
