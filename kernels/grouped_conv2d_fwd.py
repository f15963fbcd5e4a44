"""Grouped 2-D convolution, forward: two kernels for the two regimes of IGC's primary conv.

Both compute ``y = conv2d(x, w, b, stride, padding, dilation, groups)`` with PyTorch's weight
layout ``w: (Cout, Cin/groups, KH, KW)`` (contiguous) and any strides for ``x`` and ``y``, so
NCHW, channels_last and strided views need no copy. Padding is given as the top/left
amount only; the output size is passed in, which also covers PyTorch's asymmetric
``padding="same"``.

- ``grouped_conv2d_fwd_fma_kernel``: small groups (Cin/groups < 16). Direct convolution on
  CUDA-core FMAs over a [pixels x output channels] tile that may span many groups. A
  tensor-core ``tl.dot`` needs K >= 16 and would pad these tiny reductions with zeros
  (the 10-200x loss of generic templates); here nothing is padded.
- ``grouped_conv2d_fwd_gemm_kernel``: large groups. Implicit GEMM per group on ``tl.dot``:
  M = output pixels, N = output channels of the group, K = Cin/groups per tap, in one flat
  loop over (tap, channel block). That flattened loop with ``//`` index recovery is the
  pattern of Inductor's conv template that miscompiled with 8 warps (pytorch#173068), so
  its configs stay at 4 warps until a GPU run shows 8 is safe.

Element offsets are int64: activations of large batches exceed 2**31 elements. Spatial
offsets and masks are computed once per tap, outside the channel loop.
"""

import triton
import triton.language as tl


@triton.jit
def grouped_conv2d_fwd_fma_kernel(
    x_ptr,  # input (N, CIN, H, W), any strides
    w_ptr,  # weight (COUT, CIN_G, KH, KW), contiguous
    b_ptr,  # bias (COUT,), read only when HAS_BIAS
    y_ptr,  # output (N, COUT, OH, OW), any strides
    N, H, W, OH, OW, COUT,
    sx_n, sx_c, sx_h, sx_w,  # input strides, in elements
    sy_n, sy_c, sy_h, sy_w,  # output strides, in elements
    stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,  # pad_* = top/left padding
    CIN_G: tl.constexpr,  # input channels per group
    COUT_G: tl.constexpr,  # output channels per group
    KH: tl.constexpr,
    KW: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    ACC_DTYPE: tl.constexpr,  # float32, or float64 for float64 inputs
    BLOCK_P: tl.constexpr,  # output pixels (flattened n, oh, ow) per program
    BLOCK_C: tl.constexpr,  # output channels per program (may span several groups)
):
    pid_p = tl.program_id(0)
    pid_c = tl.program_id(1)
    p = pid_p * BLOCK_P + tl.arange(0, BLOCK_P)
    co = pid_c * BLOCK_C + tl.arange(0, BLOCK_C)
    p_mask = p < N * OH * OW
    c_mask = co < COUT

    n, oh, ow = unflatten_pixels(p, OH, OW)
    ih0 = oh * stride_h - pad_h
    iw0 = ow * stride_w - pad_w
    x_n = n * sx_n
    acc = direct_conv_tile(x_ptr, w_ptr, x_n, ih0, iw0, p_mask, co, c_mask, H, W, sx_c, sx_h, sx_w, dil_h, dil_w,
                           CIN_G, COUT_G, KH, KW, ACC_DTYPE, BLOCK_P, BLOCK_C)

    if HAS_BIAS:
        acc += tl.load(b_ptr + co, mask=c_mask, other=0.0).to(ACC_DTYPE)[None, :]
    y_off = (n * sy_n + oh * sy_h + ow * sy_w)[:, None] + co.to(tl.int64)[None, :] * sy_c
    tl.store(y_ptr + y_off, acc.to(y_ptr.dtype.element_ty), mask=p_mask[:, None] & c_mask[None, :])


@triton.jit
def grouped_conv2d_fwd_gemm_kernel(
    x_ptr,  # input (N, CIN, H, W), any strides
    w_ptr,  # weight (COUT, CIN_G, KH, KW), contiguous
    b_ptr,  # bias (COUT,), read only when HAS_BIAS
    y_ptr,  # output (N, COUT, OH, OW), any strides
    N, H, W, OH, OW,
    CIN_G, COUT_G,  # channels per group (runtime: they do not change the code path)
    sx_n, sx_c, sx_h, sx_w,
    sy_n, sy_c, sy_h, sy_w,
    stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
    KH: tl.constexpr,
    KW: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    ACC_DTYPE: tl.constexpr,
    DOT_PRECISION: tl.constexpr,  # "tf32" or "ieee" for float32 inputs (torch's allow_tf32)
    BLOCK_M: tl.constexpr,  # output pixels per program
    BLOCK_N: tl.constexpr,  # output channels of the group per program
    BLOCK_K: tl.constexpr,  # input channels per tl.dot step
):
    # tl.dot on sm_90 with Triton 3.6 rejects K < 16 (the interpreter accepts it).
    tl.static_assert(BLOCK_K >= 16)
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    g = tl.program_id(2)
    p = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    nc = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    p_mask = p < N * OH * OW
    n_mask = nc < COUT_G
    co = g * COUT_G + nc

    n, oh, ow = unflatten_pixels(p, OH, OW)
    ih0 = oh * stride_h - pad_h
    iw0 = ow * stride_w - pad_w
    x_n = n * sx_n
    acc = implicit_gemm_tile(x_ptr, w_ptr, x_n, ih0, iw0, p_mask, g, co, n_mask, H, W, CIN_G, sx_c, sx_h, sx_w,
                             dil_h, dil_w, KH, KW, ACC_DTYPE, DOT_PRECISION, BLOCK_M, BLOCK_N, BLOCK_K)

    if HAS_BIAS:
        acc += tl.load(b_ptr + co, mask=n_mask, other=0.0).to(ACC_DTYPE)[None, :]
    y_off = (n * sy_n + oh * sy_h + ow * sy_w)[:, None] + co.to(tl.int64)[None, :] * sy_c
    tl.store(y_ptr + y_off, acc.to(y_ptr.dtype.element_ty), mask=p_mask[:, None] & n_mask[None, :])


