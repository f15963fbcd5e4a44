"""The whole IGC block for contiguous channels_last (NHWC) tensors with small partitions (M = 1, 2):
primary on CUDA cores, secondary on tensor cores.

With M = 2 an output channel of the primary reads 2 input channels per tap: 18 multiply-adds
for a 3x3 kernel. The tensor-core form (``igc_block_nhwc.py``) runs it as a block-diagonal
product that does BC / M times that work and moves every tap's [pixels x BC] operand through
shared memory on its way to the tensor cores: ``igc-lab inspect`` finds it bound by the
L1/shared-memory path (C = 48, L = 24: 2964 shared-memory wavefronts and 3036 cache lines per
128-pixel program). Here a program owns a TILE_H x TILE_W tile of one image's output pixels
and all C channels (padded to CP, a power of two; the padding is masked, never loaded):

- **Primary**: ``nhwc_pairs.pair_conv`` -- channel pairs loaded 16 bytes at a time and unpacked
  by a shift or a mask (with M = 2 a pair is a partition, so both inputs of an output sit in
  its thread), Q output columns per thread sharing input columns, fp32 weights laid out per tap
  by ``igc_block_nhwc_fma_weights_kernel`` in the same launch sequence (nothing is cached, so a
  weight changed in place, even through ``.data``, is always seen).
- **Secondary** as tensor-core products with the folded weight F. F joins input channel k to
  output o only if k % M == o % M, so for M = 2 it is two products of half the width:
  ``y_even = t_even @ F[even, even]``, ``y_odd = t_odd @ F[odd, odd]`` (M = 1 adds the two mixed
  blocks). t is rounded to the storage dtype first, as the two-kernel path rounds it when it
  writes t. Only these operands go through shared memory (the kernel rows are a loop for that
  reason: see ``nhwc_pairs``).
- **Epilogue** (folded BatchNorm, residual, ReLU) and one store of whole pixels; or, for an
  NCHW caller (``OUT_NCHW``: its input copied to channels_last first), one store of pixel rows
  per channel, so the output needs no copy back (a read and a write of it saved).

Offsets inside an image are 32-bit (the launcher checks an image fits), the image base is 64-bit.
"""

import triton
import triton.language as tl
from igc_triton.kernels.igc_block_fwd import block_epilogue
from igc_triton.kernels.nhwc_out import nhwc_block_out
from igc_triton.kernels.nhwc_pairs import pair_conv, pair_weights


@triton.jit
def _to_pixels(acc, G: tl.constexpr, HP: tl.constexpr, Q: tl.constexpr):
    """Q [G x HP] accumulators (output column q of each group) -> one [G * Q x HP] tile, pixel
    i * Q + q."""
    if Q == 1:
        return acc[0]
    elif Q == 2:
        return tl.reshape(tl.permute(tl.join(acc[0], acc[1]), (0, 2, 1)), (G * 2, HP))
    else:  # Q = 4: the last axis picks q // 2, the one before it q % 2
        v = tl.join(tl.join(acc[0], acc[1]), tl.join(acc[2], acc[3]))
        return tl.reshape(tl.permute(v, (0, 3, 2, 1)), (G * 4, HP))


