"""Gradients through the Triton kernels: gradcheck in float64, and against the reference."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from igc_triton import grouped_conv2d, igc_conv2d, igc_secondary, reference
from igc_triton.launch import launchers_bwd
from igc_triton.testing import assert_close, to_layout

f64 = torch.float64

# (cin, cout, groups, k, stride, padding, dilation): L=1-like (groups 1), M=1 (depthwise),
# small and large groups (both kernels of each gradient), stride 2, dilation 2.
CONV_CASES = [
    (4, 4, 1, 3, 1, 1, 1),
    (4, 4, 4, 3, 2, 1, 1),
    (6, 9, 3, 3, 1, 0, 2),
    (4, 6, 2, 1, 2, 0, 1),
    (32, 32, 2, 3, 2, 1, 1),
    (16, 16, 1, 2, 1, 2, 2),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "ci{}-co{}-g{}-k{}-s{}-p{}-d{}".format(*c))
@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_grouped_conv2d_gradcheck(case, layout, device):
    cin, cout, g, k, s, p, d = case
    x = to_layout(torch.randn(1, cin, 5, 6, dtype=f64, device=device), layout).requires_grad_()
    w = torch.randn(cout, cin // g, k, k, dtype=f64, device=device, requires_grad=True)
    b = torch.randn(cout, dtype=f64, device=device, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w, b: grouped_conv2d(x, w, b, s, p, d, g), (x, w, b), fast_mode=True)


def test_grouped_conv2d_gradcheck_same_padding(device):
    # Asymmetric "same" padding (even kernel): the extra row/column sits at the end.
    x = torch.randn(1, 4, 5, 5, dtype=f64, device=device, requires_grad=True)
    w = torch.randn(4, 2, 2, 2, dtype=f64, device=device, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w: grouped_conv2d(x, w, None, 1, "same", 1, 2), (x, w), fast_mode=True)


@pytest.mark.parametrize("L,M", [(1, 4), (4, 1), (2, 3), (16, 1)])
@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_igc_secondary_gradcheck(L, M, layout, device):
    C = L * M
    t = to_layout(torch.randn(2, C, 3, 4, dtype=f64, device=device), layout).requires_grad_()
    w = torch.randn(C, L, 1, 1, dtype=f64, device=device, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t, w: igc_secondary(t, w, L), (t, w), fast_mode=True)


@pytest.mark.parametrize("cin,L,M,stride,dilation",
                         [(4, 2, 2, 1, 1), (4, 4, 1, 2, 1), (3, 1, 3, 1, 2), (4, 2, 4, 2, 1)])
def test_igc_conv2d_gradcheck(cin, L, M, stride, dilation, device):
    C = L * M
    x = torch.randn(1, cin, 5, 5, dtype=f64, device=device, requires_grad=True)
    wp = torch.randn(C, cin // L, 3, 3, dtype=f64, device=device, requires_grad=True)
    ws = torch.randn(C, L, 1, 1, dtype=f64, device=device, requires_grad=True)
    fn = lambda x, wp, ws: igc_conv2d(x, wp, ws, L, stride, dilation, dilation)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, wp, ws), fast_mode=True)


@pytest.mark.parametrize("regime", ["fma", "gemm"])
@pytest.mark.parametrize("cin,cout,g", [(6, 9, 3), (32, 32, 2), (16, 32, 1)])
def test_each_backward_regime(regime, cin, cout, g, device):
    """Both dgrad and both wgrad kernels are right outside the regime the launcher picks."""
    x = torch.randn(2, cin, 7, 6, dtype=f64, device=device, requires_grad=True)
    w = torch.randn(cout, cin // g, 3, 3, dtype=f64, device=device, requires_grad=True)
    y = F.conv2d(x, w, None, (2, 1), (1, 0), (1, 2), g)
    dy = torch.randn_like(y)
    gx, gw = torch.autograd.grad(y, (x, w), dy)
    xf, wf, dyf = x.detach().float(), w.detach().float(), dy.float()
    geometry = ((2, 1), (1, 0), (1, 2), g)
    assert_close(launchers_bwd.grouped_conv2d_dgrad(dyf, wf, xf, *geometry, regime=regime), gx, torch.float32)
    assert_close(launchers_bwd.grouped_conv2d_wgrad(xf, dyf, tuple(w.shape), *geometry, regime=regime), gw,
                 torch.float32)


@pytest.mark.parametrize("layout,dtype", list(itertools.product(["nchw", "channels_last", "strided"],
                                                                [torch.float32, torch.float16])))
def test_block_gradients_match_reference(layout, dtype, device):
    L, M, cin = 4, 2, 4
    x64 = torch.randn(2, cin, 7, 7, dtype=f64, device=device)
    block = reference.IGCConv2dReference(cin, L * M, 3, L=L, stride=2, dtype=f64).to(device)
    y = block(x64.requires_grad_())
    dy = torch.randn_like(y)
    ref = torch.autograd.grad(y, (x64, block.primary.weight, block.secondary.weight), dy)

    x = to_layout(x64.detach().to(dtype), layout).requires_grad_()
    wp = block.primary.weight.detach().to(dtype).requires_grad_()
    ws = block.secondary.weight.detach().to(dtype).requires_grad_()
    out = igc_conv2d(x, wp, ws, L, stride=2)
    out.backward(dy.to(dtype))
    for got, want in zip((x.grad, wp.grad, ws.grad), ref):
        assert_close(got, want, dtype)
    if layout == "channels_last":
        assert x.grad.is_contiguous(memory_format=torch.channels_last)
