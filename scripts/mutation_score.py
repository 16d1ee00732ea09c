"""The mutation score of each mutated module, from mutmut's records under mutants/.

    python scripts/mutation_score.py [--min 0.9]

A mutant counts as killed when the tests failed on it (or timed out, or the type checker caught
it); as alive when they passed or when no test ran it. Score = killed / (killed + alive), per
module and in total. With --min, exit 1 when the total is below it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

KILLED = {"killed", "timeout", "caught by type check", "segfault"}
ALIVE = {"survived", "no tests"}


def tally(root: Path = Path("mutants")) -> dict[str, Counter[str]]:
    from mutmut.stats import status_by_exit_code

    counts: dict[str, Counter[str]] = {}
    for meta in sorted(root.rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"].values()
        statuses = Counter(status_by_exit_code[c] for c in codes if c is not None)
        if statuses:
            counts[str(meta.relative_to(root))[: -len(".meta")]] = statuses
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--min", type=float, default=None, help="fail when the total score is below this")
    args = parser.parse_args()
    counts = tally()
    if not counts:
        print("no mutation results under mutants/: run `mutmut run` first")
        return 2
    total = Counter[str]()
    print(f"{'module':<32} {'killed':>7} {'alive':>6} {'score':>7}")
    for module, c in counts.items():
        killed, alive = sum(c[s] for s in KILLED), sum(c[s] for s in ALIVE)
        total.update(c)
        print(f"{module:<32} {killed:>7} {alive:>6} {killed / max(killed + alive, 1):>7.1%}")
    killed, alive = sum(total[s] for s in KILLED), sum(total[s] for s in ALIVE)
    score = killed / max(killed + alive, 1)
    print(f"{'total':<32} {killed:>7} {alive:>6} {score:>7.1%}")
    return 1 if args.min is not None and score < args.min else 0


if __name__ == "__main__":
    sys.exit(main())
