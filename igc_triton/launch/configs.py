"""Launch-config spaces of every kernel (tile sizes, warps, pipeline stages).

Every config listed here is compiled for sm_90 in a CPU test (``igc_triton.lab.compile_check``),
so the autotuner (``igc_triton.launch.autotune``) may pick any of them; ``igc_triton.launch.tuning`` prunes
each space for a problem and puts the heuristic default first. No config choice has been
measured on a GPU yet: the spaces are starting points around the defaults.
Tile shapes follow the layouts: NCHW keeps a channel's pixels contiguous (wide pixel
tiles coalesce), channels_last keeps a pixel's channels contiguous (wide channel tiles).
"""

from triton import Config

# grouped_conv2d_fwd_fma_kernel and igc_secondary_fwd_kernel: [BLOCK_P pixels x BLOCK_C channels]
FMA_CONFIGS = [
    Config({"BLOCK_P": 128, "BLOCK_C": 16}, num_warps=4, num_stages=1),  # default, NCHW
    Config({"BLOCK_P": 32, "BLOCK_C": 64}, num_warps=4, num_stages=1),  # default, channels_last
    Config({"BLOCK_P": 128, "BLOCK_C": 32}, num_warps=8, num_stages=1),
    Config({"BLOCK_P": 64, "BLOCK_C": 32}, num_warps=4, num_stages=1),
    Config({"BLOCK_P": 256, "BLOCK_C": 16}, num_warps=8, num_stages=1),
    Config({"BLOCK_P": 64, "BLOCK_C": 64}, num_warps=4, num_stages=1),
]

# grouped_conv2d_fwd_gemm_kernel: [BLOCK_M pixels x BLOCK_N channels], K step BLOCK_K >= 16.
# 4 warps at most: see the kernel's note on pytorch#173068.
GEMM_CONFIGS = [
    Config({"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_K": 32}, num_warps=4, num_stages=2),  # default
    Config({"BLOCK_M": 128, "BLOCK_N": 64, "BLOCK_K": 32}, num_warps=4, num_stages=3),
    Config({"BLOCK_M": 64, "BLOCK_N": 32, "BLOCK_K": 16}, num_warps=4, num_stages=2),  # default, <= 32 channels
    Config({"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": 32}, num_warps=4, num_stages=3),
    Config({"BLOCK_M": 128, "BLOCK_N": 32, "BLOCK_K": 32}, num_warps=4, num_stages=3),
    Config({"BLOCK_M": 64, "BLOCK_N": 128, "BLOCK_K": 64}, num_warps=4, num_stages=3),
    # 128-byte K steps for nhwc_gemm (64 16-bit channels of each pixel: a line per pixel;
    # inspect, bf16, h200: paper-layers' large-partition primaries 1.3-2.1x faster, with
    # launchers.nhwc_gemm_supergroup's 128-byte super-groups).
    Config({"BLOCK_M": 128, "BLOCK_N": 64, "BLOCK_K": 64}, num_warps=4, num_stages=3),
]

# grouped_conv2d_nhwc_gemm_kernel: the GEMM space, then the input tile in 8-byte copies that L1
# keeps for the next taps (TAPS_L1, see the kernel; 16-byte ones bypass L1). With fewer stages
# (less shared memory: more of the SM's 256 KB left to L1) and in the tiles the cost model ranks
# first on IGC's large partitions. Not ranked above the others by the model (it has no L2 term
# until an L2 bandwidth is measured), so they are for timing: tuning, bench/pipeline_ab.py.
NHWC_GEMM_CONFIGS = GEMM_CONFIGS + [
    Config({"BLOCK_M": 128, "BLOCK_N": 64, "BLOCK_K": 64, "TAPS_L1": 1}, num_warps=4, num_stages=3),
    Config({"BLOCK_M": 128, "BLOCK_N": 64, "BLOCK_K": 64, "TAPS_L1": 1}, num_warps=4, num_stages=2),
    Config({"BLOCK_M": 128, "BLOCK_N": 32, "BLOCK_K": 32, "TAPS_L1": 1}, num_warps=4, num_stages=3),
    Config({"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_K": 64, "TAPS_L1": 1}, num_warps=4, num_stages=2),
]

