"""Test setup: Triton runs in its interpreter on the CPU; kernels and the toy operation load once.

TRITON_INTERPRET must be set before triton.language is first imported, hence at the very top.
"""

from __future__ import annotations

import os

os.environ.setdefault("TRITON_INTERPRET", "1")
os.environ.setdefault("KBENCH_HOST_CHECK", "off")  # tests run beside other work: the CPU load check has its own tests

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from kbench import registry  # noqa: E402

registry.load_package("rational")
registry.load_package("models")
from tests.fixtures import planted_rational, toy_mixers, toy_model, toy_scale  # noqa: E402,F401  (register the fixtures)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def root() -> Path:
    return ROOT
