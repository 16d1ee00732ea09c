"""Test setup: Triton runs in its interpreter on the CPU; kernels and the toy operation load once.

TRITON_INTERPRET must be set before triton.language is first imported, hence at the very top.
"""

from __future__ import annotations

import os

os.environ.setdefault("TRITON_INTERPRET", "1")
os.environ.setdefault("KBENCH_HOST_CHECK", "off")  # tests run beside other work: the CPU load check has its own tests

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

# Under pytest-xdist the workers share the cores: torch's thread pool in each takes its share, not all.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))

from kbench import registry  # noqa: E402

registry.load_package("rational")
registry.load_package("models")
from tests.fixtures import planted_rational, toy_mixers, toy_model, toy_scale  # noqa: E402,F401  (register the fixtures)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def root() -> Path:
    return ROOT
