"""How long a run will take, said before it starts: from the latest earlier run of the same suite
on the same kind of device (its per-claim seconds, `plan.claim_seconds`, or else its whole
duration), never from a guess. Where no such run exists, it says so.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any


def _runs(folder: Path) -> Iterable[dict[str, Any]]:
    for path in sorted(folder.glob("*.json"), reverse=True):  # run ids start with the time: newest first
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and not data.get("interrupted") and data.get("finished"):
            yield data


def _seconds(run: dict[str, Any], claims: list[str]) -> float | None:
    """The seconds `run` spent on these claims, or None when it cannot say."""
    per = (run.get("plan") or {}).get("claim_seconds")
    if isinstance(per, dict) and all(c in per for c in claims):
        return float(sum(per[c] for c in claims))
    ran = set((run.get("plan") or {}).get("claims") or [])
    if ran and ran == set(claims):
        try:
            return (datetime.fromisoformat(run["finished"]) - datetime.fromisoformat(run["created"])).total_seconds()
        except (KeyError, TypeError, ValueError):
            return None
    return None


def expected(results_dir: str, suite: str, claims: list[str], device: str, replicates: int) -> str:
    """One line: the expected duration of these claims on `device` ('cpu' or a GPU name), and
    where the figure comes from."""
    for run in _runs(Path(results_dir) / suite):
        if str((run.get("env") or {}).get("gpu") or "cpu") != device:
            continue
        seconds = _seconds(run, claims)
        if seconds is None:
            continue
        then = int((run.get("plan") or {}).get("replicates") or 1)
        note = "" if then == replicates else f" with {then} replicate(s); seeded claims scale with replicates"
        return (f"expected: about {_duration(seconds)} (the run {run.get('run_id')} of these claims on this kind of "
                f"device, commit {str((run.get('env') or {}).get('git_commit') or '?')[:7]}{note})")
    return f"expected: unknown (no finished run of these claims on {device} under {results_dir}/{suite})"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
