"""The fused IGC block kernel (steps 1-4 + inference epilogue) and fuse_for_inference."""

import collections
import itertools

import pytest
import torch
import triton
import triton.language as tl
from igc_triton.kernels.nhwc_pairs import unpack

import igc_triton as it
from igc_triton import models, ops, reference
from igc_triton.launch import launchers
from igc_triton.testing import LAYOUTS, assert_close, rel_error, to_layout

f64 = torch.float64

# (cin, L, M, stride): small groups, transition (Cin != Cout, stride 2), M = 1, L = 1, C = 256.
CASES = [(8, 4, 2, 1), (8, 4, 4, 2), (16, 16, 1, 1), (6, 1, 6, 1), (48, 24, 2, 2), (128, 32, 8, 1)]


def _ref(x, wp, ws, L, stride, scale=None, shift=None, residual=None, relu=False):
    y = reference.igc_conv2d(x, wp, ws, L, stride, 1)
    return ops.reference_block_epilogue(y, scale, shift, residual, relu)


def _block_case(n, cin, C, L, h, w, stride, epilogue, device):
    """float64 input, weights, epilogue arguments (folded BN, residual, ReLU, or none) of a 3x3
    block with padding 1, and its reference output."""
    x = torch.randn(n, cin, h, w, dtype=f64, device=device)
    wp, ws = torch.randn(C, cin // L, 3, 3, dtype=f64, device=device), torch.randn(C, L, 1, 1, dtype=f64, device=device)
    extra = {}
    if epilogue:
        oh, ow = (h - 1) // stride + 1, (w - 1) // stride + 1
        extra = dict(scale=torch.rand(C, dtype=f64, device=device) + 0.5,
                     shift=torch.randn(C, dtype=f64, device=device),
                     residual=torch.randn(n, C, oh, ow, dtype=f64, device=device), relu=True)
    return x, wp, ws, extra, _ref(x, wp, ws, L, stride, **extra)


# The tc form loops over the L partitions: not forced onto L > 16 (slow under the interpreter).
# The nhwc forms take only their own blocks, in channels_last: tested below (nhwc_pair: after
# the form rule).
FORM_CASES = [(form, *case) for form in launchers.FUSED_FORMS for case in CASES
              if form not in (launchers.NHWC, launchers.NHWC_FMA, launchers.NHWC_PAIR)
              and not (form == launchers.TC and case[1] > launchers.FUSED_TC_MAX_L)]


@pytest.mark.parametrize("form,cin,L,M,stride", FORM_CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("epilogue", [False, True])
def test_fused_block_matches_reference(cin, L, M, stride, epilogue, form, device, monkeypatch):
    """Every fused kernel on every case: each form is forced onto these small blocks (outside
    its own range too: L < 16 for the wide form, Cin/L < 16 for the tc form) so that all run
    on interpreter-sized shapes with every masking path."""
    monkeypatch.setattr(launchers, "fused_block_form", lambda *a: form)
    calls = []
    real = launchers.igc_block_fwd
    monkeypatch.setattr(launchers, "igc_block_fwd", lambda *a, **k: calls.append(1) or real(*a, **k))
    x, wp, ws, extra, ref = _block_case(2, cin, L * M, L, 7, 6, stride, epilogue, device)
    dtypes = [torch.float32, torch.float16] + ([torch.bfloat16] if device.type == "cuda" else [])
    runs = list(itertools.product(LAYOUTS, dtypes))
    if form != launchers.NARROW and device.type != "cuda":  # interpreter time: each layout and dtype once
        runs = [(layout, dtypes[i % len(dtypes)]) for i, layout in enumerate(LAYOUTS)]
    for layout, dtype in runs:
        args = {k: (v.to(dtype) if isinstance(v, torch.Tensor) else v) for k, v in extra.items()}
        if "residual" in args:
            args["residual"] = to_layout(args["residual"], layout)
        out = it.igc_block(to_layout(x.to(dtype), layout), wp.to(dtype), ws.to(dtype), L, stride, **args)
        assert_close(out, ref, dtype)
        if layout == "channels_last":
            assert out.is_contiguous(memory_format=torch.channels_last)
    assert calls, "the fused kernel did not run"


def test_fused_form_rule():
    form = launchers.fused_block_form
    assert form(64, 64, 32, torch.float16) == launchers.NARROW  # C <= 256, Cin/L = 2
    assert form(256, 256, 128, torch.bfloat16) == launchers.NARROW
    assert form(400, 400, 200, torch.float32) == launchers.WIDE  # C > 256, L >= 16
    assert form(3600, 3600, 450, torch.float16) == launchers.WIDE
    assert form(272, 272, 272, torch.float16) == launchers.WIDE  # M = 1
    assert form(512, 512, 8, torch.float16) == launchers.TC  # Cin/L = 64: tensor-core primary
    assert form(512, 512, 16, torch.float16) == launchers.TC
    assert form(64, 64, 2, torch.float16) == launchers.TC
    assert form(832, 832, 32, torch.float16) is None  # Cin/L = 26 but L > 16: two kernels
    assert form(512, 512, 8 * 3, torch.float16) is None  # C > 256, Cin/L = 21, L = 24
    assert form(64, 64, 32, torch.float64) is None
    # Contiguous channels_last, C -> C, C <= 256: M = 1 or 2 with C even and >= 16, the nhwc_fma
    # form (C = 170, 34: not multiples of 8); other M dividing 64 with C % 8 == 0 (and M = 2 at
    # C = 8), the nhwc form.
    for cin, L in [(48, 24), (80, 40), (24, 12), (256, 128), (16, 8), (16, 16), (64, 64), (200, 100), (256, 256),
                   (170, 85), (34, 34)]:
        assert form(cin, cin, L, torch.bfloat16, channels_last=True) == launchers.NHWC_FMA, (cin, L)
        assert form(cin, cin, L, torch.bfloat16) not in (launchers.NHWC, launchers.NHWC_FMA)
    for cin, L in [(64, 8), (128, 8), (32, 2), (192, 24), (256, 4), (64, 1), (128, 4), (8, 4), (64, 16)]:
        assert form(cin, cin, L, torch.bfloat16, channels_last=True) == launchers.NHWC, (cin, L)
        assert form(cin, cin, L, torch.bfloat16) not in (launchers.NHWC, launchers.NHWC_FMA)
    # M = 1 at C = 8, M = 6 (64 % 6 != 0), M = 128, Cin != C, M = 4 at C = 20 (not a multiple of 8),
    # C = 272 (> 256), C = 17 (odd: no channel pairs).
    for cin, cout, L in [(8, 8, 8), (48, 48, 8), (256, 256, 2), (16, 32, 8), (16, 32, 16), (20, 20, 5),
                         (272, 272, 136), (17, 17, 17)]:
        assert form(cin, cout, L, torch.float16, channels_last=True) not in (launchers.NHWC, launchers.NHWC_FMA), \
            (cin, cout, L)
    assert form(48, 48, 24, torch.float64, channels_last=True) is None
    # Contiguous channels_last blocks no nhwc form takes whose secondary (L >= 16) runs the nhwc
    # kernel (its primary: the nhwc or nhwc_gemm regime, which take every grouped conv of such an
    # input): the nhwc_pair form.
    for cin, cout, L in [(400, 400, 200), (3600, 3600, 450), (512, 512, 16), (1024, 2048, 16), (272, 272, 272),
                         (256, 512, 16), (1024, 1024, 16), (900, 900, 450), (400, 800, 400), (180, 360, 90),
                         (832, 832, 32)]:
        assert form(cin, cout, L, torch.bfloat16, channels_last=True) == launchers.NHWC_PAIR, (cin, cout, L)
        assert form(cin, cout, L, torch.bfloat16) != launchers.NHWC_PAIR
    # L < 16 with groups of 16 input channels or more (the nhwc_gemm primary, then the CUDA-core
    # nhwc secondary): paper-layers' L = 4 blocks over 256 channels or with a transition, M = 24.
    for cin, cout, L in [(1024, 1024, 4), (512, 1024, 4), (256, 512, 4), (512, 1024, 8), (96, 96, 4), (32, 48, 2)]:
        assert form(cin, cout, L, torch.bfloat16, channels_last=True) == launchers.NHWC_PAIR, (cin, cout, L)
        assert form(cin, cout, L, torch.bfloat16) == launchers.TC, (cin, cout, L)
    # L < 16 with groups under 16 channels (C = 272, M = 2: L = 136 >= 16 is above); fp64.
    for cin, cout, L, dt in [(120, 360, 15, torch.bfloat16), (64, 272, 8, torch.bfloat16),
                             (400, 400, 200, torch.float64)]:
        assert form(cin, cout, L, dt, channels_last=True) != launchers.NHWC_PAIR, (cin, cout, L)


@pytest.mark.parametrize("cin,C,L,stride", [(272, 272, 136, 1), (256, 512, 16, 2), (512, 512, 32, 1), (64, 96, 4, 2),
                                            (48, 72, 3, 1)], ids=lambda v: str(v))
@pytest.mark.parametrize("epilogue", [False, True])
def test_nhwc_pair_form_runs_two_nhwc_kernels(cin, C, L, stride, epilogue, device, monkeypatch):
    """C = 272 (M = 2; over the nhwc_fma form's 256), a transition block with groups of 16
    channels (C = 512) and L = 32 groups of 16 (no NCHW fused form takes it): the nhwc primary or
    the nhwc_gemm one, then the nhwc secondary with the epilogue (a residual in either layout),
    NaN-poisoned outputs. L = 4 and 3 (M = 24: no one-kernel nhwc form; groups of 16 channels):
    the nhwc_gemm primary, then the CUDA-core nhwc secondary."""
    from igc_triton.launch import tuning
    kernels = []
    real = tuning.choose
    monkeypatch.setattr(tuning, "choose", lambda kernel, *a: kernels.append(kernel) or real(kernel, *a))
    x, wp, ws, extra, ref = _block_case(1, cin, C, L, 5, 4, stride, epilogue, device)
    primary = "grouped_conv2d_fwd_nhwc" if cin // L < 16 else "grouped_conv2d_fwd_nhwc_gemm"
    copies = []
    real_copy = launchers.layout_copy
    monkeypatch.setattr(launchers, "layout_copy",
                        lambda t, *a: (lambda out: copies.append(out is not t) or out)(real_copy(t, *a)))
    # An NCHW input runs on a channels_last copy, its output copied back (launchers.nchw_takes_nhwc_form).
    for dtype, res_layout, layout in [(torch.float32, "nchw", "channels_last"), (torch.float16, "channels_last",
                                                                                 "channels_last"),
                                      (torch.float32, "nchw", "nchw")]:
        args = {k: (v.to(dtype) if isinstance(v, torch.Tensor) else v) for k, v in extra.items()}
        if "residual" in args:
            args["residual"] = to_layout(args["residual"], res_layout)
        kernels.clear()
        copies.clear()
        out = it.igc_block(to_layout(x.to(dtype), layout), wp.to(dtype), ws.to(dtype), L, stride, **args)
        secondary = "igc_secondary_fwd_nhwc" if L >= 16 else "igc_secondary_fwd_nhwc_fma"
        assert kernels == [primary, secondary], kernels
        assert out.is_contiguous(memory_format=torch.channels_last if layout == "channels_last" else
                                 torch.contiguous_format)
        # Copied: an NCHW input and its output, an NCHW residual, and the implicit GEMM's 3x3 weight
        # (to channels_last; groups of 16 channels, no super-groups).
        activations = (2 if layout == "nchw" else 0) + (epilogue and res_layout == "nchw")
        assert sum(copies) == activations + (cin // L >= 16), copies
        assert_close(out, ref, dtype, k=cin // L * 9 * L)


def test_nhwc_pair_form_refuses_what_its_kernels_cannot_take(device):
    """An NCHW input, or an NCHW output buffer (its secondary writes channels_last)."""
    x = torch.randn(1, 272, 4, 4, device=device)  # NCHW
    wp, ws = torch.randn(272, 2, 3, 3, device=device), torch.randn(272, 136, 1, 1, device=device)
    for x_, out in [(x, None), (to_layout(x, "channels_last"), torch.empty(1, 272, 4, 4, device=device))]:
        with pytest.raises(ValueError, match="the nhwc_pair form needs a contiguous channels_last input and output"):
            launchers.igc_block_fwd(x_, wp, ws, 136, (1, 1), (1, 1), (1, 1), (4, 4), form=launchers.NHWC_PAIR, out=out)


def test_wide_block_runs_the_wide_kernel_by_default(device, monkeypatch):
    kernels = []
    from igc_triton.launch import tuning
    real = tuning.choose
    monkeypatch.setattr(tuning, "choose", lambda kernel, *a: kernels.append(kernel) or real(kernel, *a))
    L, M, cin = 136, 2, 136  # C = 272 > 256
    # One pixel (contiguous in both layouts): any larger image runs the nhwc_pair form, in
    # channels_last or (NCHW) on a channels_last copy.
    x = torch.randn(1, cin, 1, 1, device=device)
    wp, ws = torch.randn(L * M, cin // L, 3, 3, device=device), torch.randn(L * M, L, 1, 1, device=device)
    scale, shift = torch.rand(L * M, device=device) + 0.5, torch.randn(L * M, device=device)
    out = it.igc_block(x, wp, ws, L, 2, scale=scale, shift=shift, relu=True)
    assert kernels == ["igc_block_fwd_wide"]
    assert_close(out, _ref(x.double(), wp.double(), ws.double(), L, 2, scale.double(), shift.double(), relu=True),
                 torch.float32)


# Larger images run the nhwc_pair form on a channels_last copy (launchers.nchw_takes_nhwc_form):
# one pixel, where NCHW and channels_last are the same layout.
@pytest.mark.parametrize("cin,L,M,stride", [(32, 2, 12, 2), (48, 3, 20, 1), (16, 1, 24, 1)])
def test_tc_form_is_chosen_for_large_partitions(cin, L, M, stride, device, monkeypatch):
    kernels = []
    from igc_triton.launch import tuning
    real = tuning.choose
    monkeypatch.setattr(tuning, "choose", lambda kernel, *a: kernels.append(kernel) or real(kernel, *a))
    C = L * M
    x = torch.randn(2, cin, 1, 1, device=device)
    wp, ws = torch.randn(C, cin // L, 3, 3, device=device), torch.randn(C, L, 1, 1, device=device)
    res = torch.randn(2, C, 1, 1, device=device)
    out = it.igc_block(x, wp, ws, L, stride, residual=res, relu=True)
    assert kernels == ["igc_block_fwd_tc"]
    assert_close(out, _ref(x.double(), wp.double(), ws.double(), L, stride, residual=res.double(), relu=True),
                 torch.float32)


@pytest.mark.parametrize("layout", ["nchw", "strided"])
@pytest.mark.parametrize("C,L,form", [(48, 24, "nhwc_fma"), (32, 4, "nhwc")])
def test_non_channels_last_blocks_run_an_nhwc_form_on_a_copy(C, L, form, layout, device, monkeypatch):
    kernels = []
    from igc_triton.launch import tuning
    real = tuning.choose
    monkeypatch.setattr(tuning, "choose", lambda kernel, *a: kernels.append(kernel) or real(kernel, *a))
    x = to_layout(torch.randn(2, C, 5, 6, device=device), layout)
    wp, ws = torch.randn(C, C // L, 3, 3, device=device), torch.randn(C, L, 1, 1, device=device)
    res = torch.randn(2, C, 5, 6, device=device)
    out = it.igc_block(x, wp, ws, L, residual=res, relu=True)
    assert kernels == [f"igc_block_{form}"] and out.is_contiguous()
    assert_close(out, _ref(x.double(), wp.double(), ws.double(), L, 1, residual=res.double(), relu=True),
                 torch.float32, k=C // L * 9 + L)
    # One pixel: NCHW and channels_last are the same layout, and the generic form takes it.
    kernels.clear()
    x1 = torch.randn(2, C, 1, 1, device=device)
    out = it.igc_block(x1, wp, ws, L, relu=True)
    assert kernels == ["igc_block_fwd"]
    assert_close(out, _ref(x1.double(), wp.double(), ws.double(), L, 1, relu=True), torch.float32, k=C // L * 9 + L)


def test_outside_the_fused_range_takes_the_two_kernel_path(device, monkeypatch):
    monkeypatch.setattr(launchers, "igc_block_fwd", lambda *a, **k: pytest.fail("fused kernel used"))
    # Cin/L >= 16 with L > 16 (one pixel: a larger image runs the nhwc_pair form on a channels_last
    # copy); C > 256 with Cin/L < 16 and L < 16.
    for cin, L, M, hw in [(17 * 17, 17, 1, 1), (64, 8, 34, 3)]:
        x, C = torch.randn(1, cin, hw, hw, device=device), L * M
        wp, ws = torch.randn(C, cin // L, 3, 3, device=device), torch.randn(C, L, 1, 1, device=device)
        assert_close(it.igc_block(x, wp, ws, L, relu=True), _ref(x.double(), wp.double(), ws.double(), L, 1, relu=True),
                     torch.float32, k=cin // L * 9 + L)  # two chained products: TF32 error adds up


def test_igc_block_is_differentiable_through_the_two_kernel_path(device):
    x = torch.randn(2, 8, 5, 5, dtype=f64, device=device, requires_grad=True)
    wp = torch.randn(8, 2, 3, 3, dtype=f64, device=device, requires_grad=True)
    ws = torch.randn(8, 4, 1, 1, dtype=f64, device=device, requires_grad=True)
    scale, shift = torch.rand(8, dtype=f64, device=device) + 0.5, torch.randn(8, dtype=f64, device=device)
    assert torch.autograd.gradcheck(lambda x, wp, ws: it.igc_block(x, wp, ws, 4, scale=scale, shift=shift, relu=True),
                                    (x, wp, ws), fast_mode=True)


def test_igc_block_rejects_bad_epilogues():
    x, wp, ws = torch.randn(1, 8, 5, 5), torch.randn(8, 2, 3, 3), torch.randn(8, 4, 1, 1)
    with pytest.raises(ValueError, match="both scale and shift"):
        it.igc_block(x, wp, ws, 4, scale=torch.ones(8))
    with pytest.raises(ValueError, match="scale has 4 elements, expected 8"):
        it.igc_block(x, wp, ws, 4, scale=torch.ones(4), shift=torch.ones(4))
    with pytest.raises(ValueError, match="residual has shape"):
        it.igc_block(x, wp, ws, 4, residual=torch.randn(1, 8, 4, 4))
    with pytest.raises(TypeError, match="relu must be a bool"):
        it.igc_block(x, wp, ws, 4, relu=1)


def test_remembered_shape_rules_still_refuse_what_they_refused():
    """The block's shape rules are remembered per shapes and arguments (host time): a valid call
    first must not let an argument equal to it as a dictionary key (True == 1) through after, a
    refused call raises every time, and a list argument is remembered as its tuple."""
    x, wp, ws = torch.randn(1, 8, 5, 5), torch.randn(8, 2, 3, 3), torch.randn(8, 4, 1, 1)
    ref = it.igc_block(x, wp, ws, 4, stride=1, padding=1)
    for _ in range(2):
        with pytest.raises(TypeError, match="stride must be an int or a pair of ints"):
            it.igc_block(x, wp, ws, 4, stride=True, padding=1)
        with pytest.raises(TypeError, match="padding must be an int"):
            it.igc_block(x, wp, ws, 4, padding=(True, 1))
        with pytest.raises(ValueError, match="L must be a positive int"):
            it.igc_block(x, wp, ws, 4.0, padding=1)
        with pytest.raises(ValueError, match="too small for kernel"):
            it.igc_block(x[..., :1, :1], wp, ws, 4, padding=0)
    out = it.igc_block(x, wp, ws, 4, stride=[1, 1], padding=[1, 1])
    assert torch.equal(out, ref)
    pair = collections.namedtuple("pair", "h w")  # a tuple's subclass: keyed by its elements' types too
    assert torch.equal(it.igc_block(x, wp, ws, 4, stride=pair(1, 1), padding=1), ref)
    with pytest.raises(TypeError, match="stride must be an int or a pair of ints"):
        it.igc_block(x, wp, ws, 4, stride=pair(True, 1), padding=1)
    with pytest.raises(TypeError, match="padding must be an int"):
        it.igc_block(x, wp, ws, 4, padding={1: 1})  # not a key: checked (and refused) as before
    w = torch.randn(8, 8, 3, 3)
    conv = it.grouped_conv2d(x, w, padding=1, groups=1)
    for _ in range(2):
        with pytest.raises(ValueError, match="groups must be a positive int"):
            it.grouped_conv2d(x, w, padding=1, groups=True)
        with pytest.raises(ValueError, match="bias has 4 elements"):
            it.grouped_conv2d(x, w, torch.ones(4), padding=1)
    assert torch.equal(it.grouped_conv2d(x, w, padding=[1, 1], groups=1), conv)


def test_opcheck_igc_block(device):
    x, wp, ws = torch.randn(2, 8, 5, 6, device=device), torch.randn(8, 2, 3, 3, device=device), \
        torch.randn(8, 4, 1, 1, device=device)
    args = (x, wp, ws, 4, [2, 1], [1, 1, 1, 1], [1, 1], torch.rand(8, device=device), torch.randn(8, device=device),
            torch.randn(2, 8, 3, 6, device=device), True)
    torch.library.opcheck(ops.igc_block, args, test_utils=("test_schema", "test_faketensor",
                                                            "test_aot_dispatch_dynamic"))


def _randomise_bn(net):
    g = torch.Generator().manual_seed(1)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return net


@pytest.mark.parametrize("build,blocks", [(lambda: models.plain_cifar(8, L=8, M=2), 6),
                                          (lambda: models.resnet_cifar(8, 4, 4), 6),
                                          (lambda: models.xception_cifar(8, 2, blocks=2), 2)])
def test_fuse_for_inference_keeps_the_outputs(build, blocks, device):
    net = _randomise_bn(build()).to(device).eval()
    x = torch.randn(2, 3, 8, 8, device=device)
    with torch.no_grad():
        expected = net(x)
        fused, n = it.fuse_for_inference(net)
        out = fused(x)
    assert n == blocks
    assert sum(isinstance(m, it.fuse.FusedIGCBlock) for m in fused.modules()) == blocks
    assert not any(isinstance(m, it.fuse.FusedIGCBlock) for m in net.modules())  # the original is untouched
    assert rel_error(out, expected) <= 1e-5


def test_a_fused_model_runs_its_fused_kernel_with_autograd_on(device, monkeypatch):
    """Called without torch.no_grad, a fused model's blocks still take the fused kernel (its
    weights are frozen, so nothing asks for the differentiable two-kernel path); an input that
    requires grad still gets its gradient."""
    net = _randomise_bn(models.plain_cifar(8, L=8, M=2)).to(device).eval()
    fused, _ = it.fuse_for_inference(net)
    assert not any(p.requires_grad for p in fused.parameters())
    assert all(p.requires_grad for p in net.parameters())  # the original is untouched
    calls = []
    for name in ("igc_block", "igc_block_eager"):
        real = getattr(ops, name)
        monkeypatch.setattr(ops, name, lambda *a, real=real: calls.append(1) or real(*a))
    x = torch.randn(2, 3, 8, 8, device=device)
    y = fused(x)
    assert calls and y.grad_fn is None
    with torch.no_grad():
        assert rel_error(y, net(x)) <= 1e-5
    x.requires_grad_(True)
    fused(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("L,M", [(4, 4), (16, 2)])
def test_secondary_weight_is_read_fresh_on_every_call(L, M, device):
    """No folded weight is kept between calls: an in-place change of the secondary weight, even
    through ``.data`` (invisible to version counters), shows in the next call of the fused
    block and of the two-kernel path (L = 16: its tensor-core secondary)."""
    C = L * M
    ws = torch.randn(C, L, 1, 1, device=device)
    x = torch.randn(1, C, 4, 4, device=device)
    wp = torch.randn(C, C // L, 3, 3, device=device)
    y1, s1 = it.igc_block(x, wp, ws, L), it.igc_secondary(x, ws, L)
    ws.data.mul_(-2.0)
    assert_close(it.igc_block(x, wp, ws, L), -2.0 * y1.double(), torch.float32)
    assert_close(it.igc_secondary(x, ws, L), -2.0 * s1.double(), torch.float32)


class _CountLaunches:
    """A kernel whose launches are counted into ``calls``."""

    def __init__(self, kernel, calls):
        self.kernel, self.calls = kernel, calls

    def __getitem__(self, grid):
        self.calls.append(grid)
        return self.kernel[grid]


@pytest.mark.parametrize("layout", ["channels_last", "nchw"])
@pytest.mark.parametrize("C,L,form", [(16, 8, "nhwc_fma"), (32, 4, "nhwc")])
def test_a_fused_model_lays_its_weights_out_once_while_they_stay_the_same(C, L, form, layout, device, monkeypatch):
    """fuse_for_inference's blocks are snapshots: the nhwc forms' weights are laid out (nhwc_fma:
    by its weights kernel; nhwc: the NCHW primary weight copied to channels_last, which its kernel
    reads) on the first call and again only when a weight's storage or version changes (in-place
    update, load_state_dict); the functional API lays them out on every call."""
    import importlib
    laid_out = []
    net = _randomise_bn(torch.nn.Sequential(it.IGCConv2d(C, C, 3, L=L), torch.nn.BatchNorm2d(C),
                                            torch.nn.ReLU())).to(device).eval()
    if form == "nhwc_fma":
        module = importlib.import_module(f"igc_triton.kernels.igc_block_{form}")
        name = f"igc_block_{form}_weights_kernel"
        monkeypatch.setattr(module, name, _CountLaunches(getattr(module, name), laid_out))
    else:
        real_copy = launchers.layout_copy

        def layout_copy(t, *a):
            out = real_copy(t, *a)
            if t.shape == net[0].primary.weight.shape and out is not t:
                laid_out.append(t.shape)
            return out
        monkeypatch.setattr(launchers, "layout_copy", layout_copy)
    x = to_layout(torch.randn(2, C, 6, 5, device=device), layout)

    def fused_call():  # (output, weight layouts it made)
        before = len(laid_out)
        y = fused(x)
        return y, len(laid_out) - before

    with torch.no_grad():
        fused, _ = it.fuse_for_inference(net)
        (y1, n1), (y2, n2) = fused_call(), fused_call()
        assert (n1, n2) == (1, 0) and torch.equal(y1, y2)
        assert_close(y1, net(x).double(), torch.float32)
        fused[0].igc.primary.weight.mul_(-2.0)  # in place: a new version
        net[0].primary.weight.mul_(-2.0)
        y, n = fused_call()
        assert n == 1
        assert_close(y, net(x).double(), torch.float32)
        net[0].secondary.weight.mul_(0.5)
        fused.load_state_dict({k.replace("0.", "0.igc.", 1): v for k, v in net.state_dict().items()
                               if k.startswith("0.")}, strict=False)
        y, n = fused_call()
        assert n == 1
        assert_close(y, net(x).double(), torch.float32)
        before = len(laid_out)
        wp, ws = net[0].primary.weight, net[0].secondary.weight
        it.igc_block(x, wp, ws, L), it.igc_block(x, wp, ws, L)
        assert len(laid_out) - before == 2


@pytest.mark.parametrize("allow_tf32", [False, True])
def test_fused_block_fp32_with_and_without_tf32(allow_tf32, device, monkeypatch):
    """fp32 runs the secondary tl.dot as TF32 when cuDNN may (like F.conv2d), IEEE otherwise."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", allow_tf32)
    assert launchers._dot_precision(torch.float32) == ("tf32" if allow_tf32 else "ieee")
    for cin, L, M, stride in [(8, 4, 4, 2), (48, 24, 2, 1)]:
        C = L * M
        x = torch.randn(2, cin, 7, 6, device=device)
        wp, ws = torch.randn(C, cin // L, 3, 3, device=device), torch.randn(C, L, 1, 1, device=device)
        scale, shift = torch.rand(C, device=device) + 0.5, torch.randn(C, device=device)
        out = it.igc_block(x, wp, ws, L, stride, scale=scale, shift=shift, relu=True)
        ref = _ref(x.double(), wp.double(), ws.double(), L, stride, scale.double(), shift.double(), relu=True)
        assert_close(out, ref, torch.float32)


def test_igc_conv2d_module_runs_fused_in_inference(device, monkeypatch):
    calls = []
    real = launchers.igc_block_fwd
    monkeypatch.setattr(launchers, "igc_block_fwd", lambda *a, **k: calls.append(1) or real(*a, **k))
    block = it.IGCConv2d(8, 16, 3, L=4, stride=2, padding=1).to(device).eval()
    x = torch.randn(2, 8, 6, 6, device=device)
    y = block(x)  # parameters require grad: the two-kernel path, differentiable
    assert not calls and y.requires_grad
    with torch.no_grad():
        assert_close(block(x), reference.igc_conv2d(x.double(), block.primary.weight.double(),
                                                    block.secondary.weight.double(), 4, 2, 1), torch.float32)
    assert calls == [1]


# --- the nhwc form: contiguous channels_last, both steps on tensor cores -----------------------

# (C, L, H, W, stride, dilation, kernel): three 16-channel blocks, C not a multiple of 16, M = 8
# with dilation, M = 16, odd sizes, stride 2, a 5x5 kernel (25 taps through a 2-stage pipeline), a 1x1 kernel,
# M = 32 and M = 64 (blocks of one partition at BC = M: the per-channel secondary).
NHWC_CASES = [(48, 24, 7, 6, 1, 1, 3), (24, 12, 5, 9, 2, 1, 3), (64, 8, 6, 6, 1, 2, 3), (32, 2, 5, 5, 2, 1, 3),
              (40, 20, 6, 5, 1, 1, 5), (16, 4, 4, 7, 1, 1, 1), (64, 2, 5, 6, 1, 1, 3), (128, 2, 4, 5, 2, 1, 3),
              (32, 8, 7, 9, (1, 2), (2, 1), (3, 5))]  # height and width apart: a swap of the two fails


def _nhwc_config(bc):
    import triton
    # Compiled on a GPU these are different programs (interpreted, the same): the tap loop
    # unrolled at BC = 32; at BC = 64 an 8x8 tile, 64 rows, whose products are wgmma on
    # operands cp.async put in shared memory (under 64 rows: mma.sync), three taps in flight; at
    # BC = 16 the input copied in 8-byte pieces (TAPS_L1).
    if bc == 64:
        return triton.Config({"BC": bc, "TILE_H": 8, "TILE_W": 8, "UNROLL": 0}, num_warps=4, num_stages=3)
    return triton.Config({"BC": bc, "TILE_H": 4, "TILE_W": 8, "UNROLL": int(bc == 32), "TAPS_L1": int(bc == 16)},
                         num_warps=4, num_stages=2)


@pytest.mark.parametrize("C,L,H,W,stride,dil,k", NHWC_CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("bc", [16, 32, 64])
def test_nhwc_form_matches_reference(C, L, H, W, stride, dil, k, bc, device, monkeypatch):
    """Every channel-block width on every case, with and without the epilogue, against the
    float64 reference; outputs start as NaN, so an unwritten element fails."""
    from igc_triton.launch import tuning
    kernels = []
    real = tuning.choose
    monkeypatch.setattr(tuning, "choose", lambda kernel, *a: kernels.append(kernel) or real(kernel, *a))
    monkeypatch.setattr(tuning, "nhwc_candidates", lambda channels, M, out_width: [_nhwc_config(bc)])
    monkeypatch.setattr(launchers, "NHWC_FMA_M", ())  # M = 2 too, which the nhwc_fma form takes by default
    if bc % (C // L):
        pytest.skip(f"a {bc}-channel block cannot hold whole partitions of {C // L}")
    _check_nhwc_block("igc_block_nhwc", kernels, C, L, H, W, stride, dil, k, C * 1000 + bc, device)


def _hw(v):
    return v if isinstance(v, tuple) else (v, v)


def _check_nhwc_block(kernel, kernels, C, L, H, W, stride, dil, k, seed, device, reduction=None):
    """Random block of C channels, L partitions, a k x k kernel on an H x W image (stride,
    dilation and k: one value, or (height, width)); fp32 with the epilogue, fp16 without (bf16
    with, on a GPU), against the float64 reference of its rounded inputs, the primary weight
    channels_last without the epilogue (as a channels_last model holds it: read as it is);
    ``kernels`` (the tuner's record) must show ``kernel`` alone."""
    (sh, sw), (dh, dw), (kh, kw) = _hw(stride), _hw(dil), _hw(k)
    M, pad, stride, dil = C // L, (dh * (kh // 2), dw * (kw // 2)), (sh, sw), (dh, dw)
    oh, ow = (H + 2 * pad[0] - dh * (kh - 1) - 1) // sh + 1, (W + 2 * pad[1] - dw * (kw - 1) - 1) // sw + 1
    g = torch.Generator(device=device).manual_seed(seed)
    x = torch.randn(2, C, H, W, dtype=f64, device=device, generator=g)
    wp = torch.randn(C, M, kh, kw, dtype=f64, device=device, generator=g)
    ws = torch.randn(C, L, 1, 1, dtype=f64, device=device, generator=g)
    extra = dict(scale=torch.rand(C, dtype=f64, device=device, generator=g) + 0.5,
                 shift=torch.randn(C, dtype=f64, device=device, generator=g),
                 residual=torch.randn(2, C, oh, ow, dtype=f64, device=device, generator=g), relu=True)
    dtypes = [torch.float32, torch.float16] + ([torch.bfloat16] if device.type == "cuda" else [])
    for i, dtype in enumerate(dtypes):
        epi = {} if i % 2 else extra
        args = {kk: (v.to(dtype) if isinstance(v, torch.Tensor) else v) for kk, v in epi.items()}
        if "residual" in args:
            args["residual"] = to_layout(args["residual"], "channels_last")
        xr, wpr, wsr = (t.to(dtype).double() for t in (x, wp, ws))
        ref = _ref_geom(xr, wpr, wsr, L, stride, pad, dil, **{kk: (v.to(dtype).double() if isinstance(v, torch.Tensor)
                                                                   else v) for kk, v in epi.items()})
        kernels.clear()
        wpi = to_layout(wp.to(dtype), "channels_last") if i % 2 else wp.to(dtype)
        out = it.igc_block(to_layout(x.to(dtype), "channels_last"), wpi, ws.to(dtype), L, stride, pad, dil, **args)
        assert kernels == [kernel], kernels
        assert out.is_contiguous(memory_format=torch.channels_last)
        assert_close(out, ref, dtype, k=reduction)


def _ref_geom(x, wp, ws, L, stride, pad, dil, scale=None, shift=None, residual=None, relu=False):
    y = reference.igc_conv2d(x, wp, ws, L, stride, pad, dil)
    return ops.reference_block_epilogue(y, scale, shift, residual, relu)


@pytest.mark.parametrize("L,M", [(8, 4), (16, 2)], ids=["nhwc", "nhwc_fma"])
def test_nhwc_forms_take_an_nchw_residual_and_see_in_place_weight_changes(L, M, device):
    C = L * M
    x = to_layout(torch.randn(2, C, 5, 5, device=device), "channels_last")
    wp, ws = torch.randn(C, M, 3, 3, device=device), torch.randn(C, L, 1, 1, device=device)
    res = torch.randn(2, C, 5, 5, device=device)  # NCHW beside a channels_last input
    out = it.igc_block(x, wp, ws, L, residual=res)
    assert_close(out, _ref(x.double(), wp.double(), ws.double(), L, 1, residual=res.double()), torch.float32)
    # Its weights are laid out on every call, from the weights as they are: .data writes show.
    wp.data.mul_(-1.0)
    ws.data.mul_(2.0)
    out = it.igc_block(x, wp, ws, L)
    assert_close(out, _ref(x.double(), wp.double(), ws.double(), L, 1), torch.float32)


@pytest.mark.parametrize("res_layout", ["nchw", "channels_last"])
@pytest.mark.parametrize("L,M", [(8, 4), (16, 2)], ids=["nhwc", "nhwc_fma"])
def test_nchw_blocks_copy_their_input_not_their_output(L, M, res_layout, device, monkeypatch):
    """An NCHW block an nhwc form takes runs it on a channels_last copy of its input; the kernel
    writes the NCHW output (and reads an NCHW residual) itself: the only other copies are a
    channels_last residual's, to NCHW, and for the nhwc form the NCHW primary weight's, to
    channels_last (which its kernel reads; a channels_last model's is read as it is)."""
    C = L * M
    x = torch.randn(2, C, 5, 6, device=device)
    wp, ws = torch.randn(C, M, 3, 3, device=device), torch.randn(C, L, 1, 1, device=device)
    scale, shift = torch.rand(C, device=device) + 0.5, torch.randn(C, device=device)
    res = to_layout(torch.randn(2, C, 5, 6, device=device), res_layout)
    copies, real = [], launchers.layout_copy

    def layout_copy(t, memory_format=torch.contiguous_format):
        out = real(t, memory_format)
        if out.data_ptr() != t.data_ptr():
            copies.append((t is x, memory_format))
        return out
    monkeypatch.setattr(launchers, "layout_copy", layout_copy)
    out = it.igc_block(x, wp, ws, L, scale=scale, shift=shift, residual=res, relu=True)
    assert out.is_contiguous()
    assert_close(out, _ref(x.double(), wp.double(), ws.double(), L, 1, scale.double(), shift.double(), res.double(),
                           True), torch.float32)
    residual_copy = [(False, torch.contiguous_format)] if res_layout == "channels_last" else []
    weight_copy = [(False, torch.channels_last)] if M == 4 else []
    assert copies == [(True, torch.channels_last)] + residual_copy + weight_copy


@pytest.mark.parametrize("L,M", [(8, 4), (16, 2)], ids=["nhwc", "nhwc_fma"])
def test_an_nchw_output_is_its_own_tuning_problem(L, M, device):
    """The kernel writing an NCHW caller's output is another program (OUT_NCHW): its problem key
    says so, so its ranking and tuning never take the channels_last one's place, nor the reverse."""
    from igc_triton.launch import autotune
    C = L * M
    x = torch.randn(2, C, 5, 6, device=device)
    wp, ws = torch.randn(C, M, 3, 3, device=device), torch.randn(C, L, 1, 1, device=device)
    keys = []
    for inp in (x, to_layout(x, "channels_last")):
        with autotune.TUNER.record() as seen:
            it.igc_block(inp, wp, ws, L)
        [(kernel, key)] = [k for k in seen if k[0].startswith("igc_block_nhwc")]
        keys.append(key)
    assert keys[0] != keys[1] and "o=nchw" in keys[0] and "o=" not in keys[1]
    assert keys[0].replace(" o=nchw", "") == keys[1]


@pytest.mark.parametrize("form", [launchers.NHWC, launchers.NHWC_FMA])
def test_an_image_past_the_nhwc_offsets_is_refused_every_time(form):
    # What an nhwc launch takes from shapes alone is remembered per block; a refusal is not.
    for _ in range(2):
        with pytest.raises(ValueError, match="too large for the nhwc kernel's 32-bit offsets"):
            launchers._nhwc_block_static(form, (1, 64, 8192, 8192), torch.float16, (64, 2, 3, 3), 32, (8192, 8192),
                                         (1, 1), (1, 1), (1, 1))


@pytest.mark.parametrize("form", [launchers.NHWC, launchers.NHWC_FMA])
def test_forcing_an_nhwc_form_on_a_block_it_cannot_take_is_an_error(form, device):
    x = torch.randn(1, 16, 4, 4, device=device)  # NCHW
    wp, ws = torch.randn(16, 2, 3, 3, device=device), torch.randn(16, 8, 1, 1, device=device)
    with pytest.raises(ValueError, match=f"{form} form needs a contiguous channels_last input"):
        launchers.igc_block_fwd(x, wp, ws, 8, (1, 1), (1, 1), (1, 1), (4, 4), form=form)
    x = to_layout(torch.randn(1, 16, 4, 4, device=device), "channels_last")  # M = 2 but C != C_in
    wp = torch.randn(32, 2, 3, 3, device=device)
    with pytest.raises(ValueError, match=f"{form} form needs"):
        launchers.igc_block_fwd(x, wp, torch.randn(32, 8, 1, 1, device=device), 8, (1, 1), (1, 1), (1, 1), (4, 4),
                                form=form)


# --- the nhwc_fma form: contiguous channels_last, M = 1 or 2, primary on CUDA cores ------------

# (C, L, H, W, stride, dilation, kernel): C = 48 (one chunk of pairs, padded to 32), C = 24 < 32
# with stride 2 (padded to 16 pairs), M = 1 with dilation 2, a 5x5 kernel, a 1x1 kernel, C = 80
# (two chunks, 32 + 8 pairs) with stride 2, M = 1 at C = 64, the widest (C = 200, one chunk padded
# to 128 pairs), M = 1 in two chunks (C = 80), C = 72 (32 + 8: chunk B's last 4 pairs masked), C = 34
# (not a multiple of 8: 17 pairs, pixels 4-byte aligned).
NHWC_FMA_CASES = [(48, 24, 7, 6, 1, 1, 3), (24, 12, 5, 9, 2, 1, 3), (16, 16, 6, 5, 1, 2, 3), (40, 20, 6, 5, 1, 1, 5),
                  (32, 16, 4, 7, 1, 1, 1), (80, 40, 5, 6, 2, 1, 3), (64, 64, 5, 5, 1, 1, 3), (200, 100, 3, 4, 1, 1, 3),
                  (32, 16, 7, 9, (2, 1), (1, 2), (5, 3)), (80, 80, 5, 6, 1, 1, 3), (72, 36, 4, 9, 1, 1, 3),
                  (34, 17, 5, 6, 1, 1, 3)]


@pytest.mark.parametrize("C,L,H,W,stride,dil,k", NHWC_FMA_CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("q", [1, 2, 4])
def test_nhwc_fma_form_matches_reference(C, L, H, W, stride, dil, k, q, device, monkeypatch):
    """Every number of shared columns per thread on every case (a 4 x 8 tile: 8, 4 or 2 column
    groups per row, tiles overhanging the image), with and without the epilogue, against the
    float64 reference; outputs start as NaN, so an unwritten element fails."""
    import triton

    from igc_triton.launch import tuning
    kernels = []
    real = tuning.choose
    monkeypatch.setattr(tuning, "choose", lambda kernel, *a: kernels.append(kernel) or real(kernel, *a))
    # The next kernel row prefetched at one Q (compiled, a different program; interpreted, the same).
    cfg = triton.Config({"TILE_H": 4, "TILE_W": 8, "Q": q, "PREFETCH": int(q == 2)}, num_warps=4, num_stages=1)
    monkeypatch.setattr(tuning, "nhwc_fma_candidates", lambda c_pad, out_width: [cfg])
    _check_nhwc_block("igc_block_nhwc_fma", kernels, C, L, H, W, stride, dil, k, C * 10 + q, device,
                      reduction=C // L * _hw(k)[0] * _hw(k)[1] + L)


def test_nhwc_fma_chunks_only_where_they_save_work(device, monkeypatch):
    """Two chunks of channel pairs (a power of two, then the rest padded to one) where they save
    over a quarter of padding all the pairs to a power of two, up to 64 pairs padded; and the
    kernel is launched with them (C = 80: 32 + 8 pairs; C = 48: one chunk of 32)."""
    from igc_triton.launch import tuning
    assert {C: tuning.nhwc_fma_chunks(C) for C in (16, 24, 48, 64, 72, 80, 96, 160, 256)} == {
        16: (16, 0), 24: (16, 0), 48: (32, 0), 64: (32, 0), 72: (32, 8), 80: (32, 8), 96: (64, 0), 160: (128, 0),
        256: (128, 0)}
    launched = []
    real = tuning.kernel_call
    monkeypatch.setattr(tuning, "kernel_call", lambda kernel, grid, warmup=False: (
        lambda *a, **kw: launched.append((kw.get("HA"), kw.get("HB"))) or real(kernel, grid, warmup)(*a, **kw)))
    for C, chunks in [(80, (32, 8)), (48, (32, 0))]:
        launched.clear()
        x = to_layout(torch.randn(1, C, 3, 4, device=device), "channels_last")
        wp, ws = torch.randn(C, 2, 3, 3, device=device), torch.randn(C, C // 2, 1, 1, device=device)
        out = it.igc_block(x, wp, ws, C // 2)
        assert launched[-1] == chunks, launched
        assert_close(out, _ref(x.double(), wp.double(), ws.double(), C // 2, 1), torch.float32, k=2 * 9 + C // 2)


@triton.jit
def _unpack_probe(src_ptr, even_ptr, odd_ptr, N: tl.constexpr, DT: tl.constexpr):
    i = tl.arange(0, N)
    e, o = unpack(tl.load(src_ptr + i), DT)
    tl.store(even_ptr + i, e)
    tl.store(odd_ptr + i, o)


@pytest.mark.parametrize("dtype,pair", [(torch.bfloat16, torch.int32), (torch.float16, torch.int32),
                                        (torch.float32, torch.int64)])
def test_nhwc_fma_unpacks_channel_pairs_exactly(dtype, pair, device):
    """The kernel reads channel pairs as one integer and unpacks them with shifts and masks (bf16)
    or reinterpretation: each half must come out as its channel's value, exactly, signs and
    extremes included. (A probe kernel: bf16 tensors do not run under the interpreter, but
    the integers that hold them do.)"""
    import triton.language as tl

    finfo = torch.finfo(dtype)
    v = torch.cat([torch.tensor([0.0, -0.0, 1.0, -1.0, finfo.max, -finfo.max, finfo.tiny, -finfo.tiny,
                                 float("inf"), -float("inf")]), torch.randn(54) * 100]).to(dtype).to(device)
    even, odd = (torch.empty(32, dtype=torch.float32, device=device) for _ in range(2))
    tl_dtype = {torch.bfloat16: tl.bfloat16, torch.float16: tl.float16, torch.float32: tl.float32}[dtype]
    _unpack_probe[(1,)](v.view(pair), even, odd, N=32, DT=tl_dtype)
    assert torch.equal(even, v[0::2].float()) and torch.equal(odd, v[1::2].float())
