"""grouped_conv2d against F.conv2d in float64 over the DESIGN.md section 4 matrix."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from igc_triton import grouped_conv2d
from igc_triton.launch import launchers, tuning
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
    monkeypatch.setattr(tuning, "cdiv", lambda a, b: 1)
    x = torch.randn(2, 4, 20, 20, device=device)
    w = torch.randn(4, 2, 3, 3, device=device)
    out = grouped_conv2d(x, w, padding=1, groups=2)  # 800 pixels, one 256-pixel tile launched
    with pytest.raises(AssertionError, match="relative error nan"):
        assert_close(out, F.conv2d(x.double(), w.double(), padding=1, groups=2), torch.float32)


# --- the nhwc regime: contiguous channels_last, groups of 1 or 2 channels in and out -----------

# (C, M, H, W, kernel (kh, kw), stride, padding, dilation, bias): depthwise and M = 2 (IGC's
# primary), odd sizes, stride 2, dilation 2, a 5x5 and a non-square kernel, asymmetric
# padding, C = 136 (68 pairs: a partial channel block), C = 8 (4 pairs, the narrowest), C = 34 and
# 20 (not multiples of 8: pixels 4- and 8-byte aligned; 17 pairs, masked in every block).
NHWC_CONV_CASES = [(48, 2, 7, 9, (3, 3), 1, 1, 1, True), (16, 1, 6, 5, (3, 3), 2, 1, 1, False),
                   (40, 2, 6, 7, (5, 5), 1, 2, 1, True), (24, 1, 5, 9, (3, 3), 1, 2, 2, True),
                   (32, 2, 6, 6, (3, 2), (2, 1), (1, 0), (1, 2), False), (136, 2, 4, 5, (3, 3), 1, 1, 1, True),
                   (8, 1, 5, 4, (3, 3), 1, 1, 1, True), (34, 2, 5, 6, (3, 3), 1, 1, 1, True),
                   (20, 1, 4, 5, (3, 3), 2, 1, 1, False)]


@pytest.mark.parametrize("C,M,H,W,k,stride,padding,dilation,bias", NHWC_CONV_CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("q,bp", [(1, 32), (2, 4), (4, 16)])
def test_nhwc_regime_matches_fp64_conv2d(C, M, H, W, k, stride, padding, dilation, bias, q, bp, device,
                                         monkeypatch):
    """Every number of shared columns per thread, with channel blocks of 4 to 32 pairs (several
    per image at C = 136), on every case, the weight channels_last at q = 2 (read as it is);
    outputs start as NaN, so an unwritten one fails."""
    import triton

    from igc_triton.launch import tuning
    kernels = []
    real = tuning.choose
    monkeypatch.setattr(tuning, "choose", lambda kernel, *a: kernels.append(kernel) or real(kernel, *a))
    cfg = triton.Config({"TILE_H": 4, "TILE_W": 8, "Q": q, "BP": bp}, num_warps=4, num_stages=1)
    monkeypatch.setattr(tuning, "nhwc_conv_candidates", lambda channels, out_width: [cfg])
    g = torch.Generator(device=device).manual_seed(C * 10 + q)
    x = torch.randn(2, C, H, W, dtype=torch.float64, device=device, generator=g)
    w = torch.randn(C, M, *k, dtype=torch.float64, device=device, generator=g)
    b = torch.randn(C, dtype=torch.float64, device=device, generator=g) if bias else None
    geometry = dict(stride=stride, padding=padding, dilation=dilation, groups=C // M)
    for dtype in _dtypes(device):
        xi, wi, bi = x.to(dtype), w.to(dtype), None if b is None else b.to(dtype)
        ref = F.conv2d(xi.double(), wi.double(), None if bi is None else bi.double(), **geometry)
        kernels.clear()
        out = grouped_conv2d(to_layout(xi, "channels_last"), to_layout(wi, "channels_last") if q == 2 else wi, bi,
                             **geometry)
        assert kernels == ["grouped_conv2d_fwd_nhwc"], kernels
        assert out.is_contiguous(memory_format=torch.channels_last)
        assert_close(out, ref, dtype, k=M * k[0] * k[1])


def test_nhwc_regime_rule():
    def applies(C, cin_g, layout="channels_last", dtype=torch.float16, cout=None):
        x = to_layout(torch.randn(1, C, 4, 4, dtype=dtype), layout)
        return launchers.nhwc_conv_applies(x, C, cout or C, cin_g)
    assert applies(48, 2) and applies(16, 1) and applies(8, 1) and applies(1024, 1)
    assert applies(48, 2, dtype=torch.float32) and applies(48, 2, dtype=torch.bfloat16)
    assert not applies(48, 2, layout="nchw") and not applies(48, 2, layout="strided")
    assert applies(20, 2) and applies(34, 2) and applies(170, 1)  # C not a multiple of 8: narrower vectors
    assert not applies(48, 4) and not applies(48, 2, cout=96) and not applies(9, 1)  # M = 4; Cin != Cout; odd C
    assert not applies(48, 2, dtype=torch.float64)


def test_forcing_the_nhwc_regime_on_a_conv_it_cannot_take_is_an_error(device):
    x = torch.randn(1, 16, 4, 4, device=device)  # NCHW
    with pytest.raises(ValueError, match="the nhwc regime needs a contiguous channels_last input"):
        launchers.grouped_conv2d_fwd(x, torch.randn(16, 2, 3, 3, device=device), None, (1, 1), (1, 1), (1, 1), 8,
                                     (4, 4), regime=launchers.NHWC_CONV)


# --- the nhwc_gemm regime: contiguous channels_last, every grouped conv the nhwc regime does not take

# (Cin, Cout, groups, H, W, kernel, stride, padding, dilation, bias, weight layout): IGC's large
# partitions (16 and 32 channels), a group width no K step divides (24: the last step masked),
# channels doubled with stride 2, a 1x1 and a non-square kernel, dilation, one group (a regular
# conv), a weight already channels_last (read as it is); and groups under 16 channels, joined
# into block-diagonal super-groups: 4 channels (IGC's M = 4), 1 -> 2 channels (a transition
# block's primary: the last super-group partial), 4 channels in 9 groups (partial), 2 -> 4
# channels at C = 34 (not a multiple of 8, Cin != Cout: not the nhwc regime's), 3 channels; groups
# whose channels do not start every 16 bytes, read through aligned windows (19 and 26 channels:
# in fp32 windows of 24 and 28 from 4-channel boundaries; the last of 19 reaching past C, masked);
# in 16-bit types groups of 16 and 32 channels joined into 128-byte super-groups (the last partial
# at 6 groups of 16).
NHWC_GEMM_CASES = [(32, 32, 2, 5, 7, (3, 3), 1, 1, 1, True, "nchw"), (48, 48, 2, 6, 5, (3, 3), 1, 2, 2, False, "nchw"),
                   (32, 64, 2, 7, 6, (3, 3), 2, 1, 1, True, "nchw"), (64, 64, 2, 4, 5, (1, 1), 1, 0, 1, False, "nchw"),
                   (16, 16, 1, 5, 5, (3, 2), (2, 1), (1, 0), 1, True, "channels_last"),
                   (64, 32, 2, 5, 4, (3, 3), 1, 1, 1, False, "channels_last"),
                   (32, 32, 8, 5, 7, (3, 3), 1, 1, 1, True, "nchw"), (20, 40, 20, 6, 5, (3, 3), 2, 1, 1, False, "nchw"),
                   (36, 36, 9, 5, 5, (3, 3), 1, 2, 2, True, "channels_last"),
                   (34, 68, 17, 4, 4, (3, 3), 1, 1, 1, False, "nchw"), (24, 24, 8, 5, 4, (3, 3), 1, 1, 1, True, "nchw"),
                   (16, 16, 2, 4, 5, (3, 3), 1, 1, 1, True, "nchw"),  # 2 groups of 8: a super-group of both
                   (76, 76, 4, 5, 6, (3, 3), 1, 1, 1, True, "nchw"),
                   (104, 52, 4, 6, 5, (3, 3), 2, 1, 1, False, "channels_last"),
                   (96, 96, 6, 5, 4, (3, 3), 1, 1, 1, True, "channels_last")]  # 16-bit: 4 + 2 groups of 16 joined


@pytest.mark.parametrize("cin,cout,G,H,W,k,stride,padding,dilation,bias,w_layout", NHWC_GEMM_CASES,
                         ids=lambda v: str(v))
def test_nhwc_gemm_regime_matches_fp64_conv2d(cin, cout, G, H, W, k, stride, padding, dilation, bias, w_layout,
                                              device, monkeypatch):
    """Outputs start as NaN, so an unwritten one fails; the weight layouts copied or read as they are."""
    from igc_triton.launch import tuning
    kernels, copies = [], []
    real, real_copy = tuning.choose, launchers.layout_copy
    monkeypatch.setattr(tuning, "choose", lambda kernel, *a: kernels.append(kernel) or real(kernel, *a))
    monkeypatch.setattr(launchers, "layout_copy",
                        lambda t, *a: copies.append(t is real_copy(t, *a)) or real_copy(t, *a))
    g = torch.Generator(device=device).manual_seed(cin * 10 + cout)
    x = torch.randn(2, cin, H, W, dtype=torch.float64, device=device, generator=g)
    w = torch.randn(cout, cin // G, *k, dtype=torch.float64, device=device, generator=g)
    b = torch.randn(cout, dtype=torch.float64, device=device, generator=g) if bias else None
    geometry = dict(stride=stride, padding=padding, dilation=dilation, groups=G)
    for dtype in _dtypes(device):
        xi, wi, bi = x.to(dtype), to_layout(w.to(dtype), w_layout), None if b is None else b.to(dtype)
        ref = F.conv2d(xi.double(), wi.double(), None if bi is None else bi.double(), **geometry)
        kernels.clear()
        copies.clear()
        out = grouped_conv2d(to_layout(xi, "channels_last"), wi, bi, **geometry)
        assert kernels == ["grouped_conv2d_fwd_nhwc_gemm"], kernels
        # The weight's layout: copied to channels_last unless it is already (a 1x1 kernel's, or one
        # input channel's, is both), super-groups' too (their block-diagonal tile built from it);
        # windows and super-groups of 16-bit single channels lay theirs out in a kernel.
        sg = launchers.nhwc_gemm_supergroup(cin // G, G, cout // G, xi.element_size())
        align = launchers.nhwc_gemm_window(cin, sg * cin // G, xi.element_size())[1]
        laid_out = align > 1 or launchers.nhwc_gemm_join(cin // G, sg, align, xi.element_size()) < sg
        assert copies == ([] if laid_out else [wi.is_contiguous(memory_format=torch.channels_last)])
        assert out.is_contiguous(memory_format=torch.channels_last)
        assert_close(out, ref, dtype, k=cin // G * k[0] * k[1])


@pytest.mark.parametrize("case", [NHWC_GEMM_CASES[0], NHWC_GEMM_CASES[6], NHWC_GEMM_CASES[13], NHWC_GEMM_CASES[14]],
                         ids=lambda v: str(v))
def test_nhwc_gemm_input_in_l1_copies_matches_fp64_conv2d(case, device, monkeypatch):
    """The configs that copy the input tile in 8-byte pieces (TAPS_L1; on a GPU another program,
    interpreted the same) on plain groups, super-groups, windows and 128-byte super-groups."""
    from igc_triton.launch import autotune, configs, tuning
    cin, cout, G, H, W, k, stride, padding, dilation, bias, w_layout = case
    g = torch.Generator(device=device).manual_seed(cin * 10 + cout)
    x = torch.randn(2, cin, H, W, dtype=torch.float64, device=device, generator=g)
    w = torch.randn(cout, cin // G, *k, dtype=torch.float64, device=device, generator=g)
    b = torch.randn(cout, dtype=torch.float64, device=device, generator=g) if bias else None
    geometry = dict(stride=stride, padding=padding, dilation=dilation, groups=G)
    l1 = [c for c in configs.NHWC_GEMM_CONFIGS if c.kwargs.get("TAPS_L1")]
    assert l1
    for cfg in l1[-1:] if device.type == "cpu" else l1:
        monkeypatch.setattr(tuning, "nhwc_gemm_candidates", lambda *a, cfg=cfg: [cfg])
        monkeypatch.setattr(autotune, "TUNER", autotune.Tuner())  # no choice remembered from another config
        for dtype in _dtypes(device):
            xi, wi, bi = x.to(dtype), to_layout(w.to(dtype), w_layout), None if b is None else b.to(dtype)
            ref = F.conv2d(xi.double(), wi.double(), None if bi is None else bi.double(), **geometry)
            out = grouped_conv2d(to_layout(xi, "channels_last"), wi, bi, **geometry)
            assert_close(out, ref, dtype, k=cin // G * k[0] * k[1])


def test_nhwc_gemm_regime_rule(device):
    def applies(C, cin_g, layout="channels_last", dtype=torch.float16, cout=None):
        x = to_layout(torch.randn(1, C, 4, 4, dtype=dtype), layout)
        return launchers.nhwc_gemm_applies(x, C, cout or C, cin_g)
    assert applies(32, 16) and applies(512, 32) and applies(48, 24) and applies(32, 32, dtype=torch.bfloat16)
    assert applies(32, 8) and applies(48, 4) and applies(20, 2, cout=40) and applies(48, 1, cout=96)  # super-groups
    assert not applies(48, 2) and not applies(64, 1) and not applies(20, 2)  # the nhwc regime's
    assert not applies(3, 3) and not applies(8, 4)  # under 16 input channels even joined: the FMA regime
    assert not applies(32, 16, layout="nchw") and not applies(32, 16, layout="strided")
    assert not applies(32, 16, dtype=torch.float64)
    assert [launchers.nhwc_gemm_supergroup(c, 64) for c in (1, 2, 3, 4, 8, 12, 16, 24)] == [32, 16, 32, 8, 4, 8, 1, 1]
    assert [launchers.nhwc_gemm_supergroup(c, 2) for c in (1, 8, 16)] == [2, 2, 1]  # no more than the groups
    # 16-bit groups of 16 and 32 channels fill 128 bytes of each pixel unless they have 64 outputs;
    # fp32 and groups whose rows do not divide 128 bytes stay as they are.
    assert [launchers.nhwc_gemm_supergroup(c, 64, o, 2) for c, o in
            ((16, 16), (16, 32), (32, 32), (32, 64), (64, 64), (24, 24), (26, 26))] == [4, 4, 2, 1, 1, 1, 1]
    assert launchers.nhwc_gemm_supergroup(16, 16, 16, 4) == 1 and launchers.nhwc_gemm_supergroup(16, 2, 16, 2) == 2


def test_nhwc_gemm_windows_cover_every_group_from_an_aligned_start():
    """(KWIN, ALIGN) for groups not a multiple of 16 bytes: each group's channels lie inside its
    window from its first channel rounded down to ALIGN, and KWIN is a multiple of ALIGN (whole
    16-byte vectors); groups of a multiple of 16 bytes, or pixels not 16-byte aligned, read as they are."""
    assert launchers.nhwc_gemm_window(832, 26, 2) == (32, 8) and launchers.nhwc_gemm_window(1664, 52, 2) == (56, 8)
    assert launchers.nhwc_gemm_window(104, 26, 4) == (28, 4) and launchers.nhwc_gemm_window(76, 19, 4) == (24, 4)
    assert launchers.nhwc_gemm_window(512, 32, 2) == (32, 1) and launchers.nhwc_gemm_window(96, 24, 2) == (24, 1)
    assert launchers.nhwc_gemm_window(170, 34, 2) == (34, 1)  # 340-byte pixels: no window aligns them
    for cin_g in range(16, 80):
        for elem in (2, 4):
            kwin, align = launchers.nhwc_gemm_window(cin_g * 16, cin_g, elem)
            assert kwin % align == 0 and kwin < cin_g + 2 * align, (cin_g, elem)
            assert all(g * cin_g % align + cin_g <= kwin for g in range(16)), (cin_g, elem)


def test_a_few_channels_in_few_groups_run_the_fma_regime_on_an_nchw_copy(device, monkeypatch):
    """A 3-channel stem (one group): no nhwc kernel's product gets 16 input channels, so the FMA
    regime runs on an NCHW copy of the input, its output copied back to channels_last."""
    from igc_triton.launch import tuning
    kernels = []
    real = tuning.choose
    monkeypatch.setattr(tuning, "choose", lambda kernel, *a: kernels.append(kernel) or real(kernel, *a))
    x = to_layout(torch.randn(2, 3, 9, 8, dtype=torch.float64, device=device), "channels_last")
    w = torch.randn(16, 3, 3, 3, dtype=torch.float64, device=device)
    out = grouped_conv2d(x.float(), w.float(), stride=2, padding=1)
    assert kernels == ["grouped_conv2d_fwd_fma"]
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert_close(out, F.conv2d(x, w, stride=2, padding=1), torch.float32)
    with pytest.raises(ValueError, match="the nhwc_gemm regime needs a contiguous channels_last input"):
        launchers.grouped_conv2d_fwd(torch.randn(1, 32, 4, 4, device=device), torch.randn(32, 16, 3, 3, device=device),
                                     None, (1, 1), (1, 1), (1, 1), 2, (4, 4), regime=launchers.NHWC_GEMM)


# (channels, groups, layout, whether the kernel keeps an Inf in its own group): the nhwc pair
# regime (2 channels a group), the nhwc_gemm regime on whole 16-channel groups, the generic NCHW
# kernels -- exact; 4-channel groups joined into a block-diagonal super-group of 32 -- not.
NON_FINITE_CASES = [(32, 16, "channels_last", True), (128, 2, "channels_last", True), (32, 8, "nchw", True),
                    (32, 8, "channels_last", False), (64, 4, "channels_last", False)]  # 16-bit groups of 16 joined


@pytest.mark.parametrize("C,G,layout,exact", NON_FINITE_CASES, ids=lambda v: str(v))
def test_non_finite_inputs_never_come_out_finite(C, G, layout, exact, device):
    """An Inf and a NaN in the input: every output the reference makes non-finite is non-finite
    here too. Where a product runs a block-diagonal weight over several groups (super-groups, the
    nhwc block form, windows), a neighbouring group's Inf meets a zero weight (NaN): outputs of
    the other groups of its super-group come out NaN as well (README, 'Non-finite inputs');
    elsewhere the two sets are equal."""
    g = torch.Generator(device=device).manual_seed(C + G)
    x = torch.randn(2, C, 6, 5, dtype=torch.float16, device=device, generator=g)
    x[0, 1, 2, 2], x[1, C - 1, 0, 4] = float("inf"), float("nan")
    w = torch.randn(C, C // G, 3, 3, dtype=torch.float16, device=device, generator=g)
    ref = ~torch.isfinite(F.conv2d(x.double(), w.double(), padding=1, groups=G))
    got = ~torch.isfinite(grouped_conv2d(to_layout(x, layout), w, padding=1, groups=G).double())
    assert ref.any() and not (ref & ~got).any()
    assert torch.equal(got, ref) == exact


@pytest.mark.parametrize("C,L,kernel", [(64, 8, "igc_block_nhwc"), (48, 24, "igc_block_nhwc_fma")],
                         ids=lambda v: str(v))
def test_non_finite_inputs_of_an_igc_block_come_out_where_the_references_do(C, L, kernel, device, monkeypatch):
    """The fused block's block-diagonal primary (the nhwc form) spreads an Inf over its channel
    block, but the secondary spreads it over every output of those pixels in the reference too:
    the non-finite outputs are the reference's."""
    from igc_triton import functional, reference
    kernels = []
    real = tuning.choose
    monkeypatch.setattr(tuning, "choose", lambda name, *a: kernels.append(name) or real(name, *a))
    g = torch.Generator(device=device).manual_seed(C)
    x = torch.randn(2, C, 6, 5, dtype=torch.float16, device=device, generator=g)
    x[0, 1, 2, 2] = float("inf")
    wp = torch.randn(C, C // L, 3, 3, dtype=torch.float16, device=device, generator=g)
    ws = torch.randn(C, L, 1, 1, dtype=torch.float16, device=device, generator=g)
    ref = ~torch.isfinite(reference.igc_conv2d(x.double(), wp.double(), ws.double(), L, 1, 1))
    got = ~torch.isfinite(functional.igc_block(to_layout(x, "channels_last"), wp, ws, L).double())
    assert kernels[-1] == kernel, kernels
    assert ref.any() and torch.equal(got, ref)
