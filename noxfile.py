"""nox sessions: tests, lint, mutation, reproduce-<suite> (one per file in suites/), report, gate, resources.

One environment for every session: sessions run on the interpreter that runs nox (the README's
quick start makes it a virtual environment, `.venv`), never a fresh virtual environment each (a
torch install is several GB). A session installs kbench's requirements for what it runs into
that environment only when one is missing, so a GPU host with torch preinstalled and no network
installs nothing. An interpreter the operating system manages (Debian's, PEP 668) is never
installed into: the session stops and says how to make a virtual environment. A GPU job sets
KBENCH_REQUIRE_GPU=1 so that a missing GPU fails the session instead of quietly running on the CPU.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
import sysconfig
import tomllib
from pathlib import Path

import nox
import nox.command

nox.options.sessions = ["tests"]
nox.options.default_venv_backend = "none"  # one environment: the interpreter running nox
ROOT = Path(__file__).parent
EXTERNALLY_MANAGED = Path(sysconfig.get_paths()["stdlib"]) / "EXTERNALLY-MANAGED"
MANAGED = ("{python} is managed by the operating system (PEP 668): kbench installs nothing into it. Make one "
           "environment for every session, then run nox from it:\n    python3 -m venv .venv && "
           ".venv/bin/pip install nox && .venv/bin/nox -s {session}")


def _requirements(extras: tuple[str, ...]) -> list[str]:
    """kbench's requirements with these extras, as pyproject.toml states them (extras of extras too)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    optional, wanted, seen = project.get("optional-dependencies", {}), list(extras), set()
    reqs = list(project["dependencies"])
    while wanted:
        extra = wanted.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for req in optional[extra]:
            nested = re.fullmatch(r"kbench\[([a-z,]+)\]", req)
            reqs += [] if nested else [req]
            wanted += nested.group(1).split(",") if nested else []
    return reqs


def _missing(reqs: list[str]) -> list[str]:
    """The requirements whose distribution is not installed (versions are pip's business)."""
    missing = []
    for req in reqs:
        name = re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0]
        try:
            importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(req)
    return missing


def _install(session: nox.Session, *extras: str, more: tuple[str, ...] = ()) -> None:
    """kbench (editable) with `extras`, plus `more`, into this one environment, only if something
    is missing; nothing with `nox --no-install`."""
    missing = _missing(_requirements(extras) + list(more))
    if not missing or getattr(session._runner.global_config, "no_install", False):
        return
    if sys.prefix == sys.base_prefix and EXTERNALLY_MANAGED.exists():
        session.error(MANAGED.format(python=sys.executable, session=session.name))
    session.log(f"installing what this environment lacks: {', '.join(missing)}")
    spec = f".[{','.join(extras)}]" if extras else "."
    session.run(sys.executable, "-m", "pip", "install", "-q", "-e", spec, *more, external=True)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite on the CPU (Triton kernels in its interpreter), on every core (pytest-xdist,
    at most 4 workers: the scale-out tests start processes of their own)."""
    _install(session, "test")
    default = ["-q", "-n", "auto", "--maxprocesses", "4", "--dist", "worksteal", "tests"]
    session.run(sys.executable, "-m", "pytest", *(session.posargs or default),
                env={"TRITON_INTERPRET": "1"})


@nox.session
def lint(session: nox.Session) -> None:
    """ruff and mypy over kbench/ and noxfile.py."""
    _install(session, "test", more=("ruff", "mypy"))
    session.run(sys.executable, "-m", "ruff", "check", "kbench", "kernels", "tests", "benchmarks", "scripts",
                "noxfile.py")
    session.run(sys.executable, "-m", "mypy", "kbench")


@nox.session(default=False)
def mutation(session: nox.Session) -> None:
    """Mutation testing, one module at a time against its own tests (scripts/mutation-plan.toml;
    mutmut in a worktree of HEAD per module, under build/mutation/), then each module's score with
    timeouts counted as survivors. `nox -s mutation -- kbench/stats.py` measures one module."""
    _install(session, "test", more=("mutmut",))
    session.run(sys.executable, "scripts/mutation_modules.py", *session.posargs, env={"TRITON_INTERPRET": "1"})


def _reproduce(session: nox.Session, suite: Path) -> None:
    _install(session, "data")
    optional = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"].get("optional-dependencies", {})
    paper = tomllib.loads(suite.read_text()).get("paper")
    for extra in (paper.get("extras") if isinstance(paper, dict) else None) or []:
        if extra not in optional:  # `kbench run` refuses the suite with the reason
            continue
        try:  # the authors' packages: one that cannot be installed here leaves its claims skipped, saying why
            _install(session, extra)
        except nox.command.CommandFailed:
            session.warn(f"kbench[{extra}] could not be installed here; the claims that need it will be skipped")
    session.run(sys.executable, "-m", "kbench", "run", str(suite.relative_to(ROOT)), *session.posargs)


for _suite in sorted((ROOT / "suites").glob("*.toml")):

    def _session(session: nox.Session, suite: Path = _suite) -> None:
        _reproduce(session, suite)

    _session.__doc__ = f"Run suites/{_suite.name} on the best device present and write a result file."
    nox.session(name=f"reproduce-{_suite.stem}", default=False)(_session)


@nox.session(default=False)
def report(session: nox.Session) -> None:
    """Build the static HTML report from results/ (into build/report/)."""
    _install(session)
    session.run(sys.executable, "-m", "kbench", "report", *session.posargs)


@nox.session(default=False)
def gate(session: nox.Session) -> None:
    """Compare two result files: nox -s gate -- BASELINE CANDIDATE [--summary FILE]."""
    _install(session)
    session.run(sys.executable, "-m", "kbench", "gate", *session.posargs)


@nox.session(name="gpu-evidence", default=False)
def gpu_evidence(session: nox.Session) -> None:
    """The GPU evidence plan (scripts/gpu-plan.toml) within a time budget:
    `nox --no-venv -s gpu-evidence -- --budget 540 --out DIR`, or `-- --plan --budget 540` for the dry run."""
    _install(session)
    session.run(sys.executable, "scripts/gpu_evidence.py", *session.posargs)


@nox.session(default=False)
def resources(session: nox.Session) -> None:
    """What the compiler makes of kbench's kernels for an H100 (sm_90), on any machine: registers,
    spills, shared memory, load widths, loop instructions per element. Triton must compile, so its
    interpreter is off here."""
    _install(session)
    session.run(sys.executable, "-m", "kernels.rational.resources", *session.posargs, env={"TRITON_INTERPRET": "0"})
