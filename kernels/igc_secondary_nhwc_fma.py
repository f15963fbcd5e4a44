"""IGC steps 2-4 for a contiguous channels_last primary output with few partitions (L < 16), on
CUDA cores.

In channels_last the primary output t is a [pixels x C] row-major matrix, channel l*M + m being
position m of primary partition l, and

    y[p, l2*M + m] = sum_l  ws[m*L + l2, l] * t[p, l*M + m]

With L < 16 a tensor-core product per position (``igc_secondary_nhwc.py``) would pad its K and N
to 16, and the generic kernel (``igc_secondary_fwd.py``) gathers 16-bit channels one by one
(``igc-lab inspect``, bf16, C = 256, L = 4: 6.7 cache lines per warp load, l1-bound). Here a
program owns BLOCK_P pixels and BLOCK_M positions: for each l it loads the run of BLOCK_M channels
l*M + m0 .. of its pixels (channel-contiguous vectors, a mask per pixel), so the L input tiles of
its positions are in registers once; each output l2 is then L multiply-adds per element with the
weights ``ws[m*L + l2, l]`` (a vector over the program's positions, read from ws as it is: no
laid-out copy, no extra launch) and is stored as the same runs of channels, after the IGC
block's epilogue (folded BatchNorm, residual, ReLU) where the block runs as the nhwc primary
then this kernel (``launchers.NHWC_PAIR``).

A pixel's offset is 64-bit (past 2**31 pixels too), its channels' 32-bit.
"""

import triton
import triton.language as tl
from igc_triton.kernels.igc_block_fwd import block_epilogue
from igc_triton.kernels.nhwc_pairs import as_pairs, unpack


@triton.jit
def igc_secondary_nhwc_fma_kernel(
    t_ptr,  # primary output (N, H, W, C) contiguous: a [P x C] matrix
    w_ptr,  # secondary weight (C, L, 1, 1), contiguous: ws[m * L + l2, l]
    scale_ptr, shift_ptr,  # (C,), read when HAS_AFFINE
    res_ptr,  # residual (N, H, W, C) contiguous, read when HAS_RESIDUAL
    y_ptr,  # output (N, H, W, C) contiguous
    P,  # pixels, N * H * W
    L: tl.constexpr,  # primary partitions (< 16): multiply-adds per output
    M: tl.constexpr,  # positions (secondary partitions)
    HAS_AFFINE: tl.constexpr,  # the IGC block's epilogue (its two-kernel nhwc form): folded BatchNorm,
    HAS_RESIDUAL: tl.constexpr,  # residual,
    RELU: tl.constexpr,  # ReLU
    BLOCK_P: tl.constexpr,  # pixels per program
    BLOCK_M: tl.constexpr,  # positions per program
):
    C: tl.constexpr = L * M
    # One grid axis, a pixel block's position blocks next to each other: they read pieces of the
    # same rows of t (BLOCK_M channels per l, 32 bytes at 16 positions of 16 bits), so all but the
    # first find them in L2; on a second axis each block swept every pixel before the next began,
    # and a t larger than L2 was fetched from DRAM again for each (sectors of the same lines).
    MT: tl.constexpr = (M + BLOCK_M - 1) // BLOCK_M
    p0 = (tl.program_id(0) // MT).to(tl.int64) * BLOCK_P
    row0 = p0 * C
    r = tl.arange(0, BLOCK_P)
    row_ok = p0 + r < P
    m = (tl.program_id(0) % MT) * BLOCK_M + tl.arange(0, BLOCK_M)
    m_ok = m < M
    mask = row_ok[:, None] & m_ok[None, :]
    y_pix = row0 + r * C
    t_tile = t_ptr + y_pix[:, None] + m[None, :]
    ts = ()
    for l in tl.static_range(L):
        ts = ts + (tl.load(t_tile + l * M, mask=mask, other=0.0).to(tl.float32),)
    # Weights l and l + 1 of a row are neighbours: for even L one load of the pair (a 32-bit
    # integer for 16-bit weights), unpacked, halves the gathers (each thread gathers its
    # positions' weights, L / pixels-per-thread loads per output).
    w_m = w_ptr + m * (L * L)  # partition m's [L x L] weight, row l2, column l
    w_pairs = as_pairs(w_ptr) + m * (L * L // 2)
    for l2 in tl.static_range(L):
        acc = tl.zeros((BLOCK_P, BLOCK_M), dtype=tl.float32)
        if L % 2 == 0:
            for j in tl.static_range(L // 2):
                w_e, w_o = unpack(tl.load(w_pairs + (l2 * L // 2 + j), mask=m_ok, other=0), w_ptr.dtype.element_ty)
                acc += ts[2 * j] * w_e[None, :] + ts[2 * j + 1] * w_o[None, :]
        else:
            for l in tl.static_range(L):
                acc += ts[l] * tl.load(w_m + l2 * L + l, mask=m_ok, other=0.0).to(tl.float32)[None, :]
        block_epilogue(acc, l2 * M + m, m_ok, row_ok, y_pix, y_pix, scale_ptr, shift_ptr, res_ptr, y_ptr, 1, 1,
                       HAS_AFFINE, HAS_RESIDUAL, RELU)
