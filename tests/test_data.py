"""The offline data layer: what ships in pip packages, generated sets, symbolic targets."""

from __future__ import annotations

import numpy as np
import pytest

from kbench import data
from kbench.data import symbolic


@pytest.mark.parametrize(("name", "shape", "classes", "total"), [
    ("digits", (1, 8, 8), 10, 1797), ("wine", (13,), 3, 178), ("breast_cancer", (30,), 2, 569),
    ("mnist5k", (1, 28, 28), 10, 5000), ("mnist1d", (40,), 10, 5000),
])
def test_packaged_tasks_load_offline_and_split(name: str, shape: tuple[int, ...], classes: int, total: int) -> None:
    task = data.load(name)
    sizes = [len(s.y) for s in (task.train, task.val, task.test)]
    assert sum(sizes) == total and sizes[0] == int(0.6 * total) and task.input_shape == shape
    assert task.train.x.shape == (sizes[0], *shape) and task.train.x.dtype == np.float32
    assert task.num_classes == classes and set(np.unique(task.test.y)) <= set(range(classes))
    assert data.load(name).sha256 == task.sha256 and data.load(name, seed=1).sha256 != task.sha256


def test_a_file_sorted_by_label_is_shuffled_before_splitting() -> None:
    task = data.load("mnist5k")  # the shipped file holds 500 of each digit, in order
    for split in (task.train, task.val, task.test):
        counts = np.bincount(split.y, minlength=10)
        assert counts.min() > 0.6 * counts.mean()
    assert task.train.x.max() <= 1.0 and task.train.x.min() >= 0.0


@pytest.mark.parametrize(("name", "point", "expected"), [
    ("I.16.6", [0.5, 0.5, 1.0], 1.0 / 1.25),  # (u + v) / (1 + uv/c^2), not pykan's u v / (...)
    ("I.10.7", [2.0, 0.6, 1.0], 2.0 / 0.8),
    ("I.6.20a", [0.0], 1 / np.sqrt(2 * np.pi)),
    ("toy-product", [0.3, -2.0], -0.6),
    ("toy-bessel", [0.0], 1.0),
    ("I.29.16", [1.0, 1.0, 0.0, np.pi], 2.0),
])
def test_symbolic_targets_come_from_the_formulas(name: str, point: list[float], expected: float) -> None:
    assert symbolic.evaluate(name, np.array([point]))[0] == pytest.approx(expected)


def test_symbolic_tasks_stay_in_their_ranges() -> None:
    task = data.load("symbolic/I.26.2")
    assert task.kind == "regression" and task.num_classes == 1 and task.input_shape == (2,)
    x = np.concatenate([task.train.x, task.test.x])
    assert x[:, 0].min() >= 0 and x[:, 0].max() <= 0.99 and x[:, 1].max() <= 2 * np.pi
    expected = symbolic.evaluate("I.26.2", task.test.x.astype(np.float64))
    assert np.allclose(task.test.y, expected, rtol=1e-6, atol=1e-6)


def test_every_listed_task_loads() -> None:
    for name in data.names():
        if name.startswith("symbolic/"):
            assert np.all(np.isfinite(data.load(name).train.y)), name


def test_unknown_names_and_offline_hub_are_clear_errors(root: object) -> None:
    with pytest.raises(data.DataError, match="unknown task 'cifar'"):
        data.load("cifar")
    with pytest.raises(data.DataError, match="unknown symbolic target"):
        data.load("symbolic/E=mc2")
    pytest.importorskip("datasets")
    import os
    import subprocess
    import sys

    code = ("from kbench import data\ntry:\n    data.load_online('kbench-no-such/dataset')\n"
            "except data.DataError as exc:\n    print(exc)\n")
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}  # read when datasets loads
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                         cwd=str(root))
    assert "could not load 'kbench-no-such/dataset'" in out.stdout and "work offline" in out.stdout


def test_tasks_as_hugging_face_datasets() -> None:
    pytest.importorskip("datasets")
    task = data.load("wine")
    ds = data.as_dataset(task)
    assert set(ds) == {"train", "validation", "test"} and ds["test"].num_rows == len(task.test.y)
    assert ds["train"][0]["y"] == int(task.train.y[0])
    assert np.allclose(ds["train"][0]["x"], task.train.x[0])


@pytest.mark.parametrize(("y", "message"), [([0, 1, float("nan"), 1, 0, 1], "NaN"), ([0, 1, 7, 1, 0, 1], "label 7"),
                                            ([0, 1, 0.5, 1, 0, 1], "label 0.5"), ([0, 1, -1, 1, 0, 1], "label -1")])
def test_bad_labels_are_refused_naming_the_task(y: list[float], message: str) -> None:
    x = np.zeros((6, 2))
    with pytest.raises(data.DataError, match=f"task odd: .*{message}"):
        data.split("odd", "classification", x, np.array(y), 0, (2,), 2, "test")


def test_non_finite_inputs_or_targets_are_refused() -> None:
    with pytest.raises(data.DataError, match="targets hold NaN"):
        data.split("odd", "regression", np.zeros((6, 2)), np.array([1, 2, np.inf, 1, 1, 1.0]), 0, (2,), 1, "test")
    with pytest.raises(data.DataError, match="inputs hold NaN"):
        data.split("odd", "regression", np.full((6, 2), np.nan), np.ones(6), 0, (2,), 1, "test")
    assert data.kind_of("symbolic/I.6.20") == "regression" and data.kind_of("wine") == "classification"
