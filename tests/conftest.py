"""Test set-up: the Triton interpreter on machines without a GPU, seeding, NaN-poisoned outputs.

The kernels are built on first use (``igc_triton.runtime``), so setting TRITON_INTERPRET here,
before any test runs an op, is enough. On a GPU machine the same tests run compiled.
"""

import os
import subprocess
import sys

import pytest
import torch

ON_GPU = torch.cuda.is_available()
if not ON_GPU:
    os.environ.setdefault("TRITON_INTERPRET", "1")
else:
    # Compiled, each test runs the default config of each problem (the cost model's first
    # choice): a first call would otherwise compile and time three candidates per problem, and
    # the xdist workers would share one tuning cache file. test_autotune sets its own mode.
    os.environ.setdefault("IGC_TRITON_AUTOTUNE", "off")
# FMA contraction on, as Triton 3.6 (the GPU image) does; 3.9 warns while it is unset.
os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")


_INTERPRET_AT_START = os.environ.get("TRITON_INTERPRET")


@pytest.fixture(autouse=True)
def _interpreter_setting_kept(monkeypatch):
    """On a GPU, a test that runs a command with ``--device cpu`` in this process sets
    TRITON_INTERPRET; left set, kernels imported later in the worker would be interpreted while
    triton's own library functions stay compiled ("Cannot call @triton.jit'd outside of the
    scope of a kernel"). Each test ends with the setting the session started with."""
    if ON_GPU:
        if _INTERPRET_AT_START is None:
            monkeypatch.delenv("TRITON_INTERPRET", raising=False)
        else:
            monkeypatch.setenv("TRITON_INTERPRET", _INTERPRET_AT_START)
    yield


@pytest.fixture
def device():
    return torch.device("cuda" if ON_GPU else "cpu")


@pytest.fixture
def exact_fp32(monkeypatch):
    """fp32 as fp32: no TF32 in cuDNN, cuBLAS or our kernels (``launchers._dot_precision``
    follows cuDNN's flag), and cuDNN's algorithm choice fixed. For tests that compare two fp32
    computations with each other at fp32 accuracy; on a CPU it changes nothing."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    matmul = torch.backends.cuda.matmul  # a property object: monkeypatch cannot set it, restore by hand
    before = matmul.allow_tf32
    matmul.allow_tf32 = False
    yield
    matmul.allow_tf32 = before


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _poison_outputs(monkeypatch):
    """Every output buffer the launchers allocate starts as NaN, so an element a kernel fails
    to write makes the comparison fail instead of passing on leftover memory."""
    from igc_triton.launch import launchers
    alloc = launchers.alloc_output

    def poisoned(x, shape):
        out = alloc(x, shape)
        return out.fill_(float("nan")) if out.dtype.is_floating_point else out

    monkeypatch.setattr(launchers, "alloc_output", poisoned)


# The sm_90 compile check is the longest test and runs in subprocesses: it starts as soon as
# collection ends, on one core, while the interpreter tests use the other, and its test runs
# last to collect the result.
COMPILE_CHECK_TEST = "test_every_kernel_config_compiles_for_sm90"


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: item.name == COMPILE_CHECK_TEST)


def pytest_collection_finish(session):
    # Under pytest-xdist every worker collects every test: none starts it early (there would be
    # one compile check per worker); the worker that runs the test runs it then.
    if (not session.config.option.collectonly and "PYTEST_XDIST_WORKER" not in os.environ
            and any(item.name == COMPILE_CHECK_TEST for item in session.items)):
        session.config.compile_check = start_compile_check(jobs=1)


def pytest_unconfigure(config):
    proc = getattr(config, "compile_check", None)
    if proc is not None and proc.poll() is None:  # the run was interrupted or the test deselected
        proc.kill()


def start_compile_check(jobs: int = 2) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    return subprocess.Popen([sys.executable, "-m", "igc_triton.lab.compile_check", "--jobs", str(jobs)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


# A run stopped by a time limit (a short GPU lease) prints no failure summary, and under
# pytest-xdist no traceback before it: with IGC_TEST_FAILURES=FILE each failure is appended to
# FILE as it happens (on the controller, which receives every worker's reports).
FAILURES_ENV = "IGC_TEST_FAILURES"


def pytest_runtest_logreport(report):
    path = os.environ.get(FAILURES_ENV)
    if path and report.failed and "PYTEST_XDIST_WORKER" not in os.environ:
        record_failure(report, path)


def record_failure(report, path: str):
    with open(path, "a") as f:
        f.write(f"==== {report.nodeid} ({report.when})\n{report.longreprtext}\n\n")
