"""Per-site settings for cluster backends, in a TOML file kept out of suite files.

```toml
[slurm]
partition = "gpu"
time_min = 120                 # per shard
account = "lab"                # optional
folder = "slurm-logs"          # submitit's job folder (shared with the nodes)
exclusive = false              # whole nodes (claims that depend on host overhead)
[slurm.gpu_types]              # how this site asks for each GPU type
H100 = { constraint = "h100" }
A100 = { gres = "gpu:a100:1" }

[ray]
address = "auto"
```
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kbench.errors import SuiteError
from kbench.params import Param, read_table

SLURM = {
    "partition": Param(str, "the partition shards are submitted to"),
    "time_min": Param(int, "minutes each shard may run", default=120, low=1, high=60 * 24 * 14),
    "account": Param(str, "the account charged"),
    "folder": Param(str, "submitit's job folder, shared with the nodes", default="slurm-logs"),
    "exclusive": Param(bool, "whole nodes for each shard", default=False),
    "cpus_per_task": Param(int, "CPU cores per shard", default=8, low=1, high=1024),
    "mem_gb": Param(int, "host memory per shard", default=64, low=1, high=1 << 16),
    "max_num_timeout": Param(int, "requeues after preemption or timeout", default=3, low=0, high=100),
    "gpu_types": Param(dict, "GPU type -> { constraint = ... } or { gres = ... }"),
    "cluster": Param(str, "slurm, or local / debug to try the submission path on this machine",
                     default="slurm", choices=("slurm", "local", "debug")),
}
RAY = {"address": Param(str, "the Ray cluster to join (auto, or ray://host:port)", default="auto"),
       "max_retries": Param(int, "retries of a shard whose node was lost", default=3, low=0, high=100)}
GPU_TYPE = {"constraint": Param(str, "a SLURM node feature (--constraint)"),
            "gres": Param(str, "a typed GRES (--gres), e.g. gpu:a100:1")}


@dataclass(frozen=True)
class Profile:
    path: str
    slurm: Mapping[str, Any] = field(default_factory=dict)
    ray: Mapping[str, Any] = field(default_factory=dict)

    def gpu_request(self, gpu_type: str | None) -> dict[str, str]:
        """The SLURM flags that ask for one GPU of `gpu_type` at this site."""
        if gpu_type is None:
            return {}
        types = self.slurm.get("gpu_types") or {}
        if gpu_type not in types:
            raise SuiteError(self.path, "slurm.gpu_types", f"an entry for GPU type {gpu_type!r} (the site's types: "
                             f"{', '.join(types) or 'none'})")
        return dict(types[gpu_type])


def load(path: str | Path) -> Profile:
    p = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise SuiteError(p, "", "a readable profile file", exc.strerror) from None
    except UnicodeDecodeError:
        raise SuiteError(p, "", "a UTF-8 text file", "bytes that are not UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(p, "", "valid TOML", str(exc)) from None
    for key in data:
        if key not in ("slurm", "ray"):
            raise SuiteError(p, key, "one of the tables [slurm], [ray]", "an unknown table")
    slurm = read_table(data.get("slurm", {}), SLURM, p, "slurm")
    for name, request in (slurm.get("gpu_types") or {}).items():
        entry = read_table(request, GPU_TYPE, p, f"slurm.gpu_types.{name}")
        if len(entry) != 1:
            raise SuiteError(p, f"slurm.gpu_types.{name}", "exactly one of constraint, gres", request)
    return Profile(p, slurm, read_table(data.get("ray", {}), RAY, p, "ray"))
