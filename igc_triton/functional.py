"""Public functional API: grouped convolution and the IGC block on Triton kernels.

Backends (see ``igc_triton.runtime``): CUDA tensors run the compiled Triton kernels; CPU
tensors run the same kernels under Triton's interpreter when ``TRITON_INTERPRET=1`` is set,
and otherwise fall back to the pure-PyTorch reference (``torch.nn.functional.conv2d`` and
``igc_triton.reference``). Every argument is checked before any kernel launches; bad input
raises ``ValueError`` (shapes, values, devices) or ``TypeError`` (types, dtypes).

Every function is differentiable (Triton backward kernels, through the ``igc::`` custom ops
of ``igc_triton.ops``), works under ``torch.compile(fullgraph=True)`` and follows autocast
like ``F.conv2d``.
"""

import torch

from igc_triton import ops, reference

SUPPORTED_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


def grouped_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution with groups; same arguments and result as ``torch.nn.functional.conv2d``.

    Args:
        input: ``(N, Cin, H, W)``, NCHW, channels_last or any strided view; float32, float16,
            bfloat16 or float64.
        weight: ``(Cout, Cin/groups, kH, kW)``.
        bias: optional ``(Cout,)``.
        stride, dilation: int or pair, >= 1.
        padding: int or pair (>= 0), or ``"valid"`` / ``"same"`` (``"same"`` needs stride 1).
        groups: number of groups; divides both ``Cin`` and ``Cout``.

    Returns:
        ``(N, Cout, OH, OW)`` in the input's dtype and memory format.

    Runs the Triton kernels on CUDA tensors (FMA direct convolution when ``Cin/groups < 16``,
    tensor-core implicit GEMM otherwise; contiguous channels_last fp32/fp16/bf16 inputs with
    groups of 1 or 2 channels in and out and ``C % 8 == 0``: the nhwc kernel over channel
    pairs, ``launchers.nhwc_conv_applies``), the interpreter on CPU tensors under
    ``TRITON_INTERPRET=1``, else ``F.conv2d``. Differentiable in input, weight and bias.

    Example::

        y = grouped_conv2d(x, w, stride=2, padding=1, groups=4)
    """
    _check_tensor("input", input)
    _check_tensor("weight", weight, like=input)
    if bias is not None:
        _check_tensor("bias", bias, like=input, ndim=1)
    stride, dilation, pads = _remembered(_conv_rules, input.shape, weight.shape,
                                         None if bias is None else bias.shape, stride, padding, dilation, groups)
    args = (input, weight, bias, list(stride), list(pads), list(dilation), groups)
    if ops.plain_eager((input, weight, bias)):  # inference: skip the dispatcher (ops.plain_eager)
        return ops.grouped_conv2d_eager(*args)
    return ops.grouped_conv2d(*args)


def igc_secondary(input, weight, L):
    """IGC steps 2-4 fused: interleave, secondary 1x1 group conv (M partitions), permute back.

    Args:
        input: the primary output ``(N, C, H, W)`` with ``C = L*M``.
        weight: secondary weight ``(C, L, 1, 1)`` (``nn.Conv2d(C, C, 1, groups=M)`` layout).
        L: number of primary partitions.

    Returns:
        ``y`` with ``y[:, l*M + m] = sum_j weight[m*L + l, j] * input[:, j*M + m]``, same shape,
        dtype and memory format as ``input``. The permuted tensor is never materialised:
        the Triton kernel folds both permutations into its indexing (or, for L >= 16, into a
        dense block-sparse 1x1 weight on tensor cores). CPU tensors without
        ``TRITON_INTERPRET=1`` use ``igc_triton.reference.igc_secondary``.
    """
    _check_tensor("input", input)
    _check_tensor("weight", weight, like=input)
    C = input.shape[1]
    _check_L(L, C, "input channels")
    if tuple(weight.shape) != (C, L, 1, 1):
        raise ValueError(f"secondary weight must have shape (C, L, 1, 1) = ({C}, {L}, 1, 1) for "
                         f"{C} channels and L={L}, got {tuple(weight.shape)}")
    if ops.plain_eager((input, weight)):  # inference: skip the dispatcher (ops.plain_eager)
        return ops.igc_secondary_eager(input, weight, L)
    return ops.igc_secondary(input, weight, L)


def igc_conv2d(input, primary_weight, secondary_weight, L, stride=1, padding=1, dilation=1):
    """The whole IGC block ``y = P Ws P^T Wp x`` (DESIGN.md section 1).

    Args:
        input: ``(N, Cin, H, W)``.
        primary_weight: ``(C, Cin/L, k, k)``, the primary group conv with L partitions.
        secondary_weight: ``(C, L, 1, 1)``, the secondary 1x1 group conv with ``M = C/L``
            partitions. ``Cin != C`` is allowed (transition blocks, e.g. stride 2 with the
            channels doubled).
        L: primary partitions; stride, padding, dilation: of the primary conv, as in ``F.conv2d``.

    Returns:
        ``(N, C, OH, OW)``; equal to ``F.conv2d(input, dense_equivalent_weight(...), ...)``.

    Runs :func:`grouped_conv2d` (groups=L) then :func:`igc_secondary`, with the same backend
    rule as they have.

    Example::

        y = igc_conv2d(x, wp, ws, L=8, stride=1, padding=1)
    """
    _check_tensor("input", input)
    _check_tensor("primary_weight", primary_weight, like=input)
    _check_tensor("secondary_weight", secondary_weight, like=input)
    # Validate the whole block, the primary geometry too, before the first launch.
    _remembered(_igc_rules, input.shape, primary_weight.shape, secondary_weight.shape, L, stride, padding, dilation)
    t = grouped_conv2d(input, primary_weight, None, stride, padding, dilation, groups=L)
    return igc_secondary(t, secondary_weight, L)


def igc_block(input, primary_weight, secondary_weight, L, stride=1, padding=1, dilation=1, scale=None, shift=None,
              residual=None, relu=False):
    """The IGC block with an inference epilogue: ``act(igc_conv2d(...) * scale + shift + residual)``.

    ``scale`` and ``shift`` (``(C,)``, both or neither) are typically a folded BatchNorm;
    ``residual`` has the output's shape; ``relu`` applies a ReLU last. Runs a fully fused
    kernel (input read once, output written once) for blocks with ``Cin/L < 16`` and either
    ``C <= 256`` or ``L >= 16``, or ``Cin/L >= 16`` and ``L <= 16``, in fp32/fp16/bf16
    (``launchers.fused_block_form``; contiguous channels_last blocks with ``Cin == C``,
    ``C % 8 == 0``, ``C <= 256`` take an nhwc kernel: for ``M`` = 1 or 2 (``C >= 16``) the one with
    the primary on CUDA cores, for other ``M`` dividing 64 the tensor-core one; such blocks with an
    NCHW or strided input run it on a channels_last copy of the input, the kernel writing the NCHW
    output: ``launchers.nchw_takes_nhwc_form``; other blocks with ``L >= 16``, or with
    ``Cin/L >= 16``, run two channels_last kernels, the primary and the secondary with the
    epilogue, an NCHW input and its output copied: ``launchers.NHWC_PAIR``, so the fully fused
    ``Cin/L >= 16`` kernel takes one-pixel images); otherwise, or
    when autograd needs gradients, the two-kernel path followed by the epilogue in PyTorch.
    Same backends as :func:`igc_conv2d`.

    Example::

        y = igc_block(x, wp, ws, L=24, scale=bn_scale, shift=bn_shift, relu=True)
    """
    _check_tensor("input", input)
    _check_tensor("primary_weight", primary_weight, like=input)
    _check_tensor("secondary_weight", secondary_weight, like=input)
    C = primary_weight.shape[0]
    if (scale is None) != (shift is None):
        raise ValueError("give both scale and shift (a folded BatchNorm), or neither")
    for name, v in (("scale", scale), ("shift", shift)):
        if v is not None:
            _check_tensor(name, v, like=input, ndim=1)
            if v.shape[0] != C:
                raise ValueError(f"{name} has {v.shape[0]} elements, expected {C} (the block's output channels)")
    if residual is not None:
        _check_tensor("residual", residual, like=input)
    if not isinstance(relu, bool):
        raise TypeError(f"relu must be a bool, got {relu!r}")
    grad = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in
                                           (input, primary_weight, secondary_weight, scale, shift, residual))
    if grad:
        y = igc_conv2d(input, primary_weight, secondary_weight, L, stride, padding, dilation)
        _check_residual(residual, y.shape)
        return ops.reference_block_epilogue(y, scale, shift, residual, relu)
    stride, dilation, pads, out_hw = _remembered(_igc_rules, input.shape, primary_weight.shape,
                                                 secondary_weight.shape, L, stride, padding, dilation)
    _check_residual(residual, (input.shape[0], C, *out_hw))
    args = (input, primary_weight, secondary_weight, L, list(stride), list(pads), list(dilation), scale, shift,
            residual, relu)
    # Eager inference calls skip the dispatcher (same implementation, see ops.plain_eager).
    if ops.plain_eager((input, primary_weight, secondary_weight, scale, shift, residual)):
        return ops.igc_block_eager(*args)
    return ops.igc_block(*args)


def _check_residual(residual, shape):
    if residual is not None and tuple(residual.shape) != tuple(shape):
        raise ValueError(f"residual has shape {tuple(residual.shape)}, the block's output {tuple(shape)}")


def dense_equivalent_weight(primary_weight, secondary_weight, L):
    """The regular convolution weight ``(C, Cin, k, k)`` computing the same function as the block.

    ``F.conv2d(x, dense_equivalent_weight(wp, ws, L), stride=s, padding=p, dilation=d)``
    equals ``igc_conv2d(x, wp, ws, L, s, p, d)``. Pure PyTorch on any device.
    """
    _check_tensor("primary_weight", primary_weight)
    _check_tensor("secondary_weight", secondary_weight, like=primary_weight)
    C = primary_weight.shape[0]
    _check_L(L, C, "output channels (primary_weight.shape[0])")
    if tuple(secondary_weight.shape) != (C, L, 1, 1):
        raise ValueError(f"secondary weight must have shape (C, L, 1, 1) = ({C}, {L}, 1, 1), "
                         f"got {tuple(secondary_weight.shape)}")
    return reference.dense_equivalent_weight(primary_weight, secondary_weight, L)


def _remembered(rules, *args):
    """``rules(*args)`` (shapes and arguments: raises or returns what the call needs of them),
    remembered: the shape rules took about 5 us of an eager block call's 33 us of our Python on
    the 2-core CPU machine. Keyed by the arguments' types too: ``True`` and ``1`` are one
    dictionary key, but only ``1`` is a valid L or stride. Arguments that cannot be keyed (not
    hashable, symbolic sizes) are checked each time; a call that breaks a rule raises each time
    (nothing is remembered of it). Not while torch.compile or torch.export traces: the
    dictionary would be part of the graph's guards (a recompile per new key, symbolic sizes
    pinned to constants)."""
    if torch.compiler.is_compiling():
        return rules(*args)
    try:
        key = (rules, *map(_typed, args))
        found = _RULES.get(key)
    except TypeError:
        return rules(*args)
    if found is None:
        found = rules(*args)
        if len(_RULES) >= _RULES_MAX:
            _RULES.clear()
        _RULES[key] = found
    return found


_RULES: dict = {}
_RULES_MAX = 4096


def _typed(v):
    """``v`` with its type (and its elements' types): a dictionary key that keeps 1 and True apart
    (a shape's sizes are ints, or symbolic and not hashable)."""
    if type(v) is torch.Size:
        return v
    return (type(v), tuple(map(_typed, v))) if isinstance(v, (tuple, list)) else (type(v), v)


def _conv_rules(x_shape, w_shape, bias_shape, stride, padding, dilation, groups):
    """Raises on a grouped convolution that breaks a shape rule; returns (stride pair, dilation
    pair, 4-sided padding)."""
    stride, dilation = _pair("stride", stride), _pair("dilation", dilation)
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"groups must be a positive int, got {groups!r}")
    N, cin, H, W = x_shape
    cout, cin_g, kh, kw = w_shape
    if cin % groups or cout % groups:
        raise ValueError(f"input channels ({cin}) and output channels ({cout}) must be divisible by groups ({groups})")
    if cin_g != cin // groups:
        raise ValueError(f"weight of shape {tuple(w_shape)} expects {cin_g * groups} input channels with "
                         f"groups={groups}, but the input has {cin}")
    if bias_shape is not None and bias_shape[0] != cout:
        raise ValueError(f"bias has {bias_shape[0]} elements, expected {cout} (weight.shape[0])")
    return stride, dilation, tuple(_padding(padding, (H, W), (kh, kw), stride, dilation))


def _igc_rules(x_shape, wp_shape, ws_shape, L, stride, padding, dilation):
    """Raises on a block that breaks a shape rule; returns (stride pair, dilation pair, the
    primary's 4-sided padding, output size)."""
    cin = x_shape[1]
    C, cin_g = wp_shape[:2]
    _check_L(L, cin, "input channels")
    _check_L(L, C, "output channels (primary_weight.shape[0])")
    if cin_g * L != cin:
        raise ValueError(f"primary weight of shape {tuple(wp_shape)} expects {cin_g * L} input "
                         f"channels with L={L}, but the input has {cin}")
    if tuple(ws_shape) != (C, L, 1, 1):
        raise ValueError(f"secondary weight must have shape (C, L, 1, 1) = ({C}, {L}, 1, 1), "
                         f"got {tuple(ws_shape)}")
    stride, dilation = _pair("stride", stride), _pair("dilation", dilation)
    pads = _padding(padding, x_shape[2:], wp_shape[2:], stride, dilation)
    return stride, dilation, tuple(pads), tuple(ops.output_hw(x_shape[2:], wp_shape[2:], stride, pads, dilation))


def _check_tensor(name, t, like=None, ndim=4):
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"{name} has dtype {t.dtype}; supported: float32, float16, bfloat16, float64")
    if t.dim() != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {tuple(t.shape)}")
    if like is not None:
        # Under autocast the ops cast every floating input to the autocast dtype, as F.conv2d does.
        if t.dtype != like.dtype and not torch.is_autocast_enabled(like.device.type):
            raise TypeError(f"{name} has dtype {t.dtype} but input has {like.dtype}; they must match")
        if t.device != like.device:
            raise ValueError(f"{name} is on {t.device} but input is on {like.device}; they must match")


