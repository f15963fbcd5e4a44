"""Candidate launch configs of every kernel for one problem, and the choice among them.

Each ``*_candidates`` function takes the kernel's space from ``igc_triton.launch.configs``,
puts the heuristic default first (the config used with ``IGC_TRITON_AUTOTUNE=off``) and
prunes what cannot help this problem: tiles wider than the channels they cover, ``tl.dot``
steps with K < 16, pipelines that overflow shared memory, register tiles too large for the
warps. Under the interpreter there is one candidate, a large tile (each program instance
costs about a millisecond of Python), so nothing is ever benchmarked there.
``choose`` hands the candidates to the autotuner (``igc_triton.launch.autotune``).
"""

import functools

import torch
import triton

from igc_triton import runtime
from igc_triton.launch import autotune

# Dynamic shared memory assumed when the device does not report its opt-in limit (sm_86's).
DEFAULT_SMEM_BYTES = 99 * 1024
# The fused block holds a [BLOCK_P x C_PAD] fp32 tile in registers: at most this many per thread.
FUSED_TILE_REGS_PER_THREAD = 64
# The nhwc_fma kernel's accumulator registers per thread (beside them: the unpacked input
# columns of a kernel row, the weights of the row, the pointers): 64 more spill at C = 80.
NHWC_FMA_ACC_REGS = 32


def choose(kernel: str, key: str, candidates: list, run, device: torch.device) -> triton.Config:
    return autotune.TUNER.choose(kernel, key, candidates, run, device)


