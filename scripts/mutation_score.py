"""The mutation score of each mutated module, from mutmut's records under mutants/.

    python scripts/mutation_score.py [--min 0.9]

A mutant counts as killed when the tests failed on it (or the type checker caught it, or it
crashed the interpreter); as alive when they passed or when no test ran it. A timeout is alive
too: a mutant that only made the tests slow was not caught, and re-running mutmut's timeouts to
completion showed they pass. Mutants named in mutation-equivalent.toml (each with why it changes
nothing observable) are left out. Reported per module: killed / survived / timeout / equivalent,
and score = killed / (killed + survived + timeout). With --min, exit 1 when the total is below it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

KILLED = {"killed", "caught by type check", "segfault"}
SURVIVED = {"survived", "no tests"}
TIMEOUT = {"timeout"}
EQUIVALENT_FILE = Path("mutation-equivalent.toml")  # [mutants] name = "why it is equivalent"


def equivalent() -> dict[str, str]:
    if not EQUIVALENT_FILE.exists():
        return {}
    import tomllib

    return dict(tomllib.loads(EQUIVALENT_FILE.read_text()).get("mutants", {}))


def tally(root: Path = Path("mutants")) -> dict[str, Counter[str]]:
    from mutmut.stats import status_by_exit_code

    known = equivalent()
    counts: dict[str, Counter[str]] = {}
    for meta in sorted(root.rglob("*.py.meta")):
        by_key = json.loads(meta.read_text())["exit_code_by_key"]
        statuses = Counter("equivalent" if key in known else status_by_exit_code[code]
                           for key, code in by_key.items() if code is not None)
        if statuses:
            counts[str(meta.relative_to(root))[: -len(".meta")]] = statuses
    return counts


def row(name: str, c: Counter[str]) -> tuple[str, float]:
    killed, survived, timeout = (sum(c[s] for s in group) for group in (KILLED, SURVIVED, TIMEOUT))
    score = killed / max(killed + survived + timeout, 1)
    return (f"{name:<32} {killed:>7} {survived:>9} {timeout:>8} {c['equivalent']:>11} {score:>7.1%}", score)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--min", type=float, default=None, help="fail when the total score is below this")
    args = parser.parse_args()
    counts = tally()
    if not counts:
        print("no mutation results under mutants/: run `mutmut run` first")
        return 2
    total = Counter[str]()
    print(f"{'module':<32} {'killed':>7} {'survived':>9} {'timeout':>8} {'equivalent':>11} {'score':>7}")
    for module, c in counts.items():
        total.update(c)
        print(row(module, c)[0])
    line, score = row("total", total)
    print(line)
    return 1 if args.min is not None and score < args.min else 0


if __name__ == "__main__":
    sys.exit(main())
