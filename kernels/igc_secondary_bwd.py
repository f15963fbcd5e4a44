"""Fused interleave-secondary (IGC steps 2-4), backward: the secondary weight gradient.

With ``y[:, l2*M + m] = sum_l w[m*L + l2, l] * t[:, l*M + m]`` (see igc_secondary_fwd.py),

    dw[m*L + l2, l] = sum over pixels of dy[:, l2*M + m] * t[:, l*M + m]

again with the permutations in the index arithmetic only. The input gradient needs no kernel
of its own: ``dt`` is the forward step applied to ``dy`` with each L x L block of ``w``
transposed (see the launcher). The pixel reduction is split over ``SPLITS`` programs
writing partial sums that the launcher adds up (deterministic, no atomics).
"""

import triton
import triton.language as tl


@triton.jit
def igc_secondary_wgrad_kernel(
    t_ptr,  # primary output (N, C, H, W), any strides
    dy_ptr,  # output gradient (N, C, H, W), any strides
    part_ptr,  # partial sums (SPLITS, C, L), contiguous, ACC_DTYPE; row = m*L + l2
    N, H, W, C,
    st_n, st_c, st_h, st_w,
    sdy_n, sdy_c, sdy_h, sdy_w,
    pix_per_split,  # pixels reduced by one program (a multiple of BLOCK_P)
    L: tl.constexpr,
    M: tl.constexpr,
    ACC_DTYPE: tl.constexpr,
    BLOCK_P: tl.constexpr,
    BLOCK_C: tl.constexpr,  # output channels (l2*M + m) per program
):
    split = tl.program_id(0)
    co = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    l = tl.program_id(2)
    c_mask = co < C
    cmask = c_mask[None, :]
    m = co % M
    t_c = (l * M + m).to(tl.int64) * st_c
    dy_c = co.to(tl.int64) * sdy_c
    start = split * pix_per_split

    acc = tl.zeros((BLOCK_P, BLOCK_C), dtype=ACC_DTYPE)
    for p0 in range(start, start + pix_per_split, BLOCK_P):
        p = p0 + tl.arange(0, BLOCK_P)
        p64 = p.to(tl.int64)
        w_ = p64 % W
        h_ = (p64 // W) % H
        n = p64 // (W * H)
        mask = (p < N * H * W)[:, None] & cmask
        dyv = tl.load(dy_ptr + ((n * sdy_n + h_ * sdy_h + w_ * sdy_w)[:, None] + dy_c[None, :]), mask=mask, other=0.0)
        tv = tl.load(t_ptr + ((n * st_n + h_ * st_h + w_ * st_w)[:, None] + t_c[None, :]), mask=mask, other=0.0)
        acc += dyv.to(ACC_DTYPE) * tv.to(ACC_DTYPE)

    row = m * L + co // M
    tl.store(part_ptr + (split * C + row).to(tl.int64) * L + l, tl.sum(acc, axis=0), mask=c_mask)
