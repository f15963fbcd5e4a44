"""The whole IGC block in one kernel (IGC steps 1-4), with an optional inference epilogue:
``y = y * scale + shift`` (folded BatchNorm), ``+ residual``, ``ReLU``, and a single store.
x is read through the cache, y written once: no intermediate tensor touches memory. The
narrow and wide forms are for small partitions (Cin/L < 16): primary on CUDA-core FMAs (the
grouped-conv FMA kernel's tile), secondary on tensor cores; the tc form is for large ones.

- ``igc_block_fwd_kernel`` (narrow blocks, C <= 256): a program owns BLOCK_P output pixels
  and *all* C channels. The primary output for all of them sits in a [BLOCK_P x C_PAD]
  register tile ``t``; the interleave -> secondary -> permute-back step is one product with
  the folded block-sparse weight, ``y = t @ W_fold^T`` (K = C_PAD >= 16), in BLOCK_N-channel
  slices, the weight tiles gathered from the secondary weight as they are loaded. Every
  primary output is computed once.
- ``igc_block_fwd_wide_kernel`` (wide blocks, C > 256, where the register tile would not
  fit): a program owns BLOCK_P pixels, one position m within the partitions and BLOCK_N
  secondary outputs l2; it runs the dense [L x L] secondary product of position m as a GEMM
  over l, producing its A operand (the primary outputs of position m) on the fly. The
  primary is recomputed once per l2 block, ceil(L / BLOCK_N) times, so it needs L >= 16
  (an unpadded K) and pays off where the secondary's L multiply-adds per output outweigh
  the primary's 9 * Cin/L. With ``PRIMARY=False`` it reads t instead: the two-kernel path's
  secondary step for L >= 16 (a GEMM per position, K = L, instead of the folded weight's
  dense K = C with M-fold zeros).

- ``igc_block_fwd_tc_kernel`` (large partitions, Cin/L >= 16, few of them, L <= 16): the
  primary is tensor-core work here. A program owns BLOCK_P pixels and BLOCK_M positions m;
  per partition l it computes the primary outputs of those positions as an implicit GEMM
  (the grouped-conv GEMM kernel's tile) and adds them, scaled by the secondary weights, into
  all L outputs they feed: the secondary's L multiply-adds per output run on CUDA cores,
  from registers, on a [BLOCK_P x L x BLOCK_M] tile.

``launchers.fused_block_form`` states the rule; other blocks take the two-kernel path.
"""
import triton
import triton.language as tl
from igc_triton.kernels.grouped_conv2d_fwd import direct_conv_tile, implicit_gemm_tile, unflatten_pixels


