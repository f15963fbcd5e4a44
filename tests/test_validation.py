"""Bad input raises a clear ValueError/TypeError naming the problem, before any kernel launches."""

import pytest
import torch

import igc_triton as it
from igc_triton.launch import launchers


@pytest.fixture(autouse=True)
def no_launch(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("a kernel was launched before the input was validated")
    monkeypatch.setattr(launchers, "grouped_conv2d_fwd", fail)
    monkeypatch.setattr(launchers, "igc_secondary_fwd", fail)


def x4(*shape, dtype=torch.float32, device="cpu"):
    return torch.randn(*shape, dtype=dtype, device=device) if dtype.is_floating_point else \
        torch.ones(*shape, dtype=dtype, device=device)


GROUPED_CASES = [
    # (input, weight, bias, kwargs, exception, message)
    (x4(8, 5, 5), x4(4, 8, 3, 3), None, {}, ValueError, "input must be 4-D"),
    (x4(1, 8, 5, 5), x4(4, 8, 3), None, {}, ValueError, "weight must be 4-D"),
    ("x", x4(4, 8, 3, 3), None, {}, TypeError, "input must be a torch.Tensor"),
    (x4(1, 6, 5, 5), x4(4, 3, 3, 3), None, {"groups": 4}, ValueError, "divisible by groups"),
    (x4(1, 8, 5, 5), x4(4, 4, 3, 3), None, {"groups": 4}, ValueError, "expects 16 input channels"),
    (x4(1, 8, 5, 5), x4(4, 8, 3, 3), x4(5), {}, ValueError, "bias has 5 elements"),
    (x4(1, 8, 5, 5), x4(4, 8, 3, 3, dtype=torch.float16), None, {}, TypeError, "dtype torch.float16 but input"),
    (x4(1, 8, 5, 5, dtype=torch.int32), x4(4, 8, 3, 3, dtype=torch.int32), None, {}, TypeError,
     "dtype torch.int32; supported"),
    (x4(1, 8, 5, 5), x4(4, 8, 3, 3, device="meta"), None, {}, ValueError, "weight is on meta but input is on cpu"),
    (x4(1, 8, 5, 5), x4(4, 8, 3, 3), None, {"stride": 0}, ValueError, "stride must be >= 1"),
    (x4(1, 8, 5, 5), x4(4, 8, 3, 3), None, {"stride": 1.5}, TypeError, "stride must be an int or a pair"),
    (x4(1, 8, 5, 5), x4(4, 8, 3, 3), None, {"padding": -1}, ValueError, "padding must be >= 0"),
    (x4(1, 8, 5, 5), x4(4, 8, 3, 3), None, {"padding": "full"}, ValueError, "'valid' or 'same'"),
    (x4(1, 8, 5, 5), x4(4, 8, 3, 3), None, {"padding": "same", "stride": 2}, ValueError, "strided"),
    (x4(1, 8, 2, 2), x4(4, 8, 3, 3), None, {}, ValueError, "too small"),
    (x4(1, 8, 5, 5), x4(4, 8, 3, 3), None, {"groups": 0}, ValueError, "groups must be a positive int"),
    (x4(1, 8, 5, 5), x4(4, 8, 3, 3), None, {"dilation": (1, 2, 3)}, TypeError, "dilation must be"),
]


@pytest.mark.parametrize("x,w,b,kwargs,exc,msg", GROUPED_CASES, ids=[c[-1] for c in GROUPED_CASES])
def test_grouped_conv2d_rejects(x, w, b, kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        it.grouped_conv2d(x, w, b, **kwargs)


def test_secondary_rejects():
    with pytest.raises(ValueError, match=r"input channels \(10\) must be divisible by L \(4\)"):
        it.igc_secondary(x4(1, 10, 3, 3), x4(10, 4, 1, 1), 4)
    with pytest.raises(ValueError, match=r"shape \(C, L, 1, 1\) = \(8, 4, 1, 1\)"):
        it.igc_secondary(x4(1, 8, 3, 3), x4(8, 2, 1, 1), 4)
    with pytest.raises(ValueError, match="L must be a positive int"):
        it.igc_secondary(x4(1, 8, 3, 3), x4(8, 4, 1, 1), 0)
    with pytest.raises(TypeError, match="dtype"):
        it.igc_secondary(x4(1, 8, 3, 3), x4(8, 4, 1, 1, dtype=torch.float64), 4)


def test_igc_conv2d_rejects():
    x, wp, ws = x4(1, 8, 6, 6), x4(16, 2, 3, 3), x4(16, 4, 1, 1)
    with pytest.raises(ValueError, match=r"input channels \(6\) must be divisible by L"):
        it.igc_conv2d(x4(1, 6, 6, 6), wp, ws, 4)
    with pytest.raises(ValueError, match=r"output channels \(primary_weight.shape\[0\]\) \(18\)"):
        it.igc_conv2d(x, x4(18, 2, 3, 3), x4(18, 4, 1, 1), 4)
    with pytest.raises(ValueError, match="expects 12 input channels with L=4"):
        it.igc_conv2d(x, x4(16, 3, 3, 3), ws, 4)
    with pytest.raises(ValueError, match=r"secondary weight must have shape"):
        it.igc_conv2d(x, wp, x4(16, 2, 1, 1), 4)
    # Geometry is checked before the primary kernel, not only inside it.
    with pytest.raises(ValueError, match="stride must be >= 1"):
        it.igc_conv2d(x, wp, ws, 4, stride=0)
    with pytest.raises(ValueError, match="weight is on meta"):
        it.igc_conv2d(x, wp, ws.to("meta"), 4)


def test_dense_equivalent_weight_rejects():
    with pytest.raises(ValueError, match="secondary weight must have shape"):
        it.dense_equivalent_weight(x4(16, 2, 3, 3), x4(16, 2, 1, 1), 4)
    with pytest.raises(ValueError, match="divisible by L"):
        it.dense_equivalent_weight(x4(18, 2, 3, 3), x4(18, 4, 1, 1), 4)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the interpreter runs only where there is no GPU")
def test_interpreter_refuses_bfloat16():
    x, w = x4(1, 4, 5, 5, dtype=torch.bfloat16), x4(4, 2, 3, 3, dtype=torch.bfloat16)
    with pytest.raises(TypeError, match="bfloat16 is not supported by Triton's interpreter"):
        it.grouped_conv2d(x, w, groups=2)