@triton.jit
def igc_block_nhwc_fma_kernel(
    x_ptr,  # input (N, H, W, C) contiguous
    wt_ptr,  # primary, fp32, per tap: (KH * KW, 2 * M, CP // 2), see the weights kernel
    wf_ptr,  # folded secondary by parity: (2 in, 2 out, CP / 2, CP / 2), see the weights kernel
    scale_ptr, shift_ptr,  # (C,), read when HAS_AFFINE
    res_ptr,  # residual in y's layout, read when HAS_RESIDUAL
    y_ptr,  # output (N, OH, OW, C) contiguous, or (N, C, OH, OW) with OUT_NCHW
    H, W, OH, OW,
    stride_h, pad_h, pad_w, dil_h,
    C: tl.constexpr,  # channels in and out, even
    CP: tl.constexpr,  # C padded to a power of two, >= 32 (the secondary's K is CP / 2)
    M: tl.constexpr,  # channels per primary partition: 1 or 2
    KH: tl.constexpr,
    KW: tl.constexpr,
    STRIDE_W: tl.constexpr,
    DIL_W: tl.constexpr,
    HAS_AFFINE: tl.constexpr,
    HAS_RESIDUAL: tl.constexpr,
    RELU: tl.constexpr,
    OUT_NCHW: tl.constexpr,  # 1: y (and the residual) contiguous NCHW, written from here (no copy after)
    DOT_PRECISION: tl.constexpr,
    TILE_H: tl.constexpr,  # output rows per program
    TILE_W: tl.constexpr,  # output columns per program
    Q: tl.constexpr,  # neighbouring output columns per thread (1, 2 or 4), which share input columns
    PREFETCH: tl.constexpr,  # 1: each kernel row's loads issued while the row before is computed
):
    BLOCK_P: tl.constexpr = TILE_H * TILE_W
    HP: tl.constexpr = CP // 2
    GW: tl.constexpr = TILE_W // Q  # column groups per tile row
    G: tl.constexpr = TILE_H * GW
    tiles_w = tl.cdiv(OW, TILE_W)
    pid = tl.program_id(0)
    n = tl.program_id(1).to(tl.int64)
    oh0 = (pid // tiles_w) * TILE_H
    ow0 = (pid % tiles_w) * TILE_W
    i = tl.arange(0, G)  # column group: output columns ow0 + (i % GW) * Q + q, q < Q
    g = tl.arange(0, HP)  # channel pair (2g, 2g + 1): one partition when M = 2
    acc_e, acc_o = pair_conv(x_ptr + n * (H * W * C), wt_ptr, g, g < C // 2, (oh0 + i // GW) * stride_h - pad_h,
                             (ow0 + (i % GW) * Q) * STRIDE_W - pad_w, H, W, dil_h, C, HP, M, KH, KW, STRIDE_W,
                             DIL_W, G, HP, Q, False, PREFETCH)
    # Secondary by parity: wf[a, b] is the folded weight's block from the input channels of
    # parity a to the outputs of parity b (zero for a != b when M = 2).
    t_e = _to_pixels(acc_e, G, HP, Q).to(y_ptr.dtype.element_ty)
    t_o = _to_pixels(acc_o, G, HP, Q).to(y_ptr.dtype.element_ty)
    h = tl.arange(0, HP)
    wf_blk = wf_ptr + h[:, None] * HP + h[None, :]
    y_e = tl.dot(t_e, tl.load(wf_blk), input_precision=DOT_PRECISION)
    y_o = tl.dot(t_o, tl.load(wf_blk + 3 * HP * HP), input_precision=DOT_PRECISION)
    if M == 1:
        y_e = tl.dot(t_o, tl.load(wf_blk + 2 * HP * HP), y_e, input_precision=DOT_PRECISION)
        y_o = tl.dot(t_e, tl.load(wf_blk + HP * HP), y_o, input_precision=DOT_PRECISION)
    y = tl.reshape(tl.join(y_e, y_o), (BLOCK_P, CP))
    c = tl.arange(0, CP)
    p = tl.arange(0, BLOCK_P)
    oh = oh0 + p // TILE_W
    ow = ow0 + p % TILE_W
    # residual and output share the layout
    y_pix, y_c = nhwc_block_out(n, oh, ow, OH, OW, C, OUT_NCHW)
    block_epilogue(y, c, c < C, (oh < OH) & (ow < OW), y_pix, y_pix, scale_ptr, shift_ptr, res_ptr, y_ptr, y_c, y_c,
                   HAS_AFFINE, HAS_RESIDUAL, RELU)


@triton.jit
def igc_block_nhwc_fma_weights_kernel(
    wp_ptr,  # primary weight (C, M, KH, KW), contiguous
    ws_ptr,  # secondary weight (C, L), contiguous: ws[m * L + l2, l]
    wt_ptr,  # out, fp32: (KH * KW, 2 * M, CP // 2)
    wf_ptr,  # out: (2, 2, CP // 2, CP // 2)
    C, L,
    CP: tl.constexpr,
    M: tl.constexpr,
    KH: tl.constexpr,
    KW: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """Both weights of ``igc_block_nhwc_fma_kernel`` in one launch: element e < size(wt) of wt,
    ``nhwc_pairs.pair_weights`` of the primary weight (CP / 2 pairs per vector, 0 past C), the
    rest of wf. wf[a, b, i, j] = F[2i + a, 2j + b], with
    F[k, o] the folded secondary weight from input channel k to output channel o: ws[m*L + l2, l]
    when o = l2*M + m and k = l*M + m (the same position m), else 0."""
    n_t = KH * KW * M * CP
    e = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    pair_weights(wp_ptr, wt_ptr, e, C, CP // 2, M, KH, KW)
    f = e - n_t
    HP: tl.constexpr = CP // 2
    o = 2 * (f % HP) + (f // (HP * HP)) % 2
    k = 2 * ((f // HP) % HP) + f // (2 * HP * HP)
    ok = (f >= 0) & (k < C) & (o < C) & (k % M == o % M)
    v = tl.load(ws_ptr + ((o % M) * L + o // M) * L + k // M, mask=ok, other=0.0)
    tl.store(wf_ptr + f, v, mask=(f >= 0) & (f < CP * CP))
