"""The tolerance helpers (igc_triton.testing): each bound accepts a result just inside it and
rejects one just outside, and the bounds follow the arithmetic (TF32, reduction length)."""

import math

import pytest
import torch

from igc_triton import testing


def _at(ref: torch.Tensor, relative: float) -> torch.Tensor:
    """``ref`` with a relative L2 error of exactly ``relative`` (in float64)."""
    noise = torch.randn(ref.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    return ref + noise * (relative * ref.norm() / noise.norm())


@pytest.fixture
def tf32(monkeypatch):
    def set_(on: bool):
        monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", on)
    return set_


CASES = [(torch.float64, "cpu", False, None), (torch.float32, "cpu", False, None), (torch.float32, "cuda", False, 144),
         (torch.float32, "cuda", True, 9), (torch.float32, "cuda", True, 160), (torch.float32, "cuda", True, 4608),
         (torch.float16, "cuda", True, 144), (torch.bfloat16, "cuda", False, 576), (torch.bfloat16, "cpu", False, None)]


@pytest.mark.parametrize("dtype,device_type,allow_tf32,k", CASES, ids=str)
def test_a_result_just_inside_passes_and_just_outside_fails(dtype, device_type, allow_tf32, k, tf32):
    tf32(allow_tf32)
    tol = testing.tolerance(dtype, device_type, k)
    ref = torch.randn(4, 8, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert testing.passes(_at(ref, 0.98 * tol), ref, dtype, device_type, k)
    assert not testing.passes(_at(ref, 1.02 * tol), ref, dtype, device_type, k)


def test_bounds_follow_the_arithmetic(tf32):
    tf32(True)
    # TF32 grows with the reduction length, like u * sqrt(k); PyTorch's conv tests use 5e-3 there.
    assert testing.tolerance(torch.float32, "cuda", 144) == pytest.approx(2.0**-11 * 12)
    assert testing.tolerance(torch.float32, "cuda", 576) == pytest.approx(2.0**-11 * 24)
    # The H200's fp32 IGC-L16M16 block (k = 9 * 16 + 16): measured 1.47e-3, within its bound.
    assert testing.tolerance(torch.float32, "cuda", 160) > 1.47e-3
    # TF32 never applies on a CPU, nor with the flag off: fp32 accuracy, whatever k.
    assert testing.tolerance(torch.float32, "cpu", 4608) == 1e-5
    tf32(False)
    assert testing.tolerance(torch.float32, "cuda", 4608) == 1e-5
    assert testing.tolerance(torch.float32, "cuda", 10**8) == pytest.approx(2.0**-24 * 1e4)
    # 16-bit inputs multiply exactly into fp32 sums: the rounding of the result dominates.
    assert testing.tolerance(torch.bfloat16, "cuda", 4608) == 1e-2
    assert testing.tolerance(torch.float64, "cuda") == 1e-10


def test_nan_and_inf_never_pass():
    ref = torch.ones(3, dtype=torch.float64)
    for bad in (math.nan, math.inf):
        out = ref.clone()
        out[1] = bad
        assert not testing.passes(out, ref, torch.float32, "cpu")
    with pytest.raises(AssertionError, match="relative error nan"):
        testing.assert_close(torch.tensor([1.0, math.nan, 1.0]), ref, torch.float32)


def test_failures_are_recorded_as_they_happen(tmp_path, request):
    conftest = next(p for p in request.config.pluginmanager.get_plugins() if hasattr(p, "record_failure"))
    record_failure = conftest.record_failure

    class Report:  # the fields pytest's TestReport gives the hook
        nodeid, when, longreprtext = "tests/test_x.py::test_y[a]", "call", "E   assert 1 == 2"
    path = tmp_path / "failures.txt"
    record_failure(Report, str(path))
    record_failure(Report, str(path))
    text = path.read_text()
    assert text.count("==== tests/test_x.py::test_y[a] (call)\nE   assert 1 == 2\n") == 2
