"""Claim kinds: one object each (kbench.kinds.base.Kind), found here by name."""

from kbench.kinds.base import Kind
from kbench.kinds.kernels import BandwidthFraction, BitwiseRepeat, ErrorRatio, MaxError, Speedup
from kbench.kinds.largest import SizeRatio
from kbench.kinds.law import Law, LawRatio
from kbench.kinds.matched import MatchedAccuracy, MatchedError
from kbench.kinds.models import FlopsRatio, TimeShare, TrainSpeedup, VarianceRatio
from kbench.kinds.peak_memory import MemoryRatio
from kbench.kinds.trend import TimeTrend

KINDS: dict[str, Kind] = {k.name: k for k in (Speedup(), BandwidthFraction(), ErrorRatio(), MaxError(),
                                                BitwiseRepeat(), TrainSpeedup(), TimeShare(), FlopsRatio(),
                                                MatchedAccuracy(), MatchedError(), VarianceRatio(),
                                                Law(), LawRatio(), MemoryRatio(), TimeTrend(),
                                                SizeRatio())}
