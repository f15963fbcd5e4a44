"""Backward launchers: input, weight and bias gradients of the grouped convolution, and the
weight gradient of the fused interleave-secondary step (its input gradient is the forward
step with ``reference.secondary_adjoint_weight``).

As in ``launchers``: arguments arrive validated, gradients of activations are allocated in
the memory format of the activation they belong to, and the kernels take every stride.
Weight and bias gradients are reduced over pixels in float32 (float64 for float64) partial
sums, one row per split, added up here and cast to the parameter's dtype.
"""

import functools

import torch

from igc_triton.launch import autotune, launchers, tuning
from igc_triton.launch.launchers import FMA, GEMM, _acc_dtype, _dot_precision
from igc_triton.runtime import is_channels_last

# Smallest per-group channel counts sent to the tensor-core kernels (tl.dot needs K >= 16).
DGRAD_GEMM_MIN_COUT_PER_GROUP = 16
WGRAD_GEMM_MIN_CHANNELS_PER_GROUP = 16


def _acc_torch_dtype(dtype):
    return torch.float64 if dtype == torch.float64 else torch.float32


def _geometry(stride, padding, dilation):
    return (*stride, *padding, *dilation)


def grouped_conv2d_dgrad(dy, weight, x, stride, padding, dilation, groups, regime=None):
    """Gradient of the input ``x`` of ``grouped_conv2d``; ``padding`` is (top, left)."""
    from igc_triton.kernels.grouped_conv2d_bwd import grouped_conv2d_dgrad_fma_kernel, grouped_conv2d_dgrad_gemm_kernel

    N, cin, H, W = x.shape
    cout, cin_g, kh, kw = weight.shape
    OH, OW = dy.shape[2:]
    dx = launchers.alloc_output(x, (N, cin, H, W))
    if dx.numel() == 0:
        return dx
    weight = weight.contiguous()
    cout_g = cout // groups
    regime = regime or (GEMM if cout_g >= DGRAD_GEMM_MIN_COUT_PER_GROUP else FMA)
    common = (*dy.stride(), *dx.stride(), *_geometry(stride, padding, dilation))
    pixels = N * H * W
    key = launchers.problem_key(x, pixels, cin, groups, cout_g, (kh, kw), stride, dilation)
    if regime == FMA:
        def launch(cfg, warmup=False):
            grid = (tuning.cdiv(pixels, cfg.kwargs["BLOCK_P"]), tuning.cdiv(cin, cfg.kwargs["BLOCK_C"]))
            tuning.kernel_call(grouped_conv2d_dgrad_fma_kernel, grid, warmup)(
                dy, weight, dx, N, H, W, OH, OW, cin, *common,
                CIN_G=cin_g, COUT_G=cout_g, KH=kh, KW=kw, ACC_DTYPE=_acc_dtype(x.dtype),
                num_warps=cfg.num_warps, num_stages=cfg.num_stages, **cfg.kwargs)
            return dx
        candidates = functools.partial(tuning.dgrad_fma_candidates, cin, is_channels_last(x))
    elif regime == GEMM:
        def launch(cfg, warmup=False):
            grid = (tuning.cdiv(pixels, cfg.kwargs["BLOCK_M"]), tuning.cdiv(cin_g, cfg.kwargs["BLOCK_N"]), groups)
            tuning.kernel_call(grouped_conv2d_dgrad_gemm_kernel, grid, warmup)(
                dy, weight, dx, N, H, W, OH, OW, cin_g, cout_g, *common,
                KH=kh, KW=kw, ACC_DTYPE=_acc_dtype(x.dtype), DOT_PRECISION=_dot_precision(x.dtype),
                num_warps=cfg.num_warps, num_stages=cfg.num_stages, **cfg.kwargs)
            return dx
        candidates = functools.partial(tuning.dgrad_gemm_candidates, cin_g, cout_g, x.element_size(), x.device)
    else:
        raise ValueError(f"unknown dgrad regime {regime!r}; expected 'fma' or 'gemm'")
    return launch(tuning.choose(f"grouped_conv2d_dgrad_{regime}", key, candidates, launch, x.device))


