"""The static HTML report: results/ -> a folder of pages that open from disk (no server, no CDN).

A linear pipeline of named steps: load every result (skipping, and listing, unreadable files),
build the tables, draw the figures, render the pages. Results from different devices are shown
side by side, never averaged together.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from kbench import results
from kbench.report import pages, plots, tables


def build(results_dir: str | Path, out_dir: str | Path, log: Callable[[str], None] = print) -> Path:
    """Build the site into `out_dir` (replacing an earlier build there); return index.html's path."""
    out = Path(out_dir)
    if out.exists():
        shutil.rmtree(out)
    (out / "img").mkdir(parents=True)
    (out / "runs").mkdir()
    log(f"loading results from {results_dir}")
    found, problems = results.load_all(results_dir)
    for problem in problems:
        log(f"skipped: {problem}")
    log(f"{len(found)} result files, {len(problems)} skipped; building tables")
    model = tables.build(found, problems)
    log("drawing figures")
    figures = plots.draw_all(model, out / "img")
    log("rendering pages")
    for r in found:
        shutil.copyfile(r["_path"], out / "runs" / f"{r['run_id']}.json")  # raw JSON, one click away
    index = pages.render_all(model, figures, out)
    log(f"report written to {index}")
    return index
