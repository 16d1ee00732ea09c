"""Claim kinds: each turns a claim into measurements and per-case values (see base.ClaimData)."""

from kbench.kinds.base import Collector
from kbench.kinds.kernels import bandwidth_fraction, bitwise_repeat, error_ratio, max_error, speedup
from kbench.kinds.models import flops_ratio, time_share, train_speedup

COLLECTORS: dict[str, Collector] = {
    "speedup": speedup,
    "error-ratio": error_ratio,
    "max-error": max_error,
    "bitwise-repeat": bitwise_repeat,
    "bandwidth-fraction": bandwidth_fraction,
    "train-speedup": train_speedup,
    "time-share": time_share,
    "flops-ratio": flops_ratio,
}