def grouped_conv2d_wgrad(x, dy, weight_shape, stride, padding, dilation, groups, regime=None):
    """Gradient of the weight of ``grouped_conv2d``, shape ``weight_shape``, in ``x``'s dtype."""
    from igc_triton.kernels.grouped_conv2d_bwd import grouped_conv2d_wgrad_fma_kernel, grouped_conv2d_wgrad_gemm_kernel

    N, _, H, W = x.shape
    cout, cin_g, kh, kw = weight_shape
    OH, OW = dy.shape[2:]
    pixels = N * OH * OW
    acc = _acc_torch_dtype(x.dtype)
    if pixels == 0:
        return torch.zeros(weight_shape, dtype=x.dtype, device=x.device)
    cout_g = cout // groups
    if regime is None:
        regime = GEMM if min(cin_g, cout_g) >= WGRAD_GEMM_MIN_CHANNELS_PER_GROUP else FMA
    common = (*x.stride(), *dy.stride(), *_geometry(stride, padding, dilation))
    key = launchers.problem_key(x, pixels, cin_g * groups, groups, cout_g, (kh, kw), stride, dilation)
    if regime == FMA:
        taps = tuning.next_power_of_2(kh * kw)

        def launch(cfg, warmup=False):
            per_tile = (tuning.cdiv(cout, cfg.kwargs["BLOCK_C"]), cin_g)
            splits, per_split = tuning.pixel_splits(pixels, cfg.kwargs["BLOCK_P"], per_tile[0] * per_tile[1],
                                                    x.device)
            part = torch.empty((splits, cout, cin_g * kh * kw), dtype=acc, device=x.device)
            tuning.kernel_call(grouped_conv2d_wgrad_fma_kernel, (splits, *per_tile), warmup)(
                x, dy, part, N, H, W, OH, OW, cout, *common, per_split,
                CIN_G=cin_g, COUT_G=cout_g, KH=kh, KW=kw, TAPS=taps, ACC_DTYPE=_acc_dtype(x.dtype),
                num_warps=cfg.num_warps, num_stages=cfg.num_stages, **cfg.kwargs)
            return part.sum(0)
        candidates = functools.partial(tuning.wgrad_fma_candidates, cout, taps)
    elif regime == GEMM:
        def launch(cfg, warmup=False):
            tiles = tuning.cdiv(cout_g, cfg.kwargs["BLOCK_M"]) * tuning.cdiv(cin_g, cfg.kwargs["BLOCK_N"])
            splits, per_split = tuning.pixel_splits(pixels, cfg.kwargs["BLOCK_K"], tiles * groups * kh * kw,
                                                    x.device)
            part = torch.empty((splits, cout, cin_g * kh * kw), dtype=acc, device=x.device)
            tuning.kernel_call(grouped_conv2d_wgrad_gemm_kernel, (splits, tiles, groups * kh * kw), warmup)(
                x, dy, part, N, H, W, OH, OW, cin_g, cout_g, cout, *common, per_split,
                KH=kh, KW=kw, ACC_DTYPE=_acc_dtype(x.dtype), DOT_PRECISION=_dot_precision(x.dtype),
                num_warps=cfg.num_warps, num_stages=cfg.num_stages, **cfg.kwargs)
            return part.sum(0)
        candidates = functools.partial(tuning.wgrad_gemm_candidates, cin_g, cout_g)
    else:
        raise ValueError(f"unknown wgrad regime {regime!r}; expected 'fma' or 'gemm'")
    grad = launch(tuning.choose(f"grouped_conv2d_wgrad_{regime}", key, candidates, launch, x.device))
    return grad.reshape(weight_shape).to(x.dtype)


def channel_sum(dy):
    """Bias gradient: ``dy`` summed over batch and space, one value per channel."""
    from igc_triton.kernels.grouped_conv2d_bwd import channel_sum_kernel

    N, C, H, W = dy.shape
    if dy.numel() == 0:
        return torch.zeros(C, dtype=dy.dtype, device=dy.device)
    pixels = N * H * W

    def launch(cfg, warmup=False):
        tiles = tuning.cdiv(C, cfg.kwargs["BLOCK_C"])
        splits, per_split = tuning.pixel_splits(pixels, cfg.kwargs["BLOCK_P"], tiles, dy.device)
        part = torch.empty((splits, C), dtype=_acc_torch_dtype(dy.dtype), device=dy.device)
        tuning.kernel_call(channel_sum_kernel, (splits, tiles), warmup)(
            dy, part, N, H, W, C, *dy.stride(), per_split, ACC_DTYPE=_acc_dtype(dy.dtype),
            num_warps=cfg.num_warps, num_stages=cfg.num_stages, **cfg.kwargs)
        return part.sum(0)
    key = autotune.problem_key(dy, pixels, C=C)
    candidates = functools.partial(tuning.reduce_candidates, C, is_channels_last(dy))
    grad = launch(tuning.choose("channel_sum", key, candidates, launch, dy.device))
    return grad.to(dy.dtype)


def igc_secondary_wgrad(t, dy, L):
    """Gradient of the secondary weight ``(C, L, 1, 1)`` given the primary output ``t``."""
    from igc_triton.kernels.igc_secondary_bwd import igc_secondary_wgrad_kernel

    N, C, H, W = t.shape
    if t.numel() == 0:
        return torch.zeros((C, L, 1, 1), dtype=t.dtype, device=t.device)
    pixels = N * H * W

    def launch(cfg, warmup=False):
        tiles = tuning.cdiv(C, cfg.kwargs["BLOCK_C"])
        splits, per_split = tuning.pixel_splits(pixels, cfg.kwargs["BLOCK_P"], tiles * L, t.device)
        part = torch.empty((splits, C, L), dtype=_acc_torch_dtype(t.dtype), device=t.device)
        tuning.kernel_call(igc_secondary_wgrad_kernel, (splits, tiles, L), warmup)(
            t, dy, part, N, H, W, C, *t.stride(), *dy.stride(), per_split,
            L=L, M=C // L, ACC_DTYPE=_acc_dtype(t.dtype),
            num_warps=cfg.num_warps, num_stages=cfg.num_stages, **cfg.kwargs)
        return part.sum(0)
    key = launchers.problem_key(t, pixels, C, L, C // L, (1, 1), (1, 1), (1, 1))
    candidates = functools.partial(tuning.reduce_candidates, C, is_channels_last(t))
    grad = launch(tuning.choose("igc_secondary_wgrad", key, candidates, launch, t.device))
    return grad.reshape(C, L, 1, 1).to(t.dtype)
