"""GroupedConv2d and IGCConv2d as drop-in modules, and the model converter."""

import copy
import inspect

import pytest
import torch
from torch import nn

from igc_triton import GroupedConv2d, IGCConv2d, IGCConv2dReference, convert, models, set_backend
from igc_triton.testing import assert_close, rel_error


def test_grouped_conv2d_has_conv2d_signature_and_state_dict():
    assert inspect.signature(GroupedConv2d) == inspect.signature(nn.Conv2d)
    ref = nn.Conv2d(8, 12, 3, padding=1, groups=4)
    ours = GroupedConv2d(8, 12, 3, padding=1, groups=4)
    ours.load_state_dict(ref.state_dict(), strict=True)
    ref.load_state_dict(ours.state_dict(), strict=True)
    assert repr(ours).replace("GroupedConv2d", "Conv2d") == repr(ref)


@pytest.mark.parametrize("kwargs", [dict(padding=1, groups=4), dict(padding="same", groups=2, bias=False),
                                    dict(padding=1, padding_mode="reflect", groups=8), dict(stride=2, dilation=2)])
@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_grouped_conv2d_matches_conv2d_forward_and_backward(kwargs, layout, device):
    ref = nn.Conv2d(8, 8, 3, **kwargs).to(device).double()
    ours = GroupedConv2d(8, 8, 3, **kwargs).to(device)
    ours.load_state_dict(ref.state_dict())
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    x = torch.randn(2, 8, 9, 9, device=device, dtype=torch.float64).contiguous(memory_format=fmt)
    ours = ours.to(memory_format=fmt)
    y_ref = ref(x.requires_grad_())
    xf = x.detach().float().contiguous(memory_format=fmt).requires_grad_()
    y = ours(xf)
    assert_close(y, y_ref, torch.float32)
    dy = torch.randn_like(y_ref)
    y_ref.backward(dy)
    y.backward(dy.float())
    assert_close(xf.grad, x.grad, torch.float32)
    assert_close(ours.weight.grad, ref.weight.grad, torch.float32)


def test_igc_conv2d_state_dict_equals_reference_and_backends_agree(device):
    for bias in (False, True):
        ref = IGCConv2dReference(8, 16, 3, L=4, stride=2, bias=bias).to(device)
        ours = IGCConv2d(8, 16, 3, 4, stride=2, bias=bias).to(device)
        assert ours.state_dict().keys() == ref.state_dict().keys()
        ours.load_state_dict(ref.state_dict(), strict=True)
        x = torch.randn(2, 8, 7, 7, device=device)
        y = ours(x)
        assert_close(y, ref.double()(x.double()), torch.float32)
        assert ours.backend == "triton" and "backend=triton" in repr(ours) and "L=4, M=4" in repr(ours)


def test_igc_conv2d_module_conveniences(device):
    block = IGCConv2d(8, 8, 3, L=2, device="meta")
    assert block.primary.weight.is_meta
    block = block.to_empty(device=device)
    torch.nn.init.normal_(block.primary.weight)
    torch.nn.init.normal_(block.secondary.weight)
    clone = copy.deepcopy(block)
    assert all(torch.equal(a, b) for a, b in zip(block.state_dict().values(), clone.state_dict().values()))
    half = clone.half().to(memory_format=torch.channels_last)
    x = torch.randn(1, 8, 6, 6, device=device)
    y = half(x.half().contiguous(memory_format=torch.channels_last))
    assert y.dtype == torch.float16 and y.is_contiguous(memory_format=torch.channels_last)
    assert_close(y, block.double()(x.double()), torch.float16)
    with pytest.raises(ValueError, match="backend must be"):
        IGCConv2d(8, 8, 3, L=2, backend="cudnn")


def test_convert_backend_swap_keeps_outputs_and_parameters(device, exact_fp32):
    model = models.resnet18_imagenet(8, num_classes=10).to(device).eval()
    params = list(model.parameters())
    x = torch.randn(2, 3, 32, 32, device=device)
    with torch.no_grad():
        before = model(x)
    record = convert(model, input_size=(3, 32, 32))
    n_convs = sum(type(m) is GroupedConv2d for m in model.modules())
    assert n_convs == len(record.swaps) == 20  # stem + 16 block convs + 3 projections
    assert list(model.parameters()) == params  # the very same Parameter objects
    assert record.macs_after == record.macs_before and record.params_after == record.params_before
    with torch.no_grad():
        assert rel_error(model(x), before) <= 1e-5
    assert "20 layer(s) swapped" in str(record)
    record.undo()
    assert not any(isinstance(m, GroupedConv2d) for m in model.modules())


def test_convert_to_igc_reports_the_savings(capsys, device):
    model = models.resnet18_imagenet(8, num_classes=10).to(device)
    record = convert(model, igc_L=4, input_size=(3, 32, 32), verbose=True)
    igc = [m for m in model.modules() if isinstance(m, IGCConv2d)]
    assert len(igc) == 16  # the 3x3 convs; the 7x7 stem has 3 input channels, not divisible by 4
    assert record.params_after < record.params_before and record.macs_after < record.macs_before
    assert any("not divisible by L=4" in why for _, why in record.skipped)
    out = capsys.readouterr().out
    assert "IGCConv2d(L=4, M=" in out and "multiply-adds per image" in out
    model(torch.randn(2, 3, 16, 16, device=device)).sum().backward()  # trains
    record.undo()
    assert not any(isinstance(m, IGCConv2d) for m in model.modules())


def test_convert_rejects_bad_L():
    with pytest.raises(ValueError, match="igc_L"):
        convert(nn.Conv2d(4, 4, 3), igc_L=0)


def test_set_backend_round_trip():
    net = models.plain_cifar(5, L=2, M=2)
    assert {m.backend for m in net.modules() if isinstance(m, IGCConv2d)} == {"triton"}
    set_backend(net, "reference")
    assert {m.backend for m in net.modules() if isinstance(m, IGCConv2d)} == {"reference"}
