"""The fused IGC block kernel (steps 1-4 + inference epilogue) and fuse_for_inference."""

import itertools

import pytest
import torch

import igc_triton as it
from igc_triton import launchers, models, ops, reference
from igc_triton.testing import LAYOUTS, assert_close, rel_error, to_layout

f64 = torch.float64

# (cin, L, M, stride): small groups, transition (Cin != Cout, stride 2), M = 1, L = 1, C = 256.
CASES = [(8, 4, 2, 1), (8, 4, 4, 2), (16, 16, 1, 1), (6, 1, 6, 1), (48, 24, 2, 2), (128, 32, 8, 1)]


def _ref(x, wp, ws, L, stride, scale=None, shift=None, residual=None, relu=False):
    y = reference.igc_conv2d(x, wp, ws, L, stride, 1)
    return ops.reference_block_epilogue(y, scale, shift, residual, relu)


@pytest.mark.parametrize("cin,L,M,stride", CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("epilogue", [False, True])
def test_fused_block_matches_reference(cin, L, M, stride, epilogue, device, monkeypatch):
    calls = []
    real = launchers.igc_block_fwd
    monkeypatch.setattr(launchers, "igc_block_fwd", lambda *a, **k: calls.append(1) or real(*a, **k))
    C = L * M
    x = torch.randn(2, cin, 7, 6, dtype=f64, device=device)
    wp, ws = torch.randn(C, cin // L, 3, 3, dtype=f64, device=device), torch.randn(C, L, 1, 1, dtype=f64, device=device)
    extra = {}
    if epilogue:
        oh, ow = (7 - 1) // stride + 1, (6 - 1) // stride + 1
        extra = dict(scale=torch.rand(C, dtype=f64, device=device) + 0.5,
                     shift=torch.randn(C, dtype=f64, device=device),
                     residual=torch.randn(2, C, oh, ow, dtype=f64, device=device), relu=True)
    ref = _ref(x, wp, ws, L, stride, **extra)
    dtypes = [torch.float32, torch.float16] + ([torch.bfloat16] if device.type == "cuda" else [])
    for layout, dtype in itertools.product(LAYOUTS, dtypes):
        args = {k: (v.to(dtype) if isinstance(v, torch.Tensor) else v) for k, v in extra.items()}
        if "residual" in args:
            args["residual"] = to_layout(args["residual"], layout)
        out = it.igc_block(to_layout(x.to(dtype), layout), wp.to(dtype), ws.to(dtype), L, stride, **args)
        assert_close(out, ref, dtype)
        if layout == "channels_last":
            assert out.is_contiguous(memory_format=torch.channels_last)
    assert calls, "the fused kernel did not run"


def test_outside_the_fused_range_takes_the_two_kernel_path(device, monkeypatch):
    monkeypatch.setattr(launchers, "igc_block_fwd", lambda *a, **k: pytest.fail("fused kernel used"))
    for cin, L, M in [(32, 2, 16), (272, 272, 1)]:  # Cin/L >= 16; C > 256
        x, C = torch.randn(1, cin, 5, 5, device=device), L * M
        wp, ws = torch.randn(C, cin // L, 3, 3, device=device), torch.randn(C, L, 1, 1, device=device)
        assert_close(it.igc_block(x, wp, ws, L, relu=True), _ref(x.double(), wp.double(), ws.double(), L, 1, relu=True),
                     torch.float32)


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


def test_folded_secondary_weight_is_cached_until_the_weight_changes(device, monkeypatch):
    folds = []
    real = reference.folded_secondary_weight
    monkeypatch.setattr(reference, "folded_secondary_weight", lambda ws, L: folds.append(L) or real(ws, L))
    L, C = 4, 16
    ws = torch.randn(C, L, 1, 1, device=device)
    x = torch.randn(1, C, 4, 4, device=device)
    wp = torch.randn(C, C // L, 3, 3, device=device)
    y1 = it.igc_block(x, wp, ws, L)
    assert_close(it.igc_block(x, wp, ws, L), _ref(x, wp, ws, L, 1), torch.float32)
    assert len(folds) == 1  # the second call reused the folded weight
    with torch.no_grad():
        ws.mul_(-2.0)  # an optimizer-style in-place update must not reuse the stale fold
    y2 = it.igc_block(x, wp, ws, L)
    assert len(folds) == 2
    assert_close(y2, _ref(x, wp, ws, L, 1), torch.float32)
    assert_close(y2, -2.0 * y1, torch.float32)
    other = ws.clone()  # a different tensor (same values): folded again, then freed with it
    it.igc_block(x, wp, other, L)
    assert len(folds) == 3 and id(other) in launchers._FOLDED
    key = id(other)
    del other
    assert key not in launchers._FOLDED
    with torch.inference_mode():
        frozen = torch.randn(C, L, 1, 1, device=device)
        it.igc_block(x, wp, frozen, L)
        it.igc_block(x, wp, frozen, L)
    assert len(folds) == 5  # inference tensors have no version counter: never cached


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
