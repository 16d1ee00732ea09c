"""nox sessions: tests, lint, mutation, reproduce-<suite> (one per file in suites/), report, gate, resources.

Sessions are thin: they install, then call the `kbench` command line. On a GPU host with torch
preinstalled and no network, run them on the existing interpreter: `nox --no-venv -s ...`
(installs are skipped there). A GPU job sets KBENCH_REQUIRE_GPU=1 so that a missing GPU fails
the session instead of quietly running on the CPU.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True
ROOT = Path(__file__).parent


def _venv(session: nox.Session) -> bool:
    return session.venv_backend not in ("none", None)


def _install(session: nox.Session, *args: str) -> None:
    """pip install into the session's venv; nothing on --no-venv (the host's packages are used)."""
    if _venv(session):
        session.install(*args)


def _python(session: nox.Session) -> str:
    return "python" if _venv(session) else sys.executable


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite on the CPU (Triton kernels in its interpreter)."""
    _install(session, "-e", ".[test]")
    session.run(_python(session), "-m", "pytest", *(session.posargs or ["-q", "tests"]),
                env={"TRITON_INTERPRET": "1"})


@nox.session
def lint(session: nox.Session) -> None:
    """ruff and mypy over kbench/ and noxfile.py."""
    _install(session, "-e", ".[test]", "ruff", "mypy")
    session.run("ruff", "check", "kbench", "kernels", "tests", "benchmarks", "noxfile.py")
    session.run("mypy", "kbench")


@nox.session(default=False)
def mutation(session: nox.Session) -> None:
    """Mutation testing of kbench's core modules (mutmut; [tool.mutmut] in pyproject.toml lists them
    and the fast tests that must kill each mutant), then the score per module. Hours on 2 cores;
    `nox -s mutation -- kbench.stats*` runs the mutants of one module."""
    _install(session, "-e", ".[test]", "mutmut")
    session.run("mutmut", "run", "--max-children", str(os.cpu_count() or 2), *session.posargs,
                env={"TRITON_INTERPRET": "1"})
    session.run(_python(session), "scripts/mutation_score.py", "--min", "0.9")


def _reproduce(session: nox.Session, suite: Path) -> None:
    _install(session, "-e", ".[data]")
    session.run(_python(session), "-m", "kbench", "run", str(suite.relative_to(ROOT)), *session.posargs)


for _suite in sorted((ROOT / "suites").glob("*.toml")):

    def _session(session: nox.Session, suite: Path = _suite) -> None:
        _reproduce(session, suite)

    _session.__doc__ = f"Run suites/{_suite.name} on the best device present and write a result file."
    nox.session(name=f"reproduce-{_suite.stem}", default=False)(_session)


@nox.session(default=False)
def report(session: nox.Session) -> None:
    """Build the static HTML report from results/ (into build/report/)."""
    _install(session, "-e", ".")
    session.run(_python(session), "-m", "kbench", "report", *session.posargs)


@nox.session(default=False)
def gate(session: nox.Session) -> None:
    """Compare two result files: nox -s gate -- BASELINE CANDIDATE [--summary FILE]."""
    _install(session, "-e", ".")
    session.run(_python(session), "-m", "kbench", "gate", *session.posargs)


@nox.session(name="gpu-evidence", default=False)
def gpu_evidence(session: nox.Session) -> None:
    """The GPU evidence plan (scripts/gpu-plan.toml) within a time budget:
    `nox --no-venv -s gpu-evidence -- --budget 540 --out DIR`, or `-- --plan --budget 540` for the dry run."""
    _install(session, "-e", ".")
    session.run(_python(session), "scripts/gpu_evidence.py", *session.posargs)


@nox.session(default=False)
def resources(session: nox.Session) -> None:
    """What the compiler makes of kbench's kernels for an H100 (sm_90), on any machine: registers,
    spills, shared memory, load widths, loop instructions per element. Triton must compile, so its
    interpreter is off here."""
    _install(session, "-e", ".")
    session.run(_python(session), "-m", "kernels.rational.resources", *session.posargs, env={"TRITON_INTERPRET": "0"})
