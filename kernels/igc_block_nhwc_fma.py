"""The whole IGC block for contiguous channels_last (NHWC) tensors with small partitions (M = 1, 2):
primary on CUDA cores, secondary on tensor cores.

With M = 2 an output channel of the primary reads 2 input channels per tap: 18 multiply-adds
for a 3x3 kernel. The tensor-core form (``igc_block_nhwc.py``) runs it as a block-diagonal
product that does BC / M times that work and moves every tap's [pixels x BC] operand through
shared memory on its way to the tensor cores: ``igc-lab inspect`` finds it bound by the
L1/shared-memory path (C = 48, L = 24: 2964 shared-memory wavefronts and 3036 cache lines per
128-pixel program). Here a program owns a TILE_H x TILE_W tile of one image's output pixels
and all C channels, as one chunk of channel pairs padded to a power of two, or as two
(``tuning.nhwc_fma_chunks``): A, a power of two, then B, the rest padded to a power of two,
where that saves more than a quarter of the work (C = 80: 80 channels of work, not 128). The
padding is masked, never loaded:

- **Primary**: ``nhwc_pairs.pair_conv`` -- channel pairs loaded 16 bytes at a time and unpacked
  by a shift or a mask (with M = 2 a pair is a partition, so both inputs of an output sit in
  its thread), Q output columns per thread sharing input columns, fp32 weights laid out per tap
  by ``igc_block_nhwc_fma_weights_kernel`` in the same launch sequence (nothing is cached, so a
  weight changed in place, even through ``.data``, is always seen). With two chunks, both
  chunks' rows in one loop (``pair_conv_chunks``), chunk B with fewer columns per thread (QB, so
  that its narrower [pixels x pairs] tile still gives every thread 16-byte loads).
- **Secondary** as tensor-core products with the folded weight F. F joins input channel k to
  output o only if k % M == o % M, so for M = 2 it is two products of half the width:
  ``y_even = t_even @ F[even, even]``, ``y_odd = t_odd @ F[odd, odd]`` (M = 1 adds the two mixed
  blocks). t is rounded to the storage dtype first, as the two-kernel path rounds it when it
  writes t. Chunk B's channels join in their own order (2 HB of them, a K of 16 or more), so
  with two chunks there are two more products into A's outputs (one per parity) and three into
  B's (from A's two parities and from B), each with its block of F. Only these operands go
  through shared memory (the kernel rows are a loop for that reason: see ``nhwc_pairs``).
- **Epilogue** (folded BatchNorm, residual, ReLU) and one store of whole pixels; or, for an
  NCHW caller (``OUT_NCHW``: its input copied to channels_last first), one store of pixel rows
  per channel, so the output needs no copy back (a read and a write of it saved).

Offsets inside an image are 32-bit (the launcher checks an image fits), the image base is 64-bit.
"""

