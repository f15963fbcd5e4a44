"""Launchers: allocate outputs, pick a config, compute the grid, launch the Triton kernels.

Arguments arrive validated and normalised by ``igc_triton.functional``; nothing here checks
user input. Outputs are allocated in the input's memory format (NCHW or channels_last)
and the kernels take every stride, so no input is copied. Weights (small) are made
contiguous.
"""

import torch
import triton

from igc_triton import reference, tuning
from igc_triton.runtime import is_channels_last

FMA = "fma"
GEMM = "gemm"

# Smallest per-group input channel count sent to the tensor-core GEMM kernel: tl.dot needs
# K >= 16, and below that the FMA kernel avoids padding the reduction.
GEMM_MIN_CIN_PER_GROUP = 16
# Smallest L for which the secondary step runs as one dense tl.dot with the folded weight
# (K = C, M-fold redundant FLOPs) rather than L FMAs per output.
FOLDED_SECONDARY_MIN_L = 16


def alloc_output(x: torch.Tensor, shape) -> torch.Tensor:
    """Output buffer in ``x``'s memory format (tests patch this to poison it with NaN)."""
    fmt = torch.channels_last if is_channels_last(x) else torch.contiguous_format
    return torch.empty(shape, device=x.device, dtype=x.dtype, memory_format=fmt)


def _acc_dtype(dtype: torch.dtype):
    import triton.language as tl
    return tl.float64 if dtype == torch.float64 else tl.float32


def _dot_precision(dtype: torch.dtype) -> str:
    # Same numerics contract as F.conv2d: fp32 convolutions may use TF32 when cuDNN may.
    if dtype == torch.float32 and torch.backends.cudnn.allow_tf32:
        return "tf32"
    return "ieee"


def grouped_conv2d_regime(cin_per_group: int) -> str:
    return GEMM if cin_per_group >= GEMM_MIN_CIN_PER_GROUP else FMA


def grouped_conv2d_fwd(x, weight, bias, stride, padding, dilation, groups, out_hw, regime=None):
    """Grouped conv forward. ``padding`` is (top, left); ``out_hw`` the output (OH, OW).

    ``regime`` forces ``"fma"`` or ``"gemm"``; by default it follows the per-group input
    channel count (see ``GEMM_MIN_CIN_PER_GROUP``).
    """
    from igc_triton.kernels.grouped_conv2d_fwd import grouped_conv2d_fwd_fma_kernel, grouped_conv2d_fwd_gemm_kernel

    N, _, H, W = x.shape
    cout, cin_g, kh, kw = weight.shape
    OH, OW = out_hw
    y = alloc_output(x, (N, cout, OH, OW))
    if y.numel() == 0:
        return y
    weight = weight.contiguous()
    has_bias = bias is not None
    b = bias.contiguous() if has_bias else weight  # placeholder pointer, never read
    regime = regime or grouped_conv2d_regime(cin_g)
    geometry = (*stride, *padding, *dilation)
    pixels = N * OH * OW
    if regime == FMA:
        cfg = tuning.fma_config(cout, is_channels_last(x))
        grid = (triton.cdiv(pixels, cfg.kwargs["BLOCK_P"]), triton.cdiv(cout, cfg.kwargs["BLOCK_C"]))
        grouped_conv2d_fwd_fma_kernel[grid](
            x, weight, b, y, N, H, W, OH, OW, cout, *x.stride(), *y.stride(), *geometry,
            CIN_G=cin_g, COUT_G=cout // groups, KH=kh, KW=kw, HAS_BIAS=has_bias, ACC_DTYPE=_acc_dtype(x.dtype),
            num_warps=cfg.num_warps, num_stages=cfg.num_stages, **cfg.kwargs)
    elif regime == GEMM:
        cout_g = cout // groups
        cfg = tuning.gemm_config(cout_g)
        grid = (triton.cdiv(pixels, cfg.kwargs["BLOCK_M"]), triton.cdiv(cout_g, cfg.kwargs["BLOCK_N"]), groups)
        grouped_conv2d_fwd_gemm_kernel[grid](
            x, weight, b, y, N, H, W, OH, OW, cin_g, cout_g, *x.stride(), *y.stride(), *geometry,
            KH=kh, KW=kw, HAS_BIAS=has_bias, ACC_DTYPE=_acc_dtype(x.dtype), DOT_PRECISION=_dot_precision(x.dtype),
            num_warps=cfg.num_warps, num_stages=cfg.num_stages, **cfg.kwargs)
    else:
        raise ValueError(f"unknown grouped_conv2d regime {regime!r}; expected 'fma' or 'gemm'")
    return y


