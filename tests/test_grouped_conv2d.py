"""grouped_conv2d against F.conv2d in float64 over the DESIGN.md section 4 matrix."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from igc_triton import grouped_conv2d
from igc_triton.launch import launchers
from igc_triton.testing import LAYOUTS, assert_close, to_layout

CIN = 24
GROUPS = [1, 2, 3, 4, 8, CIN]  # CIN/groups = 24 (GEMM regime) ... 1 (depthwise)
KERNELS = [1, 3, 5]


def _dtypes(device):
    # The interpreter has no usable bf16 (Triton 3.6 raises, 3.9 computes garbage).
    return [torch.float32, torch.float16] + ([torch.bfloat16] if device.type == "cuda" else [])


# Each (groups, kernel) pair gets one geometry; the cycles below make every stride x padding
# pair, both dilations, both batch sizes and bias on/off appear across the 18 pairs.
MATRIX = [
    dict(groups=g, k=k, stride=(1, 2)[i % 2], padding=(0, 1, 2)[i % 3], dilation=(1, 2)[(i // 2) % 2],
         batch=(1, 2)[(i // 3) % 2], bias=i % 4 < 2, cout=(CIN, 2 * CIN)[(i // 6) % 2])
    for i, (g, k) in enumerate(itertools.product(GROUPS, KERNELS))
]


@pytest.mark.parametrize("case", MATRIX, ids=lambda c: "g{groups}-k{k}-s{stride}-p{padding}-d{dilation}-n{batch}"
                                                         "-b{bias:d}-co{cout}".format(**c))
def test_matches_fp64_conv2d(case, device):
    H, W = 11, 9  # odd, and not multiples of any tile
    x = torch.randn(case["batch"], CIN, H, W, dtype=torch.float64, device=device)
    w = torch.randn(case["cout"], CIN // case["groups"], case["k"], case["k"], dtype=torch.float64, device=device)
    b = torch.randn(case["cout"], dtype=torch.float64, device=device) if case["bias"] else None
    geometry = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"], groups=case["groups"])
    ref = F.conv2d(x, w, b, **geometry)
    for layout, dtype in itertools.product(LAYOUTS, _dtypes(device)):
        xi = to_layout(x.to(dtype), layout)
        out = grouped_conv2d(xi, w.to(dtype), None if b is None else b.to(dtype), **geometry)
        assert_close(out, ref, dtype, k=CIN // case["groups"] * case["k"] ** 2)
        assert out.is_contiguous(memory_format=torch.channels_last if layout == "channels_last"
                                 else torch.contiguous_format), f"output layout for {layout} input"


@pytest.mark.parametrize("regime", ["fma", "gemm"])
@pytest.mark.parametrize("cin,groups", [(6, 3), (32, 2), (20, 1)])
def test_each_regime_on_any_group_size(regime, cin, groups, device):
    """Both kernels are correct outside the regime the launcher picks for them."""
    x = torch.randn(2, cin, 7, 5, device=device)
    w, b = torch.randn(8 if groups != 3 else 9, cin // groups, 3, 3, device=device), None
    out = launchers.grouped_conv2d_fwd(x, w, b, (2, 1), (1, 0), (1, 2), groups, (4, 1), regime=regime)
    assert_close(out, F.conv2d(x.double(), w.double(), None, (2, 1), (1, 0), (1, 2), groups), torch.float32)


def test_tuple_arguments_and_non_square_kernel(device):
    x = torch.randn(2, 6, 9, 8, device=device)
    w = torch.randn(4, 3, 3, 2, device=device)
    geometry = dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)
    out = grouped_conv2d(x, w, **geometry)
    assert_close(out, F.conv2d(x.double(), w.double(), **geometry), torch.float32)


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("k,dilation", [(3, 1), (4, 1), (3, 2), (2, 3)])
def test_string_padding(padding, k, dilation, device):
    # An even dilated span makes PyTorch's "same" asymmetric: the extra row/column goes last.
    x = torch.randn(1, 4, 7, 6, device=device)
    w = torch.randn(4, 2, k, k, device=device)
    out = grouped_conv2d(x, w, padding=padding, dilation=dilation, groups=2)
    assert_close(out, F.conv2d(x.double(), w.double(), padding=padding, dilation=dilation, groups=2), torch.float32)


def test_empty_batch(device):
    x = torch.randn(0, 4, 5, 5, device=device)
    out = grouped_conv2d(x, torch.randn(4, 2, 3, 3, device=device), padding=1, groups=2)
    assert out.shape == (0, 4, 5, 5)


def test_unwritten_outputs_fail(device, monkeypatch):
    """The NaN poisoning (conftest) turns a too-small grid into a failure, not a pass."""
    monkeypatch.setattr(launchers.triton, "cdiv", lambda a, b: 1)
    x = torch.randn(2, 4, 20, 20, device=device)
    w = torch.randn(4, 2, 3, 3, device=device)
    out = grouped_conv2d(x, w, padding=1, groups=2)  # 800 pixels, one 256-pixel tile launched
    with pytest.raises(AssertionError, match="relative error nan"):
        assert_close(out, F.conv2d(x.double(), w.double(), padding=1, groups=2), torch.float32)
