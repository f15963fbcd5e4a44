"""Test set-up: the Triton interpreter on machines without a GPU, seeding, NaN-poisoned outputs.

The kernels are built on first use (``igc_triton.runtime``), so setting TRITON_INTERPRET here,
before any test runs an op, is enough. On a GPU machine the same tests run compiled.
"""

import os

import pytest
import torch

ON_GPU = torch.cuda.is_available()
if not ON_GPU:
    os.environ.setdefault("TRITON_INTERPRET", "1")
# FMA contraction on, as Triton 3.6 (the GPU image) does; 3.9 warns while it is unset.
os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")


@pytest.fixture
def device():
    return torch.device("cuda" if ON_GPU else "cpu")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _poison_outputs(monkeypatch):
    """Every output buffer the launchers allocate starts as NaN, so an element a kernel fails
    to write makes the comparison fail instead of passing on leftover memory."""
    from igc_triton import launchers
    alloc = launchers.alloc_output

    def poisoned(x, shape):
        out = alloc(x, shape)
        return out.fill_(float("nan")) if out.dtype.is_floating_point else out

    monkeypatch.setattr(launchers, "alloc_output", poisoned)
