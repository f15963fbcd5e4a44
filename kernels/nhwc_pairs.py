"""Channel pairs: the loads, the weight layout and the direct convolution shared by the
channels_last kernels for groups of 1 or 2 channels (``igc_block_nhwc_fma.py``, the IGC block;
``grouped_conv2d_nhwc.py``, the grouped convolution).

- **Pairs.** Channels (2g, 2g + 1) of a pixel are loaded as one integer of twice the element's
  width (16-byte vectors: 4 pairs of 16-bit channels a thread; each pixel's channels are
  contiguous, so a row of a tile is one contiguous piece of memory, and the mask is per pixel)
  and unpacked to fp32 (where C is not a multiple of 8, pixels start 8 or 4 bytes aligned and the
  vectors are that wide): for bf16 by one shift or one mask per value, where a conversion of each
  16-bit value on its own first moves the upper half down (two instructions). With M = 2 a pair
  is a group: the even output channel of pair g is ``x_e * w[even<-even] + x_o * w[even<-odd]``,
  the odd one likewise, so both inputs of an output sit in its thread and nothing moves
  between threads.
- **Shared input columns.** Each thread computes Q neighbouring output columns of a row; they
  read overlapping input columns (a 3-wide kernel at stride 1: Q + 2 columns for 3Q taps), each
  loaded and unpacked once per kernel row. One 64-bit pointer per thread and pixel group is made
  once; each column adds a constant (with unit dilation, an immediate of the load instruction).
- **Weights**, laid out by ``pair_weights`` (in a small kernel of the same launch sequence, from
  the weights as they are, in any layout: nothing is cached, so a weight changed in place, even through
  ``.data``, is always seen): fp32, per tap one contiguous vector over the pairs for each
  (output parity, input position), loaded as vectors.
- **The kernel rows are a loop** Triton does not unroll: with the accumulators loop-carried,
  the compiler does not move a later product's operand layout up onto every tap's loads (with
  the taps unrolled and only elementwise operations between load and product, it does: each
  tap's input would then go through shared memory).
- **Prefetch** (``PREFETCH``, a config key of the IGC block): row r + 1's loads are issued
  before row r's multiply-adds, the last row peeled off the loop. Triton's pipeliner does not
  take these loads (they feed no tensor-core product), and on an H100 this kernel ran at about
  2x the cost model's time, which assumes load latency hidden; the model predicts the same time
  either way (C = 48: 112 registers instead of 128), the GPU's timing decides (not measured yet).
  Without it the machine code is what it was before the key existed (compared instruction by
  instruction, Triton 3.6, 20 configs).
"""

import triton
import triton.language as tl


@triton.jit
def as_pairs(ptr):
    """``ptr`` read as channel pairs (2g, 2g + 1): one integer of twice the element's width each."""
    WIDE: tl.constexpr = ptr.dtype.element_ty == tl.float32
    if WIDE:
        pairs = ptr.to(tl.pointer_type(tl.int64))
    else:
        pairs = ptr.to(tl.pointer_type(tl.int32))
    return pairs


@triton.jit
def unpack(v, dt: tl.constexpr):
    """Pairs loaded through ``as_pairs`` -> the even and the odd channels, as fp32."""
    if dt == tl.bfloat16:
        return (v << 16).to(tl.float32, bitcast=True), (v & -65536).to(tl.float32, bitcast=True)
    elif dt == tl.float16:
        return ((v & 65535).to(tl.int16).to(tl.float16, bitcast=True).to(tl.float32),
                (v >> 16).to(tl.int16).to(tl.float16, bitcast=True).to(tl.float32))
    else:
        return v.to(tl.int32).to(tl.float32, bitcast=True), (v >> 32).to(tl.int32).to(tl.float32, bitcast=True)


@triton.jit
def _row(x_grp, r, ih0, H, W, dil_h, col_ok, g_ok, NP: tl.constexpr, NJ: tl.constexpr):
    """Kernel row ``r``'s NJ input columns, loaded as pairs."""
    row_ok = (ih0 + r * dil_h >= 0) & (ih0 + r * dil_h < H)
    x_row = x_grp + r * dil_h * W * NP
    raw = ()
    for j in tl.static_range(NJ):
        raw = raw + (tl.load(x_row + j * NP, mask=(row_ok & col_ok[j])[:, None] & g_ok[None, :], other=0),)
    return raw


