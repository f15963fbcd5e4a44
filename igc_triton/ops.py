"""The ``igc::`` operators: ``torch.library`` custom ops with fake (meta) implementations,
autograd and autocast, so that eager, ``torch.compile(fullgraph=True)`` and AOT autograd all
see one opaque, differentiable op per step.

One implementation serves every device: it runs the Triton launchers (compiled on CUDA, the
interpreter on CPU under ``TRITON_INTERPRET=1``) or, where neither applies, the PyTorch
reference (see ``igc_triton.runtime``). Arguments are validated by ``igc_triton.functional``,
which calls the forward implementations (``*_eager``) directly, without the dispatcher, in plain
eager calls that record no gradient (``plain_eager``), and the ops everywhere else.

Ops (padding is ``[top, bottom, left, right]`` so that PyTorch's asymmetric ``"same"`` is
representable and the output size is a function of the input shape):

- ``igc::grouped_conv2d(x, weight, bias?, stride[2], padding[4], dilation[2], groups)``
- ``igc::grouped_conv2d_dgrad / _wgrad``, ``igc::channel_sum`` (its backward)
- ``igc::igc_secondary(t, weight, L)`` and ``igc::igc_secondary_wgrad`` (its backward; the
  input gradient is ``igc::igc_secondary`` itself with block-transposed weights)
- ``igc::igc_block(x, wp, ws, L, stride, padding, dilation, scale?, shift?, residual?, relu)``:
  the whole block with its inference epilogue, on the fused kernel where it applies
  (forward only; ``functional.igc_block`` takes the differentiable path when gradients are
  needed)
"""

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from igc_triton import reference, runtime