@triton.jit
def igc_block_fwd_kernel(
    x_ptr,  # input (N, CIN, H, W), any strides
    wp_ptr,  # primary weight (C, CIN_G, KH, KW), contiguous
    ws_ptr,  # secondary weight (C, L), contiguous: ws[m * L + l2, l]
    scale_ptr, shift_ptr,  # (C,) per-channel affine (folded BatchNorm), read when HAS_AFFINE
    res_ptr,  # residual (N, C, OH, OW), any strides, read when HAS_RESIDUAL
    y_ptr,  # output (N, C, OH, OW), any strides
    N, H, W, OH, OW, C, L,
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
    n, oh, ow = unflatten_pixels(p, OH, OW)
    ih0 = oh * stride_h - pad_h
    iw0 = ow * stride_w - pad_w
    x_n = n * sx_n

    # Primary: t[p, c] = sum over (ci, tap) of x[p at tap, partition(c) * CIN_G + ci] * wp[c, ci, tap].
    c = tl.arange(0, C_PAD)
    t = direct_conv_tile(x_ptr, wp_ptr, x_n, ih0, iw0, p_mask, c, c < C, H, W, sx_c, sx_h, sx_w, dil_h, dil_w,
                         CIN_G, M, KH, KW, tl.float32, BLOCK_P, C_PAD)
    # Round t to the storage dtype, as the two-kernel path does when it writes t.
    t = t.to(ws_ptr.dtype.element_ty)

    y_pix = n * sy_n + oh * sy_h + ow * sy_w
    r_pix = n * sr_n + oh * sr_h + ow * sr_w
    # The folded weight W_fold[l2*M + m, l*M + m'] = ws[m*L + l2, l] if m == m' else 0, gathered
    # from ws tile by tile (a few KB, cached): nothing is folded in memory.
    k = tl.arange(0, C_PAD)
    k_l = k // M
    k_m = k % M
    for n0 in tl.static_range(0, C_PAD, BLOCK_N):
        co = n0 + tl.arange(0, BLOCK_N)
        co_m = co % M
        # W_fold^T slice [C_PAD (k), BLOCK_N (co)].
        wt = tl.load(ws_ptr + ((co_m * L + co // M)[None, :] * L + k_l[:, None]),
                     mask=(k_m[:, None] == co_m[None, :]) & (k < C)[:, None] & (co < C)[None, :], other=0.0)
        y = tl.dot(t, wt, input_precision=DOT_PRECISION, out_dtype=tl.float32)
        block_epilogue(y, co, co < C, p_mask, y_pix, r_pix, scale_ptr, shift_ptr, res_ptr, y_ptr, sr_c, sy_c,
                       HAS_AFFINE, HAS_RESIDUAL, RELU)


@triton.jit
def igc_block_fwd_wide_kernel(
    x_ptr,  # input (N, CIN, H, W), any strides
    wp_ptr,  # primary weight (C, CIN_G, KH, KW), contiguous
    ws_ptr,  # secondary weight (C, L), contiguous: ws[m * L + l2, l]
    scale_ptr, shift_ptr,  # (C,) per-channel affine (folded BatchNorm), read when HAS_AFFINE
    res_ptr,  # residual (N, C, OH, OW), any strides, read when HAS_RESIDUAL
    y_ptr,  # output (N, C, OH, OW), any strides
    N, H, W, OH, OW, L,
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
    PRIMARY: tl.constexpr,  # False: x is already the primary output t (the two-kernel path's secondary)
    ACC_DTYPE: tl.constexpr,  # float32; float64 for float64 inputs (two-kernel path only)
    BLOCK_P: tl.constexpr,  # output pixels per program, >= 16
    BLOCK_N: tl.constexpr,  # secondary outputs (l2) per program, >= 16
    BLOCK_K: tl.constexpr,  # primary partitions (l) per step of the secondary product, >= 16
):
    tl.static_assert(BLOCK_K >= 16)
    # Output channel l2*M + m is sum over l of ws[m*L + l2, l] * t[l*M + m]: for a fixed position m
    # the secondary step is a dense [L x L] product. Program (pixels, m, l2 block) computes it
    # as a GEMM over l whose A operand -- the primary outputs t[:, l*M + m] -- is produced on
    # the fly, BLOCK_K partitions at a time, by the direct convolution (never stored).
    m = tl.program_id(1)
    # The first axis is (pixel block, l2 block), the l2 blocks of a pixel block next to each other
    # in launch order: they read the same inputs, which L2 then serves to all but the first (on an
    # axis of their own, each swept every pixel block first, and inputs past the L2's size came
    # from DRAM once per l2 block: ``igc-lab inspect``, 2.5x the bytes at C = 900, L = 450).
    tiles_n = tl.cdiv(L, BLOCK_N)
    p = tl.program_id(0) // tiles_n * BLOCK_P + tl.arange(0, BLOCK_P)
    p_mask = p < N * OH * OW
    n, oh, ow = unflatten_pixels(p, OH, OW)
    ih0 = oh * stride_h - pad_h
    iw0 = ow * stride_w - pad_w
    x_n = n * sx_n
    l2 = tl.program_id(0) % tiles_n * BLOCK_N + tl.arange(0, BLOCK_N)
    l2_mask = l2 < L
    acc = tl.zeros((BLOCK_P, BLOCK_N), dtype=ACC_DTYPE)
    for l0 in range(0, L, BLOCK_K):
        lk = l0 + tl.arange(0, BLOCK_K)
        lk_mask = lk < L
        # t in the storage dtype: rounded as the two-kernel path rounds it when it writes t.
        if PRIMARY:
            t = direct_conv_tile(x_ptr, wp_ptr, x_n, ih0, iw0, p_mask, lk * M + m, lk_mask, H, W, sx_c, sx_h, sx_w,
                                 dil_h, dil_w, CIN_G, M, KH, KW, tl.float32, BLOCK_P, BLOCK_K)
            t = t.to(ws_ptr.dtype.element_ty)
        else:  # stride 1, no padding: output pixel = input pixel
            t = tl.load(x_ptr + ((x_n + ih0 * sx_h + iw0 * sx_w)[:, None] + (lk * M + m).to(tl.int64)[None, :] * sx_c),
                        mask=p_mask[:, None] & lk_mask[None, :], other=0.0).to(ws_ptr.dtype.element_ty)
        # [BLOCK_K (l) x BLOCK_N (l2)]: ws[m*L + l2, l].
        b = tl.load(ws_ptr + ((m * L + l2)[None, :] * L + lk[:, None]), mask=lk_mask[:, None] & l2_mask[None, :],
                    other=0.0)
        acc = tl.dot(t, b, acc, input_precision=DOT_PRECISION, out_dtype=ACC_DTYPE)
    block_epilogue(acc, l2 * M + m, l2_mask, p_mask, n * sy_n + oh * sy_h + ow * sy_w,
                   n * sr_n + oh * sr_h + ow * sr_w, scale_ptr, shift_ptr, res_ptr, y_ptr, sr_c, sy_c,
                   HAS_AFFINE, HAS_RESIDUAL, RELU)


@triton.jit
def igc_block_fwd_tc_kernel(
    x_ptr,  # input (N, CIN, H, W), any strides
    wp_ptr,  # primary weight (C, CIN_G, KH, KW), contiguous
    ws_ptr,  # secondary weight (C, L), contiguous: ws[m * L + l2, l]
    scale_ptr, shift_ptr,  # (C,) per-channel affine (folded BatchNorm), read when HAS_AFFINE
    res_ptr,  # residual (N, C, OH, OW), any strides, read when HAS_RESIDUAL
    y_ptr,  # output (N, C, OH, OW), any strides
    N, H, W, OH, OW, L, CIN_G,
    sx_n, sx_c, sx_h, sx_w,
    sr_n, sr_c, sr_h, sr_w,
    sy_n, sy_c, sy_h, sy_w,
    stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
    M: tl.constexpr,  # output channels per primary partition
    KH: tl.constexpr,
    KW: tl.constexpr,
    HAS_AFFINE: tl.constexpr,
    HAS_RESIDUAL: tl.constexpr,
    RELU: tl.constexpr,
    DOT_PRECISION: tl.constexpr,
    L_PAD: tl.constexpr,  # L rounded up to a power of two
    BLOCK_P: tl.constexpr,  # output pixels per program
    BLOCK_M: tl.constexpr,  # positions m within the partitions per program, >= 16
    BLOCK_K: tl.constexpr,  # input channels per tl.dot step of the primary, >= 16
):
    tl.static_assert(BLOCK_K >= 16)
    tl.static_assert(BLOCK_M >= 16)
    # Program (pixels, m block): for each partition l, the primary outputs t[:, l*M + m] as an
    # implicit GEMM on tensor cores (K = CIN_G per tap), then folded at once into every output
    # it feeds, y[:, l2*M + m] += ws[m*L + l2, l] * t[:, l*M + m], held as a [BLOCK_P x L_PAD x
    # BLOCK_M] register tile (the launcher keeps L small). Every primary output is computed once.
    mm = tl.program_id(1) * BLOCK_M + tl.arange(0, BLOCK_M)
    m_mask = mm < M
    p = tl.program_id(0) * BLOCK_P + tl.arange(0, BLOCK_P)
    p_mask = p < N * OH * OW
    n, oh, ow = unflatten_pixels(p, OH, OW)
    ih0 = oh * stride_h - pad_h
    iw0 = ow * stride_w - pad_w
    x_n = n * sx_n
    l2 = tl.arange(0, L_PAD)
    ws_mask = (l2 < L)[:, None] & m_mask[None, :]
    ws_row = (mm[None, :] * L + l2[:, None]) * L  # [L_PAD x BLOCK_M]: row m*L + l2 of ws
    y = tl.zeros((BLOCK_P, L_PAD, BLOCK_M), dtype=tl.float32)
    for l in range(L):
        t = implicit_gemm_tile(x_ptr, wp_ptr, x_n, ih0, iw0, p_mask, l, l * M + mm, m_mask, H, W, CIN_G,
                               sx_c, sx_h, sx_w, dil_h, dil_w, KH, KW, tl.float32, DOT_PRECISION,
                               BLOCK_P, BLOCK_M, BLOCK_K)
        # t rounded to the storage dtype, as the two-kernel path does when it writes t.
        t = t.to(ws_ptr.dtype.element_ty).to(tl.float32)
        w = tl.load(ws_ptr + (ws_row + l), mask=ws_mask, other=0.0).to(tl.float32)
        y += t[:, None, :] * w[None, :, :]
    co = l2[:, None] * M + mm[None, :]
    block_epilogue(tl.reshape(y, (BLOCK_P, L_PAD * BLOCK_M)), tl.reshape(co, (L_PAD * BLOCK_M,)),
                   tl.reshape(ws_mask, (L_PAD * BLOCK_M,)), p_mask, n * sy_n + oh * sy_h + ow * sy_w,
                   n * sr_n + oh * sr_h + ow * sr_w, scale_ptr, shift_ptr, res_ptr, y_ptr, sr_c, sy_c,
                   HAS_AFFINE, HAS_RESIDUAL, RELU)


@triton.jit
def block_epilogue(y, co, o_mask, p_mask, y_pix, r_pix, scale_ptr, shift_ptr, res_ptr, y_ptr, sr_c, sy_c,
                   HAS_AFFINE: tl.constexpr, HAS_RESIDUAL: tl.constexpr, RELU: tl.constexpr):
    """``y`` ([pixels x channels ``co``], fp32) * scale + shift, + residual, ReLU, stored once."""
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