# Backward kernels. dgrad tiles are [input pixels x input channels] like the forward's;
# wgrad and bias tiles reduce BLOCK_P pixels of [pixels x output channels] per step, or
# (GEMM) a [BLOCK_M out-channels x BLOCK_K pixels] . [BLOCK_K pixels x BLOCK_N in-channels] dot.
DGRAD_FMA_CONFIGS = FMA_CONFIGS[:2] + FMA_CONFIGS[3:4]
DGRAD_GEMM_CONFIGS = [GEMM_CONFIGS[0], GEMM_CONFIGS[2], GEMM_CONFIGS[1]]  # default, default <= 32 channels
REDUCE_FMA_CONFIGS = [
    Config({"BLOCK_P": 128, "BLOCK_C": 16}, num_warps=4, num_stages=1),  # default, NCHW
    Config({"BLOCK_P": 32, "BLOCK_C": 64}, num_warps=4, num_stages=1),  # default, channels_last
    Config({"BLOCK_P": 256, "BLOCK_C": 16}, num_warps=8, num_stages=1),
]
# grouped_conv2d_wgrad_fma_kernel: [BLOCK_P x BLOCK_C x 16 taps] for 3x3; the launcher shrinks
# BLOCK_P for larger kernels (tuning.wgrad_fma_config).
WGRAD_FMA_CONFIGS = [Config({"BLOCK_P": 32, "BLOCK_C": 16}, num_warps=4, num_stages=1)]
WGRAD_GEMM_CONFIGS = [
    Config({"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_K": 32}, num_warps=4, num_stages=2),  # default
    Config({"BLOCK_M": 32, "BLOCK_N": 32, "BLOCK_K": 64}, num_warps=4, num_stages=2),
]

# igc_block_fwd_kernel: BLOCK_P pixels x all C_PAD channels held in registers, secondary in
# BLOCK_N-channel slices (C_PAD follows the block's width; BLOCK_N is capped at C_PAD and
# configs whose register tile is too large for C_PAD are pruned, see tuning.fused_candidates).
FUSED_CONFIGS = [
    Config({"BLOCK_P": 32, "BLOCK_N": 64}, num_warps=4, num_stages=1),  # default
    Config({"BLOCK_P": 64, "BLOCK_N": 64}, num_warps=4, num_stages=1),
    Config({"BLOCK_P": 16, "BLOCK_N": 64}, num_warps=4, num_stages=1),
    Config({"BLOCK_P": 64, "BLOCK_N": 32}, num_warps=8, num_stages=1),
]

# igc_block_fwd_wide_kernel: [BLOCK_P pixels x BLOCK_N secondary outputs] accumulator; each K
# step computes a [BLOCK_P x BLOCK_K] primary tile on CUDA cores. Larger BLOCK_N recomputes
# the primary fewer times (ceil(L / BLOCK_N)).
FUSED_WIDE_CONFIGS = [
    Config({"BLOCK_P": 64, "BLOCK_N": 128, "BLOCK_K": 16}, num_warps=4, num_stages=1),  # default
    Config({"BLOCK_P": 128, "BLOCK_N": 64, "BLOCK_K": 16}, num_warps=4, num_stages=1),
    Config({"BLOCK_P": 64, "BLOCK_N": 64, "BLOCK_K": 32}, num_warps=4, num_stages=1),
    Config({"BLOCK_P": 128, "BLOCK_N": 128, "BLOCK_K": 16}, num_warps=8, num_stages=1),
]

# igc_block_fwd_tc_kernel: [BLOCK_P pixels x BLOCK_M positions] primary tiles on tensor cores
# (K step BLOCK_K), secondary into a [BLOCK_P x L_PAD x BLOCK_M] fp32 register tile: the
# candidates whose tile fits the warps' registers for the block's L are kept
# (tuning.fused_tc_candidates), so the space runs from wide tiles (L <= 4) to narrow ones.
FUSED_TC_CONFIGS = [
    Config({"BLOCK_P": 64, "BLOCK_M": 32, "BLOCK_K": 32}, num_warps=4, num_stages=2),
    Config({"BLOCK_P": 64, "BLOCK_M": 16, "BLOCK_K": 32}, num_warps=4, num_stages=2),
    Config({"BLOCK_P": 32, "BLOCK_M": 16, "BLOCK_K": 32}, num_warps=4, num_stages=2),
    Config({"BLOCK_P": 64, "BLOCK_M": 32, "BLOCK_K": 32}, num_warps=8, num_stages=2),
    Config({"BLOCK_P": 128, "BLOCK_M": 32, "BLOCK_K": 32}, num_warps=8, num_stages=2),
]

