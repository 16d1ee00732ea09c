"""The mutation score of each mutated module, from mutmut's records under mutants/.

    python scripts/mutation_score.py [--min 0.9]

A mutant counts as killed when the tests failed on it (or it crashed the interpreter); as alive
when they passed, when no test ran it, or when its exit says nothing clear. A timeout is alive
too (mutmut's SIGXCPU, and SIGKILL, which is what its hard CPU limit sends): a mutant that only
made the tests slow was not caught, and re-running mutmut's timeouts to completion showed they
pass. Re-run timeouts on their own (`mutmut run NAME ...`, on an idle machine) before publishing.
Mutants named in mutation-equivalent.toml (each with why it changes nothing observable) are left
out. Reported per module: killed / survived / timeout / equivalent / not run, and score =
killed / (killed + survived + timeout); a module with mutants not run yet is marked partial. With
--survivors, the names of the survivors and timeouts. With --min, exit 1 when the total is below it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

KILLED = {"killed", "crashed"}
SURVIVED = {"survived", "no tests", "unclear"}
TIMEOUT = {"timeout"}
NOT_RUN = "not run"


def status(code: int | None) -> str:
    """A mutant's status from its exit code as mutmut records it."""
    if code is None:
        return NOT_RUN
    if code in (1, 3):  # tests failed; pytest's internal error
        return "killed"
    if code == -11:
        return "crashed"
    if code in (-24, 24, 36, 152, 255, -9):  # SIGXCPU (the CPU limit or the wall-clock timer), SIGKILL
        return "timeout"
    if code == 0:
        return "survived"
    if code in (5, 33):
        return "no tests"
    return "unclear"  # 35 suspicious, 37 type check (this project runs none), anything else
EQUIVALENT_FILE = Path("mutation-equivalent.toml")  # [mutants] name = "why it is equivalent"


def equivalent(path: Path = EQUIVALENT_FILE) -> dict[str, str]:
    if not path.exists():
        return {}
    import tomllib

    return dict(tomllib.loads(path.read_text()).get("mutants", {}))


def statuses(root: Path = Path("mutants"), known: dict[str, str] | None = None) -> dict[str, dict[str, str]]:
    """module -> mutant -> status, for the modules with at least one mutant run."""
    known = equivalent() if known is None else known
    found: dict[str, dict[str, str]] = {}
    for meta in sorted(root.rglob("*.py.meta")):
        by_key = json.loads(meta.read_text())["exit_code_by_key"]
        module = {key: "equivalent" if key in known else status(code) for key, code in by_key.items()}
        if any(s != NOT_RUN for s in module.values()):
            found[str(meta.relative_to(root))[: -len(".meta")]] = module
    return found


def tally(root: Path = Path("mutants")) -> dict[str, Counter[str]]:
    return {module: Counter(found.values()) for module, found in statuses(root).items()}


def row(name: str, c: Counter[str]) -> tuple[str, float]:
    killed, survived, timeout = (sum(c[s] for s in group) for group in (KILLED, SURVIVED, TIMEOUT))
    score = killed / max(killed + survived + timeout, 1)
    partial = " (partial)" if c[NOT_RUN] else ""
    return (f"{name:<32} {killed:>7} {survived:>9} {timeout:>8} {c['equivalent']:>11} {c[NOT_RUN]:>8} "
            f"{score:>7.1%}{partial}", score)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--min", type=float, default=None, help="fail when the total score is below this")
    parser.add_argument("--survivors", action="store_true", help="list the survivors and timeouts of each module")
    args = parser.parse_args()
    found = statuses()
    if not found:
        print("no mutation results under mutants/: run `mutmut run` first")
        return 2
    stats_file = Path("mutants/mutmut-stats.json")
    if stats_file.exists():
        print(f"mutants made at commit {json.loads(stats_file.read_text()).get('git_commit')}")
    total = Counter[str]()
    print(f"{'module':<32} {'killed':>7} {'survived':>9} {'timeout':>8} {'equivalent':>11} {NOT_RUN:>8} {'score':>7}")
    for module, mutants in found.items():
        c = Counter(mutants.values())
        total.update(c)
        print(row(module, c)[0])
        if args.survivors:
            for name, s in sorted(mutants.items()):
                if s in SURVIVED | TIMEOUT:
                    print(f"    {s:<9} {name}")
    line, score = row("total", total)
    print(line)
    return 1 if args.min is not None and score < args.min else 0


if __name__ == "__main__":
    sys.exit(main())
