"""IGC steps 2-4 (interleave, secondary 1x1 group conv, permute back) for a contiguous
channels_last primary output, on tensor cores.

In channels_last the primary output t is a [pixels x C] row-major matrix whose channel l*M + m
is position m of primary partition l, and secondary partition m mixes the channels of one
position (stride M apart):

    y[p, l2*M + m] = sum_l  ws[m*L + l2, l] * t[p, l*M + m]

The generic kernels gather those channels 16 bits at a time (``igc-lab inspect``: 17-30 cache
lines per warp load, on C = 170-900 layers), or multiply by the folded weight, which is M times
the useful work. Here a program owns BLOCK_P pixels and MB positions (MB: the largest power of
two dividing M, 8 at most: all M = 1, 2, 4, 8, blocks of 8 for M = 16, 32, ..., of 2 for M=26),
and the outputs l2 < BLOCK_N of each: BLOCK_N * MB output channels, contiguous when MB = M, else
pieces of MB. Per K step it loads BLOCK_K * MB channels of its pixels (vectors along channels, a
mask per pixel) and splits them into the MB positions (``_positions``: a reshape to [..., 2] and
``tl.split``, log2(MB) times), then runs one [BLOCK_P x BLOCK_K] x [BLOCK_K x BLOCK_N] product
per position with that partition's weight, read from ``ws`` as it is (no laid-out copy, no extra
launch; its [BLOCK_N x BLOCK_K] tile is amortised over BLOCK_P pixels). Only useful
multiply-adds run. Where the weight's rows are long (L >= 256: a long K, so that the weight tiles
are much of the traffic) and, in a 16-bit dtype, not whole 16-byte vectors (L = 450), its tile
could only be read 4 bytes at a time, a row's piece of 32-64 bytes per cache line; there one small
kernel first lays each position's [l2 x l] block out transposed, ``wt[m, l, l2]``, rows padded to
WT elements (128 bytes: each tile row starts a cache line) with zeros past L, so that the tile is
whole vectors of contiguous l2 (``igc-lab inspect``, Triton 3.6, bf16, h200, this kernel alone:
C = 1800, L = 450, 16x16 103 -> 74 us; C = 900, L = 450 133 -> 103 us; rows already whole vectors
gain less than the launch costs). Not in fp32: TF32's wgmma reads its B operand K-major, which
this [l x l2] tile is not (paper-layers' L = 450 blocks predicted 1-15% slower there). The
accumulators are joined back the same way, so the output is one store of whole pieces, after the
IGC block's epilogue (folded BatchNorm, residual, ReLU) where the block runs as this kernel after
the nhwc primary (``launchers.NHWC_PAIR``).

Offsets inside a program's rows are 32-bit; its first row's offset is 64-bit.
"""

import triton
import triton.language as tl
from igc_triton.kernels.igc_block_fwd import block_epilogue


@triton.jit
def _positions(x, BP: tl.constexpr, BK: tl.constexpr, M: tl.constexpr):
    """[BP x BK * M] channels l * M + m -> the M [BP x BK] tiles of positions m = 0 .. M - 1."""
    if M == 1:
        return (x,)
    elif M == 2:
        a0, a1 = tl.split(tl.reshape(x, (BP, BK, 2)))
        return (a0, a1)
    elif M == 4:  # [.., m // 2, m % 2]
        r0, r1 = tl.split(tl.reshape(x, (BP, BK, 2, 2)))
        a0, a2 = tl.split(r0)
        a1, a3 = tl.split(r1)
        return (a0, a1, a2, a3)
    else:  # M = 8: [.., m // 4, (m // 2) % 2, m % 2]
        r0, r1 = tl.split(tl.reshape(x, (BP, BK, 2, 2, 2)))
        q00, q01 = tl.split(r0)
        q10, q11 = tl.split(r1)
        a0, a4 = tl.split(q00)
        a2, a6 = tl.split(q01)
        a1, a5 = tl.split(q10)
        a3, a7 = tl.split(q11)
        return (a0, a1, a2, a3, a4, a5, a6, a7)


@triton.jit
def _interleave(a, BP: tl.constexpr, BN: tl.constexpr, M: tl.constexpr):
    """The M [BP x BN] tiles of positions m -> one [BP x BN * M] tile, channel l2 * M + m."""
    if M == 1:
        return a[0]
    elif M == 2:
        return tl.reshape(tl.join(a[0], a[1]), (BP, BN * 2))
    elif M == 4:
        return tl.reshape(tl.join(tl.join(a[0], a[2]), tl.join(a[1], a[3])), (BP, BN * 4))
    else:
        v = tl.join(tl.join(tl.join(a[0], a[4]), tl.join(a[2], a[6])),
                    tl.join(tl.join(a[1], a[5]), tl.join(a[3], a[7])))
        return tl.reshape(v, (BP, BN * 8))


