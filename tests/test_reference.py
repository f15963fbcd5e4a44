"""The pure-PyTorch IGC definition (DESIGN.md section 1) against its algebraic facts."""

import pytest
import torch
import torch.nn.functional as F

from igc_triton import reference as ref

f64 = torch.float64


def rand(*shape):
    return torch.randn(*shape, dtype=f64)


@pytest.mark.parametrize("L,M", [(1, 6), (6, 1), (2, 3), (3, 4)])
def test_interleave_matches_index_formula_and_inverts(L, M):
    t = rand(2, L * M, 3, 3)
    u = ref.interleave(t, L)
    for l in range(L):
        for m in range(M):
            assert torch.equal(u[:, m * L + l], t[:, l * M + m])
    assert torch.equal(ref.deinterleave(u, L), t)
    # deinterleave with L is interleave with M (ShuffleNet's shuffle with M groups).
    assert torch.equal(ref.deinterleave(t, L), ref.interleave(t, M))


@pytest.mark.parametrize("L,M,cin,stride", [(4, 2, 8, 1), (1, 4, 3, 1), (8, 1, 8, 1), (3, 2, 3, 2), (2, 4, 4, 2)])
def test_block_equals_one_regular_convolution(L, M, cin, stride):
    C = L * M
    x = rand(2, cin, 7, 9)
    wp, ws = rand(C, cin // L, 3, 3), rand(C, L, 1, 1)
    y = ref.igc_conv2d(x, wp, ws, L, stride, 1)
    dense = F.conv2d(x, ref.dense_equivalent_weight(wp, ws, L), stride=stride, padding=1)
    torch.testing.assert_close(y, dense, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("L,M", [(4, 2), (1, 5), (5, 1), (3, 3)])
def test_secondary_equals_dense_block_sparse_1x1(L, M):
    C = L * M
    t, ws = rand(2, C, 4, 5), rand(C, L, 1, 1)
    folded = ref.folded_secondary_weight(ws, L)
    torch.testing.assert_close(ref.igc_secondary(t, ws, L), F.conv2d(t, folded), rtol=1e-12, atol=1e-12)
    assert (folded != 0).sum().item() == C * L  # density 1/M


@pytest.mark.parametrize("L,M", [(4, 2), (1, 3), (3, 1)])
def test_secondary_adjoint_weight_gives_the_input_gradient(L, M):
    C = L * M
    t, ws = rand(2, C, 3, 3).requires_grad_(), rand(C, L, 1, 1)
    y = ref.igc_secondary(t, ws, L)
    dy = torch.randn_like(y)
    (dt,) = torch.autograd.grad(y, t, dy)
    torch.testing.assert_close(ref.igc_secondary(dy, ref.secondary_adjoint_weight(ws, L), L), dt)


def test_L1_is_regular_conv_then_channel_scale():
    C = 6
    x, wp, ws = rand(2, C, 5, 5), rand(C, C, 3, 3), rand(C, 1, 1, 1)
    expected = F.conv2d(x, wp, padding=1) * ws.view(1, C, 1, 1)
    torch.testing.assert_close(ref.igc_conv2d(x, wp, ws, 1), expected, rtol=1e-12, atol=1e-12)


def test_M1_is_xception_depthwise_then_pointwise():
    C = 6
    x, wp, ws = rand(2, C, 5, 5), rand(C, 1, 3, 3), rand(C, C, 1, 1)
    expected = F.conv2d(F.conv2d(x, wp, padding=1, groups=C), ws)
    torch.testing.assert_close(ref.igc_conv2d(x, wp, ws, C), expected, rtol=1e-12, atol=1e-12)


def test_reference_module_state_dict_and_forward():
    block = ref.IGCConv2dReference(8, 16, 3, L=4, stride=2, dtype=f64)
    assert set(block.state_dict()) == {"primary.weight", "secondary.weight"}
    assert block.primary.weight.shape == (16, 2, 3, 3) and block.secondary.weight.shape == (16, 4, 1, 1)
    assert (block.L, block.M) == (4, 4)
    x = rand(2, 8, 9, 9)
    expected = ref.igc_conv2d(x, block.primary.weight, block.secondary.weight, 4, 2, 1)
    torch.testing.assert_close(block(x), expected, rtol=0, atol=0)


def test_reference_module_rejects_indivisible_channels():
    with pytest.raises(ValueError, match="divisible by L"):
        ref.IGCConv2dReference(8, 10, L=4)
