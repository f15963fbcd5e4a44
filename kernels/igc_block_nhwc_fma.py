"""The whole IGC block for contiguous channels_last (NHWC) tensors with small partitions (M = 1, 2):
primary on CUDA cores, secondary on tensor cores.

With M = 2 an output channel of the primary reads 2 input channels per tap: 18 multiply-adds
for a 3x3 kernel. The tensor-core form (``igc_block_nhwc.py``) runs it as a block-diagonal
product that does BC / M times that work and moves every tap's [pixels x BC] operand through
shared memory on its way to the tensor cores: ``igc-lab inspect`` finds it bound by the
L1/shared-memory path (C = 48, L = 24: 2964 shared-memory wavefronts and 3036 cache lines per
128-pixel program). Here a program owns a TILE_H x TILE_W tile of one image's output pixels
and all C channels (padded to CP, a power of two; the padding is masked, never loaded):

- **Channel pairs.** Every load reads channel pairs (2g, 2g + 1) as one integer of twice the
  width (16-byte vectors: 4 pairs a thread), and unpacks them to fp32 with one shift or one
  mask each (bf16; a plain conversion of the upper value first moves it down: two
  instructions). With M = 2 a pair is a partition: the even output channel of pair g is
  ``x_e * w[even<-even] + x_o * w[even<-odd]``, the odd one likewise, so both channels a
  partition needs sit in one thread and nothing moves between threads.
- **Shared input columns.** Each thread computes Q neighbouring output columns of a row; they
  read overlapping input columns (with a 3-wide kernel, stride 1: Q + 2 columns for 3Q taps),
  each loaded and unpacked once per kernel row. One 64-bit pointer per thread and pixel
  group is made once; each column adds a constant (with unit dilation, an immediate of the
  load instruction); masks are per pixel, from a row test and a column test.
- **Weights** come laid out by ``igc_block_nhwc_fma_weights_kernel`` in the same launch
  sequence, from the weights as they are now (nothing is cached, so a weight changed in place,
  even through ``.data``, is always seen): the primary in fp32, per tap one contiguous vector
  over the pairs for each (output parity, input position), loaded as vectors; the folded
  secondary split by parity.
- **Secondary** as tensor-core products with the folded weight F. F joins input channel k to
  output o only if k % M == o % M, so for M = 2 it is two products of half the width:
  ``y_even = t_even @ F[even, even]``, ``y_odd = t_odd @ F[odd, odd]`` (M = 1 adds the two mixed
  blocks). t is rounded to the storage dtype first, as the two-kernel path rounds it when it
  writes t. Only these operands go through shared memory.
- **Epilogue** (folded BatchNorm, residual, ReLU) and one store of whole pixels.

The kernel rows are a loop that Triton does not unroll: with the accumulators loop-carried,
the compiler does not move the secondary's operand layout up onto every tap's loads (with the
taps unrolled and only elementwise operations between load and product, it does: each tap's
input would then go through shared memory). Offsets inside an image are 32-bit (the launcher
checks an image fits), the image base is 64-bit.
"""

import triton
import triton.language as tl
from igc_triton.kernels.igc_block_fwd import block_epilogue


@triton.jit
def _as_pairs(ptr):
    """``ptr`` read as channel pairs (2g, 2g + 1): one integer of twice the element's width each."""
    WIDE: tl.constexpr = ptr.dtype.element_ty == tl.float32
    if WIDE:
        pairs = ptr.to(tl.pointer_type(tl.int64))
    else:
        pairs = ptr.to(tl.pointer_type(tl.int32))
    return pairs


