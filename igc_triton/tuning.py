"""Choice of a launch config from the config spaces in ``igc_triton.kernels.configs``.

For now a fixed heuristic per layout and channel count (no benchmarking); the per-L/M
autotuner replaces it. Under the interpreter, one large-tile config keeps the number of
(slow, Python-level) program instances small.
"""

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


def _with(cfg: triton.Config, **kwargs) -> triton.Config:
    return triton.Config({**cfg.kwargs, **kwargs}, num_warps=cfg.num_warps, num_stages=cfg.num_stages)
