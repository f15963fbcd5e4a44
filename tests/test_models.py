"""The paper's networks: closed-form counts, the counting conventions, rule checks, backends."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from igc_triton import models, testing
from igc_triton.nn import IGCConv2d, set_backend
from igc_triton.reference import IGCConv2dReference

K10, K100, K1000 = 10, 100, 1000


def on_meta(build, *args, **kwargs):
    with torch.device("meta"):
        return build(*args, **kwargs)


def counts(net, size=(3, 32, 32)):
    c = models.count(net, size)
    return c.params, c.macs


# Closed forms (igc_architectures.md; n blocks per stage, K classes, no FC bias, no projections).
@pytest.mark.parametrize("depth,C", [(5, 3), (20, 18), (38, 7), (62, 18), (11, 16)])
def test_plain_regular_closed_form(depth, C):
    n = (depth - 2) // 3
    assert counts(on_meta(models.plain_cifar, depth, width=C, num_classes=K10)) == (
        27 * C + 9 * C * C * (21 * n - 10) + 4 * C * K10,
        27648 * C + 9 * C * C * (3072 * n - 1024) + 4 * C * K10)


@pytest.mark.parametrize("depth,L,M", [(5, 1, 1), (20, 24, 2), (38, 3, 5), (62, 24, 2), (14, 8, 1), (8, 1, 16)])
def test_plain_igc_closed_form(depth, L, M):
    n, G = (depth - 2) // 3, L * M
    assert counts(on_meta(models.plain_cifar, depth, L=L, M=M, num_classes=K10)) == (
        27 * G + 9 * G * M * (21 * n - 10) + 7 * n * G * L + 4 * G * K10,
        27648 * G + 9 * G * M * (3072 * n - 1024) + 1792 * n * G * L + 4 * G * K10)


@settings(max_examples=25, deadline=None, database=None)
@given(n=st.integers(1, 4), L=st.integers(1, 12), M=st.integers(1, 6), classes=st.integers(1, 20))
def test_random_igc_nets_follow_closed_forms(n, L, M, classes):
    G = L * M
    plain = counts(on_meta(models.plain_cifar, 3 * n + 2, L=L, M=M, num_classes=classes))
    assert plain == (27 * G + 9 * G * M * (21 * n - 10) + 7 * n * G * L + 4 * G * classes,
                     27648 * G + 9 * G * M * (3072 * n - 1024) + 1792 * n * G * L + 4 * G * classes)
    res, _ = counts(on_meta(models.resnet_cifar, 6 * n + 2, L, M, num_classes=classes))
    assert res == 27 * G + 9 * G * M * (42 * n - 10) + 14 * n * G * L + 4 * G * classes


@pytest.mark.parametrize("depth,L,M", [(8, 1, 1), (20, 16, 32), (20, 450, 2), (20, 32, 26), (14, 3, 5)])
def test_resnet_cifar_closed_form(depth, L, M):
    # Per stage s (width G*2^s, M*2^s): 2n IGC blocks; transitions read the old width.
    n, G = (depth - 2) // 6, L * M
    params, _ = counts(on_meta(models.resnet_cifar, depth, L, M, num_classes=K100))
    assert params == 27 * G + 9 * G * M * (42 * n - 10) + 14 * n * G * L + 4 * G * K100


@pytest.mark.parametrize("L,M,blocks", [(64, 1, 6), (40, 2, 6), (128, 1, 6), (85, 2, 6), (3, 7, 2)])
def test_xception_cifar_closed_form(L, M, blocks):
    G = L * M
    body = 27 * G + blocks * G * (9 * M + L)
    assert counts(on_meta(models.xception_cifar, L, M, blocks, num_classes=K100)) == (body + G * K100,
                                                                                      1024 * body + G * K100)


@pytest.mark.parametrize("C", [64, 69, 5])
def test_resnet18_closed_form(C):
    params, _ = counts(on_meta(models.resnet18_imagenet, C), (3, 224, 224))
    assert params == 147 * C + 2682 * C * C + 8 * C * K1000


@pytest.mark.parametrize("L,M", [(4, 32), (16, 16), (3, 5)])
def test_igc_resnet18_widen_M_closed_form(L, M):
    G = L * M
    params, _ = counts(on_meta(models.igc_resnet18_imagenet, L, M, widen="M"), (3, 224, 224))
    assert params == 147 * G + 2682 * G * M + 60 * G * L + 8 * G * K1000


@pytest.mark.parametrize("L,M", [(100, 2), (7, 4), (1, 2)])
def test_igc_resnet18_widen_L_closed_form(L, M):
    G = L * M
    params, _ = counts(on_meta(models.igc_resnet18_imagenet, L, M, widen="L"), (3, 224, 224))
    assert params == 147 * L + 9 * G + 468 * G * M + 340 * G * L + 8 * G * K1000


@pytest.mark.parametrize("net,size", [
    (lambda: models.igc_resnet18_imagenet(4, 32), (3, 224, 224)), (lambda: models.resnet18_imagenet(69), (3, 224, 224)),
    (lambda: models.resnet_cifar(20, 16, 32), (3, 32, 32)), (lambda: models.plain_cifar(20, L=24, M=2), (3, 32, 32))])
def test_count_differs_from_flop_counter_by_exactly_the_projections(net, size):
    """FlopCounterMode counts 2 FLOPs per multiply-add and includes what the paper omits."""
    model = set_backend(on_meta(net), "reference")  # FlopCounterMode knows aten convs, not igc:: ops
    fc = FlopCounterMode(display=False)
    with fc, torch.no_grad():
        model.eval()(torch.empty(1, *size, device="meta"))
    per_module = fc.get_flop_counts()
    projection_flops = sum(sum(v.values()) for k, v in per_module.items() if k.endswith("projection"))
    assert models.count(model, size, include_projections=True).macs * 2 == fc.get_total_flops()
    assert models.count(model, size).macs * 2 == fc.get_total_flops() - projection_flops


def test_projection_params_are_excluded_by_default():
    net = on_meta(models.resnet18_imagenet, 64)
    proj = sum(p.numel() for name, m in net.named_modules() if name.endswith("projection.0") for p in m.parameters())
    assert models.count(net, (3, 224, 224), include_projections=True).params - \
        models.count(net, (3, 224, 224)).params == proj > 0


@pytest.mark.parametrize("call,message", [
    (lambda: models.plain_cifar(21, width=16), "3n\\+2"),
    (lambda: models.plain_cifar(2, width=16), "3n\\+2"),
    (lambda: models.plain_cifar(20, width=16, L=2, M=8), "either width"),
    (lambda: models.plain_cifar(20, L=2), "both L and M"),
    (lambda: models.plain_cifar(20), "either width"),
    (lambda: models.resnet_cifar(18, 4, 4), "6n\\+2"),
    (lambda: models.resnet_cifar(20, 0, 4), "L must be a positive int"),
    (lambda: models.xception_cifar(4, 4, blocks=0), "blocks must be"),
    (lambda: models.igc_resnet18_imagenet(4, 3, widen="L"), "divisible by L"),  # 2L groups need M even
    (lambda: models.igc_resnet18_imagenet(4, 4, widen="width"), "widen must be"),
    (lambda: models.resnet18_imagenet(0), "width must be"),
    (lambda: models.count(models.xception_cifar(2, 2), (32, 32)), "input_size"),
])
def test_invalid_configurations_name_the_rule(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_igc_layers_share_the_reference_state_dict():
    net = models.plain_cifar(5, L=4, M=2)
    igc = [m for m in net.modules() if isinstance(m, IGCConv2d)]
    assert igc and all(set(m.state_dict()) == {"primary.weight", "secondary.weight"} for m in igc)
    ref = IGCConv2dReference(8, 8, 3, L=4)
    igc[0].load_state_dict(ref.state_dict(), strict=True)
    sd = net.state_dict()
    set_backend(net, "triton")
    assert net.state_dict().keys() == sd.keys()
    assert "backend=triton" in repr(igc[0])
    with pytest.raises(ValueError, match="backend must be one of"):
        set_backend(net, "cudnn")


# Small members of each family (the interpreter runs the Triton backend on CPU), plus the
# paper's own CIFAR IGC-L24M2 depth 20 at a reduced resolution.
FORWARD_NETS = [
    ("plain IGC-L24M2 d20", lambda: models.plain_cifar(20, L=24, M=2), 8),
    ("plain IGC-L4M2 d8", lambda: models.plain_cifar(8, L=4, M=2), 8),
    ("resnet IGC-L4M2 d8", lambda: models.resnet_cifar(8, 4, 2), 8),
    ("xception L8M1", lambda: models.xception_cifar(8, 1, blocks=2), 8),
    ("xception L4M2", lambda: models.xception_cifar(4, 2, blocks=2), 8),
    ("IGC-L2M4 resnet18 widen M", lambda: models.igc_resnet18_imagenet(2, 4, widen="M", num_classes=10), 32),
    ("IGC-L4M2 resnet18 widen L", lambda: models.igc_resnet18_imagenet(4, 2, widen="L", num_classes=10), 32),
    ("resnet18 w8 (no IGC layer)", lambda: models.resnet18_imagenet(8, num_classes=10), 32),
]


@pytest.mark.parametrize("build,hw", [(b, hw) for _, b, hw in FORWARD_NETS], ids=[n for n, _, _ in FORWARD_NETS])
def test_both_backends_agree(build, hw, device, exact_fp32):
    # exact_fp32: on a GPU both backends would otherwise round through TF32 differently (1.4e-4).
    net = build().to(device).eval()
    x = torch.randn(2, 3, hw, hw, device=device)
    with torch.no_grad():
        ref = set_backend(net, "reference")(x)
        out = set_backend(net, "triton")(x)
    assert out.shape == ref.shape
    assert testing.rel_error(out, ref) <= 1e-4