def output_hw(hw, khw, stride, padding, dilation):
    """Output size of a convolution with ``padding = [top, bottom, left, right]``."""
    pads = ((padding[0], padding[1]), (padding[2], padding[3]))
    return [(i + a + b - d * (k - 1) - 1) // s + 1 for i, (a, b), k, s, d in zip(hw, pads, khw, stride, dilation)]


def _format(x: Tensor):
    # The launchers' rule (launchers.alloc_output), so fake, reference and Triton outputs agree.
    return torch.channels_last if runtime.is_channels_last(x) else torch.contiguous_format


def _empty_like_layout(x: Tensor, shape) -> Tensor:
    return x.new_empty(shape).contiguous(memory_format=_format(x))


def _use_triton(x: Tensor) -> bool:
    backend = runtime.backend_for(x)
    if backend == runtime.INTERPRETER and x.dtype == torch.bfloat16:
        # Triton 3.6's interpreter raises on bf16 and 3.9's computes garbage: refuse.
        raise TypeError("bfloat16 is not supported by Triton's interpreter (TRITON_INTERPRET=1); "
                        "use float32 or float16 on CPU")
    return backend != runtime.REFERENCE


def _reference_conv(x, weight, bias, stride, padding, dilation, groups):
    xp = F.pad(x, (padding[2], padding[3], padding[0], padding[1]))
    return F.conv2d(xp, weight, bias, stride, 0, dilation, groups)


def _reference_conv_backward(dy, x, weight, stride, padding, dilation, groups, mask):
    """(dx, dw, db) of the reference convolution, each None unless asked for in ``mask``."""
    xp = F.pad(x, (padding[2], padding[3], padding[0], padding[1]))
    dxp, dw, db = torch.ops.aten.convolution_backward(
        dy, xp, weight, [weight.shape[0]], stride, [0, 0], dilation, False, [0, 0], groups, mask)
    dx = None
    if dxp is not None:
        dx = dxp[:, :, padding[0]:padding[0] + x.shape[2], padding[2]:padding[2] + x.shape[3]]
    return dx, dw, db


# ---------------------------------------------------------------------------------------------
# grouped convolution


def grouped_conv2d_eager(x: Tensor, weight: Tensor, bias: Optional[Tensor], stride: list[int], padding: list[int],
                         dilation: list[int], groups: int) -> Tensor:
    """What ``igc::grouped_conv2d`` runs forward; called directly where ``plain_eager`` allows."""
    if _use_triton(x):
        from igc_triton.launch import launchers
        out_hw = output_hw(x.shape[2:], weight.shape[2:], stride, padding, dilation)
        return launchers.grouped_conv2d_fwd(x, weight, bias, tuple(stride), (padding[0], padding[2]),
                                            tuple(dilation), groups, out_hw)
    return _reference_conv(x, weight, bias, stride, padding, dilation, groups).contiguous(memory_format=_format(x))


grouped_conv2d = torch.library.custom_op("igc::grouped_conv2d", grouped_conv2d_eager, mutates_args=())


@grouped_conv2d.register_fake
def _(x, weight, bias, stride, padding, dilation, groups):
    oh, ow = output_hw(x.shape[2:], weight.shape[2:], stride, padding, dilation)
    return _empty_like_layout(x, (x.shape[0], weight.shape[0], oh, ow))


@torch.library.custom_op("igc::grouped_conv2d_dgrad", mutates_args=())
def grouped_conv2d_dgrad(dy: Tensor, x: Tensor, weight: Tensor, stride: list[int], padding: list[int],
                         dilation: list[int], groups: int) -> Tensor:
    if _use_triton(x):
        from igc_triton.launch import launchers_bwd
        return launchers_bwd.grouped_conv2d_dgrad(dy, weight, x, tuple(stride), (padding[0], padding[2]),
                                                  tuple(dilation), groups)
    dx = _reference_conv_backward(dy, x, weight, stride, padding, dilation, groups, [True, False, False])[0]
    return dx.contiguous(memory_format=_format(x))


@grouped_conv2d_dgrad.register_fake
def _(dy, x, weight, stride, padding, dilation, groups):
    return _empty_like_layout(x, x.shape)


@torch.library.custom_op("igc::grouped_conv2d_wgrad", mutates_args=())
def grouped_conv2d_wgrad(dy: Tensor, x: Tensor, weight: Tensor, stride: list[int], padding: list[int],
                         dilation: list[int], groups: int) -> Tensor:
    if _use_triton(x):
        from igc_triton.launch import launchers_bwd
        return launchers_bwd.grouped_conv2d_wgrad(x, dy, tuple(weight.shape), tuple(stride), (padding[0], padding[2]),
                                                  tuple(dilation), groups)
    return _reference_conv_backward(dy, x, weight, stride, padding, dilation, groups,
                                    [False, True, False])[1].contiguous()


@grouped_conv2d_wgrad.register_fake
def _(dy, x, weight, stride, padding, dilation, groups):
    return weight.new_empty(weight.shape)


@torch.library.custom_op("igc::channel_sum", mutates_args=())
def channel_sum(dy: Tensor) -> Tensor:
    if _use_triton(dy):
        from igc_triton.launch import launchers_bwd
        return launchers_bwd.channel_sum(dy)
    return dy.sum((0, 2, 3))


@channel_sum.register_fake
def _(dy):
    return dy.new_empty(dy.shape[1])


def _conv_setup_context(ctx, inputs, output):
    x, weight, bias, stride, padding, dilation, groups = inputs
    ctx.save_for_backward(x, weight)
    ctx.geometry = (stride, padding, dilation, groups)
    ctx.has_bias = bias is not None


def _conv_backward(ctx, dy):
    x, weight = ctx.saved_tensors
    dx = dw = db = None
    if ctx.needs_input_grad[0]:
        dx = grouped_conv2d_dgrad(dy, x, weight, *ctx.geometry)
    if ctx.needs_input_grad[1]:
        dw = grouped_conv2d_wgrad(dy, x, weight, *ctx.geometry)
    if ctx.has_bias and ctx.needs_input_grad[2]:
        db = channel_sum(dy)
    return dx, dw, db, None, None, None, None


grouped_conv2d.register_autograd(_conv_backward, setup_context=_conv_setup_context)


# ---------------------------------------------------------------------------------------------
# fused interleave -> secondary 1x1 group conv -> permute back


def igc_secondary_eager(t: Tensor, weight: Tensor, L: int) -> Tensor:
    """What ``igc::igc_secondary`` runs forward; called directly where ``plain_eager`` allows."""
    if _use_triton(t):
        from igc_triton.launch import launchers
        return launchers.igc_secondary_fwd(t, weight, L)
    return reference.igc_secondary(t, weight, L).contiguous(memory_format=_format(t))


igc_secondary = torch.library.custom_op("igc::igc_secondary", igc_secondary_eager, mutates_args=())


@igc_secondary.register_fake
def _(t, weight, L):
    return _empty_like_layout(t, t.shape)


@torch.library.custom_op("igc::igc_secondary_wgrad", mutates_args=())
def igc_secondary_wgrad(dy: Tensor, t: Tensor, L: int) -> Tensor:
    if _use_triton(t):
        from igc_triton.launch import launchers_bwd
        return launchers_bwd.igc_secondary_wgrad(t, dy, L)
    C = t.shape[1]
    M = C // L
    u, dv = reference.interleave(t, L), reference.interleave(dy, L)
    dw = torch.ops.aten.convolution_backward(dv, u, t.new_empty(C, L, 1, 1), None, [1, 1], [0, 0], [1, 1], False,
                                             [0, 0], M, [False, True, False])[1]
    return dw.contiguous()


@igc_secondary_wgrad.register_fake
def _(dy, t, L):
    return t.new_empty(t.shape[1], L, 1, 1)


def _secondary_setup_context(ctx, inputs, output):
    t, weight, L = inputs
    ctx.save_for_backward(t, weight)
    ctx.L = L


def _secondary_backward(ctx, dy):
    t, weight = ctx.saved_tensors
    dt = dw = None
    if ctx.needs_input_grad[0]:
        dt = igc_secondary(dy, reference.secondary_adjoint_weight(weight, ctx.L), ctx.L)
    if ctx.needs_input_grad[1]:
        dw = igc_secondary_wgrad(dy, t, ctx.L)
    return dt, dw, None


igc_secondary.register_autograd(_secondary_backward, setup_context=_secondary_setup_context)


# ---------------------------------------------------------------------------------------------
# the fused block (inference): act(igc(x) * scale + shift + residual)


def reference_block(x, wp, ws, L, stride, padding, dilation, scale, shift, residual, relu):
    y = reference.igc_secondary(_reference_conv(x, wp, None, stride, padding, dilation, L), ws, L)
    return reference_block_epilogue(y, scale, shift, residual, relu)


def igc_block_eager(x: Tensor, wp: Tensor, ws: Tensor, L: int, stride: list[int], padding: list[int],
                    dilation: list[int], scale: Optional[Tensor], shift: Optional[Tensor], residual: Optional[Tensor],
                    relu: bool) -> Tensor:
    """What ``igc::igc_block`` runs; called directly where ``plain_eager`` allows."""
    if _use_triton(x):
        from igc_triton.launch import launchers
        if launchers.fused_block_takes(x, wp.shape[0], L):
            out_hw = output_hw(x.shape[2:], wp.shape[2:], stride, padding, dilation)
            return launchers.igc_block_fwd(x, wp, ws, L, tuple(stride), (padding[0], padding[2]), tuple(dilation),
                                           out_hw, scale, shift, residual, relu)
        # Inside the op (or a plain eager call) nothing needs the inner ops' dispatch.
        y = igc_secondary_eager(grouped_conv2d_eager(x, wp, None, stride, padding, dilation, L), ws, L)
        return reference_block_epilogue(y, scale, shift, residual, relu)
    y = reference_block(x, wp, ws, L, stride, padding, dilation, scale, shift, residual, relu)
    return y.contiguous(memory_format=_format(x))


igc_block = torch.library.custom_op("igc::igc_block", igc_block_eager, mutates_args=())


def plain_eager(tensors) -> bool:
    """Whether a forward call on ``tensors`` (None entries allowed) may run an
    op's Python implementation directly instead of through the dispatcher: plain tensors
    (parameters included), no gradient to record, no tracing (torch.jit.trace records the op, not
    a Triton launch), compiling, forward-mode AD level, dispatch or function mode, functorch
    transform, autocast or profiler -- everything the custom op exists for. The
    dispatcher's custom-op path costs about 16 us of host time per call (measured on a 2-core
    CPU machine, launches stubbed), as much as all the rest of our Python of an nhwc block call."""
    if (torch.compiler.is_compiling() or torch._C._get_tracing_state() is not None  # torch.jit.trace
            or torch.autograd.forward_ad._current_level >= 0  # dual tensors: what the op does with tangents
            or torch._C._len_torch_dispatch_stack()
            or torch._C._is_torch_function_mode_enabled() or torch._C._functorch.peek_interpreter_stack() is not None
            or torch._C._autograd._profiler_enabled()):
        return False
    grad = torch.is_grad_enabled()
    for t in tensors:
        if t is not None and ((type(t) is not Tensor and type(t) is not torch.nn.Parameter)
                              or (grad and t.requires_grad)):
            return False
    kind = tensors[0].device.type  # meta tensors (shape inference) take the op: it has their fake kernel
    return kind in ("cuda", "cpu") and not torch.is_autocast_enabled(kind)


def reference_block_epilogue(y, scale, shift, residual, relu):
    if scale is not None:
        y = y * scale.view(1, -1, 1, 1).to(y.dtype) + shift.view(1, -1, 1, 1).to(y.dtype)
    if residual is not None:
        y = y + residual
    return torch.relu(y) if relu else y


@igc_block.register_fake
def _(x, wp, ws, L, stride, padding, dilation, scale, shift, residual, relu):
    oh, ow = output_hw(x.shape[2:], wp.shape[2:], stride, padding, dilation)
    return _empty_like_layout(x, (x.shape[0], wp.shape[0], oh, ow))


# ---------------------------------------------------------------------------------------------
# autocast: like F.conv2d, run in the autocast dtype (fp16 or bf16, whichever is active).


def _register_autocast(op, device_type: str):
    def kernel(*args):
        dtype = torch.get_autocast_dtype(device_type)
        cast = [a.to(dtype) if isinstance(a, Tensor) and a.is_floating_point() and a.dtype != torch.float64
                and a.device.type == device_type else a for a in args]
        with torch.autocast(device_type, enabled=False):
            return op(*cast)

    torch.library.impl(op._qualname, "Autocast" + ("CUDA" if device_type == "cuda" else "CPU"), kernel,
                       lib=op._lib)


for _op in (grouped_conv2d, igc_secondary, igc_block):
    for _device in ("cuda", "cpu"):
        _register_autocast(_op, _device)
