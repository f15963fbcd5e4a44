"""Launchers: allocate outputs, pick a config, compute the grid, launch the Triton kernels.

Arguments arrive validated and normalised by ``igc_triton.functional``; nothing here checks
user input. Outputs are allocated in the input's memory format (NCHW or channels_last)
and the kernels take every stride, so no input is copied. Weights (small) are made
contiguous.
"""

import functools
import math
import weakref

import torch

from igc_triton.launch import autotune, tuning
from igc_triton.runtime import is_channels_last

FMA = "fma"
GEMM = "gemm"
NHWC_CONV = "nhwc"  # the channels_last kernels: grouped_conv2d's for groups of 1 or 2 channels, the secondary's
NHWC_GEMM = "nhwc_gemm"  # grouped_conv2d: the channels_last implicit GEMM for groups of 16 or more channels
NHWC_FMA_SECONDARY = "nhwc_fma"  # the secondary's channels_last kernel for L < 16, on CUDA cores

# Smallest per-group input channel count sent to the tensor-core GEMM kernel: tl.dot needs
# K >= 16, and below that the FMA kernel avoids padding the reduction.
GEMM_MIN_CIN_PER_GROUP = 16
# Smallest L for which the secondary step runs on tensor cores (per position m, a GEMM with
# K = L) rather than as L FMAs per output on CUDA cores.
TENSOR_CORE_SECONDARY_MIN_L = 16
# The nhwc secondary lays its weight out (one small kernel) only for L >= this and 16-bit rows that
# are not whole 16-byte vectors. A long K (L) makes the weight tiles a large share of its L1 traffic: inspect
# (Triton 3.6, bf16, h200, each side's best config) predicts 8-23 us saved on paper-layers' L = 450
# secondaries (66-133 us), nothing at L = 85 and 100 (DRAM-bound), and no more than the launch
# costs where rows are aligned (L = 200, 400, 800: 0-2.9 us).
NHWC_SECONDARY_LAYOUT_MIN_L = 256

# The dtypes of the channels_last (nhwc) kernels: they accumulate in fp32, so not float64.
NHWC_DTYPES = (torch.float32, torch.float16, torch.bfloat16)

# Elements per program of the kernels that lay out the nhwc forms' weights: each element is a
# chain of integer index arithmetic and a gathered load, so two per thread (a few dozen
# programs, not a handful of 8-element ones) keep more of the GPU on them. Predicted for C=48,
# L=24 (h200): 3.2 -> 2.4 us for the nhwc_fma weights kernel; ``igc-lab inspect``.
WEIGHTS_BLOCK = 256
WEIGHTS_TILE = 32  # a transposing weights kernel's [WEIGHTS_TILE x WEIGHTS_TILE] tile per program


def alloc_output(x: torch.Tensor, shape) -> torch.Tensor:
    """Output buffer in ``x``'s memory format (tests patch this to poison it with NaN)."""
    fmt = torch.channels_last if is_channels_last(x) else torch.contiguous_format
    return torch.empty(shape, device=x.device, dtype=x.dtype, memory_format=fmt)


def layout_copy(t: torch.Tensor, memory_format=torch.contiguous_format) -> torch.Tensor:
    """``t`` dense in ``memory_format`` (``t`` itself if it is already): an activation copied
    between layouts, a PyTorch copy kernel on the GPU (``igc-lab inspect`` records it)."""
    return t.contiguous(memory_format=memory_format)


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


def nhwc_conv_applies(x: torch.Tensor, cin: int, cout: int, cin_per_group: int) -> bool:
    """Whether ``grouped_conv2d_nhwc_kernel`` takes a grouped conv: a contiguous channels_last
    input in fp32/fp16/bf16, Cin == Cout, groups of 1 or 2 channels in and out (depthwise; IGC's
    primary with Cin/L = M = 2), C even (channel pairs; with C a multiple of 8 each pixel's
    channels start 16-byte aligned and load as 16-byte vectors, else as 8- or 4-byte ones:
    inspect predicts C = 900, M = 2 at its memory floor, 2.3x faster than the nhwc_gemm regime's
    block-diagonal super-groups, and C = 170 3.3x, bf16, h100 table)."""
    return (is_channels_last(x) and x.dtype in NHWC_DTYPES and cin == cout
            and cin_per_group in (1, 2) and cin % 2 == 0)