import triton
import triton.language as tl
from igc_triton.kernels.igc_block_fwd import block_epilogue
from igc_triton.kernels.nhwc_out import nhwc_block_out
from igc_triton.kernels.nhwc_pairs import pair_conv, pair_conv_chunks, pair_weights


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
def _groups(oh0, ow0, stride_h, pad_h, pad_w, STRIDE_W: tl.constexpr, TILE_W: tl.constexpr,
            BLOCK_P: tl.constexpr, Q: tl.constexpr):
    """The input origins of a tile's column groups, Q output columns each: group i holds output
    columns ow0 + (i % GW) * Q + q, q < Q, of row oh0 + i // GW."""
    GW: tl.constexpr = TILE_W // Q
    i = tl.arange(0, BLOCK_P // Q)
    return (oh0 + i // GW) * stride_h - pad_h, (ow0 + (i % GW) * Q) * STRIDE_W - pad_w


@triton.jit
def igc_block_nhwc_fma_kernel(
    x_ptr,  # input (N, H, W, C) contiguous
    wt_ptr,  # primary, fp32, per tap: (KH * KW, 2 * M, HA + HB), see the weights kernel
    wf_ptr,  # folded secondary in blocks (chunks A, B; parities), see the weights kernel
    scale_ptr, shift_ptr,  # (C,), read when HAS_AFFINE
    res_ptr,  # residual in y's layout, read when HAS_RESIDUAL
    y_ptr,  # output (N, OH, OW, C) contiguous, or (N, C, OH, OW) with OUT_NCHW
    H, W, OH, OW,
    stride_h, pad_h, pad_w, dil_h,
    C: tl.constexpr,  # channels in and out, even
    HA: tl.constexpr,  # channel pairs of chunk A: a power of two, >= 16 (the secondary's K per parity)
    HB: tl.constexpr,  # pairs of chunk B, after A: 0, or a power of two >= 8 (its 2 HB channels are a K of 16+)
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
    WP: tl.constexpr = HA + HB
    # Chunk B's output columns per thread: as many [pixels x pairs] elements as chunk A's.
    QB: tl.constexpr = (Q * HB + HA - 1) // HA
    DT: tl.constexpr = y_ptr.dtype.element_ty
    tiles_w = tl.cdiv(OW, TILE_W)
    pid = tl.program_id(0)
    n = tl.program_id(1).to(tl.int64)
    oh0 = (pid // tiles_w) * TILE_H
    ow0 = (pid % tiles_w) * TILE_W
    x_img = x_ptr + n * (H * W * C)
    ih0, iw0 = _groups(oh0, ow0, stride_h, pad_h, pad_w, STRIDE_W, TILE_W, BLOCK_P, Q)
    g = tl.arange(0, HA)  # channel pair (2g, 2g + 1): one partition when M = 2
    if HB > 0:
        # Chunk B: the pairs past HA, whose [pixels x HB] tiles fill the threads with fewer output
        # columns per thread (QB), so that C is padded to 2 (HA + HB), not to a power of two (C = 72:
        # 80 channels of work, not 128).
        ih0_b, iw0_b = _groups(oh0, ow0, stride_h, pad_h, pad_w, STRIDE_W, TILE_W, BLOCK_P, QB)
        acc_e, acc_o, acc_ue, acc_uo = pair_conv_chunks(
            x_img, wt_ptr, g, ih0, iw0, HA + tl.arange(0, HB), ih0_b, iw0_b, H, W, dil_h, C, WP, M, KH, KW, STRIDE_W,
            DIL_W, BLOCK_P // Q, HA, Q, BLOCK_P // QB, HB, QB, PREFETCH)
    else:
        acc_e, acc_o = pair_conv(x_img, wt_ptr, g, g < C // 2, ih0, iw0, H, W, dil_h, C, WP, M, KH, KW, STRIDE_W,
                                 DIL_W, BLOCK_P // Q, HA, Q, False, PREFETCH)
    t_e = _to_pixels(acc_e, BLOCK_P // Q, HA, Q).to(DT)
    t_o = _to_pixels(acc_o, BLOCK_P // Q, HA, Q).to(DT)
    # Secondary by parity: F[a, b] (wf's first block) is the folded weight from chunk A's input
    # channels of parity a to its outputs of parity b (zero for a != b when M = 2).
    h = tl.arange(0, HA)
    wf_aa = wf_ptr + h[:, None] * HA + h[None, :]
    y_e = tl.dot(t_e, tl.load(wf_aa), input_precision=DOT_PRECISION)
    y_o = tl.dot(t_o, tl.load(wf_aa + 3 * HA * HA), input_precision=DOT_PRECISION)
    if M == 1:
        y_e = tl.dot(t_o, tl.load(wf_aa + 2 * HA * HA), y_e, input_precision=DOT_PRECISION)
        y_o = tl.dot(t_e, tl.load(wf_aa + HA * HA), y_o, input_precision=DOT_PRECISION)
    p = tl.arange(0, BLOCK_P)
    oh = oh0 + p // TILE_W
    ow = ow0 + p % TILE_W
    p_ok = (oh < OH) & (ow < OW)
    # residual and output share the layout
    y_pix, y_c = nhwc_block_out(n, oh, ow, OH, OW, C, OUT_NCHW)
    if HB > 0:
        # Chunk B's channels join in their own order (2 HB, a K of 16 or more); the folded weight's
        # blocks between the chunks follow wf's first block.
        u_e = _to_pixels(acc_ue, BLOCK_P // QB, HB, QB).to(DT)
        u_o = _to_pixels(acc_uo, BLOCK_P // QB, HB, QB).to(DT)
        u = tl.reshape(tl.join(u_e, u_o), (BLOCK_P, 2 * HB))
        hb = tl.arange(0, 2 * HB)
        wf_ba = wf_ptr + 4 * HA * HA + hb[:, None] * HA + h[None, :]  # [parity b][2 HB x HA]
        y_e = tl.dot(u, tl.load(wf_ba), y_e, input_precision=DOT_PRECISION)
        y_o = tl.dot(u, tl.load(wf_ba + 2 * HB * HA), y_o, input_precision=DOT_PRECISION)
        wf_ab = wf_ptr + 4 * HA * HA + 4 * HB * HA + h[:, None] * (2 * HB) + hb[None, :]  # [parity a][HA x 2 HB]
        wf_bb = wf_ptr + 4 * HA * HA + 8 * HB * HA + hb[:, None] * (2 * HB) + hb[None, :]
        v = tl.dot(u, tl.load(wf_bb), input_precision=DOT_PRECISION)
        v = tl.dot(t_e, tl.load(wf_ab), v, input_precision=DOT_PRECISION)
        v = tl.dot(t_o, tl.load(wf_ab + 2 * HB * HA), v, input_precision=DOT_PRECISION)
        cb = 2 * HA + hb
        block_epilogue(v, cb, cb < C, p_ok, y_pix, y_pix, scale_ptr, shift_ptr, res_ptr, y_ptr, y_c, y_c,
                       HAS_AFFINE, HAS_RESIDUAL, RELU)
    y = tl.reshape(tl.join(y_e, y_o), (BLOCK_P, 2 * HA))
    c = tl.arange(0, 2 * HA)
    block_epilogue(y, c, c < C, p_ok, y_pix, y_pix, scale_ptr, shift_ptr, res_ptr, y_ptr, y_c, y_c,
                   HAS_AFFINE, HAS_RESIDUAL, RELU)


@triton.jit
def igc_block_nhwc_fma_weights_kernel(
    wp_ptr,  # primary weight (C, M, KH, KW), strides sw_*: see nhwc_pairs.pair_weights
    ws_ptr,  # secondary weight (C, L), contiguous: ws[m * L + l2, l]
    wt_ptr,  # out, fp32: (KH * KW, 2 * M, HA + HB)
    wf_ptr,  # out: 4 (HA + HB)^2 elements, the folded secondary's blocks
    C, L, sw_c, sw_m, sw_h, sw_w,
    HA: tl.constexpr,
    HB: tl.constexpr,
    M: tl.constexpr,
    KH: tl.constexpr,
    KW: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """Both weights of ``igc_block_nhwc_fma_kernel`` in one launch: element e < size(wt) of wt,
    ``nhwc_pairs.pair_weights`` of the primary weight (HA + HB pairs per vector, 0 past C), the
    rest of wf: with F[k, o] the folded secondary weight from input channel k to output channel
    o (ws[m*L + l2, l] when o = l2*M + m and k = l*M + m, the same position m, else 0), and the
    chunks A (channels below 2 HA, by parity) and B (the 2 HB after, in order), four blocks one
    after the other: AA[a, b, i, j] = F[2i + a, 2j + b]; BA[b, k, j] = F[2HA + k, 2j + b];
    AB[a, i, n] = F[2i + a, 2HA + n]; BB[k, n] = F[2HA + k, 2HA + n]."""
    WP: tl.constexpr = HA + HB
    n_t = KH * KW * M * 2 * WP
    e = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    pair_weights(wp_ptr, wt_ptr, e, C, WP, sw_c, sw_m, sw_h, sw_w, M, KH, KW)
    f = e - n_t
    AA: tl.constexpr = 4 * HA * HA
    BA: tl.constexpr = AA + 4 * HB * HA
    AB: tl.constexpr = BA + 4 * HA * HB
    # AA
    o = 2 * (f % HA) + (f // (HA * HA)) % 2
    k = 2 * ((f // HA) % HA) + f // (2 * HA * HA)
    if HB > 0:
        fb = f - AA  # BA: [b][2HB x HA]
        o = tl.where(f >= AA, 2 * (fb % HA) + fb // (2 * HB * HA), o)
        k = tl.where(f >= AA, 2 * HA + (fb // HA) % (2 * HB), k)
        fb = f - BA  # AB: [a][HA x 2HB]
        o = tl.where(f >= BA, 2 * HA + fb % (2 * HB), o)
        k = tl.where(f >= BA, 2 * ((fb // (2 * HB)) % HA) + fb // (2 * HB * HA), k)
        fb = f - AB  # BB: [2HB x 2HB]
        o = tl.where(f >= AB, 2 * HA + fb % (2 * HB), o)
        k = tl.where(f >= AB, 2 * HA + fb // (2 * HB), k)
    ok = (f >= 0) & (k < C) & (o < C) & (k % M == o % M)
    v = tl.load(ws_ptr + ((o % M) * L + o // M) * L + k // M, mask=ok, other=0.0)
    tl.store(wf_ptr + f, v, mask=(f >= 0) & (f < 4 * WP * WP))