def _check_L(L, channels, what):
    if not isinstance(L, int) or isinstance(L, bool) or L < 1:
        raise ValueError(f"L must be a positive int, got {L!r}")
    if channels % L:
        raise ValueError(f"{what} ({channels}) must be divisible by L ({L})")


def _pair(name, v):
    pair = (v, v) if isinstance(v, int) else tuple(v) if isinstance(v, (tuple, list)) else None
    if pair is None or len(pair) != 2 or not all(isinstance(e, int) and not isinstance(e, bool) for e in pair):
        raise TypeError(f"{name} must be an int or a pair of ints, got {v!r}")
    if min(pair) < 1:
        raise ValueError(f"{name} must be >= 1, got {v!r}")
    return pair


def _padding(padding, hw, khw, stride, dilation):
    """``[top, bottom, left, right]``; PyTorch's "same" puts the odd extra row/column last.
    Raises if the output would be empty."""
    span = [d * (k - 1) for d, k in zip(dilation, khw)]
    if isinstance(padding, str):
        if padding == "valid":
            pads = [0, 0, 0, 0]
        elif padding == "same":
            if stride != (1, 1):
                raise ValueError("padding='same' is not supported for strided convolutions")
            pads = [span[0] // 2, span[0] - span[0] // 2, span[1] // 2, span[1] - span[1] // 2]
        else:
            raise ValueError(f"padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
    else:
        pad = (padding, padding) if isinstance(padding, int) and not isinstance(padding, bool) else \
            tuple(padding) if isinstance(padding, (tuple, list)) else None
        if pad is None or len(pad) != 2 or not all(isinstance(e, int) and not isinstance(e, bool) for e in pad):
            raise TypeError(f"padding must be an int, a pair of ints, 'valid' or 'same', got {padding!r}")
        if min(pad) < 0:
            raise ValueError(f"padding must be >= 0, got {padding!r}")
        pads = [pad[0], pad[0], pad[1], pad[1]]
    out = ops.output_hw(hw, khw, stride, pads, dilation)
    if min(out) < 1:
        raise ValueError(f"input of spatial size {tuple(hw)} is too small for kernel {tuple(khw)} with "
                         f"padding {padding!r}, dilation {dilation}: output would be {tuple(out)}")
    return pads