@triton.jit
def _row_products(raw, r, acc_e, acc_o, wt_ptr, g, g_ok, WP: tl.constexpr, M: tl.constexpr, KW: tl.constexpr,
                  STRIDE_W: tl.constexpr, DIL_W: tl.constexpr, Q: tl.constexpr, MASK_W: tl.constexpr,
                  NJ: tl.constexpr, DT: tl.constexpr):
    """Kernel row ``r``'s multiply-adds on its loaded input columns ``raw`` (pairs of DT): the
    accumulators after."""
    xs = ()
    for j in tl.static_range(NJ):
        xs = xs + (unpack(raw[j], DT),)
    for s in tl.static_range(KW):
        # wt[tap, u]: u = M * (output parity) + input position
        w = wt_ptr + (r * KW + s) * (2 * M * WP) + g
        if MASK_W:
            w0 = tl.load(w, mask=g_ok, other=0.0)[None, :]
            w1 = tl.load(w + WP, mask=g_ok, other=0.0)[None, :]
            if M == 2:
                w2 = tl.load(w + 2 * WP, mask=g_ok, other=0.0)[None, :]
                w3 = tl.load(w + 3 * WP, mask=g_ok, other=0.0)[None, :]
        else:
            w0 = tl.load(w)[None, :]
            w1 = tl.load(w + WP)[None, :]
            if M == 2:
                w2 = tl.load(w + 2 * WP)[None, :]
                w3 = tl.load(w + 3 * WP)[None, :]
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
    return acc_e, acc_o


@triton.jit
def _tile_start(x_img, g, ih0, iw0, W, NP: tl.constexpr, NJ: tl.constexpr, G: tl.constexpr, BP: tl.constexpr,
                Q: tl.constexpr):
    """A tile's pair pointers, its input columns' masks and its zeroed accumulators."""
    x_grp = as_pairs(x_img) + ((ih0 * W + iw0) * NP)[:, None] + g[None, :]
    col_ok = ()
    for j in tl.static_range(NJ):
        col_ok = col_ok + ((iw0 + j >= 0) & (iw0 + j < W),)
    acc_e = ()
    acc_o = ()
    for q in tl.static_range(Q):
        acc_e = acc_e + (tl.zeros((G, BP), dtype=tl.float32),)
        acc_o = acc_o + (tl.zeros((G, BP), dtype=tl.float32),)
    return x_grp, col_ok, acc_e, acc_o


@triton.jit
def pair_conv(x_img, wt_ptr, g, g_ok, ih0, iw0, H, W, dil_h,
              C: tl.constexpr,  # channels of a pixel
              WP: tl.constexpr,  # pairs per weight vector (C / 2, or padded)
              M: tl.constexpr,  # channels per group: 1 or 2
              KH: tl.constexpr, KW: tl.constexpr, STRIDE_W: tl.constexpr, DIL_W: tl.constexpr,
              G: tl.constexpr,  # column groups of the tile
              BP: tl.constexpr,  # pairs of the tile
              Q: tl.constexpr,  # output columns per group (1, 2 or 4)
              MASK_W: tl.constexpr,  # weight vectors shorter than the tile's pairs: masked
              PREFETCH: tl.constexpr = 0):  # 1: load kernel row r + 1 before computing row r
    """The grouped convolution of ``x_img`` (one image, (H, W, C) contiguous) for a tile of G
    column groups (input origin ``ih0``, ``iw0`` each; group i's output q reads input column
    iw0 + q * STRIDE_W + s * DIL_W for tap s) and the pairs ``g`` (``g_ok``: inside C), with the
    weights of ``pair_weights``: two tuples of Q [G x BP] fp32 tiles, the even and the odd
    output channels of each output column q."""
    NP: tl.constexpr = C // 2
    DT: tl.constexpr = x_img.dtype.element_ty
    NJ: tl.constexpr = (Q - 1) * STRIDE_W + (KW - 1) * DIL_W + 1  # input columns of a kernel row
    x_grp, col_ok, acc_e, acc_o = _tile_start(x_img, g, ih0, iw0, W, NP, NJ, G, BP, Q)
    if PREFETCH:
        # Row r + 1's loads are in flight while row r's multiply-adds run; the last row is
        # peeled off the loop, so no load reaches past the kernel.
        ahead = _row(x_grp, 0, ih0, H, W, dil_h, col_ok, g_ok, NP, NJ)
        for r in range(KH - 1):
            raw = ahead
            ahead = _row(x_grp, r + 1, ih0, H, W, dil_h, col_ok, g_ok, NP, NJ)
            acc_e, acc_o = _row_products(raw, r, acc_e, acc_o, wt_ptr, g, g_ok, WP, M, KW, STRIDE_W, DIL_W, Q,
                                         MASK_W, NJ, DT)
        acc_e, acc_o = _row_products(ahead, KH - 1, acc_e, acc_o, wt_ptr, g, g_ok, WP, M, KW, STRIDE_W, DIL_W, Q,
                                     MASK_W, NJ, DT)
    else:
        for r in range(KH):
            raw = _row(x_grp, r, ih0, H, W, dil_h, col_ok, g_ok, NP, NJ)
            acc_e, acc_o = _row_products(raw, r, acc_e, acc_o, wt_ptr, g, g_ok, WP, M, KW, STRIDE_W, DIL_W, Q,
                                         MASK_W, NJ, DT)
    return acc_e, acc_o