# igc_block_nhwc_kernel: TILE_H x TILE_W output pixels of one image, all channels, in blocks of BC
# channels (16, 32 or 64: wider blocks load longer pieces of each pixel and waste more tensor-core
# work on the block-diagonal primary). wgmma needs 64 rows per warpgroup: TILE_H * TILE_W >= 64.
# num_stages: taps in flight in the primary's software pipeline (each stage holds a tap's input
# tile and weight in shared memory: fp32 BC=64 8x32 at 2 stages takes 160 KB). UNROLL: the tap
# loop unrolled, which the model predicts faster on small tiles and which spills on large ones.
NHWC_CONFIGS = [
    # 32 wide: large images
    Config({"BC": 16, "TILE_H": 4, "TILE_W": 32, "UNROLL": 0}, num_warps=4, num_stages=3),  # default
    Config({"BC": 16, "TILE_H": 8, "TILE_W": 32, "UNROLL": 0}, num_warps=8, num_stages=2),
    Config({"BC": 32, "TILE_H": 8, "TILE_W": 32, "UNROLL": 0}, num_warps=8, num_stages=2),
    Config({"BC": 32, "TILE_H": 4, "TILE_W": 32, "UNROLL": 0}, num_warps=8, num_stages=3),
    Config({"BC": 64, "TILE_H": 8, "TILE_W": 32, "UNROLL": 0}, num_warps=4, num_stages=2),
    Config({"BC": 64, "TILE_H": 8, "TILE_W": 32, "UNROLL": 0}, num_warps=8, num_stages=2),
    Config({"BC": 64, "TILE_H": 4, "TILE_W": 32, "UNROLL": 0}, num_warps=4, num_stages=3),
    Config({"BC": 64, "TILE_H": 4, "TILE_W": 32, "UNROLL": 0}, num_warps=8, num_stages=3),
    # 16 and 8 wide: small images (14x14, 8x8), where a 32-wide tile is mostly masked
    Config({"BC": 16, "TILE_H": 8, "TILE_W": 16, "UNROLL": 0}, num_warps=4, num_stages=3),
    Config({"BC": 16, "TILE_H": 4, "TILE_W": 16, "UNROLL": 0}, num_warps=4, num_stages=3),
    Config({"BC": 32, "TILE_H": 8, "TILE_W": 16, "UNROLL": 0}, num_warps=8, num_stages=3),
    Config({"BC": 32, "TILE_H": 8, "TILE_W": 16, "UNROLL": 1}, num_warps=8, num_stages=3),
    Config({"BC": 32, "TILE_H": 4, "TILE_W": 16, "UNROLL": 1}, num_warps=4, num_stages=3),
    Config({"BC": 64, "TILE_H": 8, "TILE_W": 16, "UNROLL": 0}, num_warps=8, num_stages=2),
    Config({"BC": 64, "TILE_H": 8, "TILE_W": 16, "UNROLL": 0}, num_warps=8, num_stages=3),
    Config({"BC": 64, "TILE_H": 4, "TILE_W": 16, "UNROLL": 0}, num_warps=4, num_stages=3),
    Config({"BC": 16, "TILE_H": 8, "TILE_W": 8, "UNROLL": 0}, num_warps=4, num_stages=3),
    Config({"BC": 32, "TILE_H": 8, "TILE_W": 8, "UNROLL": 1}, num_warps=4, num_stages=3),
    Config({"BC": 64, "TILE_H": 8, "TILE_W": 8, "UNROLL": 0}, num_warps=4, num_stages=3),
    Config({"BC": 64, "TILE_H": 8, "TILE_W": 8, "UNROLL": 1}, num_warps=4, num_stages=3),
    # under 64 rows (mma.sync): more programs for small images
    Config({"BC": 16, "TILE_H": 4, "TILE_W": 8, "UNROLL": 0}, num_warps=4, num_stages=3),
    Config({"BC": 32, "TILE_H": 4, "TILE_W": 8, "UNROLL": 0}, num_warps=4, num_stages=3),
    Config({"BC": 64, "TILE_H": 4, "TILE_W": 8, "UNROLL": 0}, num_warps=4, num_stages=3),
    Config({"BC": 64, "TILE_H": 2, "TILE_W": 8, "UNROLL": 0}, num_warps=4, num_stages=3),
    # The input in 8-byte copies that L1 keeps for the next taps (TAPS_L1, see the kernel), in the
    # tiles the cost model ranks first on IGC's large partitions; for timing, as NHWC_GEMM_CONFIGS'.
    Config({"BC": 64, "TILE_H": 4, "TILE_W": 32, "UNROLL": 0, "TAPS_L1": 1}, num_warps=8, num_stages=3),
    Config({"BC": 64, "TILE_H": 8, "TILE_W": 32, "UNROLL": 0, "TAPS_L1": 1}, num_warps=8, num_stages=2),
    Config({"BC": 32, "TILE_H": 4, "TILE_W": 32, "UNROLL": 0, "TAPS_L1": 1}, num_warps=8, num_stages=3),
    Config({"BC": 64, "TILE_H": 8, "TILE_W": 16, "UNROLL": 0, "TAPS_L1": 1}, num_warps=8, num_stages=2),
]

