"""What a run shows on the terminal: a progress line while it measures, a verdict table after."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from rich.console import Console
from rich.table import Table

from kbench.results import case_label, fmt, measured

STYLE = {"reproduced": "green", "not-reproduced": "red", "inconclusive": "yellow", "skipped": "dim",
         "error": "bold red"}

# A wide console when output goes to a file or a CI log, so tables do not fold.
console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


@contextlib.contextmanager
def progress() -> Iterator[Callable[[str], None]]:
    """A status line with the elapsed time; the callback replaces its text."""
    start = time.perf_counter()
    with console.status("starting") as status:

        def update(message: str) -> None:
            status.update(f"[{time.perf_counter() - start:6.1f}s] {message}")
            if message.startswith("claim "):
                console.log(message)

        yield update


def verdict_table(result: dict[str, Any]) -> Table:
    env = result.get("env", {})
    title = f"{result['suite']} on {env.get('gpu', '?')} ({result['run_id']})"
    table = Table(title=title, show_lines=False)
    for col in ("claim", "verdict", "measured [95% CI]", "paper", "measured/paper", "rule", "reason"):
        table.add_column(col, overflow="fold")
    for v in result["verdicts"]:
        interval = v.get("interval")
        value = measured(v["measured"], *interval) if interval else fmt(v["measured"])
        style = STYLE.get(v["verdict"], "")
        table.add_row(v["claim"], f"[{style}]{v['verdict']}[/]", value, fmt(v["paper_value"]),
                      fmt(v["ratio_to_paper"]), v["rule"], v.get("reason") or "")
    return table


def case_table(result: dict[str, Any]) -> Table:
    """Per-case values of every claim that has them."""
    table = Table(title="per case")
    for col in ("claim", "case", "value [95% CI]"):
        table.add_column(col, overflow="fold")
    for v in result["verdicts"]:
        for c in v.get("per_case", []):
            case = case_label(c["case"])
            lo, hi = c["interval"]
            table.add_row(v["claim"], case, measured(c["value"], lo, hi))
    return table


def print_result(result: dict[str, Any]) -> None:
    """The verdicts, then the per-case values when any claim has them (a run of skips has none)."""
    console.print(verdict_table(result))
    cases = case_table(result)
    if cases.row_count:
        console.print(cases)
