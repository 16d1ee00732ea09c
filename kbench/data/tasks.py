"""What a data task is: its splits, its kind, its digest, and the one way arrays become a task
(checked, shuffled with the task's seed, cut into train / validation / test). The loaders in
kbench.data and kbench.data.symbolic build on it."""

from __future__ import annotations

import hashlib
import importlib
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from kbench.errors import KbenchError

SPLIT = (0.6, 0.2, 0.2)  # train, validation, test
Kind = Literal["classification", "regression"]


class DataError(KbenchError):
    """A task that cannot be loaded here (unknown name, missing package, offline)."""


@dataclass(frozen=True)
class Split:
    x: np.ndarray  # float32, (n, *input_shape)
    y: np.ndarray  # int64 labels, or float32 targets (n,)


@dataclass(frozen=True)
class Task:
    name: str
    kind: Kind
    train: Split
    val: Split
    test: Split
    input_shape: tuple[int, ...]
    num_classes: int  # 1 for regression
    source: str

    @property
    def sha256(self) -> str:
        h = hashlib.sha256()
        for split in (self.train, self.val, self.test):
            h.update(np.ascontiguousarray(split.x).tobytes())
            h.update(np.ascontiguousarray(split.y).tobytes())
        return h.hexdigest()

    def describe(self) -> dict[str, Any]:
        return {"task": self.name, "kind": self.kind, "source": self.source, "sha256": self.sha256,
                "sizes": [len(s.y) for s in (self.train, self.val, self.test)], "input_shape": list(self.input_shape),
                "num_classes": self.num_classes}


def require(package: str) -> Any:
    try:
        return importlib.import_module(package)
    except ImportError:
        raise DataError(f"this task needs the {package!r} package (pip install 'kbench[data]')") from None


def split(name: str, kind: Kind, x: np.ndarray, y: np.ndarray, seed: int, input_shape: tuple[int, ...],
          num_classes: int, source: str) -> Task:
    """Shuffle with `seed` (files may be sorted by label), then cut train / validation / test."""
    check_arrays(name, kind, x, y, num_classes)
    order = np.random.default_rng(seed).permutation(len(y))
    x, y = x[order].astype(np.float32), y[order]
    n_train, n_val = int(SPLIT[0] * len(y)), int(SPLIT[1] * len(y))
    parts = (slice(0, n_train), slice(n_train, n_train + n_val), slice(n_train + n_val, len(y)))
    train, val, test = (Split(x[p], y[p]) for p in parts)
    return Task(name, kind, train, val, test, input_shape, num_classes, source)


def check_arrays(name: str, kind: Kind, x: np.ndarray, y: np.ndarray, num_classes: int) -> None:
    """Inputs finite; labels whole numbers in [0, num_classes), or finite targets: a DataError
    naming the task, not an index error deep in training."""
    if len(x) != len(y) or len(y) < 5:
        raise DataError(f"task {name}: {len(x)} inputs and {len(y)} labels (need the same number, at least 5)")
    if not np.all(np.isfinite(x)):
        raise DataError(f"task {name}: the inputs hold NaN or infinity")
    yf = np.asarray(y, dtype=np.float64)
    if not np.all(np.isfinite(yf)):
        raise DataError(f"task {name}: the {'labels' if kind == 'classification' else 'targets'} hold NaN or infinity")
    if kind == "classification":
        bad = (yf != np.round(yf)) | (yf < 0) | (yf >= num_classes)
        if np.any(bad):
            raise DataError(f"task {name}: label {yf[bad][0]:g} is not a class number in [0, {num_classes})")


def standardise(x: np.ndarray) -> np.ndarray:
    return np.asarray((x - x.mean(axis=0)) / np.maximum(x.std(axis=0), 1e-8))