@triton.jit
def pair_conv_chunks(x_img, wt_ptr, g, ih0, iw0, u, ih0_u, iw0_u, H, W, dil_h,
                     C: tl.constexpr, WP: tl.constexpr, M: tl.constexpr, KH: tl.constexpr, KW: tl.constexpr,
                     STRIDE_W: tl.constexpr, DIL_W: tl.constexpr,
                     G: tl.constexpr, BP: tl.constexpr, Q: tl.constexpr,  # chunk A: pairs g
                     GU: tl.constexpr, BU: tl.constexpr, QU: tl.constexpr,  # chunk B: pairs u
                     PREFETCH: tl.constexpr):
    """``pair_conv`` for two chunks of pairs of the same pixels (``g``, ``u``), each with its own
    column groups and output columns per group, in one loop over the kernel rows: four tuples
    (A's even, A's odd, B's even, B's odd output channels). One loop, not two: both chunks' loads
    of a row are in flight together, and ``igc-lab inspect`` can count the loop's trips (two loops
    made of the same source lines it cannot tell apart)."""
    NP: tl.constexpr = C // 2
    DT: tl.constexpr = x_img.dtype.element_ty
    NJ: tl.constexpr = (Q - 1) * STRIDE_W + (KW - 1) * DIL_W + 1
    NJU: tl.constexpr = (QU - 1) * STRIDE_W + (KW - 1) * DIL_W + 1
    g_ok = g < NP
    u_ok = u < NP
    x_a, col_a, acc_e, acc_o = _tile_start(x_img, g, ih0, iw0, W, NP, NJ, G, BP, Q)
    x_b, col_b, acc_eu, acc_ou = _tile_start(x_img, u, ih0_u, iw0_u, W, NP, NJU, GU, BU, QU)
    if PREFETCH:
        ahead = _row(x_a, 0, ih0, H, W, dil_h, col_a, g_ok, NP, NJ)
        ahead_u = _row(x_b, 0, ih0_u, H, W, dil_h, col_b, u_ok, NP, NJU)
        for r in range(KH - 1):
            raw = ahead
            raw_u = ahead_u
            ahead = _row(x_a, r + 1, ih0, H, W, dil_h, col_a, g_ok, NP, NJ)
            ahead_u = _row(x_b, r + 1, ih0_u, H, W, dil_h, col_b, u_ok, NP, NJU)
            acc_e, acc_o = _row_products(raw, r, acc_e, acc_o, wt_ptr, g, g_ok, WP, M, KW, STRIDE_W, DIL_W, Q,
                                         False, NJ, DT)
            acc_eu, acc_ou = _row_products(raw_u, r, acc_eu, acc_ou, wt_ptr, u, u_ok, WP, M, KW, STRIDE_W, DIL_W,
                                           QU, False, NJU, DT)
        acc_e, acc_o = _row_products(ahead, KH - 1, acc_e, acc_o, wt_ptr, g, g_ok, WP, M, KW, STRIDE_W, DIL_W, Q,
                                     False, NJ, DT)
        acc_eu, acc_ou = _row_products(ahead_u, KH - 1, acc_eu, acc_ou, wt_ptr, u, u_ok, WP, M, KW, STRIDE_W,
                                       DIL_W, QU, False, NJU, DT)
    else:
        for r in range(KH):
            raw = _row(x_a, r, ih0, H, W, dil_h, col_a, g_ok, NP, NJ)
            raw_u = _row(x_b, r, ih0_u, H, W, dil_h, col_b, u_ok, NP, NJU)
            acc_e, acc_o = _row_products(raw, r, acc_e, acc_o, wt_ptr, g, g_ok, WP, M, KW, STRIDE_W, DIL_W, Q,
                                         False, NJ, DT)
            acc_eu, acc_ou = _row_products(raw_u, r, acc_eu, acc_ou, wt_ptr, u, u_ok, WP, M, KW, STRIDE_W, DIL_W,
                                           QU, False, NJU, DT)
    return acc_e, acc_o, acc_eu, acc_ou


@triton.jit
def pair_weights(w_ptr, wt_ptr, e, C, WP, sw_c, sw_m, sw_h, sw_w, M: tl.constexpr, KH: tl.constexpr,
                 KW: tl.constexpr):
    """Elements ``e`` of wt, (KH * KW, 2M, WP) in fp32: wt[tap, u, g] = w[2g + u // M, u % M, tap]
    for the weight w (C, M, KH, KW) of strides ``sw_*`` (contiguous, or channels_last as a
    channels_last model holds it: read as it is, no copy), 0 past C: per tap, 2M vectors over the
    pairs g, one per (parity of the output channel, position of the input channel in its group)
    -- for M = 2, pair g is group g and u = 0..3 its even<-even, even<-odd, odd<-even, odd<-odd
    weights."""
    g = e % WP
    u = (e // WP) % (2 * M)
    tap = e // (WP * 2 * M)
    inside = e < KH * KW * 2 * M * WP
    c = 2 * g + u // M
    v = tl.load(w_ptr + c * sw_c + (u % M) * sw_m + (tap // KW) * sw_h + (tap % KW) * sw_w, mask=inside & (c < C),
                other=0.0)
    tl.store(wt_ptr + e, v.to(tl.float32), mask=inside)
