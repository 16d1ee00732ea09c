"""Which source a result was measured with, checkable by anyone.

A lent GPU host has no .git, so its commit is self-reported (KBENCH_GIT_COMMIT). The result also
records a digest of the source files a run uses: every source file under kbench/ and kernels/
and the suite file, each hashed, then the sorted (path, hash) list hashed once more. Anyone can
recompute it from the working tree or from any commit (`kbench verify RESULT [--commit SHA]`)
and see whether the attribution holds, and which files differ when it does not.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kbench.errors import KbenchError

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("kbench", "kernels")
SUFFIXES = (".py", ".cu", ".cpp", ".h", ".html")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def source_paths(root: Path = ROOT) -> list[str]:
    """The source files of the packages a run imports, relative to `root`, sorted."""
    found = []
    for package in PACKAGES:
        for path in (root / package).rglob("*"):
            if path.is_file() and path.suffix in SUFFIXES and "__pycache__" not in path.parts:
                found.append(path.relative_to(root).as_posix())
    return sorted(found)


def digest(files: Mapping[str, str]) -> str:
    return _sha("".join(f"{path}\0{sha}\n" for path, sha in sorted(files.items())).encode())


def _suite_key(suite_path: str, root: Path) -> str:
    p = Path(suite_path).resolve()
    try:
        return p.relative_to(root).as_posix()
    except ValueError:
        return f"suite:{p.name}"


def record(suite_path: str, root: Path = ROOT) -> dict[str, Any]:
    """The digest of this tree's sources plus the suite, with each file's hash."""
    files = {path: _sha((root / path).read_bytes()) for path in source_paths(root)}
    files[_suite_key(suite_path, root)] = _sha(Path(suite_path).read_bytes())
    return {"digest": digest(files), "files": files, "packages": list(PACKAGES)}


def _at_commit(commit: str, paths: list[str], root: Path) -> dict[str, str]:
    try:
        listing = subprocess.run(["git", "ls-tree", "-r", "--name-only", commit, "--", *PACKAGES, "suites"],
                                 cwd=root, capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError) as exc:
        raise KbenchError(f"verify: cannot read commit {commit!r} with git: {getattr(exc, 'stderr', exc)}") from None
    files = {}
    for path in listing:
        if (Path(path).suffix in SUFFIXES and path.split("/")[0] in PACKAGES) or path in paths:
            blob = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=root, capture_output=True, check=True).stdout
            files[path] = _sha(blob)
    return files


def verify(recorded: Mapping[str, Any], commit: str | None = None, root: Path = ROOT) -> tuple[bool, list[str]]:
    """Whether the recorded digest matches the working tree (or `commit`), and the files that differ."""
    if not recorded or "files" not in recorded:
        raise KbenchError("verify: the result records no source digest (written before kbench recorded one)")
    theirs: Mapping[str, str] = recorded["files"]
    suites = [p for p in theirs if p not in source_paths(root) and p.split("/")[0] not in PACKAGES]
    if commit is None:
        ours = {path: _sha((root / path).read_bytes()) for path in source_paths(root)}
        ours.update({p: _sha((root / p).read_bytes()) for p in suites if (root / p).is_file()})
    else:
        ours = _at_commit(commit, suites, root)
    differ = sorted(p for p in set(theirs) | set(ours) if theirs.get(p) != ours.get(p))
    return digest(ours) == recorded.get("digest") and not differ, differ
