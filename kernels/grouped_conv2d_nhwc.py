"""Grouped convolution for contiguous channels_last (NHWC) tensors whose groups have M = 1 or 2
channels in and out: depthwise convolution, and IGC's primary step when Cin/L = M = 2.

The generic FMA kernel (``grouped_conv2d_fwd.py``) gathers every input of every output from any
strides: one 16-bit load per multiply-add. Here a program owns a TILE_H x TILE_W tile of one
image's output pixels and a block of BP channel pairs, and runs ``nhwc_pairs.pair_conv`` (pairs
loaded 16 bytes at a time and unpacked by a shift or a mask; Q output columns per thread
sharing input columns; see there). The channels are independent (no secondary step), so a
program takes a block of them and C has no upper bound. The output is stored in whole pairs,
in the input's dtype, bias added. Offsets inside an image are 32-bit (the launcher checks an
image fits), the image base is 64-bit.
"""

import triton
import triton.language as tl
from igc_triton.kernels.nhwc_pairs import as_pairs, pair_conv, pair_weights, unpack


@triton.jit
def grouped_conv2d_nhwc_kernel(
    x_ptr,  # input (N, H, W, C) contiguous
    wt_ptr,  # fp32, per tap: (KH * KW, 2 * M, C // 2), see the weights kernel
    b_ptr,  # bias (C,), read when HAS_BIAS
    y_ptr,  # output (N, OH, OW, C) contiguous
    H, W, OH, OW,
    stride_h, pad_h, pad_w, dil_h,
    C: tl.constexpr,  # channels in and out, even (a multiple of 8: 16-byte vectors)
    M: tl.constexpr,  # channels per group in and out: 1 or 2
    KH: tl.constexpr,
    KW: tl.constexpr,
    STRIDE_W: tl.constexpr,
    DIL_W: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    TILE_H: tl.constexpr,  # output rows per program
    TILE_W: tl.constexpr,  # output columns per program
    Q: tl.constexpr,  # neighbouring output columns per thread (1, 2 or 4), which share input columns
    BP: tl.constexpr,  # channel pairs per program
):
    NP: tl.constexpr = C // 2  # channel pairs
    GW: tl.constexpr = TILE_W // Q  # column groups per tile row
    G: tl.constexpr = TILE_H * GW
    DT: tl.constexpr = x_ptr.dtype.element_ty
    tiles_w = tl.cdiv(OW, TILE_W)
    pid = tl.program_id(0)
    n = tl.program_id(1).to(tl.int64)
    oh0 = (pid // tiles_w) * TILE_H
    ow0 = (pid % tiles_w) * TILE_W
    i = tl.arange(0, G)  # column group: output columns ow0 + (i % GW) * Q + q, q < Q
    oh = oh0 + i // GW
    g = tl.program_id(2) * BP + tl.arange(0, BP)  # channel pair (2g, 2g + 1): a group when M = 2
    g_ok = g < NP
    acc_e, acc_o = pair_conv(x_ptr + n * (H * W * C), wt_ptr, g, g_ok, oh * stride_h - pad_h,
                             (ow0 + (i % GW) * Q) * STRIDE_W - pad_w, H, W, dil_h, C, NP, M, KH, KW, STRIDE_W,
                             DIL_W, G, BP, Q, True)
    if HAS_BIAS:
        b_e, b_o = unpack(tl.load(as_pairs(b_ptr) + g, mask=g_ok, other=0), DT)
    c = 2 * tl.program_id(2) * BP + tl.arange(0, 2 * BP)
    for q in tl.static_range(Q):
        ow = ow0 + (i % GW) * Q + q
        out_e = acc_e[q]
        out_o = acc_o[q]
        if HAS_BIAS:
            out_e += b_e[None, :]
            out_o += b_o[None, :]
        y = tl.reshape(tl.join(out_e, out_o), (G, 2 * BP))  # the pairs back in channel order
        y_at = y_ptr + ((n * (OH * OW) + (oh * OW + ow)) * C)[:, None] + c[None, :]
        tl.store(y_at, y.to(y_ptr.dtype.element_ty), mask=((oh < OH) & (ow < OW))[:, None] & (c < C)[None, :])


@triton.jit
def grouped_conv2d_nhwc_weights_kernel(
    w_ptr,  # weight (C, M, KH, KW), strides sw_*: see nhwc_pairs.pair_weights
    wt_ptr,  # out, fp32: (KH * KW, 2 * M, C // 2)
    C, sw_c, sw_m, sw_h, sw_w,
    M: tl.constexpr,
    KH: tl.constexpr,
    KW: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """``nhwc_pairs.pair_weights`` of the weight, unpadded (C / 2 pairs per vector)."""
    e = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    pair_weights(w_ptr, wt_ptr, e, C, C // 2, sw_c, sw_m, sw_h, sw_w, M, KH, KW)
