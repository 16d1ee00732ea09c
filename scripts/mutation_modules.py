"""Mutation testing one module at a time, each against its own test files only.

    python scripts/mutation_modules.py [MODULE ...] [--children 2] [--at COMMIT]

scripts/mutation-plan.toml names, for each module, the test files that must kill its mutants. Each
module is measured in a checkout of HEAD of its own (build/mutation/<module>/, a git worktree) with
mutmut told to mutate that module and run those tests only: a module's own unit tests run in
seconds, where the whole selection took minutes a mutant, and a mutant that only some other test
catches counts as survived (a stricter count than the whole suite's). The counts follow
scripts/mutation_score.py (a timeout is a survivor). A module measured before at the same commit
keeps its results; at another commit it is measured again from scratch. Prints one table row per
module with the commit, and writes the table to build/mutation/summary.md.

mutmut forks a process per mutant, and its timeout thread signals pids of mutants long gone
(SIGXCPU), which after a pid wrap-around can be someone else's process (a test run beside it died
so). Where the host allows user namespaces, mutmut runs in a pid namespace of its own (`unshare`), so
those signals can only reach its own processes; elsewhere, run it on a machine doing nothing else.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mutation_score  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PLAN = ROOT / "scripts" / "mutation-plan.toml"
WORK = ROOT / "build" / "mutation"


def plan() -> dict[str, list[str]]:
    return {m["path"]: list(m["tests"]) for m in tomllib.loads(PLAN.read_text())["modules"]}


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def checkout(module: str, commit: str) -> Path:
    """A worktree of `commit` for `module`, its [tool.mutmut] pointed at the module and its tests."""
    where = WORK / module.replace("/", "_").removesuffix(".py")
    if where.exists() and git("rev-parse", "HEAD", cwd=where) != commit:
        git("worktree", "remove", "--force", str(where))
    if not where.exists():
        where.parent.mkdir(parents=True, exist_ok=True)
        git("worktree", "add", "--detach", str(where), commit)
    config = where / "pyproject.toml"
    text = config.read_text()
    text = re.sub(r"only_mutate = \[.*?\]\n", f"only_mutate = [\"{module}\"]\n", text, flags=re.S)
    tests = ", ".join(f'"{t}"' for t in plan()[module])
    text = re.sub(r"pytest_add_cli_args_test_selection = \[.*?\]\n",
                  f"pytest_add_cli_args_test_selection = [{tests}]\n", text, flags=re.S)
    config.write_text(text)
    return where


def isolated(command: list[str]) -> list[str]:
    """`command` in a pid namespace of its own where the host allows it (see the module's docstring)."""
    unshare = shutil.which("unshare")
    wrapped = [unshare, "--user", "--map-root-user", "--pid", "--fork", "--mount-proc"] if unshare else []
    if wrapped and subprocess.run([*wrapped, "true"], capture_output=True).returncode == 0:
        return [*wrapped, *command]
    print("no pid namespace on this host: run nothing else beside mutmut", file=sys.stderr)
    return command


def measure(module: str, commit: str, children: int) -> Counter[str]:
    where = checkout(module, commit)
    print(f"{module}: mutating at {commit[:10]} against {', '.join(plan()[module])}", flush=True)
    # One thread per worker: torch's thread pool does not survive a fork (mutmut forks each mutant's
    # process from a server that imported the tests), and a worker stuck on it reads as a timeout.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TRITON_INTERPRET": "1"}
    # mutmut's fork server dies on some mutants (it says "To resume: mutmut run"): resume while it gets further
    left = None
    while True:
        subprocess.run(isolated([sys.executable, "-m", "mutmut", "run", "--max-children", str(children)]),
                       cwd=where, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=env)
        found = mutation_score.statuses(where / "mutants", mutation_score.equivalent(ROOT / "mutation-equivalent.toml"))
        counts = Counter(found.get(module, {}).values())
        if not counts[mutation_score.NOT_RUN] or counts[mutation_score.NOT_RUN] == left:
            return counts
        left = counts[mutation_score.NOT_RUN]
        print(f"{module}: {left} mutants not run yet, resuming", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", help="modules as in the plan (default: all of them)")
    parser.add_argument("--children", type=int, default=2, help="mutants run at once")
    parser.add_argument("--at", default="HEAD", help="the commit to measure (default HEAD): resume a module "
                                                     "measured at an earlier one")
    args = parser.parse_args()
    known = plan()
    unknown = [m for m in args.modules if m not in known]
    if unknown:
        print(f"not in {PLAN.relative_to(ROOT)}: {', '.join(unknown)}", file=sys.stderr)
        return 2
    commit = git("rev-parse", args.at)
    header = "| module | tests | killed | survived | timeout | equivalent | not run | score | commit |"
    rows = [header, "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for module in args.modules or list(known):
        c = measure(module, commit, args.children)
        _, score = mutation_score.row(module, c)
        tests = ", ".join(Path(t).stem for t in known[module])
        rows.append(f"| {module} | {tests} | {c['killed'] + c['crashed']} | "
                    f"{c['survived'] + c['no tests'] + c['unclear']} | {c['timeout']} | {c['equivalent']} | "
                    f"{c[mutation_score.NOT_RUN]} | {score:.1%} | {commit[:7]} |")
        print(rows[-1], flush=True)
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "summary.md").write_text("\n".join(rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