def nhwc_gemm_applies(x: torch.Tensor, cin: int, cout: int, cin_per_group: int) -> bool:
    """Whether ``grouped_conv2d_nhwc_gemm_kernel`` takes a grouped conv: a contiguous channels_last
    input in fp32/fp16/bf16 that the nhwc regime (``nhwc_conv_applies``) does not take, whose
    (super-)groups give its product K >= 16 input channels. Groups of 16 or more input channels
    run as they are; smaller ones joined into block-diagonal super-groups
    (``nhwc_gemm_supergroup``)."""
    return (_nhwc_gemm_takes(x, cin_per_group, cin // cin_per_group)
            and not nhwc_conv_applies(x, cin, cout, cin_per_group))


def _nhwc_gemm_takes(x: torch.Tensor, cin_per_group: int, groups: int) -> bool:
    """Whether the nhwc_gemm kernel can run a grouped conv (``nhwc_gemm_applies`` less the
    preference for the nhwc regime; a forced ``"nhwc_gemm"`` regime needs only this)."""
    return (is_channels_last(x) and x.dtype in NHWC_DTYPES
            and nhwc_gemm_supergroup(cin_per_group, groups) * cin_per_group >= GEMM_MIN_CIN_PER_GROUP)


# 16-bit groups of 16 and 32 channels are joined until a super-group spans this many bytes of a pixel.
NHWC_GEMM_JOIN_BYTES = 128


def nhwc_gemm_supergroup(cin_per_group: int, groups: int, cout_per_group: int = 0, elem_bytes: int = 4) -> int:
    """Groups the nhwc_gemm kernel joins into one block-diagonal super-group, no more than there
    are groups. Groups of fewer than 16 input channels: the fewest whose input channels are a
    multiple of 32 (64 bytes of each pixel in 16-bit types; with 16, the product's least K,
    inspect predicts IGC's small partitions 1.1-1.6x slower, bf16 on an h200). 16-bit groups of
    16 or 32 channels with at most 32 outputs each: as many as fill 128 bytes of each pixel, a
    whole line per pixel and K step (inspect, bf16, h200, with the 128 x 64 x 64 tile: the
    primary of C=256 L=16 M=16 56x56 196 -> 95 us, C=512 L=16 M=32 1.3x, C=128 L=4 M=32 1.3x,
    the measured H200 run's slowest layers against cuDNN; with 64 outputs per group the
    block-diagonal product's waste costs more than the lines save: 0.88x). Others: 1."""
    if cin_per_group < GEMM_MIN_CIN_PER_GROUP:
        return min(32 // math.gcd(cin_per_group, 32), groups)
    row = cin_per_group * elem_bytes
    if elem_bytes == 2 and row < NHWC_GEMM_JOIN_BYTES and NHWC_GEMM_JOIN_BYTES % row == 0 \
            and cout_per_group * elem_bytes <= NHWC_GEMM_JOIN_BYTES // 2:
        return min(NHWC_GEMM_JOIN_BYTES // row, groups)
    return 1


def nhwc_gemm_window(cin: int, group_channels: int, elem_bytes: int) -> tuple[int, int]:
    """(KWIN, ALIGN): the input channels each (super-)group's product reads in the nhwc_gemm
    kernel, and the multiple its first one is rounded down to. Groups of a multiple of 16 bytes
    read as they are, (group_channels, 1); others, where each pixel's channels start 16-byte
    aligned, read a window from 16 bytes at or before their first channel, wide enough for every
    group's offset (``ALIGN - gcd``) and a multiple of ALIGN (26 channels in 16-bit types: 32;
    52: 56), so every load is a 16-byte vector."""
    align = 16 // elem_bytes
    if (group_channels * elem_bytes) % 16 == 0 or (cin * elem_bytes) % 16:
        return group_channels, 1
    return tuning.cdiv(group_channels + align - math.gcd(group_channels, align), align) * align, align


def nhwc_gemm_join(cin_per_group: int, supergroup: int, align: int, elem_bytes: int) -> int:
    """The nhwc_gemm kernel's ``JOIN``: ``supergroup`` where it builds the super-group's
    block-diagonal weight tile from the channels_last weight as given (no layout kernel: one
    launch less), 1 where the weight is read as it is (plain groups) or laid out by the layout
    kernel: windows, and groups whose channels are not an aligned vector of 4 bytes or more (a
    power of two of them): built in the kernel, inspect predicts (bf16, h100 table) IGC's C=100
    -> 200 transition (one 16-bit channel per group: a load per tile element) 11% slower than
    with the layout kernel, lm-sweep's L=6, M=9 58% and L=12, M=6 8% (runs of 9 and 6 channels)."""
    pow2 = cin_per_group & (cin_per_group - 1) == 0
    return supergroup if align == 1 and pow2 and cin_per_group * elem_bytes >= 4 else 1


def channels_last_takes_nchw_fma(x: torch.Tensor, cin: int, cout: int, cin_g: int) -> bool:
    """Whether a channels_last conv no nhwc kernel takes (a few channels in few groups, e.g. a
    3-channel stem) runs the FMA regime on an NCHW copy, its output copied back: the FMA
    kernel's lanes run along pixels, so in channels_last each lane gathers its own 16-bit
    channels. Measured on an H100 (reports/2026-11-26-h100-roofline, eager calls, bf16 and
    fp32): channels_last 2.4-11x slower than NCHW for 4 and 8 channels per group, far more than
    the two layout copies cost."""
    return (is_channels_last(x) and grouped_conv2d_regime(cin_g) == FMA
            and not nhwc_conv_applies(x, cin, cout, cin_g) and not nhwc_gemm_applies(x, cin, cout, cin_g))


def grouped_conv2d_fwd(x, weight, bias, stride, padding, dilation, groups, out_hw, regime=None):
    """Grouped conv forward. ``padding`` is (top, left); ``out_hw`` the output (OH, OW).

    ``regime`` forces ``"fma"``, ``"gemm"``, ``"nhwc"`` or ``"nhwc_gemm"``; by default contiguous
    channels_last inputs with Cin == Cout and groups of 1 or 2 channels take ``"nhwc"``
    (``nhwc_conv_applies``), other contiguous channels_last inputs ``"nhwc_gemm"`` where its
    product gets 16 input channels (``nhwc_gemm_applies``), the rest of them the FMA regime on an
    NCHW copy (``channels_last_takes_nchw_fma``); others follow the per-group input channel count
    (see ``GEMM_MIN_CIN_PER_GROUP``).
    """
    from igc_triton.kernels.grouped_conv2d_fwd import grouped_conv2d_fwd_fma_kernel, grouped_conv2d_fwd_gemm_kernel

    N, cin, H, W = x.shape
    cout, cin_g, kh, kw = weight.shape
    OH, OW = out_hw
    if regime is None and x.numel() and channels_last_takes_nchw_fma(x, cin, cout, cin_g):
        y = grouped_conv2d_fwd(layout_copy(x), weight, bias, stride, padding, dilation, groups, out_hw, FMA)
        return layout_copy(y, torch.channels_last)
    y = alloc_output(x, (N, cout, OH, OW))
    if y.numel() == 0:
        return y
    if regime is None and nhwc_gemm_applies(x, cin, cout, cin_g):
        regime = NHWC_GEMM
    # Before the weight is made contiguous: these read a channels_last one (a channels_last model's) as it is.
    if regime == NHWC_GEMM:
        return _grouped_conv2d_nhwc_gemm(x, weight, bias, stride, padding, dilation, groups, y)
    if regime is None and nhwc_conv_applies(x, cin, cout, cin_g):
        regime = NHWC_CONV
    if regime == NHWC_CONV:
        return _grouped_conv2d_nhwc(x, weight, bias, stride, padding, dilation, groups, y)
    weight = layout_copy(weight)  # a channels_last model's copied (inspect records it)
    regime = regime or grouped_conv2d_regime(cin_g)
    has_bias = bias is not None
    b = bias.contiguous() if has_bias else weight  # placeholder pointer, never read
    geometry = (*stride, *padding, *dilation)
    pixels = N * OH * OW
    cout_g = cout // groups
    key = problem_key(x, pixels, cin, groups, cout_g, (kh, kw), stride, dilation)
    if regime == FMA:
        def launch(cfg, warmup=False):
            grid = (tuning.cdiv(pixels, cfg.kwargs["BLOCK_P"]), tuning.cdiv(cout, cfg.kwargs["BLOCK_C"]))
            tuning.kernel_call(grouped_conv2d_fwd_fma_kernel, grid, warmup)(
                x, weight, b, y, N, H, W, OH, OW, cout, *x.stride(), *y.stride(), *geometry,
                CIN_G=cin_g, COUT_G=cout_g, KH=kh, KW=kw, HAS_BIAS=has_bias, ACC_DTYPE=_acc_dtype(x.dtype),
                num_warps=cfg.num_warps, num_stages=cfg.num_stages, **cfg.kwargs)
            return y
        candidates = functools.partial(tuning.fma_candidates, cout, is_channels_last(x))
    elif regime == GEMM:
        def launch(cfg, warmup=False):
            grid = (tuning.cdiv(pixels, cfg.kwargs["BLOCK_M"]), tuning.cdiv(cout_g, cfg.kwargs["BLOCK_N"]), groups)
            tuning.kernel_call(grouped_conv2d_fwd_gemm_kernel, grid, warmup)(
                x, weight, b, y, N, H, W, OH, OW, cin_g, cout_g, *x.stride(), *y.stride(), *geometry,
                KH=kh, KW=kw, HAS_BIAS=has_bias, ACC_DTYPE=_acc_dtype(x.dtype),
                DOT_PRECISION=_dot_precision(x.dtype),
                num_warps=cfg.num_warps, num_stages=cfg.num_stages, **cfg.kwargs)
            return y
        candidates = functools.partial(tuning.gemm_candidates, cin_g, cout_g, x.element_size(), x.device)
    else:
        raise ValueError(f"unknown grouped_conv2d regime {regime!r}; expected 'fma', 'gemm', 'nhwc' or 'nhwc_gemm'")
    return launch(tuning.choose(f"grouped_conv2d_fwd_{regime}", key, candidates, launch, x.device))


def _check_nhwc_image(C, H, W, OH, OW):
    """The nhwc kernels' offsets inside an image are 32-bit: refuse an image (in or out) past that."""
    if max(H * W, OH * OW) * C > NHWC_MAX_IMAGE_ELEMENTS:
        raise ValueError(f"one image of {C} x {H} x {W} is too large for the nhwc kernel's 32-bit offsets")


def _grouped_conv2d_nhwc(x, weight, bias, stride, padding, dilation, groups, y):
    """The nhwc regime (kernels/grouped_conv2d_nhwc.py): its weights laid out by one small kernel
    from the weight as it is (no cache can go stale), then the convolution."""
    from igc_triton.kernels.grouped_conv2d_nhwc import grouped_conv2d_nhwc_kernel, grouped_conv2d_nhwc_weights_kernel

    N, cin, H, W = x.shape
    C, M, kh, kw = weight.shape
    OH, OW = y.shape[2:]
    if not nhwc_conv_applies(x, cin, C, M) or C // groups != M:
        raise ValueError(f"the nhwc regime needs a contiguous channels_last input, Cin == Cout, groups of 1 or 2 "
                         f"channels in and out and C % 8 == 0 (launchers.nhwc_conv_applies); got {tuple(x.shape)}, "
                         f"strides {x.stride()}, weight {tuple(weight.shape)}, groups={groups}")
    _check_nhwc_image(C, H, W, OH, OW)
    wt = torch.empty((kh * kw, 2 * M, C // 2), device=x.device, dtype=torch.float32)
    block = WEIGHTS_BLOCK
    grouped_conv2d_nhwc_weights_kernel[(tuning.cdiv(wt.numel(), block),)](weight, wt, C, *weight.stride(), M=M,
                                                                           KH=kh, KW=kw, BLOCK=block)
    has_bias = bias is not None
    b = bias.contiguous() if has_bias else wt  # placeholder pointer, never read
    pixels = N * OH * OW
    tile_cap = tuning.nhwc_tile_width_cap(OW)
    key = autotune.problem_key(x, pixels, cin=C, L=groups, M=M, k=(kh, kw), s=tuple(stride), d=tuple(dilation),
                               w=tile_cap)

    def launch(cfg, warmup=False):
        kw_ = cfg.kwargs
        grid = (tuning.cdiv(OH, kw_["TILE_H"]) * tuning.cdiv(OW, kw_["TILE_W"]), N, tuning.cdiv(C // 2, kw_["BP"]))
        tuning.kernel_call(grouped_conv2d_nhwc_kernel, grid, warmup)(
            x, wt, b, y, H, W, OH, OW, stride[0], padding[0], padding[1], dilation[0], C=C, M=M, KH=kh, KW=kw,
            STRIDE_W=stride[1], DIL_W=dilation[1], HAS_BIAS=has_bias, num_warps=cfg.num_warps,
            num_stages=cfg.num_stages, **kw_)
        return y
    candidates = functools.partial(tuning.nhwc_conv_candidates, C, OW)
    return launch(tuning.choose("grouped_conv2d_fwd_nhwc", key, candidates, launch, x.device))


def _grouped_conv2d_nhwc_gemm(x, weight, bias, stride, padding, dilation, groups, y):
    """The nhwc_gemm regime (kernels/grouped_conv2d_nhwc_gemm.py). The weight read channels_last
    (copied so once per call unless it is already), by groups of 16 or more input channels as it
    is, by smaller groups joined into block-diagonal super-groups as that tile's blocks; groups
    read through aligned windows (``nhwc_gemm_window``): their weight laid out by one small
    kernel from the weight as it is (no cache can go stale)."""
    from igc_triton.kernels.grouped_conv2d_nhwc_gemm import (
        grouped_conv2d_nhwc_gemm_kernel,
        grouped_conv2d_nhwc_gemm_weights_kernel,
    )

    N, cin, H, W = x.shape
    cout, cin_g, kh, kw = weight.shape
    OH, OW = y.shape[2:]
    if not _nhwc_gemm_takes(x, cin_g, groups):
        raise ValueError(f"the nhwc_gemm regime needs a contiguous channels_last input in fp32/fp16/bf16 and "
                         f"(super-)groups of {GEMM_MIN_CIN_PER_GROUP} or more input channels "
                         f"(launchers.nhwc_gemm_applies); got {tuple(x.shape)}, strides {x.stride()}, {x.dtype}, "
                         f"weight {tuple(weight.shape)}, groups={groups}")
    cout_g = cout // groups
    sg = nhwc_gemm_supergroup(cin_g, groups, cout // groups, x.element_size())
    supers = tuning.cdiv(groups, sg)
    kwin, align = nhwc_gemm_window(cin, sg * cin_g, x.element_size())
    join = nhwc_gemm_join(cin_g, sg, align, x.element_size())
    if align == 1 and join == sg:  # read as given (plain groups, or the tile built in the kernel)
        w = layout_copy(weight, torch.channels_last)
    else:
        w = torch.empty((supers * sg * cout_g, kh, kw, kwin), device=x.device, dtype=x.dtype)
        grouped_conv2d_nhwc_gemm_weights_kernel[(tuning.cdiv(w.numel(), WEIGHTS_BLOCK),)](
            weight, w, *weight.stride(), cout, cin_g, cout_g, SG=sg, TAPS=kh * kw, KW=kw, SIZE=w.numel(), KWIN=kwin,
            ALIGN=align, BLOCK=WEIGHTS_BLOCK)
    has_bias = bias is not None
    b = bias.contiguous() if has_bias else w  # placeholder pointer, never read
    pixels = N * OH * OW
    key = problem_key(x, pixels, cin, groups, cout_g, (kh, kw), stride, dilation)

    def launch(cfg, warmup=False):
        grid = (tuning.cdiv(pixels, cfg.kwargs["BLOCK_M"]), tuning.cdiv(sg * cout_g, cfg.kwargs["BLOCK_N"]), supers)
        tuning.kernel_call(grouped_conv2d_nhwc_gemm_kernel, grid, warmup)(
            x, w, b, y, H, W, OH, OW, pixels, *stride, *padding, *dilation, CIN=cin, COUT=cout, CIN_G=sg * cin_g,
            COUT_G=sg * cout_g, GROUPS=supers, KWIN=kwin, ALIGN=align, JOIN=join, KH=kh, KW=kw,
            HAS_BIAS=has_bias,
            DOT_PRECISION=_dot_precision(x.dtype), num_warps=cfg.num_warps, num_stages=cfg.num_stages,
            **{"TAPS_L1": 0, **cfg.kwargs})
        return y
    candidates = functools.partial(tuning.nhwc_gemm_candidates, kwin, sg * cout_g, x.element_size(), x.device)
    return launch(tuning.choose("grouped_conv2d_fwd_nhwc_gemm", key, candidates, launch, x.device))


# Which fused kernel takes a block (kernels/igc_block_fwd.py, igc_block_nhwc.py, igc_block_nhwc_fma.py).
# Contiguous channels_last blocks mapping C channels to C, up to NHWC_MAX_CHANNELS: with M = 1
# or 2 (C even, >= 16) the nhwc_fma form, the primary on CUDA cores (M multiply-adds
# per output and tap, on channel pairs unpacked from wide loads; inspect predicts it about 2x
# faster than the nhwc form's block-diagonal product at M = 2); with other M dividing 64 (and
# C % 8 == 0) the nhwc form, the primary on tensor cores over wide channel-contiguous loads (a channel block of
# 16-64 holds whole partitions; the secondary runs one product per pair of blocks,
# NHWC_MAX_BLOCKS blocks at most). Otherwise, small partitions
# (Cin/L < 16): the primary on CUDA cores; the narrow form keeps all C channels of its pixels in registers (blocks up to
# FUSED_MAX_CHANNELS wide), the wide form recomputes the primary once per BLOCK_N secondary
# outputs and needs L >= 16 (its dot's K, unpadded). Large partitions: the tc form, primary
# on tensor cores, secondary (L multiply-adds per output) on CUDA cores from an
# [pixels x L x positions] register tile: L up to FUSED_TC_MAX_L. Contiguous channels_last
# blocks no one-kernel nhwc form takes run as two nhwc kernels where L >= 16 or the groups have 16
# input channels or more (the nhwc_pair form: the primary's nhwc or nhwc_gemm regime, then an nhwc
# secondary with the epilogue): the generic fused kernels gather 16-bit channels one by one
# (inspect predicts them 4-130x slower on paper-layers; 3-8x at L = 4, M = 128 and 256).
FUSED_MAX_CHANNELS = 256
FUSED_WIDE_MIN_L = 16
FUSED_TC_MAX_L = 16
NHWC_MAX_CHANNELS = 256
NARROW, WIDE, TC, NHWC, NHWC_FMA, NHWC_PAIR = "narrow", "wide", "tc", "nhwc", "nhwc_fma", "nhwc_pair"
FUSED_FORMS = (NARROW, WIDE, TC, NHWC, NHWC_FMA, NHWC_PAIR)
# The partition sizes the nhwc_fma form takes (a channel pair holds a partition of M = 2).
NHWC_FMA_M = (1, 2)


def nhwc_fma_form_applies(in_channels: int, out_channels: int, L: int, dtype: torch.dtype) -> bool:
    """Whether the nhwc_fma kernel takes a block (given a contiguous channels_last input): C -> C
    with M = 1 or 2, C even (channel pairs: 16-byte vectors per pixel where C is a multiple of
    8, narrower ones else), 16 <= C <= NHWC_MAX_CHANNELS."""
    M = out_channels // L
    return (dtype in NHWC_DTYPES and in_channels == out_channels
            and M in NHWC_FMA_M and out_channels % 2 == 0 and 16 <= out_channels <= NHWC_MAX_CHANNELS)


def nhwc_form_applies(in_channels: int, out_channels: int, L: int, dtype: torch.dtype) -> bool:
    """Whether the nhwc kernel takes a block (given a contiguous channels_last input): C -> C,
    M >= 2 dividing 64 (a channel block of 16, 32 or 64 holds whole partitions), C a multiple of
    8 (each pixel's channels start 16-byte aligned, so they load as 16-byte vectors), up to
    NHWC_MAX_CHANNELS."""
    M = out_channels // L
    return (dtype in NHWC_DTYPES and in_channels == out_channels
            and M >= 2 and 64 % M == 0 and out_channels % 8 == 0 and out_channels <= NHWC_MAX_CHANNELS)


def nhwc_pair_form_applies(in_channels: int, out_channels: int, L: int, dtype: torch.dtype) -> bool:
    """Whether a block (given a contiguous channels_last input) runs as the nhwc primary (the nhwc
    or nhwc_gemm regime: with L >= 16 groups one of them takes it; with fewer, the nhwc_gemm
    regime takes groups of 16 input channels or more) and an nhwc secondary (the tensor-core one
    for L >= 16, else the CUDA-core one)."""
    return dtype in NHWC_DTYPES and (L >= TENSOR_CORE_SECONDARY_MIN_L or in_channels // L >= GEMM_MIN_CIN_PER_GROUP)


def nchw_takes_nhwc_form(x: torch.Tensor, out_channels: int, L: int) -> bool:
    """Whether a block whose input is not channels_last runs an nhwc form on a channels_last
    copy (the kernel writes the NCHW output itself). Measured on an H100
    (reports/2026-11-26-h100-roofline), when the output was copied back too: for every block both
    take, the nhwc forms ran 1.45-5.6x faster than the NCHW ones (bf16 and fp32; e.g. C=48, L=24
    bf16: 0.031 against 0.154 ms), a gap larger than the two layout copies (each a read and a
    write of an activation tensor); one copy is left. The nhwc_pair form's blocks too, their
    output copied back (and an NCHW residual to channels_last): predicted (inspect, h200, bf16)
    2-6x faster than the fused form NCHW inputs would take on paper-layers' C = 170-1024 layers,
    copies included (C=400 L=200: 93 against 525 us); not measured. Not for tensors that are
    contiguous in both layouts at once (one pixel or one channel), whose copy would not be
    channels_last."""
    _, cin, H, W = x.shape
    return (not x.is_contiguous(memory_format=torch.channels_last) and H * W > 1
            and fused_block_form(cin, out_channels, L, x.dtype, True) in (NHWC, NHWC_FMA, NHWC_PAIR))


def fused_block_form(in_channels: int, out_channels: int, L: int, dtype: torch.dtype,
                     channels_last: bool = False) -> str | None:
    """Which fused kernel takes this block, or None for the two-kernel path (the fused kernels
    accumulate in fp32: no float64). ``channels_last``: the input is contiguous channels_last."""
    if dtype == torch.float64:
        return None
    if channels_last and nhwc_fma_form_applies(in_channels, out_channels, L, dtype):
        return NHWC_FMA
    if channels_last and nhwc_form_applies(in_channels, out_channels, L, dtype):
        return NHWC
    if channels_last and nhwc_pair_form_applies(in_channels, out_channels, L, dtype):
        return NHWC_PAIR
    if in_channels // L >= GEMM_MIN_CIN_PER_GROUP:
        return TC if L <= FUSED_TC_MAX_L else None
    if out_channels <= FUSED_MAX_CHANNELS:
        return NARROW
    return WIDE if L >= FUSED_WIDE_MIN_L else None


def fused_block_takes(x: torch.Tensor, out_channels: int, L: int) -> bool:
    """Whether ``igc_block_fwd`` runs a fused form on input ``x`` (else the two-kernel path): a form
    of any layout, the channels_last ones also for an input other than a contiguous channels_last
    one, run on its copy (``nchw_takes_nhwc_form``) -- all but tensors contiguous in both layouts
    at once (one pixel or one channel)."""
    _, cin, H, W = x.shape
    copyable = H * W > 1 and not (x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last))
    return fused_block_form(cin, out_channels, L, x.dtype, copyable) is not None


def fused_block_supported(in_channels: int, out_channels: int, L: int, dtype: torch.dtype) -> bool:
    """Some fused kernel takes the block in any layout (the nhwc form only adds a faster one)."""
    return fused_block_form(in_channels, out_channels, L, dtype) is not None


def igc_block_fwd(x, wp, ws, L, stride, padding, dilation, out_hw, scale=None, shift=None, residual=None,
                  relu=False, form=None, out=None):
    """The fused IGC block (see kernels/igc_block_fwd.py): ``y = act(block(x) * scale + shift +
    residual)``. ``padding`` is (top, left); ``residual`` has y's shape. ``form`` forces one of
    ``FUSED_FORMS``; by default ``fused_block_form`` decides. ``out``: y, allocated by the caller
    (the one-kernel nhwc forms: channels_last, or contiguous NCHW for a channels_last copy of an
    NCHW input; the nhwc_pair form: channels_last only); by default in x's layout."""
    from igc_triton.kernels.igc_block_fwd import (
        igc_block_fwd_kernel,
        igc_block_fwd_tc_kernel,
        igc_block_fwd_wide_kernel,
    )

    N, cin, H, W = x.shape
    C, cin_g, kh, kw = wp.shape
    OH, OW = out_hw
    if form is None and x.numel() and nchw_takes_nhwc_form(x, C, L):
        form = fused_block_form(cin, C, L, x.dtype, True)
        x_cl = layout_copy(x, torch.channels_last)
        if form == NHWC_PAIR:  # its secondary writes channels_last: the output is copied back
            return layout_copy(igc_block_fwd(x_cl, wp, ws, L, stride, padding, dilation, out_hw, scale, shift,
                                             residual, relu, form))
        # The one-kernel nhwc forms write the NCHW output themselves: only the input is copied.
        return igc_block_fwd(x_cl, wp, ws, L, stride, padding, dilation, out_hw, scale, shift, residual, relu, form,
                             out=alloc_output(x, (N, C, OH, OW)))
    y = alloc_output(x, (N, C, OH, OW)) if out is None else out
    if y.numel() == 0:
        return y
    form = form or fused_block_form(cin, C, L, x.dtype, is_channels_last(x)) or WIDE
    if form == NHWC:
        return _igc_block_nhwc(x, wp, ws, L, stride, padding, dilation, y, scale, shift, residual, relu)
    if form == NHWC_FMA:
        return _igc_block_nhwc_fma(x, wp, ws, L, stride, padding, dilation, y, scale, shift, residual, relu)
    if form == NHWC_PAIR:
        if not (is_channels_last(x) and nhwc_pair_form_applies(cin, C, L, x.dtype)
                and y.is_contiguous(memory_format=torch.channels_last)):
            raise ValueError(f"the nhwc_pair form needs a contiguous channels_last input and output and a block its "
                             f"two kernels take (launchers.nhwc_pair_form_applies); got {tuple(x.shape)}, strides "
                             f"{x.stride()}, output strides {y.stride()}, {x.dtype}, C={C}, L={L}")
        t = grouped_conv2d_fwd(x, wp, None, stride, padding, dilation, L, out_hw)
        return _nhwc_secondary(t, ws.contiguous(), L, y, scale, shift, residual, relu)
    has_affine, has_res = scale is not None, residual is not None
    res = residual if has_res else y  # placeholder pointer, never read
    wp, ws = layout_copy(wp), ws.contiguous()  # a channels_last model's wp copied (inspect records it)
    sc, sh = (scale.contiguous(), shift.contiguous()) if has_affine else (ws, ws)  # placeholders, never read
    pixels = N * OH * OW
    M = C // L
    key = problem_key(x, pixels, cin, L, M, (kh, kw), stride, dilation)
    flags = dict(M=M, KH=kh, KW=kw, HAS_AFFINE=has_affine, HAS_RESIDUAL=has_res, RELU=relu,
                 DOT_PRECISION=_dot_precision(x.dtype))
    geometry = (*x.stride(), *res.stride(), *y.stride(), *stride, *padding, *dilation)
    if form == NARROW:
        c_pad = max(16, tuning.next_power_of_2(C))

        def launch(cfg, warmup=False):
            grid = (tuning.cdiv(pixels, cfg.kwargs["BLOCK_P"]),)
            tuning.kernel_call(igc_block_fwd_kernel, grid, warmup)(
                x, wp, ws, sc, sh, res, y, N, H, W, OH, OW, C, L, *geometry, **flags, CIN_G=cin_g, C_PAD=c_pad,
                num_warps=cfg.num_warps, num_stages=cfg.num_stages, **cfg.kwargs)
            return y
        candidates = functools.partial(tuning.fused_candidates, c_pad)
    elif form == WIDE:

        def launch(cfg, warmup=False):
            grid = (tuning.cdiv(pixels, cfg.kwargs["BLOCK_P"]) * tuning.cdiv(L, cfg.kwargs["BLOCK_N"]), C // L)
            tuning.kernel_call(igc_block_fwd_wide_kernel, grid, warmup)(
                x, wp, ws, sc, sh, res, y, N, H, W, OH, OW, L, *geometry, **flags, CIN_G=cin_g, PRIMARY=True,
                ACC_DTYPE=_acc_dtype(x.dtype), num_warps=cfg.num_warps, num_stages=cfg.num_stages, **cfg.kwargs)
            return y
        candidates = functools.partial(tuning.fused_wide_candidates, L)
    elif form == TC:
        l_pad = tuning.next_power_of_2(L)

        def launch(cfg, warmup=False):
            grid = (tuning.cdiv(pixels, cfg.kwargs["BLOCK_P"]), tuning.cdiv(M, cfg.kwargs["BLOCK_M"]))
            tuning.kernel_call(igc_block_fwd_tc_kernel, grid, warmup)(
                x, wp, ws, sc, sh, res, y, N, H, W, OH, OW, L, cin_g, *geometry, **flags, L_PAD=l_pad,
                num_warps=cfg.num_warps, num_stages=cfg.num_stages, **cfg.kwargs)
            return y
        candidates = functools.partial(tuning.fused_tc_candidates, l_pad, M, cin_g)
    else:
        raise ValueError(f"unknown fused block form {form!r}; expected one of {', '.join(FUSED_FORMS)}")
    kernel = "igc_block_fwd" if form == NARROW else f"igc_block_fwd_{form}"
    return launch(tuning.choose(kernel, key, candidates, launch, x.device))


# Offsets inside one image are 32-bit in the nhwc kernel.
NHWC_MAX_IMAGE_ELEMENTS = 2**31 - 1


def _nhwc_block_arguments(x, wp, ws, y, scale, shift, residual):
    """What both nhwc block launchers prepare: whether y is written NCHW (it must be dense
    channels_last or dense NCHW); a contiguous ws; the epilogue's scale, shift and residual
    (in y's layout), placeholder pointers, never read, for those absent. ``wp`` is returned as
    given (the forms read it in its layout, and ``_laid_out`` knows a fused model's by identity)."""
    out_nchw = not y.is_contiguous(memory_format=torch.channels_last)
    if out_nchw and not y.is_contiguous():
        raise ValueError(f"the nhwc forms write a dense channels_last or NCHW output; got strides {y.stride()}")
    if residual is not None:
        residual = layout_copy(residual, torch.contiguous_format if out_nchw else torch.channels_last)
    ws = ws.contiguous()
    sc, sh = (scale.contiguous(), shift.contiguous()) if scale is not None else (ws, ws)
    return out_nchw, wp, ws, sc, sh, residual if residual is not None else y


@functools.lru_cache(maxsize=1024)
def _nhwc_block_static(form, x_shape, dtype, wp_shape, L, out_hw, stride, padding, dilation, out_nchw=False):
    """What an nhwc block launch takes from shapes and arguments alone, remembered per block (it
    took about 8 us of an eager call's host time): the image checks (a refused image raises each
    time), the problem key, the config space (looked up when called), and for nhwc_fma its channel
    chunks (``tuning.nhwc_fma_chunks``). An NCHW output (``OUT_NCHW``: another program, other
    stores) is its own problem (``o=nchw`` in the key): ranked or tuned apart from channels_last's."""
    (N, _, H, W), (C, M, kh, kw), (OH, OW) = x_shape, wp_shape, out_hw
    _check_nhwc_image(C, H, W, OH, OW)
    fields = dict(cin=C, L=L, M=M, k=(kh, kw), s=stride, d=dilation, w=tuning.nhwc_tile_width_cap(OW),
                  **({"o": "nchw"} if out_nchw else {}))
    key = autotune.key_for(dtype, "nhwc", N * OH * OW, **fields)
    if form == NHWC_FMA:
        return key, lambda: tuning.nhwc_fma_candidates(C, OW), tuning.nhwc_fma_chunks(C)
    # A tap's offset and a pixel's are 32-bit apart (then summed): the halo and the taps' reach too.
    _check_nhwc_image(C, H + padding[0] + (kh - 1) * dilation[0], W + padding[1] + (kw - 1) * dilation[1], OH, OW)
    return key, lambda: tuning.nhwc_candidates(C, M, OW), None


def _nhwc_static(form, x, wp, L, y, stride, padding, dilation):
    """``_nhwc_block_static`` of a block the form takes (checked each call: the rules read module
    constants), else ValueError."""
    applies = nhwc_fma_form_applies if form == NHWC_FMA else nhwc_form_applies
    if not is_channels_last(x) or not applies(x.shape[1], wp.shape[0], L, x.dtype):
        raise ValueError(f"the {form} form needs a contiguous channels_last input and a block it applies to "
                         f"(launchers.{applies.__name__}); got {tuple(x.shape)}, strides {x.stride()}, L={L}")
    return _nhwc_block_static(form, x.shape, x.dtype, wp.shape, L, y.shape[2:], tuple(stride), tuple(padding),
                              tuple(dilation), not y.is_contiguous(memory_format=torch.channels_last))


def _igc_block_nhwc(x, wp, ws, L, stride, padding, dilation, y, scale, shift, residual, relu):
    """The nhwc form (kernels/igc_block_nhwc.py): the primary weight read channels_last (copied so
    unless it is already, as a channels_last model holds it; the copy kept between calls only for
    a fused model: ``snapshot_weights``), both weights' tiles built in the block kernel."""
    from igc_triton.kernels.igc_block_nhwc import igc_block_nhwc_kernel

    (N, _, H, W), (C, M, kh, kw), (OH, OW) = x.shape, wp.shape, y.shape[2:]
    has_affine, has_res = scale is not None, residual is not None
    key, candidates, _ = _nhwc_static(NHWC, x, wp, L, y, stride, padding, dilation)
    out_nchw, wp, ws, sc, sh, res = _nhwc_block_arguments(x, wp, ws, y, scale, shift, residual)
    w_cl = _laid_out(wp, ws, (NHWC, x.dtype), functools.partial(layout_copy, wp, torch.channels_last))

    def launch(cfg, warmup=False):
        kw_ = cfg.kwargs
        grid = (tuning.cdiv(OH, kw_["TILE_H"]) * tuning.cdiv(OW, kw_["TILE_W"]), N)
        tuning.kernel_call(igc_block_nhwc_kernel, grid, warmup)(
            x, w_cl, ws, sc, sh, res, y, H, W, OH, OW, *stride, *padding, *dilation, kh * kw, C=C, M=M, KH=kh, KW=kw,
            HAS_AFFINE=has_affine, HAS_RESIDUAL=has_res, RELU=relu, OUT_NCHW=out_nchw,
            DOT_PRECISION=_dot_precision(x.dtype), num_warps=cfg.num_warps, num_stages=cfg.num_stages,
            **{"TAPS_L1": 0, **kw_})
        return y
    return launch(tuning.choose("igc_block_nhwc", key, candidates, launch, x.device))


def _igc_block_nhwc_fma(x, wp, ws, L, stride, padding, dilation, y, scale, shift, residual, relu):
    """The nhwc_fma form (kernels/igc_block_nhwc_fma.py): its weights laid out by one small
    kernel from the weights as they are (kept between calls only for a fused model:
    ``snapshot_weights``), then the block."""
    from igc_triton.kernels.igc_block_nhwc_fma import igc_block_nhwc_fma_kernel

    (N, _, H, W), (C, M, kh, kw), (OH, OW) = x.shape, wp.shape, y.shape[2:]
    has_affine, has_res = scale is not None, residual is not None
    key, candidates, (ha, hb) = _nhwc_static(NHWC_FMA, x, wp, L, y, stride, padding, dilation)
    out_nchw, wp, ws, sc, sh, res = _nhwc_block_arguments(x, wp, ws, y, scale, shift, residual)
    wt, wf = _laid_out(wp, ws, (NHWC_FMA, x.dtype), functools.partial(nhwc_fma_weights, wp, ws, L, x.dtype, ha, hb))

    def launch(cfg, warmup=False):
        kw_ = cfg.kwargs
        grid = (tuning.cdiv(OH, kw_["TILE_H"]) * tuning.cdiv(OW, kw_["TILE_W"]), N)
        tuning.kernel_call(igc_block_nhwc_fma_kernel, grid, warmup)(
            x, wt, wf, sc, sh, res, y, H, W, OH, OW, stride[0], padding[0], padding[1], dilation[0], C=C, HA=ha, HB=hb,
            M=M, KH=kh, KW=kw, STRIDE_W=stride[1], DIL_W=dilation[1], HAS_AFFINE=has_affine, HAS_RESIDUAL=has_res,
            RELU=relu, OUT_NCHW=out_nchw, DOT_PRECISION=_dot_precision(x.dtype),
            num_warps=cfg.num_warps, num_stages=cfg.num_stages, **kw_)
        return y
    return launch(tuning.choose("igc_block_nhwc_fma", key, candidates, launch, x.device))


def nhwc_fma_weights(wp, ws, L, dtype, ha, hb):
    """The nhwc_fma kernel's weights (``kernels/igc_block_nhwc_fma.py``) laid out by one small
    kernel from ``wp`` in any layout (read through its strides) and a contiguous ``ws``: (wt,
    fp32 per tap; wf, the folded secondary's blocks between the channel chunks of ``ha`` and
    ``hb`` pairs (``tuning.nhwc_fma_chunks``) in ``dtype``)."""
    from igc_triton.kernels.igc_block_nhwc_fma import igc_block_nhwc_fma_weights_kernel
    C, M, kh, kw = wp.shape
    wt = torch.empty((kh * kw, 2 * M, ha + hb), device=wp.device, dtype=torch.float32)
    wf = torch.empty(4 * (ha + hb) ** 2, device=wp.device, dtype=dtype)
    block = WEIGHTS_BLOCK
    igc_block_nhwc_fma_weights_kernel[(tuning.cdiv(wt.numel() + wf.numel(), block),)](
        wp, ws, wt, wf, C, L, *wp.stride(), HA=ha, HB=hb, M=M, KH=kh, KW=kw, BLOCK=block)
    return wt, wf


class _Snapshot:
    """The laid-out weights of one fused inference module's block, kept while its weights keep
    their storage and version (an in-place update, ``load_state_dict``, ``.to()`` all change one)."""

    def __init__(self, wp, ws, L):
        self.wp, self.ws, self.L = weakref.ref(wp), weakref.ref(ws), L
        self.kept = {}  # (form, dtype, ...) -> ((data_ptr, version) of wp and ws, laid-out weights)

    def holds(self, wp, ws) -> bool:
        return self.wp() is wp and self.ws() is ws

    def layout(self, wp, ws, what: tuple, make):
        """``make()``'s laid-out weights for ``what`` (form, dtype, ...), made again only when a
        weight's storage or version changed since."""
        state = (wp.data_ptr(), wp._version, ws.data_ptr(), ws._version)
        kept = self.kept.get(what)
        if kept is None or kept[0] != state:
            kept = self.kept[what] = (state, make())
        return kept[1]


_SNAPSHOTS: dict[int, _Snapshot] = {}  # id of the primary weight -> its snapshot


def _laid_out(wp, ws, what: tuple, make):
    """``make()``: the weights laid out for ``what`` (form, dtype, ...), or, for the weights of a
    fused model (``snapshot_weights``), what was kept of them."""
    snap = _SNAPSHOTS.get(id(wp))
    return snap.layout(wp, ws, what, make) if snap is not None and snap.holds(wp, ws) else make()


def snapshot_weights(wp: torch.Tensor, ws: torch.Tensor, L: int):
    """Lets the nhwc fused forms keep ``wp`` and ``ws`` laid out from one call to the next (one
    launch less per call) for as long as their storage and version stay the same: for the weights
    of a ``fuse_for_inference`` model only, a snapshot as its folded BatchNorm is. A write through
    ``.data`` changes neither, so it is not seen; elsewhere nothing is kept, and every such
    write is seen."""
    snap = _SNAPSHOTS.get(id(wp))
    if snap is None or not snap.holds(wp, ws):
        _SNAPSHOTS[id(wp)] = _Snapshot(wp, ws, L)
        weakref.finalize(wp, _SNAPSHOTS.pop, id(wp), None)


def igc_secondary_path(L: int) -> str:
    return GEMM if L >= TENSOR_CORE_SECONDARY_MIN_L else FMA


def nhwc_secondary_applies(t: torch.Tensor, L: int) -> bool:
    """Whether ``igc_secondary_nhwc_kernel`` takes the secondary step: a contiguous channels_last
    ``t`` in fp32/fp16/bf16 and L >= 16 (the K and N of its per-position products)."""
    return (is_channels_last(t) and t.dtype in NHWC_DTYPES
            and L >= TENSOR_CORE_SECONDARY_MIN_L)


def nhwc_fma_secondary_applies(t: torch.Tensor, L: int) -> bool:
    """Whether ``igc_secondary_nhwc_fma_kernel`` takes the secondary step: a contiguous
    channels_last ``t`` in fp32/fp16/bf16 and L < 16 (where ``nhwc_secondary_applies`` does not)."""
    return is_channels_last(t) and t.dtype in NHWC_DTYPES and L < TENSOR_CORE_SECONDARY_MIN_L


def _nhwc_secondary(t, weight, L, y, scale=None, shift=None, residual=None, relu=False):
    """The channels_last secondary for t (checked by the caller): on tensor cores for L >= 16,
    else on CUDA cores."""
    launch = _igc_secondary_nhwc if L >= TENSOR_CORE_SECONDARY_MIN_L else _igc_secondary_nhwc_fma
    return launch(t, weight, L, y, scale, shift, residual, relu)


def _secondary_epilogue_arguments(weight, y, scale, shift, residual):
    """The epilogue's scale, shift and residual (channels_last) for the nhwc secondaries,
    placeholder pointers, never read, for those absent."""
    res = layout_copy(residual, torch.channels_last) if residual is not None else y
    sc, sh = (scale.contiguous(), shift.contiguous()) if scale is not None else (weight, weight)
    return sc, sh, res


def _igc_secondary_nhwc_fma(t, weight, L, y, scale=None, shift=None, residual=None, relu=False):
    """The nhwc_fma secondary (kernels/igc_secondary_nhwc_fma.py): t and y [pixels x C]
    matrices, the weight read as it is; with the block's epilogue when given (``residual`` in any
    layout: one not channels_last is copied)."""
    from igc_triton.kernels.igc_secondary_nhwc_fma import igc_secondary_nhwc_fma_kernel
    N, C, H, W = t.shape
    M = C // L
    if L % 2 == 0 and weight.data_ptr() % (2 * weight.element_size()):
        weight = weight.clone()  # its weights are read in pairs: a view at an odd element is copied
    pixels = N * H * W
    sc, sh, res = _secondary_epilogue_arguments(weight, y, scale, shift, residual)
    key = problem_key(t, pixels, C, L, M, (1, 1), (1, 1), (1, 1))

    def launch(cfg, warmup=False):
        # One axis, a pixel block's position blocks adjacent (the kernel splits the program id)
        grid = (tuning.cdiv(pixels, cfg.kwargs["BLOCK_P"]) * tuning.cdiv(M, cfg.kwargs["BLOCK_M"]),)
        tuning.kernel_call(igc_secondary_nhwc_fma_kernel, grid, warmup)(
            t, weight, sc, sh, res, y, pixels, L=L, M=M, HAS_AFFINE=scale is not None,
            HAS_RESIDUAL=residual is not None, RELU=relu, num_warps=cfg.num_warps, num_stages=cfg.num_stages,
            **cfg.kwargs)
        return y
    candidates = functools.partial(tuning.nhwc_fma_secondary_candidates, L, M)
    return launch(tuning.choose("igc_secondary_fwd_nhwc_fma", key, candidates, launch, t.device))


def nhwc_secondary_weight_width(L: int, elem_bytes: int) -> int:
    """The row width (elements) the nhwc secondary's weight is laid out with, ``wt[m, l, l2]``, or 0
    where it reads the weight as it is: 16-bit rows of L >= ``NHWC_SECONDARY_LAYOUT_MIN_L`` elements
    that are not whole 16-byte vectors get rows of L rounded up to 128 bytes, so that each row of a
    weight tile starts a cache line (inspect, bf16, h200: C = 1800, L = 450 80.7 -> 74.3 us with
    128-byte rows against 16-byte ones). Not fp32: TF32's wgmma reads B K-major, which the laid-out
    [l x l2] tile is not (inspect predicted paper-layers' L = 450 blocks 1-15% slower with it)."""
    if elem_bytes != 2 or L < NHWC_SECONDARY_LAYOUT_MIN_L or L * elem_bytes % 16 == 0:
        return 0
    line = 128 // elem_bytes
    return tuning.cdiv(L, line) * line


def _igc_secondary_nhwc(t, weight, L, y, scale=None, shift=None, residual=None, relu=False):
    """The nhwc secondary (kernels/igc_secondary_nhwc.py): t and y [pixels x C] matrices, the
    weight (contiguous) read as it is, or laid out first where its rows are long and not whole
    16-byte vectors (``nhwc_secondary_weight_width``; by one small kernel in every call, so no
    cache can go stale); with the block's epilogue when given (``residual`` in any layout: one not
    channels_last is copied)."""
    from igc_triton.kernels.igc_secondary_nhwc import igc_secondary_nhwc_kernel, igc_secondary_nhwc_weights_kernel
    N, C, H, W = t.shape
    M = C // L
    pixels = N * H * W
    mb = tuning.nhwc_secondary_positions(M)
    has_affine, has_res = scale is not None, residual is not None
    sc, sh, res = _secondary_epilogue_arguments(weight, y, scale, shift, residual)
    key = problem_key(t, pixels, C, L, M, (1, 1), (1, 1), (1, 1))
    wt = nhwc_secondary_weight_width(L, weight.element_size())
    if wt:
        laid = torch.empty((M, L, wt), device=weight.device, dtype=weight.dtype)
        igc_secondary_nhwc_weights_kernel[(M * tuning.cdiv(wt, WEIGHTS_TILE), tuning.cdiv(L, WEIGHTS_TILE))](
            weight, laid, L=L, WT=wt, BLOCK=WEIGHTS_TILE)
        weight = laid

    def launch(cfg, warmup=False):
        # One axis, a pixel block's tiles adjacent (the kernel splits the program id)
        grid = (tuning.cdiv(pixels, cfg.kwargs["BLOCK_P"]) * tuning.cdiv(L, cfg.kwargs["BLOCK_N"]) * (M // mb),)
        tuning.kernel_call(igc_secondary_nhwc_kernel, grid, warmup)(
            t, weight, sc, sh, res, y, pixels, L=L, M=M, MB=mb, WT=wt, HAS_AFFINE=has_affine, HAS_RESIDUAL=has_res,
            RELU=relu, DOT_PRECISION=_dot_precision(t.dtype), num_warps=cfg.num_warps, num_stages=cfg.num_stages,
            **cfg.kwargs)
        return y
    candidates = functools.partial(tuning.nhwc_secondary_candidates, L, M, t.element_size(), t.device)
    return launch(tuning.choose("igc_secondary_fwd_nhwc", key, candidates, launch, t.device))


def igc_secondary_fwd(t, weight, L, path=None):
    """IGC steps 2-4 on the primary output ``t``; ``weight: (C, L, 1, 1)``.

    ``path`` forces ``"fma"`` (permutation in the kernel's index arithmetic, L FMAs per output),
    ``"gemm"`` (per position m within the partitions, the dense [L x L] secondary product on
    tensor cores, K = L: the wide fused kernel reading t), ``"nhwc"`` (the same products over
    wide loads of a contiguous channels_last t, ``nhwc_secondary_applies``) or ``"nhwc_fma"``
    (L < 16: L multiply-adds per output on CUDA cores over wide loads of a contiguous
    channels_last t, ``nhwc_fma_secondary_applies``); by default ``"nhwc"`` or ``"nhwc_fma"``
    where one applies, else it follows L (see ``TENSOR_CORE_SECONDARY_MIN_L``). None writes a
    permuted tensor or a folded weight.
    """
    from igc_triton.kernels.igc_block_fwd import igc_block_fwd_wide_kernel
    from igc_triton.kernels.igc_secondary_fwd import igc_secondary_fwd_kernel

    N, C, H, W = t.shape
    if path is None and nhwc_secondary_applies(t, L):
        path = NHWC_CONV
    if path is None and nhwc_fma_secondary_applies(t, L):
        path = NHWC_FMA_SECONDARY
    path = path or igc_secondary_path(L)
    pixels = N * H * W
    weight = weight.contiguous()
    if path in (NHWC_CONV, NHWC_FMA_SECONDARY):
        applies, launch_nhwc, reach = ((nhwc_secondary_applies, _igc_secondary_nhwc, ">=") if path == NHWC_CONV
                                       else (nhwc_fma_secondary_applies, _igc_secondary_nhwc_fma, "<"))
        if not applies(t, L):
            raise ValueError(f"the {path} secondary needs a contiguous channels_last t in fp32/fp16/bf16 and "
                             f"L {reach} {TENSOR_CORE_SECONDARY_MIN_L} (launchers.{applies.__name__}); got "
                             f"{tuple(t.shape)}, strides {t.stride()}, {t.dtype}, L={L}")
        y = alloc_output(t, (N, C, H, W))
        return y if y.numel() == 0 else launch_nhwc(t, weight, L, y)
    key = problem_key(t, pixels, C, L, C // L, (1, 1), (1, 1), (1, 1))
    if path == GEMM:
        y = alloc_output(t, (N, C, H, W))
        if y.numel() == 0:
            return y

        def launch_gemm(cfg, warmup=False):
            grid = (tuning.cdiv(pixels, cfg.kwargs["BLOCK_P"]) * tuning.cdiv(L, cfg.kwargs["BLOCK_N"]), C // L)
            tuning.kernel_call(igc_block_fwd_wide_kernel, grid, warmup)(
                t, weight, weight, weight, weight, y, y, N, H, W, H, W, L, *t.stride(), *y.stride(), *y.stride(),
                1, 1, 0, 0, 1, 1, CIN_G=1, M=C // L, KH=1, KW=1, HAS_AFFINE=False, HAS_RESIDUAL=False, RELU=False,
                DOT_PRECISION=_dot_precision(t.dtype), PRIMARY=False, ACC_DTYPE=_acc_dtype(t.dtype),
                num_warps=cfg.num_warps, num_stages=cfg.num_stages, **cfg.kwargs)
            return y
        return launch_gemm(tuning.choose("igc_secondary_fwd_gemm", key,
                                         functools.partial(tuning.fused_wide_candidates, L), launch_gemm, t.device))
    if path != FMA:
        raise ValueError(f"unknown igc_secondary path {path!r}; expected 'fma', 'gemm', 'nhwc' or 'nhwc_fma'")
    y = alloc_output(t, (N, C, H, W))
    if y.numel() == 0:
        return y

    def launch(cfg, warmup=False):
        grid = (tuning.cdiv(pixels, cfg.kwargs["BLOCK_P"]) * tuning.cdiv(C, cfg.kwargs["BLOCK_C"]),)
        tuning.kernel_call(igc_secondary_fwd_kernel, grid, warmup)(
            t, weight, y, N, H, W, C, *t.stride(), *y.stride(),
            L=L, M=C // L, ACC_DTYPE=_acc_dtype(t.dtype),
            num_warps=cfg.num_warps, num_stages=cfg.num_stages, **cfg.kwargs)
        return y
    candidates = functools.partial(tuning.fma_candidates, C, is_channels_last(t))
    return launch(tuning.choose("igc_secondary_fwd", key, candidates, launch, t.device))
