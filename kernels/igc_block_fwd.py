"""The whole IGC block in one kernel (IGC steps 1-4), with an optional inference epilogue.

A program owns BLOCK_P output pixels and *all* C channels. It computes the primary group
convolution for them on CUDA-core FMAs into a [BLOCK_P x C_PAD] register tile ``t`` (the
small-group regime: each output channel reads the Cin/L channels of its partition), then the
interleave -> secondary -> permute-back step as one tensor-core product with the folded
block-sparse weight, ``y = t @ W_fold^T`` (K = C_PAD >= 16), in BLOCK_N-channel slices;
then ``y = y * scale + shift`` (folded BatchNorm), ``+ residual``, ``ReLU``, and the single
store. x is read once (per tap, through the cache) and y written once: no intermediate
tensor touches memory.

The register tile holds every channel of the block, so the launcher sends only blocks with
C <= 256 and Cin/L < 16 here (``launchers.fused_block_supported``); larger ones take the
two-kernel path.
"""

import triton
import triton.language as tl
from igc_triton.kernels.grouped_conv2d_fwd import direct_conv_tile


@triton.jit
def igc_block_fwd_kernel(
    x_ptr,  # input (N, CIN, H, W), any strides
    wp_ptr,  # primary weight (C, CIN_G, KH, KW), contiguous
    wf_ptr,  # folded secondary weight (C, C), contiguous, in the dot's dtype
    scale_ptr, shift_ptr,  # (C,) per-channel affine (folded BatchNorm), read when HAS_AFFINE
    res_ptr,  # residual (N, C, OH, OW), any strides, read when HAS_RESIDUAL
    y_ptr,  # output (N, C, OH, OW), any strides
    N, H, W, OH, OW, C,
    sx_n, sx_c, sx_h, sx_w,
    sr_n, sr_c, sr_h, sr_w,
    sy_n, sy_c, sy_h, sy_w,
    stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
    CIN_G: tl.constexpr,  # input channels per primary partition
    M: tl.constexpr,  # output channels per primary partition
    KH: tl.constexpr,
    KW: tl.constexpr,
    HAS_AFFINE: tl.constexpr,
    HAS_RESIDUAL: tl.constexpr,
    RELU: tl.constexpr,
    DOT_PRECISION: tl.constexpr,
    C_PAD: tl.constexpr,  # C rounded up to a power of two, >= 16 (the dot's K)
    BLOCK_P: tl.constexpr,  # output pixels per program, >= 16
    BLOCK_N: tl.constexpr,  # output channels per secondary slice, >= 16
):
    tl.static_assert(C_PAD >= 16)
    tl.static_assert(BLOCK_P >= 16)
    p = tl.program_id(0) * BLOCK_P + tl.arange(0, BLOCK_P)
    p_mask = p < N * OH * OW
    p64 = p.to(tl.int64)
    ow = p64 % OW
    oh = (p64 // OW) % OH
    n = p64 // (OW * OH)
    ih0 = oh * stride_h - pad_h
    iw0 = ow * stride_w - pad_w
    x_n = n * sx_n

    # Primary: t[p, c] = sum over (ci, tap) of x[p at tap, partition(c) * CIN_G + ci] * wp[c, ci, tap].
    c = tl.arange(0, C_PAD)
    t = direct_conv_tile(x_ptr, wp_ptr, x_n, ih0, iw0, p_mask, c, c < C, H, W, sx_c, sx_h, sx_w, dil_h, dil_w,
                         CIN_G, M, KH, KW, tl.float32, BLOCK_P, C_PAD)
    # Round t to the storage dtype, as the two-kernel path does when it writes t.
    t = t.to(wf_ptr.dtype.element_ty)

    y_pix = n * sy_n + oh * sy_h + ow * sy_w
    r_pix = n * sr_n + oh * sr_h + ow * sr_w
    k = tl.arange(0, C_PAD)
    for n0 in tl.static_range(0, C_PAD, BLOCK_N):
        co = n0 + tl.arange(0, BLOCK_N)
        o_mask = co < C
        # W_fold^T slice [C_PAD (k), BLOCK_N (co)]: wf[co, k].
        wt = tl.load(wf_ptr + (co[None, :] * C + k[:, None]), mask=(k < C)[:, None] & o_mask[None, :], other=0.0)
        y = tl.dot(t, wt, input_precision=DOT_PRECISION, out_dtype=tl.float32)
        if HAS_AFFINE:
            y = y * tl.load(scale_ptr + co, mask=o_mask, other=0.0).to(tl.float32)[None, :] \
                + tl.load(shift_ptr + co, mask=o_mask, other=0.0).to(tl.float32)[None, :]
        mask = p_mask[:, None] & o_mask[None, :]
        if HAS_RESIDUAL:
            y += tl.load(res_ptr + (r_pix[:, None] + co.to(tl.int64)[None, :] * sr_c), mask=mask,
                         other=0.0).to(tl.float32)
        if RELU:
            y = tl.maximum(y, 0.0)
        tl.store(y_ptr + (y_pix[:, None] + co.to(tl.int64)[None, :] * sy_c), y.to(y_ptr.dtype.element_ty), mask=mask)
