"""Compile every kernel, in every config of its space, for a GPU target, without a GPU.

The Triton interpreter accepts programs the GPU compiler rejects (``tl.dot`` with K < 16,
shape and dtype errors). This builds each kernel ahead of time for ``GPUTarget("cuda", 90,
32)`` (H100/H200, sm_90) with Triton's bundled ptxas, so CI catches those errors on a CPU.

Usage: ``igc-lab compile-check`` or ``python -m igc_triton.lab.compile_check``.
"""

import argparse
import concurrent.futures
import multiprocessing
import os
import sys
from dataclasses import dataclass

from igc_triton.launch.launchers import WEIGHTS_BLOCK, WEIGHTS_TILE, nhwc_secondary_weight_width
from igc_triton.launch.tuning import _with, fused_tile, wgrad_fma_tile

# The dtypes whose tensor-core lowering differs; float64 and 64-bit integer arguments (sizes or
# strides >= 2**31) are compiled once per kernel, with its default config.
TILE_DTYPES = ("fp32", "fp16", "bf16")


@dataclass(frozen=True)
class Variant:
    kernel: str
    config: str
    dtype: str
    constexprs: tuple  # ((name, value), ...)
    num_warps: int
    num_stages: int
    int_type: str = "i32"  # type of the runtime integer arguments (sizes, strides)
    pointer_dtypes: tuple = ()  # ((name, dtype), ...): pointers whose dtype is not ``dtype``


