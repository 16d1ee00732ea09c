"""The static HTML report: results/ -> a folder of pages that open from disk (no server, no CDN).

A linear pipeline of named steps: load every result (skipping, and listing, unusable files),
build the tables, draw the figures, render the pages. Results from different devices are shown
side by side, never averaged together.

The site is built in a new folder beside `out` and swapped into place. An existing `out` is
replaced only if kbench built it and it holds nothing else: the marker file lists every file the
last build wrote, and a folder with any other file in it (or without the marker), or one that
holds or is the results folder, is refused. The report never deletes anything it did not write.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kbench import reading, results
from kbench.errors import KbenchError
from kbench.report import pages, plots, tables

MARKER = ".kbench-report"


def _check_out(out: Path, results_dir: Path) -> None:
    res = results_dir.resolve()
    target = out.resolve()
    if target == res or target in res.parents or res in target.parents:
        raise KbenchError(f"report --out {out}: it is, holds or lies inside the results folder {results_dir}; "
                          "choose a folder of its own")
    if target.exists() and not target.is_dir():
        raise KbenchError(f"report --out {out}: a file is in the way")
    if not target.is_dir() or not any(target.iterdir()):
        return
    if not (target / MARKER).is_file():
        raise KbenchError(f"report --out {out}: the folder exists, is not empty and was not built by kbench "
                          f"(no {MARKER} file in it); kbench never replaces a folder it did not create")
    written = set((target / MARKER).read_text(encoding="utf-8").splitlines()[1:])
    foreign = sorted(p.relative_to(target).as_posix() for p in target.rglob("*")
                     if (p.is_file() or p.is_symlink()) and p.name != MARKER
                     and p.relative_to(target).as_posix() not in written)
    if foreign:
        raise KbenchError(f"report --out {out}: it holds files the last report did not write ({', '.join(foreign[:5])}"
                          f"{', ...' if len(foreign) > 5 else ''}); move them, or choose another folder")


def build(results_dir: str | Path, out_dir: str | Path, log: Callable[[str], None] = print) -> Path:
    """Build the site into `out_dir` (replacing an earlier kbench report there); return index.html's path."""
    out, res = Path(out_dir), Path(results_dir)
    _check_out(out, res)
    log(f"loading results from {res}")
    found, problems = reading.load_all(res)
    for problem in problems:
        log(f"skipped: {problem}")
    log(f"{len(found)} result files, {len(problems)} skipped; building tables")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.building-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    try:
        _render(found, problems, staging, log)
        _swap(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    index = out / "index.html"
    log(f"report written to {index}")
    return index


def _render(found: list[dict[str, Any]], problems: list[str], site: Path, log: Callable[[str], None]) -> None:
    (site / "img").mkdir(parents=True)
    (site / "runs").mkdir()
    model = tables.build(found, problems)
    log("drawing figures")
    figures = plots.draw_all(model, site / "img")
    log("rendering pages")
    for r in model.runs:
        shutil.copyfile(str(r["_path"]), site / "runs" / f"{results.safe_name(r['run_id'], 'run id')}.json")
    pages.render_all(model, figures, site)
    written = sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file())
    (site / MARKER).write_text("built by kbench report; the next build replaces these files:\n" + "\n".join(written)
                               + "\n", encoding="utf-8")


def _swap(new: Path, out: Path) -> None:
    """Put `new` at `out`; the previous report (ours: _check_out ran) is removed only after."""
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        out.rename(old)
    new.rename(out)
    if old.exists():
        shutil.rmtree(old)
