"""igc_secondary and igc_conv2d (Triton) against the reference IGC block and its dense equivalent."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from igc_triton import dense_equivalent_weight, igc_conv2d, igc_secondary, reference
from igc_triton.launch import launchers, tuning
from igc_triton.testing import LAYOUTS, assert_close, to_layout

# M = 1 (Xception), L = 1 (regular conv + channel scale), and up to the paper's L = 24.
SECONDARY_LM = [(1, 8), (2, 4), (4, 2), (8, 1), (3, 5), (16, 2), (24, 1)]


@pytest.mark.parametrize("path", ["fma", "gemm"])
@pytest.mark.parametrize("L,M", SECONDARY_LM, ids=lambda v: str(v))
def test_secondary_paths_match_reference(L, M, path, device):
    C = L * M
    t = torch.randn(2, C, 5, 7, dtype=torch.float64, device=device)
    ws = torch.randn(C, L, 1, 1, dtype=torch.float64, device=device)
    ref = reference.igc_secondary(t, ws, L)
    dtypes = [torch.float32, torch.float16] + ([torch.bfloat16] if device.type == "cuda" else [])
    for layout, dtype in itertools.product(LAYOUTS, dtypes):
        out = launchers.igc_secondary_fwd(to_layout(t.to(dtype), layout), ws.to(dtype), L, path=path)
        assert_close(out, ref, dtype)
        if layout == "channels_last":
            assert out.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("path", ["fma", "gemm"])
def test_secondary_tiles_of_a_pixel_block_share_one_grid_axis(path, device):
    """330 pixels and C = 160 (L = 80): two pixel blocks of the interpreter's tiles, each split into
    two l2 blocks (gemm) or three channel blocks (fma) on the same grid axis (adjacent in launch
    order): every (pixel, channel) tile computed once, in its place."""
    L, M = 80, 2
    t = torch.randn(2, L * M, 15, 11, dtype=torch.float64, device=device)
    ws = torch.randn(L * M, L, 1, 1, dtype=torch.float64, device=device)
    out = launchers.igc_secondary_fwd(t.float(), ws.float(), L, path=path)
    assert_close(out, reference.igc_secondary(t, ws, L), torch.float32)


# The nhwc secondary: M = 1 .. 8 (all positions in a program), 16, 32 (blocks of 8), 3, 6, 12
# (blocks of 1, 2, 4: the largest power of two dividing M), L from 16 (the products' K and N) to
# values no K step divides (17, 24, 40: the last step masked), pixel counts no tile divides; L >=
# NHWC_SECONDARY_LAYOUT_MIN_L with 16-bit rows not whole 16-byte vectors, the weight laid out first
# in fp16 (258, 260, and 257 with M = 3: a program per position), read as it is in fp32.
NHWC_SECONDARY_LM = [(16, 1), (16, 2), (24, 4), (40, 2), (17, 8), (32, 8), (16, 16), (24, 32), (16, 3), (16, 6),
                     (17, 12), (258, 1), (260, 1), (257, 3)]


def _check_channels_last_secondary(L, M, kernel, device, monkeypatch):
    """``igc_secondary`` on a channels_last t of 105 pixels runs ``kernel`` and matches the float64
    reference in every dtype the device has."""
    kernels = []
    real = tuning.choose
    monkeypatch.setattr(tuning, "choose", lambda name, *a: kernels.append(name) or real(name, *a))
    C = L * M
    t = torch.randn(3, C, 5, 7, dtype=torch.float64, device=device)  # 105 pixels
    ws = torch.randn(C, L, 1, 1, dtype=torch.float64, device=device)
    ref = reference.igc_secondary(t, ws, L)
    for dtype in [torch.float32, torch.float16] + ([torch.bfloat16] if device.type == "cuda" else []):
        kernels.clear()
        out = igc_secondary(t.to(dtype).contiguous(memory_format=torch.channels_last), ws.to(dtype), L)
        assert kernels == [kernel]
        assert out.is_contiguous(memory_format=torch.channels_last)
        assert_close(out, ref, dtype, k=L)


@pytest.mark.parametrize("L,M", NHWC_SECONDARY_LM, ids=lambda v: str(v))
def test_nhwc_secondary_matches_reference(L, M, device, monkeypatch):
    _check_channels_last_secondary(L, M, "igc_secondary_fwd_nhwc", device, monkeypatch)


def test_nhwc_secondary_takes_only_what_it_can(device):
    """A contiguous channels_last t with L >= 16; anything else keeps the generic paths, and
    forcing it names what it needs."""
    def t_of(L, M, layout="channels_last"):
        return to_layout(torch.randn(1, L * M, 3, 3, device=device), layout)
    assert launchers.nhwc_secondary_applies(t_of(16, 2), 16)
    assert not launchers.nhwc_secondary_applies(t_of(16, 2, "nchw"), 16)
    assert launchers.nhwc_secondary_applies(t_of(16, 3), 16) and launchers.nhwc_secondary_applies(t_of(16, 16), 16)
    assert [tuning.nhwc_secondary_positions(M) for M in (1, 2, 3, 4, 6, 8, 12, 16, 26, 52, 104, 256)] == \
        [1, 2, 1, 4, 2, 8, 4, 8, 2, 4, 8, 8]
    assert not launchers.nhwc_secondary_applies(t_of(8, 2), 8)  # K = 8 < 16
    # Its weight laid out only for long 16-bit rows that are not whole 16-byte vectors, rows rounded up
    # to 128 bytes; never in fp32 (TF32's products read the weight K-major, as stored).
    assert [launchers.nhwc_secondary_weight_width(L, 2) for L in (200, 255, 256, 257, 260, 450)] == \
        [0, 0, 0, 320, 320, 512]
    assert [launchers.nhwc_secondary_weight_width(L, 4) for L in (257, 260, 450)] == [0, 0, 0]
    assert not launchers.nhwc_secondary_applies(t_of(16, 2)[:, :, :, :2], 16)  # strided
    assert not launchers.nhwc_secondary_applies(t_of(16, 2).double(), 16)
    with pytest.raises(ValueError, match="nhwc_secondary_applies"):
        launchers.igc_secondary_fwd(t_of(16, 2, "nchw"), torch.randn(32, 16, 1, 1, device=device), 16, path="nhwc")


# The CUDA-core nhwc secondary (L < 16): L = 1 (a scale per channel), 2, 3 and 15 (odd: weights
# loaded one by one), 4, 6, 8 (in pairs); M = 1 to 64, with 26 and 3 (position tiles past M
# masked); pixel counts no tile divides.
NHWC_FMA_SECONDARY_LM = [(1, 8), (2, 4), (3, 8), (4, 64), (4, 26), (8, 2), (8, 3), (15, 4), (6, 1)]


@pytest.mark.parametrize("L,M", NHWC_FMA_SECONDARY_LM, ids=lambda v: str(v))
def test_nhwc_fma_secondary_matches_reference(L, M, device, monkeypatch):
    _check_channels_last_secondary(L, M, "igc_secondary_fwd_nhwc_fma", device, monkeypatch)


def test_nhwc_fma_secondary_copies_a_weight_view_its_pairs_cannot_read(device, monkeypatch):
    """Even L: the weights are read in pairs, which need an address of two elements' alignment;
    a weight viewed from an odd element is copied first (the result is the same either way)."""
    copies = []
    real_clone = torch.Tensor.clone
    monkeypatch.setattr(torch.Tensor, "clone", lambda self, *a, **k: copies.append(1) or real_clone(self, *a, **k))
    t = torch.randn(1, 32, 3, 3, device=device).contiguous(memory_format=torch.channels_last)
    flat = torch.randn(32 * 4 + 1, device=device)
    for ws, copied in [(flat[1:].view(32, 4, 1, 1), 1), (flat[:-1].view(32, 4, 1, 1), 0)]:
        copies.clear()
        out = launchers.igc_secondary_fwd(t, ws, 4)
        assert len(copies) == copied
        assert_close(out, reference.igc_secondary(t.double(), ws.double(), 4), torch.float32, k=4)


def test_nhwc_fma_secondary_takes_only_what_it_can(device):
    """A contiguous channels_last t with L < 16 (the tensor-core one takes L >= 16); anything
    else keeps the generic paths, and forcing it names what it needs."""
    def t_of(L, M, layout="channels_last"):
        return to_layout(torch.randn(1, L * M, 3, 3, device=device), layout)
    assert launchers.nhwc_fma_secondary_applies(t_of(4, 64), 4)
    assert launchers.nhwc_fma_secondary_applies(t_of(15, 3), 15)
    assert launchers.nhwc_fma_secondary_applies(t_of(1, 8).half(), 1)
    assert not launchers.nhwc_fma_secondary_applies(t_of(16, 2), 16)
    assert not launchers.nhwc_fma_secondary_applies(t_of(4, 8, "nchw"), 4)
    assert not launchers.nhwc_fma_secondary_applies(t_of(4, 8)[:, :, :, :2], 4)  # strided
    assert not launchers.nhwc_fma_secondary_applies(t_of(4, 8).double(), 4)
    with pytest.raises(ValueError, match="nhwc_fma_secondary_applies"):
        launchers.igc_secondary_fwd(t_of(4, 8, "nchw"), torch.randn(32, 4, 1, 1, device=device), 4, path="nhwc_fma")
    # Its tiles: no wider than M's power of two (the pixels grow to keep the size), L tiles in at
    # most 128 registers a thread.
    for L, M in [(4, 64), (8, 2), (15, 8), (3, 26)]:
        for cfg in tuning.nhwc_fma_secondary_space(L, M):
            kw = cfg.kwargs
            assert kw["BLOCK_M"] <= tuning.next_power_of_2(M), (L, M, cfg)
            assert L * kw["BLOCK_P"] * kw["BLOCK_M"] <= 128 * 32 * cfg.num_warps, (L, M, cfg)


def test_secondary_public_function_picks_a_path(device):
    for L, M in [(4, 2), (16, 2)]:
        t = torch.randn(1, L * M, 3, 3, device=device)
        ws = torch.randn(L * M, L, 1, 1, device=device)
        assert_close(igc_secondary(t, ws, L), reference.igc_secondary(t.double(), ws.double(), L), torch.float32)


# Covers M = 1, 2, 4, 8 and L = 1, 2, 4, 24.
BLOCK_LM = [(1, 2), (1, 8), (2, 1), (2, 4), (4, 2), (4, 8), (24, 1), (24, 2)]
# Transition blocks: stride 2 with the channels doubled (M doubles, L fixed), as in the paper.
TRANSITIONS = [(24, 2), (4, 4), (2, 1)]


def _check_block(cin, L, M, stride, device, layout="nchw", dtype=torch.float32):
    C = L * M
    x = torch.randn(2, cin, 9, 7, dtype=torch.float64, device=device)
    block = reference.IGCConv2dReference(cin, C, 3, L=L, stride=stride, padding=1, dtype=torch.float64).to(device)
    wp, ws = block.primary.weight.detach(), block.secondary.weight.detach()
    with torch.no_grad():
        ref = block(x)
        dense = F.conv2d(x, dense_equivalent_weight(wp, ws, L), stride=stride, padding=1)
    torch.testing.assert_close(dense, ref, rtol=1e-10, atol=1e-10)
    out = igc_conv2d(to_layout(x.to(dtype), layout), wp.to(dtype), ws.to(dtype), L, stride=stride, padding=1)
    assert_close(out, ref, dtype)
    assert out.shape == (2, C, (9 - 1) // stride + 1, (7 - 1) // stride + 1)


@pytest.mark.parametrize("L,M", BLOCK_LM, ids=lambda v: str(v))
def test_block_matches_reference_and_dense_equivalent(L, M, device):
    _check_block(L * M, L, M, 1, device)


@pytest.mark.parametrize("L,M_in", TRANSITIONS, ids=lambda v: str(v))
def test_transition_block(L, M_in, device):
    _check_block(L * M_in, L, 2 * M_in, 2, device)


@pytest.mark.parametrize("layout,dtype", [("channels_last", torch.float32), ("strided", torch.float16),
                                          ("nchw", torch.float16)])
def test_block_layouts_and_half(layout, dtype, device):
    _check_block(16, 4, 4, 1, device, layout, dtype)


def test_block_with_dilation(device):
    L = 4  # M = 2
    x = torch.randn(1, 8, 9, 9, device=device)
    wp, ws = torch.randn(8, 2, 3, 3, device=device), torch.randn(8, L, 1, 1, device=device)
    out = igc_conv2d(x, wp, ws, L, stride=1, padding=2, dilation=2)
    ref = reference.igc_conv2d(x.double(), wp.double(), ws.double(), L, 1, 2, 2)
    assert_close(out, ref, torch.float32)