@triton.jit
def direct_conv_tile(
    x_ptr, w_ptr,
    x_n, ih0, iw0, p_mask,  # per output pixel: batch offset, top-left input row/column, validity
    co, c_mask,  # output channels of the tile and their validity
    H, W, sx_c, sx_h, sx_w, dil_h, dil_w,
    CIN_G: tl.constexpr,
    COUT_G: tl.constexpr,
    KH: tl.constexpr,
    KW: tl.constexpr,
    ACC_DTYPE: tl.constexpr,
    BLOCK_P: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    """[BLOCK_P x BLOCK_C] grouped-conv outputs on CUDA-core FMAs (weights contiguous
    (COUT, CIN_G, KH, KW)): shared by the FMA forward kernel and the fused IGC block."""
    # Each output channel reads the CIN_G input channels of its own group; spatial offsets and
    # masks are computed once per tap, outside the channel loop.
    x_c = ((co // COUT_G) * CIN_G).to(tl.int64) * sx_c
    cmask = c_mask[None, :]
    acc = tl.zeros((BLOCK_P, BLOCK_C), dtype=ACC_DTYPE)
    for kh in tl.static_range(KH):
        ih = ih0 + kh * dil_h
        h_ok = p_mask & (ih >= 0) & (ih < H)
        for kw in tl.static_range(KW):
            iw = iw0 + kw * dil_w
            ok = (h_ok & (iw >= 0) & (iw < W))[:, None] & cmask
            x_tap = x_ptr + ((x_n + ih * sx_h + iw * sx_w)[:, None] + x_c[None, :])
            w_tap = w_ptr + (co * (CIN_G * KH * KW) + (kh * KW + kw))
            for ci in range(CIN_G):
                xv = tl.load(x_tap + ci * sx_c, mask=ok, other=0.0)
                wv = tl.load(w_tap + ci * (KH * KW), mask=c_mask, other=0.0)
                acc += xv.to(ACC_DTYPE) * wv.to(ACC_DTYPE)[None, :]
    return acc


@triton.jit
def implicit_gemm_tile(
    x_ptr, w_ptr,
    x_n, ih0, iw0, p_mask,  # per output pixel: batch offset, top-left input row/column, validity
    g, co, n_mask,  # the group, its output channels in the tile (absolute indices) and their validity
    H, W, CIN_G, sx_c, sx_h, sx_w, dil_h, dil_w,
    KH: tl.constexpr,
    KW: tl.constexpr,
    ACC_DTYPE: tl.constexpr,
    DOT_PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    """[BLOCK_M pixels x BLOCK_N channels] of group ``g``'s convolution on tensor cores (weights
    contiguous (COUT, CIN_G, KH, KW)): shared by the GEMM forward kernel and the fused IGC block."""
    k = tl.arange(0, BLOCK_K)
    x_k = (g * CIN_G + k).to(tl.int64) * sx_c
    w_nk = (co * (CIN_G * KH * KW))[None, :] + (k * (KH * KW))[:, None]
    nmask = n_mask[None, :]
    # One flat loop over (tap, channel block): software-pipelined across all taps, and 3x
    # faster to compile than one loop per unrolled tap.
    kb = tl.cdiv(CIN_G, BLOCK_K)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=ACC_DTYPE)
    for i in range(KH * KW * kb):
        tap = i // kb
        k0 = (i - tap * kb) * BLOCK_K
        kh = tap // KW
        ih = ih0 + kh * dil_h
        iw = iw0 + (tap - kh * KW) * dil_w
        ok = (p_mask & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W))[:, None]
        k_ok = (k0 + k) < CIN_G
        xv = tl.load(x_ptr + ((x_n + ih * sx_h + iw * sx_w)[:, None] + x_k[None, :]) + k0 * sx_c,
                     mask=ok & k_ok[None, :], other=0.0)
        wv = tl.load(w_ptr + (w_nk + tap) + k0 * (KH * KW), mask=k_ok[:, None] & nmask, other=0.0)
        acc = tl.dot(xv, wv, acc, input_precision=DOT_PRECISION, out_dtype=ACC_DTYPE)
    return acc


@triton.jit
def unflatten_pixels(p, OH, OW):
    """(n, oh, ow) of flattened output pixels ``p``, in int64: no overflow on large activations,
    and (under the interpreter) no per-op int32 overflow checks."""
    p64 = p.to(tl.int64)
    return p64 // (OW * OH), (p64 // OW) % OH, p64 % OW