# igc_block_nhwc_fma_kernel: TILE_H x TILE_W output pixels of one image, all CP channels; each
# thread computes Q neighbouring output columns, which share input columns. The primary's
# [pixels x CP] fp32 accumulator lives in registers: tiles are pruned to at most
# tuning.NHWC_FMA_ACC_REGS of it per thread (the input columns of a kernel row are live beside).
NHWC_FMA_CONFIGS = [
    # The default where its accumulator fits (chunks of 16 pairs: C <= 32; a [32 x 16] tile of
    # pairs is 16-byte loads in every thread), else the next.
    Config({"TILE_H": 4, "TILE_W": 32, "Q": 4, "PREFETCH": 0}, num_warps=4, num_stages=1),
    Config({"TILE_H": 4, "TILE_W": 16, "Q": 4, "PREFETCH": 0}, num_warps=4, num_stages=1),
    Config({"TILE_H": 2, "TILE_W": 32, "Q": 4, "PREFETCH": 0}, num_warps=4, num_stages=1),
    Config({"TILE_H": 8, "TILE_W": 8, "Q": 4, "PREFETCH": 0}, num_warps=4, num_stages=1),
    Config({"TILE_H": 4, "TILE_W": 16, "Q": 2, "PREFETCH": 0}, num_warps=4, num_stages=1),
    Config({"TILE_H": 2, "TILE_W": 16, "Q": 4, "PREFETCH": 0}, num_warps=4, num_stages=1),
    Config({"TILE_H": 4, "TILE_W": 8, "Q": 4, "PREFETCH": 0}, num_warps=4, num_stages=1),
    Config({"TILE_H": 2, "TILE_W": 16, "Q": 2, "PREFETCH": 0}, num_warps=4, num_stages=1),
    Config({"TILE_H": 4, "TILE_W": 16, "Q": 4, "PREFETCH": 0}, num_warps=8, num_stages=1),
    Config({"TILE_H": 2, "TILE_W": 32, "Q": 4, "PREFETCH": 0}, num_warps=8, num_stages=1),
    Config({"TILE_H": 8, "TILE_W": 8, "Q": 2, "PREFETCH": 0}, num_warps=8, num_stages=1),
    Config({"TILE_H": 2, "TILE_W": 16, "Q": 4, "PREFETCH": 0}, num_warps=8, num_stages=1),
    Config({"TILE_H": 4, "TILE_W": 8, "Q": 4, "PREFETCH": 0}, num_warps=8, num_stages=1),
    Config({"TILE_H": 2, "TILE_W": 16, "Q": 2, "PREFETCH": 0}, num_warps=8, num_stages=1),
    Config({"TILE_H": 4, "TILE_W": 16, "Q": 2, "PREFETCH": 0}, num_warps=16, num_stages=1),
    Config({"TILE_H": 4, "TILE_W": 16, "Q": 1, "PREFETCH": 0}, num_warps=4, num_stages=1),
    # Each kernel row's loads issued before the row above is computed (registers for a row of
    # input columns more): measured against the same tiles without it by the tuner's timings
    # and bench/pipeline_ab.py; last, so no default changes until then.
    Config({"TILE_H": 4, "TILE_W": 16, "Q": 4, "PREFETCH": 1}, num_warps=4, num_stages=1),
    Config({"TILE_H": 2, "TILE_W": 32, "Q": 4, "PREFETCH": 1}, num_warps=4, num_stages=1),
    Config({"TILE_H": 8, "TILE_W": 8, "Q": 2, "PREFETCH": 1}, num_warps=8, num_stages=1),
    Config({"TILE_H": 4, "TILE_W": 16, "Q": 2, "PREFETCH": 1}, num_warps=16, num_stages=1),
    # 128-pixel tiles: blocks in two channel chunks (C = 72, 80; tuning.nhwc_fma_chunks)
    # need as many pixels per chunk for 16-byte loads in every thread.
    Config({"TILE_H": 4, "TILE_W": 32, "Q": 4, "PREFETCH": 0}, num_warps=8, num_stages=1),
    Config({"TILE_H": 8, "TILE_W": 16, "Q": 4, "PREFETCH": 0}, num_warps=8, num_stages=1),
    Config({"TILE_H": 4, "TILE_W": 32, "Q": 4, "PREFETCH": 1}, num_warps=8, num_stages=1),
]

