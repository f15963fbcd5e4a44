"""Fused interleave -> secondary 1x1 group conv -> permute back (IGC steps 2-4), forward.

With C = L*M channels, steps 2-4 reduce to (DESIGN.md section 1)

    y[:, l2*M + m] = sum_l  w[m*L + l2, l] * t[:, l*M + m]

so output channel ``l2*M + m`` reads the channels ``m, M + m, 2M + m, ...`` of the primary
output (stride M) and row ``m*L + l2`` of the secondary weight. The permutations live only
in this index arithmetic: no permuted tensor is ever written.

This is the per-partition FMA form (L multiply-adds per output): right for small L, where a
``tl.dot`` would need K = L >= 16. For large L the launcher instead runs one dense 1x1
``tl.dot`` with the folded block-sparse weight (K = C), reusing the grouped-conv GEMM kernel.
"""

import triton
import triton.language as tl


@triton.jit
def igc_secondary_fwd_kernel(
    t_ptr,  # primary output (N, C, H, W), any strides
    w_ptr,  # secondary weight (C, L, 1, 1), contiguous
    y_ptr,  # output (N, C, H, W), any strides
    N, H, W, C,
    st_n, st_c, st_h, st_w,  # input strides, in elements
    sy_n, sy_c, sy_h, sy_w,  # output strides, in elements
    L: tl.constexpr,  # primary partitions = channels mixed per secondary partition
    M: tl.constexpr,  # secondary partitions = channels per primary partition
    ACC_DTYPE: tl.constexpr,
    BLOCK_P: tl.constexpr,  # pixels (flattened n, h, w) per program
    BLOCK_C: tl.constexpr,  # output channels per program
):
    # One grid axis, a pixel block's channel blocks next to each other in launch order: each reads
    # every position m its channels have (all of t's channels once BLOCK_C >= M), so they share
    # through L2; on an axis of their own, a t past the L2's size came from DRAM once per block.
    tiles_c = tl.cdiv(C, BLOCK_C)
    pid_p = tl.program_id(0) // tiles_c
    pid_c = tl.program_id(0) % tiles_c
    p = pid_p * BLOCK_P + tl.arange(0, BLOCK_P)
    co = pid_c * BLOCK_C + tl.arange(0, BLOCK_C)
    p_mask = p < N * H * W
    c_mask = co < C
    mask = p_mask[:, None] & c_mask[None, :]

    p64 = p.to(tl.int64)
    w_ = p64 % W
    h_ = (p64 // W) % H
    n = p64 // (W * H)
    m = co % M
    t_ptrs = t_ptr + ((n * st_n + h_ * st_h + w_ * st_w)[:, None] + m.to(tl.int64)[None, :] * st_c)
    w_ptrs = w_ptr + (m * L + co // M) * L

    acc = tl.zeros((BLOCK_P, BLOCK_C), dtype=ACC_DTYPE)
    for l in range(L):
        tv = tl.load(t_ptrs + (l * M) * st_c, mask=mask, other=0.0)
        wv = tl.load(w_ptrs + l, mask=c_mask, other=0.0)
        acc += tv.to(ACC_DTYPE) * wv.to(ACC_DTYPE)[None, :]

    y_off = (n * sy_n + h_ * sy_h + w_ * sy_w)[:, None] + co.to(tl.int64)[None, :] * sy_c
    tl.store(y_ptr + y_off, acc.to(y_ptr.dtype.element_ty), mask=mask)
