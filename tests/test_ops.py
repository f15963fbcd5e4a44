"""The igc:: custom ops: torch.library.opcheck, torch.compile(fullgraph=True), autocast."""

import pytest
import torch

from igc_triton import fuse_for_inference, grouped_conv2d, igc_block, igc_secondary, models, ops
from igc_triton.nn import set_backend
from igc_triton.testing import rel_error

f32 = torch.float32


def conv_args(device, layout="nchw", requires_grad=True, bias=True):
    x = torch.randn(2, 4, 5, 6, device=device)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    w = torch.randn(6, 2, 3, 3, device=device)
    b = torch.randn(6, device=device) if bias else None
    for t in (x, w, b):
        if t is not None:
            t.requires_grad_(requires_grad)
    return x, w, b, [2, 1], [1, 0, 2, 1], [1, 1], 2


@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
@pytest.mark.parametrize("bias", [True, False])
def test_opcheck_grouped_conv2d(layout, bias, device):
    torch.library.opcheck(ops.grouped_conv2d, conv_args(device, layout, bias=bias))


def test_opcheck_conv_backward_ops(device):
    x, w, b, stride, padding, dilation, groups = conv_args(device, requires_grad=False)
    dy = torch.randn(2, 6, 3, 7, device=device)
    torch.library.opcheck(ops.grouped_conv2d_dgrad, (dy, x, w, stride, padding, dilation, groups))
    torch.library.opcheck(ops.grouped_conv2d_wgrad, (dy, x, w, stride, padding, dilation, groups))
    torch.library.opcheck(ops.channel_sum, (dy,))


@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_opcheck_igc_secondary(layout, device):
    t = torch.randn(2, 8, 3, 5, device=device, requires_grad=True)
    if layout == "channels_last":
        t = t.detach().contiguous(memory_format=torch.channels_last).requires_grad_()
    w = torch.randn(8, 4, 1, 1, device=device, requires_grad=True)
    torch.library.opcheck(ops.igc_secondary, (t, w, 4))
    torch.library.opcheck(ops.igc_secondary_wgrad, (torch.randn_like(t).detach(), t.detach(), 4))


def test_compile_fullgraph_paper_model_matches_eager(device):
    """A paper model built from the modules compiles without graph breaks; its loss (forward)
    and every gradient (backward) match eager."""
    torch._dynamo.reset()
    net = set_backend(models.plain_cifar(5, L=2, M=2), "triton").to(device)
    x = torch.randn(2, 3, 8, 8, device=device)

    def step(model):
        model.zero_grad()
        loss = model(x).square().mean()
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters()]

    eager_loss, eager_grads = step(net)
    compiled = torch.compile(net, fullgraph=True)
    loss, grads = step(compiled)
    assert rel_error(loss, eager_loss) <= 1e-5
    for g, e in zip(grads, eager_grads):
        assert rel_error(g, e) <= 1e-4


def test_compile_fullgraph_fused_model_matches_eager(device):
    torch._dynamo.reset()
    net = models.plain_cifar(5, L=2, M=2).to(device).eval()
    fused, _ = fuse_for_inference(net)
    x = torch.randn(2, 3, 8, 8, device=device)
    with torch.no_grad():
        assert rel_error(torch.compile(fused, fullgraph=True)(x), fused(x)) <= 1e-5


def test_compiled_calls_compile_once_beside_the_remembered_shape_rules(device):
    """The eager path remembers shape rules in a dictionary; traced, that dictionary would be a
    guard of the graph (a second compile once the first call filled it, symbolic batch sizes
    pinned to constants): compiled calls check the rules instead."""
    import torch._dynamo.testing
    torch._dynamo.reset()
    count = torch._dynamo.testing.CompileCounter()
    block = torch.compile(lambda x, wp, ws: igc_block(x, wp, ws, 4, padding=1), backend=count, fullgraph=True)
    wp, ws = torch.randn(8, 2, 3, 3, device=device), torch.randn(8, 4, 1, 1, device=device)
    with torch.no_grad():
        for _ in range(3):
            block(torch.randn(2, 8, 5, 5, device=device), wp, ws)
    assert count.frame_count == 1


def test_autocast_runs_in_the_autocast_dtype(device):
    # fp16 on CPU (the interpreter has no bf16); on a GPU both.
    dtypes = [torch.float16] + ([torch.bfloat16] if device.type == "cuda" else [])
    x, w, b, *_ = conv_args(device, requires_grad=False)
    for dtype in dtypes:
        with torch.autocast(device.type, dtype=dtype):
            y = grouped_conv2d(x, w, b, 2, 1, 1, 2)
            t = igc_secondary(y, torch.randn(6, 3, 1, 1, device=device), 3)
            ref = torch.nn.functional.conv2d(x, w, b, 2, 1, 1, 2)
        assert y.dtype == t.dtype == ref.dtype == dtype
        assert rel_error(y, ref.double()) <= 1e-2