# The fused block keeps all C channels of BLOCK_P pixels in registers and computes the primary
# step on CUDA cores: it takes blocks up to this width, with fewer than 16 input channels per
# partition (larger partitions are tensor-core work: the two-kernel path).
FUSED_MAX_CHANNELS = 256


def fused_block_supported(in_channels: int, out_channels: int, L: int, dtype: torch.dtype) -> bool:
    """Whether the fused kernel takes this block (it accumulates in fp32: no float64)."""
    return (out_channels <= FUSED_MAX_CHANNELS and in_channels // L < GEMM_MIN_CIN_PER_GROUP
            and dtype != torch.float64)


def igc_block_fwd(x, wp, ws, L, stride, padding, dilation, out_hw, scale=None, shift=None, residual=None,
                  relu=False):
    """The fused IGC block (see kernels/igc_block_fwd.py): ``y = act(block(x) * scale + shift +
    residual)``. ``padding`` is (top, left); ``residual`` has y's shape."""
    from igc_triton.kernels.igc_block_fwd import igc_block_fwd_kernel

    N, cin, H, W = x.shape
    C, cin_g, kh, kw = wp.shape
    OH, OW = out_hw
    y = alloc_output(x, (N, C, OH, OW))
    if y.numel() == 0:
        return y
    c_pad = max(16, triton.next_power_of_2(C))
    cfg = tuning.fused_config(c_pad)
    folded = reference.folded_secondary_weight(ws, L).reshape(C, C).contiguous()
    has_affine, has_res = scale is not None, residual is not None
    res = residual if has_res else y  # placeholder pointer, never read
    sc, sh = (scale.contiguous(), shift.contiguous()) if has_affine else (folded, folded)
    grid = (triton.cdiv(N * OH * OW, cfg.kwargs["BLOCK_P"]),)
    igc_block_fwd_kernel[grid](
        x, wp.contiguous(), folded, sc, sh, res, y, N, H, W, OH, OW, C,
        *x.stride(), *res.stride(), *y.stride(), *stride, *padding, *dilation,
        CIN_G=cin_g, M=C // L, KH=kh, KW=kw, HAS_AFFINE=has_affine, HAS_RESIDUAL=has_res, RELU=relu,
        DOT_PRECISION=_dot_precision(x.dtype), C_PAD=c_pad,
        num_warps=cfg.num_warps, num_stages=cfg.num_stages, **cfg.kwargs)
    return y


def igc_secondary_path(L: int) -> str:
    return GEMM if L >= FOLDED_SECONDARY_MIN_L else FMA


def igc_secondary_fwd(t, weight, L, path=None):
    """IGC steps 2-4 on the primary output ``t``; ``weight: (C, L, 1, 1)``.

    ``path`` forces ``"fma"`` (permutation in the kernel's index arithmetic, L FMAs per output)
    or ``"gemm"`` (one dense 1x1 tl.dot with the folded block-sparse weight, K = C); by
    default it follows L (see ``FOLDED_SECONDARY_MIN_L``). Neither writes a permuted tensor.
    """
    from igc_triton.kernels.igc_secondary_fwd import igc_secondary_fwd_kernel

    N, C, H, W = t.shape
    path = path or igc_secondary_path(L)
    if path == GEMM:
        folded = reference.folded_secondary_weight(weight, L)
        return grouped_conv2d_fwd(t, folded, None, (1, 1), (0, 0), (1, 1), 1, (H, W), regime=GEMM)
    if path != FMA:
        raise ValueError(f"unknown igc_secondary path {path!r}; expected 'fma' or 'gemm'")
    y = alloc_output(t, (N, C, H, W))
    if y.numel() == 0:
        return y
    cfg = tuning.fma_config(C, is_channels_last(t))
    grid = (triton.cdiv(N * H * W, cfg.kwargs["BLOCK_P"]), triton.cdiv(C, cfg.kwargs["BLOCK_C"]))
    igc_secondary_fwd_kernel[grid](
        t, weight.contiguous(), y, N, H, W, C, *t.stride(), *y.stride(),
        L=L, M=C // L, ACC_DTYPE=_acc_dtype(t.dtype),
        num_warps=cfg.num_warps, num_stages=cfg.num_stages, **cfg.kwargs)
    return y