@triton.jit
def _unpack(v, dt: tl.constexpr):
    """Pairs loaded through ``_as_pairs`` -> the even and the odd channels, as fp32. For bf16 one
    shift or one mask per value: a conversion of each 16-bit value on its own first moves the
    upper half down (two instructions)."""
    if dt == tl.bfloat16:
        return (v << 16).to(tl.float32, bitcast=True), (v & -65536).to(tl.float32, bitcast=True)
    elif dt == tl.float16:
        return ((v & 65535).to(tl.int16).to(tl.float16, bitcast=True).to(tl.float32),
                (v >> 16).to(tl.int16).to(tl.float16, bitcast=True).to(tl.float32))
    else:
        return v.to(tl.int32).to(tl.float32, bitcast=True), (v >> 32).to(tl.int32).to(tl.float32, bitcast=True)


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
    res_ptr,  # residual (N, OH, OW, C) contiguous, read when HAS_RESIDUAL
    y_ptr,  # output (N, OH, OW, C) contiguous
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
    DOT_PRECISION: tl.constexpr,
    TILE_H: tl.constexpr,  # output rows per program
    TILE_W: tl.constexpr,  # output columns per program
    Q: tl.constexpr,  # neighbouring output columns per thread (1, 2 or 4), which share input columns
):
    BLOCK_P: tl.constexpr = TILE_H * TILE_W
    HP: tl.constexpr = CP // 2
    GW: tl.constexpr = TILE_W // Q  # column groups per tile row
    G: tl.constexpr = TILE_H * GW
    # Input columns a row of the kernel reads for Q outputs: Q * KW taps, fewer columns.
    NJ: tl.constexpr = (Q - 1) * STRIDE_W + (KW - 1) * DIL_W + 1
    DT: tl.constexpr = x_ptr.dtype.element_ty
    tiles_w = tl.cdiv(OW, TILE_W)
    pid = tl.program_id(0)
    n = tl.program_id(1).to(tl.int64)
    oh0 = (pid // tiles_w) * TILE_H
    ow0 = (pid % tiles_w) * TILE_W
    i = tl.arange(0, G)  # column group: output columns ow0 + (i % GW) * Q + q, q < Q
    ih0 = (oh0 + i // GW) * stride_h - pad_h
    iw0 = (ow0 + (i % GW) * Q) * STRIDE_W - pad_w
    g = tl.arange(0, HP)  # channel pair (2g, 2g + 1): one partition when M = 2
    g_ok = g < C // 2
    # One 64-bit pointer per group and pair, made once; each column adds a scalar (with the
    # columns of a row, an immediate of the load instruction).
    x_grp = _as_pairs(x_ptr + n * (H * W * C)) + ((ih0 * W + iw0) * (C // 2))[:, None] + g[None, :]
    col_ok = ()
    for j in tl.static_range(NJ):
        col_ok = col_ok + ((iw0 + j >= 0) & (iw0 + j < W),)
    acc_e = ()  # even output channels, one [G x HP] tile per q
    acc_o = ()  # odd output channels
    for q in tl.static_range(Q):
        acc_e = acc_e + (tl.zeros((G, HP), dtype=tl.float32),)
        acc_o = acc_o + (tl.zeros((G, HP), dtype=tl.float32),)
    # Kernel rows: a loop Triton does not unroll (see the module docstring).
    for r in range(KH):
        row_ok = (ih0 + r * dil_h >= 0) & (ih0 + r * dil_h < H)
        x_row = x_grp + r * dil_h * W * (C // 2)
        xs = ()
        for j in tl.static_range(NJ):
            xv = tl.load(x_row + j * (C // 2), mask=(row_ok & col_ok[j])[:, None] & g_ok[None, :], other=0)
            xs = xs + (_unpack(xv, DT),)
        for s in tl.static_range(KW):
            # fp32 weights over the pairs, wt[tap, u]: u = M * (output parity) + input position
            w = wt_ptr + (r * KW + s) * (2 * M * HP) + g
            w0 = tl.load(w)[None, :]
            w1 = tl.load(w + HP)[None, :]
            if M == 2:
                w2 = tl.load(w + 2 * HP)[None, :]
                w3 = tl.load(w + 3 * HP)[None, :]
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
    y_pix = (n * (OH * OW) + (oh * OW + ow)) * C
    # residual and output share the layout: channel stride 1
    block_epilogue(y, c, c < C, (oh < OH) & (ow < OW), y_pix, y_pix, scale_ptr, shift_ptr, res_ptr, y_ptr, 1, 1,
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
    the rest of wf. wt[tap, u, g] = wp[2g + u // M, u % M, tap] (0 past C), in fp32: per tap, 2M
    vectors over the channel pairs g, one per (parity of the output channel, position of the
    input channel in its partition) -- for M = 2: pair g is partition g, and u = 0..3 are its
    even<-even, even<-odd, odd<-even, odd<-odd weights. wf[a, b, i, j] = F[2i + a, 2j + b], with
    F[k, o] the folded secondary weight from input channel k to output channel o: ws[m*L + l2, l]
    when o = l2*M + m and k = l*M + m (the same position m), else 0."""
    n_t = KH * KW * M * CP
    e = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    g = e % (CP // 2)
    u = (e // (CP // 2)) % (2 * M)
    tap = e // (CP * M)
    c = 2 * g + u // M
    v = tl.load(wp_ptr + (c * M + u % M) * (KH * KW) + tap, mask=(e < n_t) & (c < C), other=0.0)
    tl.store(wt_ptr + e, v.to(tl.float32), mask=e < n_t)
    f = e - n_t
    HP: tl.constexpr = CP // 2
    o = 2 * (f % HP) + (f // (HP * HP)) % 2
    k = 2 * ((f // HP) % HP) + f // (2 * HP * HP)
    ok = (f >= 0) & (k < C) & (o < C) & (k % M == o % M)
    v = tl.load(ws_ptr + ((o % M) * L + o // M) * L + k // M, mask=ok, other=0.0)
    tl.store(wf_ptr + f, v, mask=(f >= 0) & (f < CP * CP))
