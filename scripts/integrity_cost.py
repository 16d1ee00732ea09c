"""What the timing defences cost a round: the sketch of every timed call and the check of a random
subset after the round (kbench.timing, kbench.kinds.kernels), against the round's own time.

    python scripts/integrity_cost.py [--device cpu|cuda] [--impl NAME] [--shape 3,197,192] [--rounds 3]

Times rounds of one rational implementation the way a speedup claim does, and reports per round:
the round's wall time, the time its calls were timed for, the time spent sketching outputs, and
the time the after-round check took. The numbers are this machine's; the script says which.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch

from kbench import env, registry, runner, timing
from kbench.kinds import _kernel_timing as kernel_timing
from kbench.kinds.base import Context
from kbench.workloads import KernelWorkload


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--impl", default="torch_reference")
    parser.add_argument("--shape", default="3,197,192")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    device = torch.device(args.device)
    registry.load_package("rational")
    case = {"shape": [int(n) for n in args.shape.split(",")], "dtype": "float32"}
    op = registry.operation("rational")
    impl = registry.implementation("rational", args.impl)
    config = runner.FULL_KERNEL
    ctx = Context(device=device, kernel_timing=config, model_timing=runner.FULL_MODEL)
    sketching = {"s": 0.0}
    real_sketch = timing._sketch

    def timed_sketch(out: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return real_sketch(out)
        finally:
            sketching["s"] += time.perf_counter() - t0

    timing._sketch = timed_sketch  # type: ignore[assignment]
    job = kernel_timing.KernelTiming(op, impl, "fwd", case, ctx, graph=False)
    print(f"device: {env.device_name(device)}; {impl.name} fwd {case['shape']}")
    rows = []
    for r in range(args.rounds):
        work = KernelWorkload(op, impl, "fwd", case, device, torch.float32, job.seeds(r))
        sketching["s"] = 0.0
        t0 = time.perf_counter()
        taken = (timing.cpu_round(work, config) if device.type == "cpu"
                 else timing.cuda_synced_round(work, config, device))
        round_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        job._check_sketches(r, taken, work)
        check_s = time.perf_counter() - t1
        rows.append((round_s, float(taken.samples.sum()) / 1e3, sketching["s"], check_s, taken.samples.size))
    for i, (round_s, timed_s, sketch_s, check_s, calls) in enumerate(rows):
        print(f"round {i + 1}: {calls} timed calls; round {round_s * 1e3:.1f} ms (timed {timed_s * 1e3:.1f} ms), "
              f"sketching {sketch_s * 1e3:.1f} ms, after-round check of {min(kernel_timing.CHECKED_CALLS, calls)} "
              f"calls {check_s * 1e3:.1f} ms")
    added = np.median([(s + c) / r for r, _, s, c, _ in rows])
    print(f"median share of a round added by the defences: {added:.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
