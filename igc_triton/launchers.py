"""Launchers: allocate outputs, pick a config, compute the grid, launch the Triton kernels.

Arguments arrive validated and normalised by ``igc_triton.functional``; nothing here checks
user input. Outputs are allocated in the input's memory format (NCHW or channels_last)
and the kernels take every stride, so no input is copied. Weights (small) are made
contiguous.
"""

import weakref

import torch
import triton

from igc_triton import autotune, reference, tuning
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


# Folded secondary weights, by the id of the secondary weight they were built from: (a weak
# reference to that tensor, its version counter, L, the folded (C, C, 1, 1) weight). Building
# one is a few small kernels per call; a model's weights change only in place (optimizer
# steps bump the version counter), so inference and repeated calls reuse it.
_FOLDED: dict[int, tuple] = {}


def folded_weight(ws: torch.Tensor, L: int) -> torch.Tensor:
    """``reference.folded_secondary_weight(ws, L)``, contiguous, cached while ``ws`` is alive and unchanged."""
    if ws.is_inference():  # no version counter to tell an in-place change: never cached
        return reference.folded_secondary_weight(ws, L).contiguous()
    key = id(ws)
    hit = _FOLDED.get(key)
    if hit is not None and hit[0]() is ws and hit[1] == ws._version and hit[2] == L:
        return hit[3]
    folded = reference.folded_secondary_weight(ws.detach(), L).contiguous()
    _FOLDED[key] = (weakref.ref(ws, lambda _, key=key: _FOLDED.pop(key, None)), ws._version, L, folded)
    return folded


def _acc_dtype(dtype: torch.dtype):
    import triton.language as tl
    return tl.float64 if dtype == torch.float64 else tl.float32


def _dot_precision(dtype: torch.dtype) -> str:
    # Same numerics contract as F.conv2d: fp32 convolutions may use TF32 when cuDNN may.
    if dtype == torch.float32 and torch.backends.cudnn.allow_tf32:
        return "tf32"
    return "ieee"


def problem_key(x, pixels, cin, groups, cout_per_group, kernel_size, stride, dilation) -> str:
    """The autotuning key of a grouped conv (or a step of it): L = groups, M = outputs per group."""
    return autotune.problem_key(x, pixels, cin=cin, L=groups, M=cout_per_group, k=tuple(kernel_size),
                                s=tuple(stride), d=tuple(dilation))


def grouped_conv2d_regime(cin_per_group: int) -> str:
    return GEMM if cin_per_group >= GEMM_MIN_CIN_PER_GROUP else FMA


def grouped_conv2d_fwd(x, weight, bias, stride, padding, dilation, groups, out_hw, regime=None):
    """Grouped conv forward. ``padding`` is (top, left); ``out_hw`` the output (OH, OW).

    ``regime`` forces ``"fma"`` or ``"gemm"``; by default it follows the per-group input
    channel count (see ``GEMM_MIN_CIN_PER_GROUP``).
    """
    from igc_triton.kernels.grouped_conv2d_fwd import grouped_conv2d_fwd_fma_kernel, grouped_conv2d_fwd_gemm_kernel

    N, cin, H, W = x.shape
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
    cout_g = cout // groups
    key = problem_key(x, pixels, cin, groups, cout_g, (kh, kw), stride, dilation)
    if regime == FMA:
        def launch(cfg):
            grid = (triton.cdiv(pixels, cfg.kwargs["BLOCK_P"]), triton.cdiv(cout, cfg.kwargs["BLOCK_C"]))
            grouped_conv2d_fwd_fma_kernel[grid](
                x, weight, b, y, N, H, W, OH, OW, cout, *x.stride(), *y.stride(), *geometry,
                CIN_G=cin_g, COUT_G=cout_g, KH=kh, KW=kw, HAS_BIAS=has_bias, ACC_DTYPE=_acc_dtype(x.dtype),
                num_warps=cfg.num_warps, num_stages=cfg.num_stages, **cfg.kwargs)
            return y
        candidates = tuning.fma_candidates(cout, is_channels_last(x))
    elif regime == GEMM:
        def launch(cfg):
            grid = (triton.cdiv(pixels, cfg.kwargs["BLOCK_M"]), triton.cdiv(cout_g, cfg.kwargs["BLOCK_N"]), groups)
            grouped_conv2d_fwd_gemm_kernel[grid](
                x, weight, b, y, N, H, W, OH, OW, cin_g, cout_g, *x.stride(), *y.stride(), *geometry,
                KH=kh, KW=kw, HAS_BIAS=has_bias, ACC_DTYPE=_acc_dtype(x.dtype),
                DOT_PRECISION=_dot_precision(x.dtype),
                num_warps=cfg.num_warps, num_stages=cfg.num_stages, **cfg.kwargs)
            return y
        candidates = tuning.gemm_candidates(cin_g, cout_g, x.element_size(), x.device)
    else:
        raise ValueError(f"unknown grouped_conv2d regime {regime!r}; expected 'fma' or 'gemm'")
    return launch(tuning.choose(f"grouped_conv2d_fwd_{regime}", key, candidates, launch, x.device))


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
    folded = folded_weight(ws, L).reshape(C, C)
    has_affine, has_res = scale is not None, residual is not None
    res = residual if has_res else y  # placeholder pointer, never read
    sc, sh = (scale.contiguous(), shift.contiguous()) if has_affine else (folded, folded)
    wp = wp.contiguous()
    pixels = N * OH * OW

    def launch(cfg):
        igc_block_fwd_kernel[(triton.cdiv(pixels, cfg.kwargs["BLOCK_P"]),)](
            x, wp, folded, sc, sh, res, y, N, H, W, OH, OW, C,
            *x.stride(), *res.stride(), *y.stride(), *stride, *padding, *dilation,
            CIN_G=cin_g, M=C // L, KH=kh, KW=kw, HAS_AFFINE=has_affine, HAS_RESIDUAL=has_res, RELU=relu,
            DOT_PRECISION=_dot_precision(x.dtype), C_PAD=c_pad,
            num_warps=cfg.num_warps, num_stages=cfg.num_stages, **cfg.kwargs)
        return y
    key = problem_key(x, pixels, cin, L, C // L, (kh, kw), stride, dilation)
    return launch(tuning.choose("igc_block_fwd", key, tuning.fused_candidates(c_pad), launch, x.device))


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
        folded = folded_weight(weight, L)
        return grouped_conv2d_fwd(t, folded, None, (1, 1), (0, 0), (1, 1), 1, (H, W), regime=GEMM)
    if path != FMA:
        raise ValueError(f"unknown igc_secondary path {path!r}; expected 'fma' or 'gemm'")
    y = alloc_output(t, (N, C, H, W))
    if y.numel() == 0:
        return y
    pixels = N * H * W
    weight = weight.contiguous()

    def launch(cfg):
        grid = (triton.cdiv(pixels, cfg.kwargs["BLOCK_P"]), triton.cdiv(C, cfg.kwargs["BLOCK_C"]))
        igc_secondary_fwd_kernel[grid](
            t, weight, y, N, H, W, C, *t.stride(), *y.stride(),
            L=L, M=C // L, ACC_DTYPE=_acc_dtype(t.dtype),
            num_warps=cfg.num_warps, num_stages=cfg.num_stages, **cfg.kwargs)
        return y
    key = problem_key(t, pixels, C, L, C // L, (1, 1), (1, 1), (1, 1))
    return launch(tuning.choose("igc_secondary_fwd", key, tuning.fma_candidates(C, is_channels_last(t)), launch,
                                t.device))