def variants() -> list[Variant]:
    """Every (kernel, config, dtype) the launchers can produce, with representative shapes."""
    from triton import Config

    from igc_triton.launch import configs, tuning

    out = []

    def add(kernel, cfg_list, extra, dtypes=TILE_DTYPES, int_type="i32", pointers=()):
        for cfg in cfg_list:
            for dt in dtypes:
                ce = {**extra(dt), **cfg.kwargs, "ACC_DTYPE": "fp64" if dt == "fp64" else "fp32"}
                out.append(Variant(kernel, _cfg_name(cfg), dt, tuple(sorted(ce.items())),
                                   cfg.num_warps, cfg.num_stages, int_type, tuple(pointers)))

    def add_all(kernel, cfg_list, extra, fp64=True):
        # Every config once (fp16: bf16 takes the same tensor-core path), the default config in
        # every dtype (fp32 is TF32 in tl.dot kernels) and with 64-bit sizes and strides. A config
        # that still fails on a GPU (e.g. out of shared memory) is skipped by the autotuner.
        add(kernel, cfg_list, extra, dtypes=("fp16",))
        add(kernel, cfg_list[:1], extra, dtypes=("fp32", "bf16") + (("fp64",) if fp64 else ()))
        add(kernel, cfg_list[:1], extra, dtypes=("fp16",), int_type="i64")

    # The INTERPRET_* configs never reach the GPU compiler (they run only under the interpreter).
    fma, gemm = configs.FMA_CONFIGS, configs.GEMM_CONFIGS
    add_all("grouped_conv2d_fwd_fma_kernel", fma,
            lambda dt: {"HAS_BIAS": True, "CIN_G": 3, "COUT_G": 2, "KH": 3, "KW": 3})
    add_all("grouped_conv2d_fwd_gemm_kernel", gemm,
            lambda dt: {"HAS_BIAS": True, "KH": 3, "KW": 3, "DOT_PRECISION": "tf32" if dt == "fp32" else "ieee"})
    # fp32 with TF32 disabled, and the 1x1 form used by the folded secondary step.
    add("grouped_conv2d_fwd_gemm_kernel", gemm[:1], lambda dt: {"HAS_BIAS": True, "KH": 3, "KW": 3,
                                                                "DOT_PRECISION": "ieee"}, dtypes=("fp32",))
    add("grouped_conv2d_fwd_gemm_kernel", gemm[:1], lambda dt: {"HAS_BIAS": False, "KH": 1, "KW": 1,
                                                                "DOT_PRECISION": "ieee"})
    add_all("igc_secondary_fwd_kernel", fma, lambda dt: {"L": 4, "M": 2})

    # Backward.
    def dot_precision(dt):
        return "tf32" if dt == "fp32" else "ieee"

    add_all("grouped_conv2d_dgrad_fma_kernel", configs.DGRAD_FMA_CONFIGS,
            lambda dt: {"CIN_G": 3, "COUT_G": 2, "KH": 3, "KW": 3})
    add_all("grouped_conv2d_dgrad_gemm_kernel", configs.DGRAD_GEMM_CONFIGS,
            lambda dt: {"KH": 3, "KW": 3, "DOT_PRECISION": dot_precision(dt)})
    conv = {"CIN_G": 3, "COUT_G": 2, "KH": 3, "KW": 3, "TAPS": 16}
    add_all("grouped_conv2d_wgrad_fma_kernel", configs.WGRAD_FMA_CONFIGS, lambda dt: conv)
    for k in (5, 7):  # larger kernels: more taps per tile, BLOCK_P scaled down by the launcher
        taps = 32 if k == 5 else 64
        add("grouped_conv2d_wgrad_fma_kernel", [wgrad_fma_tile(configs.WGRAD_FMA_CONFIGS[0], taps)],
            lambda dt, k=k, taps=taps: {**conv, "KH": k, "KW": k, "TAPS": taps}, dtypes=("fp32",))
    add_all("grouped_conv2d_wgrad_gemm_kernel", configs.WGRAD_GEMM_CONFIGS,
            lambda dt: {"KH": 3, "KW": 3, "DOT_PRECISION": dot_precision(dt)})
    add_all("channel_sum_kernel", configs.REDUCE_FMA_CONFIGS, lambda dt: {})
    add_all("igc_secondary_wgrad_kernel", configs.REDUCE_FMA_CONFIGS, lambda dt: {"L": 4, "M": 2})

    # The fused blocks: every config with every epilogue; the narrow form at C_PAD = 64, then the
    # widest block (C_PAD = 256: the most registers) and the narrowest (16, the dot's minimum K).
    # fp32/fp16/bf16 only: they accumulate in fp32, so fp64 takes the two-kernel path.
    epilogue = {"KH": 3, "KW": 3, "HAS_AFFINE": True, "HAS_RESIDUAL": True, "RELU": True}

    def fused(dt, c_pad=64):
        return {**epilogue, "CIN_G": 2, "M": 4, "DOT_PRECISION": dot_precision(dt), "C_PAD": c_pad}

    add_all("igc_block_fwd_kernel", configs.FUSED_CONFIGS, fused, fp64=False)
    add("igc_block_fwd_kernel", configs.FUSED_CONFIGS[:1], lambda dt: {**fused(dt), "DOT_PRECISION": "ieee"},
        dtypes=("fp32",))
    for c_pad in (16, 256):
        add("igc_block_fwd_kernel", [tuning_fused(c_pad)], lambda dt, c_pad=c_pad: fused(dt, c_pad), dtypes=("bf16",))

    def wide(dt, primary=True):
        return {**epilogue, "CIN_G": 2, "M": 2, "DOT_PRECISION": dot_precision(dt), "PRIMARY": primary}

    add_all("igc_block_fwd_wide_kernel", configs.FUSED_WIDE_CONFIGS, wide, fp64=False)
    # L = 16: BLOCK_N and BLOCK_K capped at 16 by the launcher.
    add("igc_block_fwd_wide_kernel", [_with(configs.FUSED_WIDE_CONFIGS[0], BLOCK_N=16, BLOCK_K=16)],
        lambda dt: {**wide(dt), "DOT_PRECISION": "ieee"}, dtypes=("fp32",))
    # As the two-kernel path's secondary step (reads t, 1x1, no epilogue), fp64 included.
    add("igc_block_fwd_wide_kernel", configs.FUSED_WIDE_CONFIGS[:1],
        lambda dt: {**wide(dt, primary=False), "CIN_G": 1, "KH": 1, "KW": 1, "HAS_AFFINE": False,
                    "HAS_RESIDUAL": False, "RELU": False}, dtypes=("fp16", "fp32", "fp64"))

    def tc(dt):
        return {**epilogue, "M": 32, "L_PAD": 4, "DOT_PRECISION": dot_precision(dt)}

    add_all("igc_block_fwd_tc_kernel", configs.FUSED_TC_CONFIGS, tc, fp64=False)
    # The largest L the tc form takes (16), with the one config whose tile fits it.
    add("igc_block_fwd_tc_kernel", configs.FUSED_TC_CONFIGS[2:3],
        lambda dt: {**tc(dt), "M": 16, "L_PAD": 16, "DOT_PRECISION": "ieee"}, dtypes=("fp32",))
    # The nhwc form: every config at C = 48, M = 8 (three 16-channel blocks), the default in every
    # dtype, the widest block, M = 2, 4 and 64 (the weight tiles' runs of M channels and of
    # BC / M partitions).
    def nhwc(dt, M=8):
        return {**epilogue, "C": 48, "M": M, "OUT_NCHW": False, "DOT_PRECISION": dot_precision(dt), "TAPS_L1": 0}

    add("igc_block_nhwc_kernel", configs.NHWC_CONFIGS, nhwc, dtypes=("fp16",))
    add("igc_block_nhwc_kernel", configs.NHWC_CONFIGS[:1], nhwc, dtypes=("fp32", "bf16"))
    # Writing an NCHW caller's output (its input copied to channels_last).
    add("igc_block_nhwc_kernel", configs.NHWC_CONFIGS[:1], lambda dt: {**nhwc(dt), "OUT_NCHW": True},
        dtypes=("fp32", "bf16"))
    # The widest block it takes: C = 256 in 8 blocks of 32 (64 secondary products unrolled).
    add("igc_block_nhwc_kernel", [c for c in configs.NHWC_CONFIGS if c.kwargs["BC"] == 32][:1],
        lambda dt: {**nhwc(dt), "C": 256}, dtypes=("bf16",))
    # Four 64-channel blocks (C = 256, L = 4, M = 64) in every 64-channel config.
    add("igc_block_nhwc_kernel", [c for c in configs.NHWC_CONFIGS if c.kwargs["BC"] == 64],
        lambda dt: {**nhwc(dt, M=64), "C": 256}, dtypes=("bf16",))
    for M in (2, 4):
        add("igc_block_nhwc_kernel", configs.NHWC_CONFIGS[:1], lambda dt, M=M: nhwc(dt, M=M), dtypes=("bf16", "fp32"))
    # The input in 8-byte copies (TAPS_L1): 4 16-bit or 2 fp32 channels each, at C = 256, M = 16.
    add("igc_block_nhwc_kernel", [c for c in configs.NHWC_CONFIGS if c.kwargs.get("TAPS_L1")],
        lambda dt: {**nhwc(dt, M=16), "C": 256}, dtypes=("bf16", "fp32"))
    # The nhwc_fma form (M = 1, 2; its primary weights are fp32 in every dtype): every config at
    # C = 48 (one chunk of pairs, padded to 32) with M = 2, the default in every dtype, M = 1,
    # stride 2 and dilation 2 (the columns a thread shares change), the narrowest (C = 16: 16
    # pairs), C = 80 (two chunks, 32 + 8 pairs) and the widest (C = 256) blocks in the configs
    # whose tiles the launcher allows there, C = 170 and 34 (not multiples of 8: narrower vectors),
    # and its weight layout kernel (one chunk, two).
    def nhwc_fma(dt, C=48, M=2):
        ha, hb = tuning.nhwc_fma_chunks(C)
        return {**epilogue, "C": C, "HA": ha, "HB": hb, "M": M, "STRIDE_W": 1, "DIL_W": 1,
                "OUT_NCHW": False, "DOT_PRECISION": dot_precision(dt)}

    fp32_weights = (("wt_ptr", "fp32"),)
    fma_space = configs.NHWC_FMA_CONFIGS
    add("igc_block_nhwc_fma_kernel", fma_space, nhwc_fma, dtypes=("fp16",), pointers=fp32_weights)
    # The launcher's default at C = 48 and at C = 80 (two chunks): every dtype, an NCHW output, M = 1.
    for c in (48, 80):
        default = tuning.nhwc_fma_space(c, 32)[:1]
        add("igc_block_nhwc_fma_kernel", default, lambda dt, c=c: nhwc_fma(dt, C=c), dtypes=("fp32", "bf16"),
            pointers=fp32_weights)
        add("igc_block_nhwc_fma_kernel", default, lambda dt, c=c: {**nhwc_fma(dt, C=c), "OUT_NCHW": True},
            dtypes=("fp32", "bf16"), pointers=fp32_weights)
        add("igc_block_nhwc_fma_kernel", default, lambda dt, c=c: {**nhwc_fma(dt, C=c, M=1), "STRIDE_W": 2},
            dtypes=("bf16",), pointers=fp32_weights)
    add("igc_block_nhwc_fma_kernel", fma_space[:1], lambda dt: {**nhwc_fma(dt, C=16), "DIL_W": 2},
        dtypes=("fp32", "bf16"), pointers=fp32_weights)
    add("igc_block_nhwc_fma_kernel", tuning.nhwc_fma_space(80, 32), lambda dt: nhwc_fma(dt, C=80),
        dtypes=("bf16",), pointers=fp32_weights)
    add("igc_block_nhwc_fma_kernel", tuning.nhwc_fma_space(256, 32), lambda dt: nhwc_fma(dt, C=256),
        dtypes=("bf16",), pointers=fp32_weights)
    for c in (170, 34):
        add("igc_block_nhwc_fma_kernel", tuning.nhwc_fma_space(c, 32)[:1], lambda dt, c=c: nhwc_fma(dt, C=c),
            dtypes=("fp32", "bf16"), pointers=fp32_weights)
    add("igc_block_nhwc_fma_weights_kernel", [Config({"BLOCK": WEIGHTS_BLOCK}, num_warps=4, num_stages=1)],
        lambda dt: {"HA": 32, "HB": 8, "M": 2, "KH": 3, "KW": 3}, dtypes=("fp16", "bf16"), pointers=fp32_weights)
    add("igc_block_nhwc_fma_weights_kernel", [Config({"BLOCK": WEIGHTS_BLOCK}, num_warps=4, num_stages=1)],
        lambda dt: {"HA": 128, "HB": 0, "M": 1, "KH": 3, "KW": 3}, dtypes=("fp32",))
    # The nhwc grouped conv (groups of 1 or 2 channels; fp32 weights): every config as the launcher
    # adapts it (BP capped at the channels' pairs: C = 8, 16, 48, 256; tiles capped by the row
    # width) in fp16 with M = 2, the default in every dtype, M = 1 with stride 2, dilation 2 and
    # no bias, and its weight layout kernel.
    def nhwc_conv(dt, M=2, C=48):
        return {"C": C, "M": M, "KH": 3, "KW": 3, "STRIDE_W": 1, "DIL_W": 1, "HAS_BIAS": True}

    conv_seen = set()
    for C in (48, 8, 16, 256):
        for width in (32, 16, 8):
            fresh = [c for c in tuning.nhwc_conv_space(C, width) if _cfg_name(c) not in conv_seen]
            conv_seen |= {_cfg_name(c) for c in fresh}
            add("grouped_conv2d_nhwc_kernel", fresh, lambda dt, C=C: nhwc_conv(dt, C=C), dtypes=("fp16",),
                pointers=fp32_weights)
    default = tuning.nhwc_conv_space(48, 32)[:1]
    add("grouped_conv2d_nhwc_kernel", default, nhwc_conv, dtypes=("fp32", "bf16"), pointers=fp32_weights)
    for C in (900, 170):  # not multiples of 8: pixels 8- and 4-byte aligned
        add("grouped_conv2d_nhwc_kernel", tuning.nhwc_conv_space(C, 32)[:1], lambda dt, C=C: nhwc_conv(dt, C=C),
            dtypes=("fp32", "bf16"), pointers=fp32_weights)
    add("grouped_conv2d_nhwc_kernel", default,
        lambda dt: {**nhwc_conv(dt, M=1), "STRIDE_W": 2, "DIL_W": 2, "HAS_BIAS": False}, dtypes=("bf16",),
        pointers=fp32_weights)
    add("grouped_conv2d_nhwc_weights_kernel", [Config({"BLOCK": WEIGHTS_BLOCK}, num_warps=4, num_stages=1)],
        lambda dt: {"M": 2, "KH": 3, "KW": 3}, dtypes=("fp16", "fp32"), pointers=fp32_weights)
    # The nhwc implicit GEMM: every config at 16 groups of 32 (IGC's L = 16, M = 32), the first in
    # every dtype and with 64-bit sizes, its defaults (tuning.nhwc_gemm_candidates) in the other
    # dtypes, a group no K step divides (24), channels doubled, a 1x1 kernel; super-groups of
    # small groups (8 of 4 channels, 4 of 8: K = 32), a partial last one (C = 900 in groups of 2),
    # 128 bytes of 16-bit groups of 16 and 32, groups read through aligned windows (IGC-L32M26's 26
    # and 52 channels), and their weight layout kernel.
    def nhwc_gemm(dt, cin_g=32, cout_g=32, k=3, groups=16, cin=None, cout=None, window=(None, 1), join=1):
        return {"CIN_G": cin_g, "COUT_G": cout_g, "GROUPS": groups, "CIN": cin or cin_g * groups,
                "COUT": cout or cout_g * groups, "KWIN": window[0] or cin_g, "ALIGN": window[1], "JOIN": join,
                "KH": k, "KW": k, "HAS_BIAS": True, "DOT_PRECISION": dot_precision(dt), "TAPS_L1": 0}

    add_all("grouped_conv2d_nhwc_gemm_kernel", configs.NHWC_GEMM_CONFIGS, nhwc_gemm, fp64=False)
    gemm_defaults = [gemm[4], gemm[1], gemm[5]]
    add("grouped_conv2d_nhwc_gemm_kernel", gemm_defaults, nhwc_gemm, dtypes=("fp32", "bf16"))
    add("grouped_conv2d_nhwc_gemm_kernel", gemm[:1], lambda dt: nhwc_gemm(dt, cin_g=24, cout_g=24), dtypes=("bf16",))
    add("grouped_conv2d_nhwc_gemm_kernel", gemm[:1], lambda dt: nhwc_gemm(dt, cout_g=64), dtypes=("bf16",))
    add("grouped_conv2d_nhwc_gemm_kernel", gemm[:1], lambda dt: nhwc_gemm(dt, k=1), dtypes=("bf16",))
    add("grouped_conv2d_nhwc_gemm_kernel", [c for c in configs.NHWC_GEMM_CONFIGS if c.kwargs.get("TAPS_L1")],
        nhwc_gemm, dtypes=("fp32", "bf16"))
    for join in (8, 4):  # 8 groups of 4 channels (IGC's M = 4), 4 of 8, the block-diagonal tile built in the kernel
        add("grouped_conv2d_nhwc_gemm_kernel", gemm_defaults, lambda dt, join=join: nhwc_gemm(dt, groups=8, join=join),
            dtypes=("bf16", "fp32"))
    add("grouped_conv2d_nhwc_gemm_kernel", [gemm[4]],
        lambda dt: nhwc_gemm(dt, groups=29, cin=900, cout=900, join=16), dtypes=("bf16", "fp32"))
    # 16-bit groups of 16 and 32 channels in 128-byte super-groups (launchers.nhwc_gemm_supergroup),
    # with the 128-byte K step made for them.
    for gin in (16, 32):
        add("grouped_conv2d_nhwc_gemm_kernel", [gemm[6]] + gemm_defaults,
            lambda dt, gin=gin: nhwc_gemm(dt, 64, 64, groups=4, join=64 // gin), dtypes=("bf16", "fp16"))
    for cin_g, window, dts in ((26, (32, 8), ("bf16",)), (52, (56, 8), ("bf16",)), (26, (28, 4), ("fp32",))):
        add("grouped_conv2d_nhwc_gemm_kernel", gemm_defaults,
            lambda dt, cin_g=cin_g, window=window: nhwc_gemm(dt, cin_g, cin_g, groups=32, window=window), dtypes=dts)
    add("grouped_conv2d_nhwc_gemm_weights_kernel", [Config({"BLOCK": WEIGHTS_BLOCK}, num_warps=4, num_stages=1)],
        lambda dt: {"COUT": 64, "cin_g": 4, "cout_g": 4, "SG": 8, "TAPS": 9, "KW": 3, "SIZE": 64 * 9 * 32, "KWIN": 32,
                    "ALIGN": 1}, dtypes=("fp16", "fp32"))
    add("grouped_conv2d_nhwc_gemm_weights_kernel", [Config({"BLOCK": WEIGHTS_BLOCK}, num_warps=4, num_stages=1)],
        lambda dt: {"COUT": 832, "cin_g": 26, "cout_g": 26, "SG": 1, "TAPS": 9, "KW": 3, "SIZE": 832 * 9 * 32,
                    "KWIN": 32, "ALIGN": 8}, dtypes=("bf16",))
    # The nhwc secondary: every config as the launcher adapts it at M = 2, L = 200 (fp16), the
    # default in every dtype and with 64-bit sizes, with the block's epilogue (the nhwc_pair form),
    # M = 1, 4, 8 (all positions in a program), 16 and 64 (blocks of 8), 26 (of 2), and L = 24 (K steps past
    # L masked); L = 450 in 16-bit dtypes reads its weight laid out (rows not whole 16-byte vectors), by the
    # weights kernel.
    def nhwc_secondary(dt, L=200, M=2, epi=False):
        return {"L": L, "M": M, "MB": tuning.nhwc_secondary_positions(M), "HAS_AFFINE": epi, "HAS_RESIDUAL": epi,
                "RELU": epi, "DOT_PRECISION": dot_precision(dt), "WT": nhwc_secondary_weight_width(L, _bytes(dt))}

    sec_space = [tuning.nhwc_secondary_tile(c, 200, 2) for c in configs.NHWC_SECONDARY_CONFIGS]
    add_all("igc_secondary_nhwc_kernel", sec_space, nhwc_secondary, fp64=False)
    add("igc_secondary_nhwc_kernel", sec_space[:1], lambda dt: nhwc_secondary(dt, epi=True))
    for L, M in ((128, 1), (450, 4), (450, 8), (16, 16), (16, 64), (24, 2), (32, 26)):
        add("igc_secondary_nhwc_kernel", [tuning.nhwc_secondary_tile(configs.NHWC_SECONDARY_CONFIGS[0], L, M)],
            lambda dt, L=L, M=M: nhwc_secondary(dt, L, M, epi=M == 64), dtypes=("bf16",))
    add("igc_secondary_nhwc_kernel", [tuning.nhwc_secondary_tile(configs.NHWC_SECONDARY_CONFIGS[0], 450, 4)],
        lambda dt: nhwc_secondary(dt, 450, 4, epi=True), dtypes=("fp32", "fp16"))
    add("igc_secondary_nhwc_weights_kernel", [Config({"BLOCK": WEIGHTS_TILE}, num_warps=4, num_stages=1)],
        lambda dt: {"L": 450, "WT": nhwc_secondary_weight_width(450, _bytes(dt))}, dtypes=("fp16", "bf16"))
    # The CUDA-core nhwc secondary (L < 16): every config as the launcher adapts it at L = 4,
    # M = 64 (fp16), the default in every dtype and with the block's epilogue; odd L (weights one
    # by one), M = 26 (a masked position block), L = 15, 8 with M = 2 (tiles of 2 positions).
    def nhwc_fma_secondary(dt, L=4, M=64, epi=False):
        return {"L": L, "M": M, "HAS_AFFINE": epi, "HAS_RESIDUAL": epi, "RELU": epi}

    fma_space = [tuning.nhwc_fma_secondary_tile(c, 64) for c in configs.NHWC_FMA_SECONDARY_CONFIGS]
    add_all("igc_secondary_nhwc_fma_kernel", fma_space, nhwc_fma_secondary, fp64=False)
    add("igc_secondary_nhwc_fma_kernel", fma_space[:1], lambda dt: nhwc_fma_secondary(dt, epi=True))
    for L, M in ((3, 8), (4, 26), (15, 8), (8, 2)):
        add("igc_secondary_nhwc_fma_kernel", tuning.nhwc_fma_secondary_space(L, M)[:1],
            lambda dt, L=L, M=M: nhwc_fma_secondary(dt, L, M, epi=L == 3), dtypes=("bf16",))
    # The L2 read ceiling the bench measures (timing.l2_read_bandwidth), as it launches it.
    add("l2_read_kernel", [Config({"BLOCK": 4096}, num_warps=8, num_stages=3)], lambda dt: {"PASSES": 8},
        dtypes=("fp32",))
    return out


def tuning_fused(c_pad):
    """The default fused config as the launcher adapts it to ``c_pad`` (BLOCK_N <= C_PAD)."""
    from igc_triton.launch import configs
    return fused_tile(configs.FUSED_CONFIGS[0], c_pad)


def _cfg_name(cfg) -> str:
    return ",".join(f"{k}={v}" for k, v in cfg.kwargs.items()) + f",w{cfg.num_warps},s{cfg.num_stages}"


def _kernel(name):
    from triton.runtime.jit import JITFunction

    from igc_triton.kernels import (
        grouped_conv2d_bwd,
        grouped_conv2d_fwd,
        grouped_conv2d_nhwc,
        grouped_conv2d_nhwc_gemm,
        igc_block_fwd,
        igc_block_nhwc,
        igc_block_nhwc_fma,
        igc_secondary_bwd,
        igc_secondary_fwd,
        igc_secondary_nhwc,
        igc_secondary_nhwc_fma,
        l2_read,
    )
    modules = (grouped_conv2d_fwd, grouped_conv2d_bwd, igc_secondary_fwd, igc_secondary_bwd, igc_block_fwd,
               igc_block_nhwc, igc_block_nhwc_fma, grouped_conv2d_nhwc, igc_secondary_nhwc, grouped_conv2d_nhwc_gemm,
               igc_secondary_nhwc_fma, l2_read)
    k = next(getattr(m, name) for m in modules if hasattr(m, name))
    # Under TRITON_INTERPRET=1 the module holds interpreter wrappers; compile the plain function.
    return JITFunction(getattr(k, "fn", k))


TORCH_DTYPES = {"fp16": "float16", "bf16": "bfloat16", "fp32": "float32", "fp64": "float64"}


def _bytes(dt: str) -> int:
    import torch
    return getattr(torch, TORCH_DTYPES[dt]).itemsize


def compile_variant(v: Variant, arch: int = 90) -> tuple[Variant, str | None]:
    """Compile one variant, specialised as a launch with aligned tensors and unremarkable sizes
    (run-time integers 7, or past 2**32 when ``int_type`` is i64: none becomes a constant or
    gets a divisibility hint); returns (variant, None) on success or (variant, error text)."""
    import torch
    import triton
    import triton.language as tl
    from triton.backends.compiler import GPUTarget

    from igc_triton.lab.inspect.compile import StandIn, specialised_source

    fn = _kernel(v.kernel)
    ce = dict(v.constexprs)
    ce["ACC_DTYPE"] = tl.float64 if ce["ACC_DTYPE"] == "fp64" else tl.float32
    pointer_dtypes = dict(v.pointer_dtypes)
    args = []
    for name in fn.arg_names:
        if name in ce:
            args.append(ce[name])
        elif name.endswith("_ptr"):
            # 256-byte aligned, as GPU allocations are: pointers divisible by 16, as in a real
            # launch (without it 16-bit loads stay scalar and no cp.async pipeline is built).
            args.append(StandIn(getattr(torch, TORCH_DTYPES[pointer_dtypes.get(name, v.dtype)])))
        else:
            args.append(7 if v.int_type == "i32" else 2**33 + 7)
    try:
        target = GPUTarget("cuda", arch, 32)
        source, options = specialised_source(fn, args, v.num_warps, v.num_stages, target)
        triton.compile(source, target=target, options=options)
    except Exception as e:  # noqa: BLE001 - any compiler error is a finding to report
        return v, _short_error(e)
    return v, None


def _short_error(e: Exception) -> str:
    lines = [line for line in str(e).strip().splitlines() if line.strip()]
    if len(lines) >= 2 and lines[-1].strip() == "^":  # Triton's source excerpt: "at L:C:", code, caret
        return f"{type(e).__name__} {lines[0]} {lines[-2].strip()}"
    return f"{type(e).__name__}: {lines[-1] if lines else ''}"


def check_all(arch: int = 90, jobs: int = 2, progress=None):
    """Compile every variant; returns a list of (variant, error or None)."""
    vs = variants()
    results = []
    # Fresh worker processes without TRITON_INTERPRET: compiling needs the kernels (and their
    # @triton.jit helpers) built for the compiler, not the interpreter.
    # (Workers start on demand: the variable stays unset until the pool is done.)
    saved = os.environ.pop("TRITON_INTERPRET", None)
    try:
        with concurrent.futures.ProcessPoolExecutor(max_workers=jobs,
                                                    mp_context=multiprocessing.get_context("spawn")) as pool:
            for i, r in enumerate(pool.map(compile_variant, vs, [arch] * len(vs))):
                results.append(r)
                if progress:
                    progress(i + 1, len(vs), r)
    finally:
        if saved is not None:
            os.environ["TRITON_INTERPRET"] = saved
    return results


def run(arch: int = 90, jobs: int = 2) -> int:
    """Compile everything, print one line per variant and a summary; returns the exit code."""
    failed = 0

    def progress(i, n, r):
        nonlocal failed
        v, err = r
        failed += err is not None
        status = "ok  " if err is None else "FAIL"
        print(f"[{i:3d}/{n}] {status} {v.kernel} {v.dtype} {v.int_type} {v.config}" + (f"\n      {err}" if err else ""),
              flush=True)

    results = check_all(arch, jobs, progress)
    print(f"{len(results) - failed}/{len(results)} kernel variants compiled for sm_{arch}")
    return 1 if failed else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m igc_triton.lab.compile_check",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", type=int, default=90, help="compute capability x10 (default 90: H100/H200)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel compiler processes (default 2)")
    args = parser.parse_args(argv)
    return run(args.arch, args.jobs)


if __name__ == "__main__":
    sys.exit(main())