def cdiv(a: int, b: int) -> int:
    """``triton.cdiv`` for host code: Triton's is a constexpr function whose wrapper costs
    microseconds per call, several times per launch on the hot path."""
    return -(-a // b)


def next_power_of_2(n: int) -> int:
    """``triton.next_power_of_2`` for host code (same values, 0 for 0), without its wrapper."""
    return 1 << (n - 1).bit_length() if n > 0 else 0


def kernel_call(kernel, grid, warmup: bool = False):
    """``kernel[grid]``, or with ``warmup`` a call that compiles without launching: a launcher's
    ``run(cfg, warmup=True)``, with which the tuner compiles its candidates in parallel."""
    return functools.partial(kernel.warmup, grid=grid) if warmup else kernel[grid]


def _width(n: int) -> int:
    return max(16, next_power_of_2(max(n, 1)))


def _space(default: triton.Config, space, keep=lambda cfg: True) -> list:
    """``default`` first, then every other config of ``space`` that ``keep`` accepts, once."""
    out = [default]
    for cfg in space:
        if keep(cfg) and not any(autotune.same_config(cfg, c) for c in out):
            out.append(cfg)
    return out


def smem_bytes(device: torch.device) -> int:
    if device.type != "cuda":
        return DEFAULT_SMEM_BYTES
    props = torch.cuda.get_device_properties(device)
    return getattr(props, "shared_memory_per_block_optin", DEFAULT_SMEM_BYTES)


def _interpreted(cfg: triton.Config, key: str, channels: int) -> list:
    return [_with(cfg, **{key: min(cfg.kwargs[key], _width(channels))})]


def _channel_tiles(space, interpret_cfg, channels: int, channels_last: bool) -> list:
    """[pixels x channels] tile spaces: the layout's default first (NCHW: wide pixel tiles,
    channels_last: wide channel tiles), no tile wider than the channels."""
    if runtime.kernels_interpreted():
        return _interpreted(interpret_cfg, "BLOCK_C", channels)
    return _space(space[1 if channels_last else 0], space, lambda c: c.kwargs["BLOCK_C"] <= _width(channels))


def fma_candidates(channels: int, channels_last: bool) -> list:
    """``grouped_conv2d_fwd_fma_kernel`` / ``igc_secondary_fwd_kernel``: [pixels x channels] tiles."""
    from igc_triton.launch import configs
    return _channel_tiles(configs.FMA_CONFIGS, configs.INTERPRET_FMA, channels, channels_last)


def dgrad_fma_candidates(channels: int, channels_last: bool) -> list:
    from igc_triton.launch import configs
    return _channel_tiles(configs.DGRAD_FMA_CONFIGS, configs.INTERPRET_FMA, channels, channels_last)


def reduce_candidates(channels: int, channels_last: bool) -> list:
    """The pixel-reducing kernels (bias gradient, secondary weight gradient)."""
    from igc_triton.launch import configs
    return _channel_tiles(configs.REDUCE_FMA_CONFIGS, configs.INTERPRET_REDUCE, channels, channels_last)


def _gemm_tiles(space, small_default: int, k_channels: int, n_channels: int, elem_bytes: int,
                device: torch.device) -> list:
    """Implicit-GEMM tile spaces: ``space[small_default]`` first for N <= 32 channels (else
    ``space[0]``), pruned by ``_gemm_fits``."""
    from igc_triton.launch import configs
    if runtime.kernels_interpreted():
        return _interpreted(configs.INTERPRET_GEMM, "BLOCK_N", n_channels)
    smem = smem_bytes(device)
    return _space(space[small_default if n_channels <= 32 else 0], space,
                  lambda c: _gemm_fits(c, k_channels, n_channels, elem_bytes, smem))


def _gemm_fits(cfg: triton.Config, k_channels: int, n_channels: int, elem_bytes: int, smem: int) -> bool:
    kw = cfg.kwargs
    stage = (kw["BLOCK_M"] * kw["BLOCK_K"] + kw["BLOCK_K"] * kw["BLOCK_N"]) * elem_bytes
    return (kw["BLOCK_K"] >= 16 and kw["BLOCK_K"] <= _width(k_channels) and kw["BLOCK_N"] <= _width(n_channels)
            and stage * max(cfg.num_stages, 1) <= smem)


def gemm_candidates(cin_per_group: int, cout_per_group: int, elem_bytes: int, device: torch.device) -> list:
    """``grouped_conv2d_fwd_gemm_kernel``: M = pixels, N = output channels, K = input channels per tap."""
    from igc_triton.launch import configs
    return _gemm_tiles(configs.GEMM_CONFIGS, 2, cin_per_group, cout_per_group, elem_bytes, device)


def nhwc_gemm_candidates(cin_per_group: int, cout_per_group: int, elem_bytes: int, device: torch.device) -> list:
    """``grouped_conv2d_nhwc_gemm_kernel``: the GEMM space; the default the first that fits of
    128 pixels x 32 channels, 128 x 64, 64 x 128 (K step 32, 32, 64: whole 64- or 128-byte pieces of
    each pixel's group; the cost model's best on IGC's large partitions, N = 32, 64, 128-256),
    else the generic kernel's."""
    from igc_triton.launch import configs
    if runtime.kernels_interpreted():
        return _interpreted(configs.INTERPRET_GEMM, "BLOCK_N", cout_per_group)
    smem = smem_bytes(device)
    space = configs.NHWC_GEMM_CONFIGS
    prefer = [space[4], space[1], space[5]] if cout_per_group <= 32 else \
        [space[1], space[5]] if cout_per_group <= 64 else [space[5], space[1]]
    fits = [c for c in prefer if _gemm_fits(c, cin_per_group, cout_per_group, elem_bytes, smem)]
    if not fits:
        return gemm_candidates(cin_per_group, cout_per_group, elem_bytes, device)
    return _space(fits[0], space, lambda c: _gemm_fits(c, cin_per_group, cout_per_group, elem_bytes, smem))


def dgrad_gemm_candidates(cin_per_group: int, cout_per_group: int, elem_bytes: int, device: torch.device) -> list:
    """dgrad as a GEMM: N = input channels of the group, K = output channels per tap."""
    from igc_triton.launch import configs
    return _gemm_tiles(configs.DGRAD_GEMM_CONFIGS, 1, cout_per_group, cin_per_group, elem_bytes, device)


def wgrad_fma_candidates(channels: int, taps: int) -> list:
    """``grouped_conv2d_wgrad_fma_kernel``, whose tile is [BLOCK_P x BLOCK_C x taps]: BLOCK_P
    shrinks as the (power-of-two) tap count grows past 16, keeping the tile size."""
    from igc_triton.launch import configs
    if runtime.kernels_interpreted():
        return _interpreted(configs.INTERPRET_REDUCE, "BLOCK_C", channels)
    return [wgrad_fma_tile(cfg, taps) for cfg in configs.WGRAD_FMA_CONFIGS]


def wgrad_fma_tile(cfg: triton.Config, taps: int) -> triton.Config:
    """``cfg`` (sized for 16 taps) with BLOCK_P scaled down for ``taps`` > 16."""
    return _with(cfg, BLOCK_P=max(4, cfg.kwargs["BLOCK_P"] * 16 // max(taps, 16)))


def wgrad_gemm_candidates(cin_per_group: int, cout_per_group: int) -> list:
    """wgrad as a GEMM per (group, tap): [out-channels x pixels] . [pixels x in-channels]."""
    from igc_triton.launch import configs
    if runtime.kernels_interpreted():
        return [configs.INTERPRET_WGRAD_GEMM]
    return _space(configs.WGRAD_GEMM_CONFIGS[0], configs.WGRAD_GEMM_CONFIGS,
                  lambda c: c.kwargs["BLOCK_M"] <= _width(cout_per_group)
                  and c.kwargs["BLOCK_N"] <= _width(cin_per_group))


def fused_candidates(c_pad: int) -> list:
    """``igc_block_fwd_kernel``: BLOCK_N never exceeds the padded width, and the [BLOCK_P x C_PAD]
    register tile stays within ``FUSED_TILE_REGS_PER_THREAD`` (the default always stays)."""
    from igc_triton.launch import configs
    if runtime.kernels_interpreted():
        return [fused_tile(configs.INTERPRET_FUSED, c_pad)]
    space = [fused_tile(cfg, c_pad) for cfg in configs.FUSED_CONFIGS]
    return _space(space[0], space[1:], lambda c: c.kwargs["BLOCK_P"] * c_pad
                  <= FUSED_TILE_REGS_PER_THREAD * 32 * c.num_warps)


def fused_wide_candidates(L: int) -> list:
    """``igc_block_fwd_wide_kernel``: BLOCK_N and BLOCK_K capped at what L needs (above 16)."""
    from igc_triton.launch import configs
    if runtime.kernels_interpreted():
        cfg = configs.INTERPRET_FUSED_WIDE
        return [_with(cfg, BLOCK_N=min(cfg.kwargs["BLOCK_N"], _width(L)))]
    space = [_with(c, BLOCK_N=min(c.kwargs["BLOCK_N"], _width(L)), BLOCK_K=min(c.kwargs["BLOCK_K"], _width(L)))
             for c in configs.FUSED_WIDE_CONFIGS]
    return _space(space[0], space[1:])


def fused_tc_candidates(l_pad: int, M: int, cin_per_group: int) -> list:
    """``igc_block_fwd_tc_kernel``: the configs whose [BLOCK_P x L_PAD x BLOCK_M] tile stays within
    ``FUSED_TILE_REGS_PER_THREAD`` (in the space's order; the first is the default; the
    smallest tile is always kept), none wider than M or CIN_G need."""
    from igc_triton.launch import configs
    if runtime.kernels_interpreted():
        return [configs.INTERPRET_FUSED_TC]
    space = configs.FUSED_TC_CONFIGS

    def fits(c):
        kw = c.kwargs
        return (kw["BLOCK_P"] * l_pad * kw["BLOCK_M"] <= FUSED_TILE_REGS_PER_THREAD * 32 * c.num_warps
                and kw["BLOCK_M"] <= _width(M) and kw["BLOCK_K"] <= _width(cin_per_group))
    kept = [c for c in space if fits(c)]
    smallest = min(space, key=lambda c: c.kwargs["BLOCK_P"] * c.kwargs["BLOCK_M"] / c.num_warps)
    return _space(kept[0] if kept else smallest, kept)


# The nhwc kernel unrolls one secondary product per pair of channel blocks: at most this many blocks.
NHWC_MAX_BLOCKS = 8


# The kernel source file behind each name the launchers tune under. `igc-lab tune --ship`
# records those files' hash per kernel, so that the shipped configs of a kernel that changed
# since are never applied (tests/test_autotune.py checks every tuned name is here).
KERNEL_SOURCES = {
    "grouped_conv2d_fwd_fma": "grouped_conv2d_fwd.py", "grouped_conv2d_fwd_gemm": "grouped_conv2d_fwd.py",
    "igc_block_fwd": "igc_block_fwd.py", "igc_block_fwd_wide": "igc_block_fwd.py",
    "igc_block_fwd_tc": "igc_block_fwd.py", "igc_secondary_fwd_gemm": "igc_block_fwd.py",
    "igc_block_nhwc": "igc_block_nhwc.py", "igc_block_nhwc_fma": "igc_block_nhwc_fma.py",
    "grouped_conv2d_fwd_nhwc": "grouped_conv2d_nhwc.py", "grouped_conv2d_fwd_nhwc_gemm": "grouped_conv2d_nhwc_gemm.py",
    "igc_secondary_fwd": "igc_secondary_fwd.py", "igc_secondary_fwd_nhwc": "igc_secondary_nhwc.py",
    "igc_secondary_fwd_nhwc_fma": "igc_secondary_nhwc_fma.py",
    "grouped_conv2d_dgrad_fma": "grouped_conv2d_bwd.py", "grouped_conv2d_dgrad_gemm": "grouped_conv2d_bwd.py",
    "grouped_conv2d_wgrad_fma": "grouped_conv2d_bwd.py", "grouped_conv2d_wgrad_gemm": "grouped_conv2d_bwd.py",
    "channel_sum": "grouped_conv2d_bwd.py", "igc_secondary_wgrad": "igc_secondary_bwd.py",
}


def kernel_sources(kernel: str) -> dict:
    """``{"files", "hash"}`` of a tuned kernel's sources (its file and the kernel files it imports)."""
    files = autotune.kernel_files(KERNEL_SOURCES[kernel])
    return {"files": files, "hash": autotune.sources_fingerprint(files)}


def nhwc_tile_width_cap(out_width: int) -> int:
    """The widest nhwc tile worth running on rows ``out_width`` wide (part of the problem key)."""
    return min(32, max(8, next_power_of_2(max(out_width, 1))))


def nhwc_candidates(channels: int, M: int, out_width: int) -> list:
    """``igc_block_nhwc_kernel``: channel blocks no wider than the channels need (padded to a
    power of two) holding whole partitions (a multiple of M), at most NHWC_MAX_BLOCKS of them,
    and tiles no wider than the rows (``nhwc_tile_width_cap``). The default is the first of
    ``configs.NHWC_CONFIGS`` that keeps to that: the narrowest block, the widest tile."""
    from igc_triton.launch import configs
    if runtime.kernels_interpreted():
        return [_with(configs.INTERPRET_NHWC, BC=max(configs.INTERPRET_NHWC.kwargs["BC"], M))]
    cap = nhwc_tile_width_cap(out_width)

    def keep(c):
        bc = c.kwargs["BC"]
        return (bc <= _width(channels) and bc % M == 0 and -(-channels // bc) <= NHWC_MAX_BLOCKS
                and c.kwargs["TILE_W"] <= cap)
    kept = [c for c in configs.NHWC_CONFIGS if keep(c)]
    return _space(kept[0], kept[1:])


def _nhwc_tiles(space, out_width: int, acc_channels) -> list:
    """The configs of ``space`` whose tiles are no wider than the rows (``nhwc_tile_width_cap``)
    and whose [pixels x ``acc_channels(cfg)``] fp32 accumulator keeps to NHWC_FMA_ACC_REGS
    registers per thread, in the space's order (if none does, the smallest tile with the most
    warps)."""
    cap = nhwc_tile_width_cap(out_width)
    space = [c for c in space if c.kwargs["TILE_W"] <= cap]

    def fits(c):
        return c.kwargs["TILE_H"] * c.kwargs["TILE_W"] * acc_channels(c) <= NHWC_FMA_ACC_REGS * 32 * c.num_warps
    return [c for c in space if fits(c)] or [min(space, key=lambda c: (c.kwargs["TILE_H"] * c.kwargs["TILE_W"],
                                                                       -c.num_warps))]


def nhwc_fma_chunks(channels: int) -> tuple[int, int]:
    """The nhwc_fma kernel's channel pairs in two chunks (HA, HB): A, the largest power of two
    not over the pairs, at least 16 (the secondary's products, one per channel parity, need
    K >= 16); B, the rest padded to a power of two, at least 8 (its 2 HB channels are one product's
    K) -- where that saves more than a quarter of the work of padding all the pairs to a power of
    two, up to 64 pairs padded (C = 72, 80: 32 + 8 pairs, 80 channels of work, not 128; C = 80
    predicted 15% faster, h200, bf16); else (HB = 0) one chunk of them all padded so. Predicted
    no faster: C = 48 (16 + 8 pairs save a quarter; chunk B shares fewer input columns per
    thread, the larger tile holds more registers), C = 160 (64 + 16: 2% slower at 16x16)."""
    pairs = max(1, channels // 2)
    whole = max(16, next_power_of_2(pairs))
    a = max(16, next_power_of_2(pairs + 1) // 2)
    b = max(8, next_power_of_2(pairs - a)) if pairs > a else 0
    return (a, b) if b and 4 * (a + b) < 3 * whole and whole <= 64 else (whole, 0)


def nhwc_fma_space(channels: int, out_width: int) -> list:
    """The configs of ``configs.NHWC_FMA_CONFIGS`` the launcher may run on this problem
    (``_nhwc_tiles`` on an accumulator of [pixels x 2 HA], the larger chunk's channels,
    ``nhwc_fma_chunks``). Both chunks' accumulators are live at once, so with two chunks a
    thread holds up to a quarter more than the cap (C = 72, 80: 40 registers for 32): inspect
    finds no spills there (130 registers, Triton 3.6), and counting them would leave C = 80 only
    the tiles predicted slower."""
    from igc_triton.launch import configs
    return _nhwc_tiles(configs.NHWC_FMA_CONFIGS, out_width, lambda c: 2 * nhwc_fma_chunks(channels)[0])


def nhwc_fma_candidates(channels: int, out_width: int) -> list:
    """``igc_block_nhwc_fma_kernel``: ``nhwc_fma_space``, its first config the default."""
    from igc_triton.launch import configs
    if runtime.kernels_interpreted():
        return [configs.INTERPRET_NHWC_FMA]
    kept = nhwc_fma_space(channels, out_width)
    return _space(kept[0], kept[1:])


def _conv_pairs(cfg: triton.Config, channels: int) -> triton.Config:
    """``cfg`` with BP capped at the channels' pairs (a power of two, >= 4: one 16-byte load of
    16-bit pairs)."""
    return _with(cfg, BP=min(cfg.kwargs["BP"], max(4, next_power_of_2(max(channels // 2, 1)))))


def nhwc_conv_space(channels: int, out_width: int) -> list:
    """The configs of ``configs.NHWC_CONV_CONFIGS`` the launcher may run, BP capped
    (``_conv_pairs``), filtered by ``_nhwc_tiles`` (the accumulator is [pixels x 2 BP])."""
    from igc_triton.launch import configs
    return _nhwc_tiles([_conv_pairs(c, channels) for c in configs.NHWC_CONV_CONFIGS], out_width,
                       lambda c: 2 * c.kwargs["BP"])


def nhwc_conv_candidates(channels: int, out_width: int) -> list:
    """``grouped_conv2d_nhwc_kernel``: ``nhwc_conv_space``, its first config the default."""
    from igc_triton.launch import configs
    if runtime.kernels_interpreted():
        return [_conv_pairs(configs.INTERPRET_NHWC_CONV, channels)]
    kept = nhwc_conv_space(channels, out_width)
    return _space(kept[0], kept[1:])


def nhwc_secondary_positions(M: int) -> int:
    """The nhwc secondary's positions per program (its MB): the largest power of two dividing M,
    8 at most (all M = 1, 2, 4, 8; blocks of 8 for M = 16, 32, ...; of 2 for M = 26)."""
    return min(M & -M, 8)


def nhwc_secondary_tile(cfg: triton.Config, L: int, M: int) -> triton.Config:
    """A config of ``configs.NHWC_SECONDARY_CONFIGS`` (in channels) as the kernel's per-position
    tile: BLOCK_N = BLOCK_C / MB and BLOCK_K = BLOCK_KC / MB (``nhwc_secondary_positions``), each
    at least 16 (the products' N and K) and at most L padded to a power of two."""
    kw = cfg.kwargs
    cap, mb = _width(L), nhwc_secondary_positions(M)
    return triton.Config({"BLOCK_P": kw["BLOCK_P"], "BLOCK_N": min(max(16, kw["BLOCK_C"] // mb), cap),
                          "BLOCK_K": min(max(16, kw["BLOCK_KC"] // mb), cap)},
                         num_warps=cfg.num_warps, num_stages=cfg.num_stages)


def nhwc_secondary_candidates(L: int, M: int, elem_bytes: int, device: torch.device) -> list:
    """``igc_secondary_nhwc_kernel``: ``nhwc_secondary_tile`` of each config, those whose
    pipeline (a stage: the pixels' [BLOCK_P x BLOCK_K * MB] input and MB [BLOCK_N x BLOCK_K]
    weight tiles) fits shared memory, the first the default."""
    from igc_triton.launch import configs
    if runtime.kernels_interpreted():
        return [nhwc_secondary_tile(configs.INTERPRET_NHWC_SECONDARY, L, M)]
    smem, mb = smem_bytes(device), nhwc_secondary_positions(M)
    tiles = [nhwc_secondary_tile(c, L, M) for c in configs.NHWC_SECONDARY_CONFIGS]

    def fits(c):
        kw = c.kwargs
        stage = (kw["BLOCK_P"] + kw["BLOCK_N"]) * kw["BLOCK_K"] * mb * elem_bytes
        return stage * max(c.num_stages, 1) <= smem
    kept = [c for c in tiles if fits(c)] or [min(tiles, key=lambda c: c.kwargs["BLOCK_P"] * c.kwargs["BLOCK_K"])]
    return _space(kept[0], kept[1:])


def nhwc_fma_secondary_tile(cfg: triton.Config, M: int) -> triton.Config:
    """A config of ``configs.NHWC_FMA_SECONDARY_CONFIGS`` with its positions capped at M (padded
    to a power of two) and its pixels grown to keep the tile's size."""
    kw = cfg.kwargs
    positions = min(kw["BLOCK_M"], next_power_of_2(M))
    return _with(cfg, BLOCK_M=positions, BLOCK_P=kw["BLOCK_P"] * kw["BLOCK_M"] // positions)


def nhwc_fma_secondary_space(L: int, M: int) -> list:
    """The configs of ``configs.NHWC_FMA_SECONDARY_CONFIGS`` the launcher may run (as
    ``nhwc_fma_secondary_tile`` adapts them): those whose L input tiles take at most 128 fp32
    registers a thread (the smallest tile if none does)."""
    from igc_triton.launch import configs
    space = [nhwc_fma_secondary_tile(c, M) for c in configs.NHWC_FMA_SECONDARY_CONFIGS]

    def per_thread(c):
        return L * c.kwargs["BLOCK_P"] * c.kwargs["BLOCK_M"] // (32 * c.num_warps)
    return [c for c in space if per_thread(c) <= 128] or [min(space, key=per_thread)]


def nhwc_fma_secondary_candidates(L: int, M: int) -> list:
    """``igc_secondary_nhwc_fma_kernel``: ``nhwc_fma_secondary_space``, its first config the default."""
    from igc_triton.launch import configs
    if runtime.kernels_interpreted():
        return [nhwc_fma_secondary_tile(configs.INTERPRET_NHWC_FMA_SECONDARY, M)]
    kept = nhwc_fma_secondary_space(L, M)
    return _space(kept[0], kept[1:])


def fused_tile(cfg: triton.Config, c_pad: int) -> triton.Config:
    return _with(cfg, BLOCK_N=min(cfg.kwargs["BLOCK_N"], c_pad))


def pixel_splits(pixels: int, block: int, other_programs: int, device) -> tuple[int, int]:
    """How a pixel reduction is split: (number of splits, pixels per split, a multiple of
    ``block``). Enough programs to fill the GPU about four times over; one under the interpreter."""
    if runtime.kernels_interpreted() or device.type != "cuda":
        splits = 1
    else:
        sms = torch.cuda.get_device_properties(device).multi_processor_count
        splits = max(1, min(cdiv(4 * sms, max(other_programs, 1)), cdiv(pixels, block)))
    per_split = cdiv(cdiv(pixels, splits), block) * block
    return cdiv(pixels, per_split), per_split


def _with(cfg: triton.Config, **kwargs) -> triton.Config:
    return triton.Config({**cfg.kwargs, **kwargs}, num_warps=cfg.num_warps, num_stages=cfg.num_stages)