# grouped_conv2d_nhwc_kernel: TILE_H x TILE_W output pixels of one image, BP channel pairs; each
# thread computes Q neighbouring output columns. BP is capped at the channels' pairs and the
# [pixels x 2 BP] fp32 accumulator at tuning.NHWC_FMA_ACC_REGS per thread (tuning.nhwc_conv_candidates).
NHWC_CONV_CONFIGS = [
    Config({"TILE_H": 4, "TILE_W": 16, "Q": 4, "BP": 32}, num_warps=4, num_stages=1),  # default
    Config({"TILE_H": 2, "TILE_W": 32, "Q": 4, "BP": 32}, num_warps=4, num_stages=1),
    Config({"TILE_H": 8, "TILE_W": 8, "Q": 4, "BP": 32}, num_warps=4, num_stages=1),
    Config({"TILE_H": 4, "TILE_W": 16, "Q": 2, "BP": 32}, num_warps=4, num_stages=1),
    Config({"TILE_H": 4, "TILE_W": 16, "Q": 4, "BP": 64}, num_warps=8, num_stages=1),
    Config({"TILE_H": 8, "TILE_W": 16, "Q": 4, "BP": 32}, num_warps=8, num_stages=1),
    Config({"TILE_H": 4, "TILE_W": 32, "Q": 4, "BP": 16}, num_warps=4, num_stages=1),
    Config({"TILE_H": 8, "TILE_W": 8, "Q": 4, "BP": 16}, num_warps=4, num_stages=1),
    Config({"TILE_H": 4, "TILE_W": 16, "Q": 4, "BP": 8}, num_warps=4, num_stages=1),
    Config({"TILE_H": 4, "TILE_W": 16, "Q": 1, "BP": 32}, num_warps=4, num_stages=1),
]

# igc_secondary_nhwc_kernel, in channels: BLOCK_P pixels x BLOCK_C output channels per program
# (BLOCK_C / M outputs of each of the M positions), BLOCK_KC input channels per K step (BLOCK_KC / M
# per position). tuning.nhwc_secondary_candidates turns them into the kernel's BLOCK_N and BLOCK_K
# (per position, 16 at least: the products' N and K) and prunes pipelines that overflow shared memory.
# The default (where no model ranking covers a problem): the model's best or within 10% of it on every
# IGC layer of paper-layers (bf16, h200) but the L = 450 ones, where the last config is (see there).
NHWC_SECONDARY_CONFIGS = [
    Config({"BLOCK_P": 128, "BLOCK_C": 256, "BLOCK_KC": 64}, num_warps=8, num_stages=3),  # default
    Config({"BLOCK_P": 128, "BLOCK_C": 128, "BLOCK_KC": 64}, num_warps=8, num_stages=3),
    Config({"BLOCK_P": 128, "BLOCK_C": 64, "BLOCK_KC": 64}, num_warps=4, num_stages=3),
    Config({"BLOCK_P": 64, "BLOCK_C": 128, "BLOCK_KC": 64}, num_warps=4, num_stages=3),
    Config({"BLOCK_P": 256, "BLOCK_C": 128, "BLOCK_KC": 64}, num_warps=8, num_stages=3),
    Config({"BLOCK_P": 128, "BLOCK_C": 128, "BLOCK_KC": 128}, num_warps=8, num_stages=3),
    Config({"BLOCK_P": 64, "BLOCK_C": 64, "BLOCK_KC": 128}, num_warps=4, num_stages=3),
    Config({"BLOCK_P": 128, "BLOCK_C": 128, "BLOCK_KC": 32}, num_warps=4, num_stages=4),
    # Long K (L = 450): K steps of 128 channels, 256 bytes of each pixel, so that the line a piece
    # straddles (rows of 1800 or 3600 bytes do not start lines) is paid per 256 bytes, not 128
    # (inspect, bf16, h200: C = 1800 74 -> 66 us, C = 900 103 -> 92 us; both with the weight laid out).
    Config({"BLOCK_P": 128, "BLOCK_C": 256, "BLOCK_KC": 128}, num_warps=8, num_stages=3),
]

