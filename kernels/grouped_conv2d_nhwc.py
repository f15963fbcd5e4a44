"""Grouped convolution for contiguous channels_last (NHWC) tensors whose groups have M = 1 or 2
channels in and out: depthwise convolution, and IGC's primary step when Cin/L = M = 2.

The generic FMA kernel (``grouped_conv2d_fwd.py``) gathers every input of every output from any
strides: one 16-bit load per multiply-add. This is the primary of ``igc_block_nhwc_fma.py``
alone (see there): a program owns a TILE_H x TILE_W tile of one image's output pixels and a
block of BP channel pairs; channel pairs are loaded as one integer of twice the width (16-byte
vectors along channels) and unpacked to fp32 by a shift or a mask; with M = 2 a pair is a
group, so both inputs of an output sit in its thread; each thread computes Q neighbouring
output columns, which share input columns (each loaded and unpacked once per kernel row). The
channels are independent here (no secondary step), so a program takes a block of them and C
has no upper bound. The output is stored in whole pairs, in the input's dtype, bias added.

The weights are laid out by ``grouped_conv2d_nhwc_weights_kernel`` in the same launch
sequence, from the weight as it is now (no cache can go stale). Offsets inside an image are
32-bit (the launcher checks an image fits), the image base is 64-bit.
"""

import triton
import triton.language as tl
from igc_triton.kernels.igc_block_nhwc_fma import _as_pairs, _unpack


@triton.jit
def grouped_conv2d_nhwc_kernel(
    x_ptr,  # input (N, H, W, C) contiguous
    wt_ptr,  # fp32, per tap: (KH * KW, 2 * M, C // 2), see the weights kernel
    b_ptr,  # bias (C,), read when HAS_BIAS
    y_ptr,  # output (N, OH, OW, C) contiguous
    H, W, OH, OW,
    stride_h, pad_h, pad_w, dil_h,
    C: tl.constexpr,  # channels in and out, a multiple of 8
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
    NJ: tl.constexpr = (Q - 1) * STRIDE_W + (KW - 1) * DIL_W + 1  # input columns of a kernel row
    DT: tl.constexpr = x_ptr.dtype.element_ty
    tiles_w = tl.cdiv(OW, TILE_W)
    pid = tl.program_id(0)
    n = tl.program_id(1).to(tl.int64)
    oh0 = (pid // tiles_w) * TILE_H
    ow0 = (pid % tiles_w) * TILE_W
    i = tl.arange(0, G)  # column group: output columns ow0 + (i % GW) * Q + q, q < Q
    oh = oh0 + i // GW
    ih0 = oh * stride_h - pad_h
    iw0 = (ow0 + (i % GW) * Q) * STRIDE_W - pad_w
    g = tl.program_id(2) * BP + tl.arange(0, BP)  # channel pair (2g, 2g + 1): a group when M = 2
    g_ok = g < NP
    x_grp = _as_pairs(x_ptr + n * (H * W * C)) + ((ih0 * W + iw0) * NP)[:, None] + g[None, :]
    col_ok = ()
    for j in tl.static_range(NJ):
        col_ok = col_ok + ((iw0 + j >= 0) & (iw0 + j < W),)
    acc_e = ()  # even output channels, one [G x BP] tile per q
    acc_o = ()  # odd output channels
    for q in tl.static_range(Q):
        acc_e = acc_e + (tl.zeros((G, BP), dtype=tl.float32),)
        acc_o = acc_o + (tl.zeros((G, BP), dtype=tl.float32),)
    # Kernel rows: a loop Triton does not unroll (as in igc_block_nhwc_fma.py).
    for r in range(KH):
        row_ok = (ih0 + r * dil_h >= 0) & (ih0 + r * dil_h < H)
        x_row = x_grp + r * dil_h * W * NP
        xs = ()
        for j in tl.static_range(NJ):
            xv = tl.load(x_row + j * NP, mask=(row_ok & col_ok[j])[:, None] & g_ok[None, :], other=0)
            xs = xs + (_unpack(xv, DT),)
        for s in tl.static_range(KW):
            # fp32 weights over the pairs, wt[tap, u]: u = M * (output parity) + input position
            w = wt_ptr + (r * KW + s) * (2 * M * NP) + g
            w0 = tl.load(w, mask=g_ok, other=0.0)[None, :]
            w1 = tl.load(w + NP, mask=g_ok, other=0.0)[None, :]
            if M == 2:
                w2 = tl.load(w + 2 * NP, mask=g_ok, other=0.0)[None, :]
                w3 = tl.load(w + 3 * NP, mask=g_ok, other=0.0)[None, :]
            new_e = ()
            new_o = ()
            for q in tl.static_range(Q):
                x_e, x_o = xs[q * STRIDE_W + s * DIL_W]
                if M == 2:
                    new_e = new_e + (acc_e[q] + x_e * w0 + x_o * w1,)
                    new_o = new_o + (acc_o[q] + x_e * w2 + x_o * w3,)
                else:
                    new_e = new_e + (acc_e[q] + x_e * w0,)
                    new_o = new_o + (acc_o[q] + x_o * w1,)
            acc_e = new_e
            acc_o = new_o
    if HAS_BIAS:
        b_e, b_o = _unpack(tl.load(_as_pairs(b_ptr) + g, mask=g_ok, other=0), DT)
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
    w_ptr,  # weight (C, M, KH, KW), contiguous
    wt_ptr,  # out, fp32: (KH * KW, 2 * M, C // 2)
    C,
    M: tl.constexpr,
    KH: tl.constexpr,
    KW: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """wt[tap, u, g] = w[2g + u // M, u % M, tap], in fp32: per tap, 2M vectors over the channel
    pairs g, one per (parity of the output channel, position of the input channel in its group)
    -- for M = 2: pair g is group g, and u = 0..3 its even<-even, even<-odd, odd<-even, odd<-odd
    weights (the layout of ``igc_block_nhwc_fma_weights_kernel``, unpadded)."""
    NP = C // 2
    e = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    g = e % NP
    u = (e // NP) % (2 * M)
    tap = e // (NP * 2 * M)
    ok = e < KH * KW * 2 * M * NP
    v = tl.load(w_ptr + ((2 * g + u // M) * M + u % M) * (KH * KW) + tap, mask=ok, other=0.0)
    tl.store(wt_ptr + e, v.to(tl.float32), mask=ok)
