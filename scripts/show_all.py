"""Every committed result file as `kbench show` prints it, in one text: run it in two checkouts (e.g.
`git worktree add ../old <commit>`) and diff the outputs to show that a change reads every result
exactly as before.

    python scripts/show_all.py > show.txt
"""

from __future__ import annotations

import glob
import io
import os
import sys

from rich.console import Console

from kbench import console

if os.path.exists("kbench/reading.py"):
    from kbench.reading import load
else:  # a checkout from before kbench.reading (2026-12-03) read files through kbench.results
    from kbench.results import load  # type: ignore[attr-defined,no-redef]


def main() -> None:
    out = io.StringIO()
    console.console = Console(file=out, width=160, color_system=None)
    for path in sorted(glob.glob("results/*/*.json")):
        out.write(f"=== {path}\n")
        try:
            data = load(path)
            data.pop("_path", None)
            console.print_result(data)
        except Exception as exc:  # noqa: BLE001  (an unreadable file is part of what is compared)
            out.write(f"ERROR {type(exc).__name__}: {exc}\n")
    sys.stdout.write(out.getvalue())


if __name__ == "__main__":
    main()