def block_args(device):
    """A small fused block (C=8, L=4) with a folded BatchNorm, a residual and a ReLU."""
    x = torch.randn(2, 8, 5, 6, device=device)
    wp, ws = torch.randn(8, 2, 3, 3, device=device), torch.randn(8, 4, 1, 1, device=device)
    scale, shift = torch.randn(8, device=device), torch.randn(8, device=device)
    res = torch.randn(2, 8, 5, 6, device=device)
    return x, wp, ws, 4, [1, 1], [1, 1, 1, 1], [1, 1], scale, shift, res, True


def test_opcheck_igc_block(device):
    torch.library.opcheck(ops.igc_block, block_args(device))


class _Passthrough(torch.utils._python_dispatch.TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))


class _Plain(torch.overrides.TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))


def test_eager_block_calls_skip_the_dispatcher_only_where_nothing_needs_it(device, monkeypatch):
    """functional.igc_block runs the op's implementation directly in plain eager inference (the
    dispatcher's custom-op path costs host time per call) and the op everywhere the op is what
    makes it work: gradients, autocast, dispatch and function modes, parameters as subclasses."""
    from igc_triton import functional
    x, wp, ws, L, stride, padding, dilation, scale, shift, res, relu = block_args(device)
    wp = torch.nn.Parameter(wp)
    expected = ops.igc_block(x, wp.detach(), ws, L, stride, padding, dilation, scale, shift, res, relu)
    through_op = []
    op = ops.igc_block
    monkeypatch.setattr(ops, "igc_block", lambda *a: through_op.append(1) or op(*a))

    def call():
        return functional.igc_block(x, wp, ws, L, scale=scale, shift=shift, residual=res, relu=relu)

    with torch.no_grad():
        y = call()
    assert not through_op and torch.equal(y, expected)
    profiled = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
    for context in (torch.autocast(device.type, dtype=torch.float16), _Passthrough(), _Plain(),
                    torch.device(device.type), profiled):
        with torch.no_grad(), context:
            call()
        assert through_op.pop() and not through_op, context

    with torch.no_grad():  # vmap's batched tensors go through the op (its per-sample fallback)
        ys = torch.func.vmap(lambda x: functional.igc_block(x, wp, ws, L, scale=scale, shift=shift, residual=res,
                                                            relu=relu))(torch.stack([x, x]))
    assert through_op and rel_error(ys[1], expected) <= 1e-6
    through_op.clear()
    import torch.autograd.forward_ad as fwAD
    with torch.no_grad(), fwAD.dual_level():  # what the op does with tangents, on every backend
        call()
    assert through_op.pop() and not through_op
    w0 = wp.detach()  # a trace takes no constant that requires a gradient
    with torch.no_grad():
        traced = torch.jit.trace(lambda x: functional.igc_block(x, w0, ws, L, scale=scale, shift=shift, residual=res,
                                                                relu=relu), (x,), check_trace=False)
    assert through_op.pop() and not through_op and "igc::igc_block" in str(traced.graph)
    assert torch.equal(traced(x), expected)

    class Sub(torch.Tensor):
        pass
    with torch.no_grad():
        y = functional.igc_block(x.as_subclass(Sub), wp.detach(), ws, L, scale=scale, shift=shift, residual=res,
                                 relu=relu)
    assert through_op.pop() and rel_error(y.as_subclass(torch.Tensor), expected) <= 1e-6
    with torch.enable_grad():
        y = call()
    assert y.requires_grad and not through_op  # with gradients: igc_conv2d's differentiable path


@pytest.mark.parametrize("op", ["grouped_conv2d", "igc_secondary"])
def test_eager_step_calls_skip_the_dispatcher_only_without_gradients(op, device, monkeypatch):
    """The two steps of the two-kernel path: the op's implementation directly when nothing is
    recorded, the op (its autograd) when a gradient is."""
    x, w, b, stride, padding, dilation, groups = conv_args(device, requires_grad=False)
    if op == "grouped_conv2d":
        def call(x, w):
            return grouped_conv2d(x, w, b, stride, (1, 2), dilation, groups)
    else:
        x, w = torch.randn(2, 8, 3, 5, device=device), torch.randn(8, 4, 1, 1, device=device)

        def call(x, w):
            return igc_secondary(x, w, 4)
    through_op = []
    real = getattr(ops, op)
    monkeypatch.setattr(ops, op, lambda *a: through_op.append(1) or real(*a))
    expected = call(x, w)
    assert not through_op
    w = w.requires_grad_()
    y = call(x, w)
    assert through_op and y.requires_grad and torch.equal(y.detach(), expected)
    through_op.clear()
    with torch.no_grad():
        assert torch.equal(call(x, w), expected) and not through_op