@triton.jit
def igc_secondary_nhwc_kernel(
    t_ptr,  # primary output (N, H, W, C) contiguous: a [P x C] matrix
    w_ptr,  # secondary weight (C, L, 1, 1), contiguous: ws[m * L + l2, l]
    scale_ptr, shift_ptr,  # (C,), read when HAS_AFFINE
    res_ptr,  # residual (N, H, W, C) contiguous, read when HAS_RESIDUAL
    y_ptr,  # output (N, H, W, C) contiguous
    P,  # pixels, N * H * W
    L: tl.constexpr,  # primary partitions: the secondary's K and N per position
    M: tl.constexpr,  # positions (secondary partitions)
    MB: tl.constexpr,  # positions per program: a power of two dividing M, <= 8 (pieces of MB channels)
    HAS_AFFINE: tl.constexpr,  # the IGC block's epilogue (its two-kernel nhwc form): folded BatchNorm,
    HAS_RESIDUAL: tl.constexpr,  # residual,
    RELU: tl.constexpr,  # ReLU
    DOT_PRECISION: tl.constexpr,
    BLOCK_P: tl.constexpr,  # pixels per program
    BLOCK_N: tl.constexpr,  # outputs l2 per position and program (>= 16, the product's N)
    BLOCK_K: tl.constexpr,  # inputs l per position and K step (>= 16, the product's K)
    WT: tl.constexpr,  # 0: w_ptr is ws as stored; else w_ptr is wt[m, l, l2], rows of WT elements (the weights kernel)
):
    C: tl.constexpr = L * M
    # One grid axis, a pixel block's TILES programs (output tiles x blocks of MB positions) next to
    # each other: they read the same rows of t, so all but the first find them in L2. With the
    # tiles on a second axis, each tile swept every pixel block before the next began, and a t
    # larger than L2 (C = 832 at 32x32, batch 64: 109 MB, 13 tiles) came from DRAM once per tile.
    TILES: tl.constexpr = (L + BLOCK_N - 1) // BLOCK_N * (M // MB)
    pid_p = tl.program_id(0) // TILES
    tile = tl.program_id(0) % TILES
    if MB == M:
        m0 = 0
        n0 = tile * BLOCK_N
    else:  # a tile is (output tile, block of MB positions), the positions first
        m0 = (tile % (M // MB)) * MB
        n0 = (tile // (M // MB)) * BLOCK_N
    row0 = (pid_p * BLOCK_P).to(tl.int64) * C
    r = tl.arange(0, BLOCK_P)
    row_ok = pid_p * BLOCK_P + r < P
    kc = tl.arange(0, BLOCK_K * MB)  # a K step's channels: l = k0 + kc // MB, m = m0 + kc % MB
    # Masks and offsets written so that the compiler sees runs of channels (contiguous when MB = M;
    # pieces of MB otherwise), which keeps the vectors wide.
    if MB == M:
        k_ch = kc
        k_last = C
    else:
        k_ch = (kc // MB) * M + m0 + kc % MB
        k_last = L * M + m0  # channel of l = L, m = m0: k0 * M + k_ch < k_last when l < L
    kk = tl.arange(0, BLOCK_K)
    n = n0 + tl.arange(0, BLOCK_N)
    t_rows = t_ptr + row0 + r[:, None] * C
    accs = ()
    for j in tl.static_range(MB):
        accs = accs + (tl.zeros((BLOCK_P, BLOCK_N), dtype=tl.float32),)
    for k0 in range(0, L, BLOCK_K):
        ch = k0 * M + k_ch
        if L % BLOCK_K == 0:
            x = tl.load(t_rows + ch[None, :], mask=row_ok[:, None], other=0.0)
        else:
            x = tl.load(t_rows + ch[None, :], mask=row_ok[:, None] & (ch < k_last)[None, :], other=0.0)
        xs = _positions(x, BLOCK_P, BLOCK_K, MB)
        new = ()
        for j in tl.static_range(MB):
            # Partition m0 + j's weight as the product's [l x l2] tile.
            if WT:  # [l x l2], l2 contiguous; masked at the padded width WT (zeros past L), so vectors stay whole
                wv = tl.load(w_ptr + ((m0 + j) * L + k0 + kk)[:, None] * WT + n[None, :],
                             mask=(k0 + kk < L)[:, None] & (n < WT)[None, :], other=0.0)
            else:  # [l2, l] as stored (l contiguous), transposed to the product's [l x l2]
                wv = tl.trans(tl.load(w_ptr + ((m0 + j) * L + n)[:, None] * L + (k0 + kk)[None, :],
                                      mask=(n < L)[:, None] & (k0 + kk < L)[None, :], other=0.0))
            new = new + (tl.dot(xs[j], wv, accs[j], input_precision=DOT_PRECISION),)
        accs = new
    y = _interleave(accs, BLOCK_P, BLOCK_N, MB)
    oc = tl.arange(0, BLOCK_N * MB)  # output l2 = n0 + oc // MB of position m0 + oc % MB
    if MB == M:
        y_ch = n0 * M + oc
    else:
        y_ch = (n0 + oc // MB) * M + m0 + oc % MB
    y_pix = row0 + r * C
    block_epilogue(y, y_ch, y_ch < k_last, row_ok, y_pix, y_pix, scale_ptr, shift_ptr, res_ptr, y_ptr, 1, 1,
                   HAS_AFFINE, HAS_RESIDUAL, RELU)


@triton.jit
def igc_secondary_nhwc_weights_kernel(
    ws_ptr,  # secondary weight (C, L, 1, 1), contiguous: ws[m * L + l2, l]
    wt_ptr,  # out: (M, L, WT), wt[m, l, l2] = ws[m * L + l2, l], 0 for L <= l2 < WT
    L: tl.constexpr,
    WT: tl.constexpr,  # >= L, rows of 128 bytes
    BLOCK: tl.constexpr,
):
    """``igc_secondary_nhwc_kernel``'s weight for WT > 0: each position's [l2 x l] block transposed,
    a [BLOCK x BLOCK] tile per program (read along l, written along l2)."""
    tiles: tl.constexpr = (WT + BLOCK - 1) // BLOCK
    m = tl.program_id(0) // tiles
    l2 = (tl.program_id(0) % tiles) * BLOCK + tl.arange(0, BLOCK)
    l = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    v = tl.load(ws_ptr + (m * L + l2)[:, None] * L + l[None, :], mask=(l2 < L)[:, None] & (l < L)[None, :],
                other=0.0)
    tl.store(wt_ptr + (m * L + l)[:, None] * WT + l2[None, :], tl.trans(v), mask=(l < L)[:, None] & (l2 < WT)[None, :])
