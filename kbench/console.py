"""What a run shows on the terminal: a progress line while it measures, a verdict table after.

Every string that comes from a file (claim ids, case labels, reasons) is escaped before rich sees
it: a `[/]` in a label is text, not markup.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kbench.labels import case_label, fmt, measured, rule_text

STYLE = {"reproduced": "green", "not-reproduced": "red", "inconclusive": "yellow", "skipped": "dim",
         "error": "bold red"}

# A wide console when output goes to a file or a CI log, so tables do not fold.
console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def plain(text: str) -> str:
    """`text` shown as it is (rich markup escaped)."""
    return escape(str(text))


def say(message: str) -> None:
    """One line with the time of day, as the progress line's milestones are printed."""
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {message}", highlight=False)


@contextlib.contextmanager
def progress() -> Iterator[Callable[[str], None]]:
    """A status line with the elapsed time; the callback replaces its text."""
    start = time.perf_counter()
    with console.status("starting") as status:

        def update(message: str) -> None:
            status.update(f"[{time.perf_counter() - start:6.1f}s] {plain(message)}")
            if message.startswith("claim "):
                say(plain(message))

        yield update


def _count(v: dict[str, Any]) -> str:
    """Rounds or seeds behind the verdict, and its replicates where it has several."""
    reps = len((v.get("robustness") or {}).get("replicates") or [])
    return fmt(v.get("n")) + (f" x{reps}" if reps > 1 else "")


def verdict_table(result: dict[str, Any]) -> Table:
    env = result.get("env", {})
    title = f"{result['suite']} on {env.get('gpu', '?')} ({result['run_id']})"
    table = Table(title=plain(title), show_lines=False)
    for col in ("claim", "verdict", "measured [95% CI]", "n", "paper", "measured/paper", "rule", "reason"):
        table.add_column(col, overflow="fold")
    if "master_seeds" in (result.get("plan") or {}):
        table.caption = plain(f"seeded claims: n seeds x replicates (master seeds {result['plan']['master_seeds']})")
    for v in result["verdicts"]:
        interval = v.get("interval") or [None, None]
        style = STYLE.get(v["verdict"], "")
        reason = "; ".join(filter(None, [v.get("reason"), *v.get("notes", [])]))
        table.add_row(plain(v["claim"]), f"[{style}]{v['verdict']}[/]", measured(v["measured"], *interval),
                      _count(v), fmt(v["paper_value"]), fmt(v["ratio_to_paper"]), plain(rule_text(v["rule"])),
                      plain(reason))
    return table


def case_table(result: dict[str, Any]) -> Table:
    """Per-case values of every claim that has them."""
    table = Table(title="per case")
    for col in ("claim", "case", "value [95% CI]", "n", "paper"):
        table.add_column(col, overflow="fold")
    for v in result["verdicts"]:
        for c in v.get("per_case", []):
            interval = c.get("interval") or [None, None]
            table.add_row(plain(v["claim"]), plain(case_label(c["case"])), measured(c["value"], *interval),
                          fmt(c.get("n")), fmt(c.get("paper_value")))
    return table


def print_result(result: dict[str, Any]) -> None:
    """The verdicts, then the per-case values when any claim has them (a run of skips has none)."""
    console.print(verdict_table(result))
    cases = case_table(result)
    if cases.row_count:
        console.print(cases)