# igc_secondary_nhwc_fma_kernel (L < 16): [BLOCK_P pixels x BLOCK_M positions], L input tiles of
# that size in registers at once (tuning.nhwc_fma_secondary_candidates caps BLOCK_M at M and
# drops the tiles too large for L). Each thread gathers its positions' L x L weights once: the
# more pixels a thread holds, the fewer gathers per output.
NHWC_FMA_SECONDARY_CONFIGS = [
    Config({"BLOCK_P": 128, "BLOCK_M": 16}, num_warps=4, num_stages=1),  # default
    Config({"BLOCK_P": 256, "BLOCK_M": 16}, num_warps=4, num_stages=1),
    Config({"BLOCK_P": 64, "BLOCK_M": 32}, num_warps=4, num_stages=1),
    Config({"BLOCK_P": 64, "BLOCK_M": 64}, num_warps=4, num_stages=1),
    Config({"BLOCK_P": 32, "BLOCK_M": 64}, num_warps=4, num_stages=1),
    Config({"BLOCK_P": 128, "BLOCK_M": 32}, num_warps=8, num_stages=1),
    Config({"BLOCK_P": 256, "BLOCK_M": 16}, num_warps=8, num_stages=1),
    Config({"BLOCK_P": 16, "BLOCK_M": 256}, num_warps=8, num_stages=1),
    Config({"BLOCK_P": 64, "BLOCK_M": 16}, num_warps=4, num_stages=1),
    Config({"BLOCK_P": 32, "BLOCK_M": 16}, num_warps=4, num_stages=1),
]

# Under TRITON_INTERPRET=1 each program instance costs about a millisecond of Python, so the
# interpreter runs few, large programs. (Its numpy dot also accepts K < 16, but we keep 16.)
INTERPRET_FMA = Config({"BLOCK_P": 256, "BLOCK_C": 64}, num_warps=4, num_stages=1)
INTERPRET_GEMM = Config({"BLOCK_M": 256, "BLOCK_N": 64, "BLOCK_K": 16}, num_warps=4, num_stages=1)
INTERPRET_FUSED = Config({"BLOCK_P": 256, "BLOCK_N": 64}, num_warps=4, num_stages=1)
INTERPRET_FUSED_TC = Config({"BLOCK_P": 256, "BLOCK_M": 16, "BLOCK_K": 16}, num_warps=4, num_stages=1)
INTERPRET_FUSED_WIDE = Config({"BLOCK_P": 256, "BLOCK_N": 64, "BLOCK_K": 16}, num_warps=4, num_stages=1)
INTERPRET_NHWC = Config({"BC": 16, "TILE_H": 4, "TILE_W": 8, "UNROLL": 0}, num_warps=4, num_stages=2)
INTERPRET_NHWC_FMA = Config({"TILE_H": 4, "TILE_W": 8, "Q": 4, "PREFETCH": 0}, num_warps=4, num_stages=1)
INTERPRET_NHWC_SECONDARY = Config({"BLOCK_P": 64, "BLOCK_C": 64, "BLOCK_KC": 64}, num_warps=4, num_stages=1)
INTERPRET_NHWC_FMA_SECONDARY = Config({"BLOCK_P": 64, "BLOCK_M": 64}, num_warps=4, num_stages=1)
INTERPRET_NHWC_CONV = Config({"TILE_H": 4, "TILE_W": 8, "Q": 4, "BP": 32}, num_warps=4, num_stages=1)
INTERPRET_REDUCE = Config({"BLOCK_P": 256, "BLOCK_C": 64}, num_warps=4, num_stages=1)
INTERPRET_WGRAD_GEMM = Config({"BLOCK_M": 32, "BLOCK_N": 32, "BLOCK_K": 256}, num_warps=4, num_stages=1)
