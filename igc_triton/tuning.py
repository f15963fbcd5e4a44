"""Choice of a launch config from the config spaces in ``igc_triton.kernels.configs``.

For now a fixed heuristic per layout and channel count (no benchmarking); the per-L/M
autotuner replaces it. Under the interpreter, one large-tile config keeps the number of
(slow, Python-level) program instances small.
"""

import torch
import triton

from igc_triton import runtime


def fma_config(channels: int, channels_last: bool) -> triton.Config:
    """Config for ``grouped_conv2d_fwd_fma_kernel`` / ``igc_secondary_fwd_kernel``."""
    from igc_triton.kernels import configs
    if runtime.kernels_interpreted():
        cfg = configs.INTERPRET_FMA
        return _with(cfg, BLOCK_C=min(cfg.kwargs["BLOCK_C"], max(16, triton.next_power_of_2(channels))))
    return configs.FMA_CONFIGS[1 if channels_last else 0]


def gemm_config(channels_per_group: int) -> triton.Config:
    """Config for ``grouped_conv2d_fwd_gemm_kernel``."""
    from igc_triton.kernels import configs
    if runtime.kernels_interpreted():
        cfg = configs.INTERPRET_GEMM
        return _with(cfg, BLOCK_N=min(cfg.kwargs["BLOCK_N"], max(16, triton.next_power_of_2(channels_per_group))))
    return configs.GEMM_CONFIGS[2 if channels_per_group <= 32 else 0]


def reduce_config(channels: int, channels_last: bool) -> triton.Config:
    """Config for the pixel-reducing kernels (FMA wgrad, bias gradient, secondary wgrad)."""
    from igc_triton.kernels import configs
    if runtime.kernels_interpreted():
        cfg = configs.INTERPRET_REDUCE
        return _with(cfg, BLOCK_C=min(cfg.kwargs["BLOCK_C"], max(16, triton.next_power_of_2(channels))))
    return configs.REDUCE_FMA_CONFIGS[1 if channels_last else 0]


def wgrad_fma_config(channels: int, taps: int) -> triton.Config:
    """Config for ``grouped_conv2d_wgrad_fma_kernel``, whose tile is [BLOCK_P x BLOCK_C x taps]:
    BLOCK_P shrinks as the (power-of-two) tap count grows past 16, keeping the tile size."""
    from igc_triton.kernels import configs
    if runtime.kernels_interpreted():
        cfg = configs.INTERPRET_REDUCE
        return _with(cfg, BLOCK_C=min(cfg.kwargs["BLOCK_C"], max(16, triton.next_power_of_2(channels))))
    return wgrad_fma_tile(configs.WGRAD_FMA_CONFIGS[0], taps)


def wgrad_fma_tile(cfg: triton.Config, taps: int) -> triton.Config:
    """``cfg`` (sized for 16 taps) with BLOCK_P scaled down for ``taps`` > 16."""
    return _with(cfg, BLOCK_P=max(4, cfg.kwargs["BLOCK_P"] * 16 // max(taps, 16)))


def wgrad_gemm_config() -> triton.Config:
    from igc_triton.kernels import configs
    return configs.INTERPRET_WGRAD_GEMM if runtime.kernels_interpreted() else configs.WGRAD_GEMM_CONFIGS[0]


def dgrad_fma_config(channels: int, channels_last: bool) -> triton.Config:
    from igc_triton.kernels import configs
    if runtime.kernels_interpreted():
        return fma_config(channels, channels_last)
    return configs.DGRAD_FMA_CONFIGS[1 if channels_last else 0]


def dgrad_gemm_config(channels_per_group: int) -> triton.Config:
    from igc_triton.kernels import configs
    if runtime.kernels_interpreted():
        return gemm_config(channels_per_group)
    return configs.DGRAD_GEMM_CONFIGS[1 if channels_per_group <= 32 else 0]


def fused_config(c_pad: int) -> triton.Config:
    """Config for ``igc_block_fwd_kernel``; BLOCK_N never exceeds the padded width."""
    from igc_triton.kernels import configs
    cfg = configs.INTERPRET_FUSED if runtime.kernels_interpreted() else configs.FUSED_CONFIGS[0]
    return _with(cfg, BLOCK_N=min(cfg.kwargs["BLOCK_N"], c_pad))


def pixel_splits(pixels: int, block: int, other_programs: int, device) -> tuple[int, int]:
    """How a pixel reduction is split: (number of splits, pixels per split, a multiple of
    ``block``). Enough programs to fill the GPU about four times over; one under the interpreter."""
    if runtime.kernels_interpreted() or device.type != "cuda":
        splits = 1
    else:
        sms = torch.cuda.get_device_properties(device).multi_processor_count
        splits = max(1, min(triton.cdiv(4 * sms, max(other_programs, 1)), triton.cdiv(pixels, block)))
    per_split = triton.cdiv(triton.cdiv(pixels, splits), block) * block
    return triton.cdiv(pixels, per_split), per_split


def _with(cfg: triton.Config, **kwargs) -> triton.Config:
    return triton.Config({**cfg.kwargs, **kwargs}, num_warps=cfg.num_warps, num_stages=cfg.num_stages)
