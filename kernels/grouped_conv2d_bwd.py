"""Grouped 2-D convolution, backward: input gradient (dgrad), weight gradient (wgrad), bias gradient.

Same layouts as the forward (``grouped_conv2d_fwd.py``): any strides for activations and
gradients, contiguous weights ``(COUT, CIN_G, KH, KW)``, top/left padding.

- dgrad ``dx[n, ci, ih, iw] = sum dy[n, co, oh, ow] * w[co, ci, kh, kw]`` over the output
  channels ``co`` of ci's group and the taps whose output position
  ``oh = (ih + pad - kh*dil) / stride`` is a whole number inside the output. A gather per
  input pixel (no atomics): FMA over the group's output channels for small groups, a
  ``tl.dot`` over them (K = COUT_G per tap) for large ones.
- wgrad ``dw[co, ci, kh, kw] = sum over pixels of dy[., co] * x[., ci]`` at the tap's shift.
  The pixel reduction is split over ``SPLITS`` programs writing float32 partial sums, which
  the launcher adds up: deterministic, no atomics.
"""

import triton
import triton.language as tl


@triton.jit
def grouped_conv2d_dgrad_fma_kernel(
    dy_ptr,  # output gradient (N, COUT, OH, OW), any strides
    w_ptr,  # weight (COUT, CIN_G, KH, KW), contiguous
    dx_ptr,  # input gradient (N, CIN, H, W), any strides
    N, H, W, OH, OW, CIN,
    sdy_n, sdy_c, sdy_h, sdy_w,
    sdx_n, sdx_c, sdx_h, sdx_w,
    stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
    CIN_G: tl.constexpr,
    COUT_G: tl.constexpr,
    KH: tl.constexpr,
    KW: tl.constexpr,
    ACC_DTYPE: tl.constexpr,
    BLOCK_P: tl.constexpr,  # input pixels per program
    BLOCK_C: tl.constexpr,  # input channels per program
):
    p = tl.program_id(0) * BLOCK_P + tl.arange(0, BLOCK_P)
    ci = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    p_mask = p < N * H * W
    c_mask = ci < CIN
    p64 = p.to(tl.int64)
    iw = p64 % W
    ih = (p64 // W) % H
    n = p64 // (W * H)
    g = ci // CIN_G
    dy_n = n * sdy_n
    dy_c = (g * COUT_G).to(tl.int64) * sdy_c
    w_ci = g * COUT_G * (CIN_G * KH * KW) + (ci - g * CIN_G) * (KH * KW)
    cmask = c_mask[None, :]

    acc = tl.zeros((BLOCK_P, BLOCK_C), dtype=ACC_DTYPE)
    for kh in tl.static_range(KH):
        oh_num = ih + pad_h - kh * dil_h
        oh = oh_num // stride_h
        h_ok = p_mask & (oh_num >= 0) & (oh * stride_h == oh_num) & (oh < OH)
        for kw in tl.static_range(KW):
            ow_num = iw + pad_w - kw * dil_w
            ow = ow_num // stride_w
            ok = (h_ok & (ow_num >= 0) & (ow * stride_w == ow_num) & (ow < OW))[:, None] & cmask
            dy_tap = dy_ptr + ((dy_n + oh * sdy_h + ow * sdy_w)[:, None] + dy_c[None, :])
            w_tap = w_ptr + (w_ci + (kh * KW + kw))
            for co in range(COUT_G):
                dyv = tl.load(dy_tap + co * sdy_c, mask=ok, other=0.0)
                wv = tl.load(w_tap + co * (CIN_G * KH * KW), mask=c_mask, other=0.0)
                acc += dyv.to(ACC_DTYPE) * wv.to(ACC_DTYPE)[None, :]

    dx_off = (n * sdx_n + ih * sdx_h + iw * sdx_w)[:, None] + ci.to(tl.int64)[None, :] * sdx_c
    tl.store(dx_ptr + dx_off, acc.to(dx_ptr.dtype.element_ty), mask=p_mask[:, None] & cmask)


@triton.jit
def grouped_conv2d_dgrad_gemm_kernel(
    dy_ptr, w_ptr, dx_ptr,  # as in grouped_conv2d_dgrad_fma_kernel
    N, H, W, OH, OW,
    CIN_G, COUT_G,
    sdy_n, sdy_c, sdy_h, sdy_w,
    sdx_n, sdx_c, sdx_h, sdx_w,
    stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
    KH: tl.constexpr,
    KW: tl.constexpr,
    ACC_DTYPE: tl.constexpr,
    DOT_PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr,  # input pixels per program
    BLOCK_N: tl.constexpr,  # input channels of the group per program
    BLOCK_K: tl.constexpr,  # output channels per tl.dot step
):
    # tl.dot on sm_90 with Triton 3.6 rejects K < 16 (the interpreter accepts it).
    tl.static_assert(BLOCK_K >= 16)
    g = tl.program_id(2)
    p = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    cn = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    p_mask = p < N * H * W
    n_mask = cn < CIN_G
    p64 = p.to(tl.int64)
    iw = p64 % W
    ih = (p64 // W) % H
    n = p64 // (W * H)
    k = tl.arange(0, BLOCK_K)
    dy_n = n * sdy_n
    dy_k = (g * COUT_G + k).to(tl.int64) * sdy_c
    w_kn = ((g * COUT_G + k) * (CIN_G * KH * KW))[:, None] + (cn * (KH * KW))[None, :]

    # Flat (tap, channel block) loop, as in the forward GEMM kernel.
    kb = tl.cdiv(COUT_G, BLOCK_K)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=ACC_DTYPE)
    for i in range(KH * KW * kb):
        tap = i // kb
        k0 = (i - tap * kb) * BLOCK_K
        kh = tap // KW
        kw = tap - kh * KW
        oh_num = ih + pad_h - kh * dil_h
        ow_num = iw + pad_w - kw * dil_w
        oh = oh_num // stride_h
        ow = ow_num // stride_w
        ok = p_mask & (oh_num >= 0) & (oh * stride_h == oh_num) & (oh < OH) \
            & (ow_num >= 0) & (ow * stride_w == ow_num) & (ow < OW)
        k_ok = (k0 + k) < COUT_G
        dyv = tl.load(dy_ptr + ((dy_n + oh * sdy_h + ow * sdy_w)[:, None] + dy_k[None, :]) + k0 * sdy_c,
                      mask=ok[:, None] & k_ok[None, :], other=0.0)
        wv = tl.load(w_ptr + (w_kn + tap) + k0 * (CIN_G * KH * KW), mask=k_ok[:, None] & n_mask[None, :], other=0.0)
        acc = tl.dot(dyv, wv, acc, input_precision=DOT_PRECISION, out_dtype=ACC_DTYPE)

    ci = g * CIN_G + cn
    dx_off = (n * sdx_n + ih * sdx_h + iw * sdx_w)[:, None] + ci.to(tl.int64)[None, :] * sdx_c
    tl.store(dx_ptr + dx_off, acc.to(dx_ptr.dtype.element_ty), mask=p_mask[:, None] & n_mask[None, :])


@triton.jit
def grouped_conv2d_wgrad_fma_kernel(
    x_ptr,  # input (N, CIN, H, W), any strides
    dy_ptr,  # output gradient (N, COUT, OH, OW), any strides
    part_ptr,  # partial sums (SPLITS, COUT, CIN_G * KH * KW), contiguous, ACC_DTYPE
    N, H, W, OH, OW, COUT,
    sx_n, sx_c, sx_h, sx_w,
    sdy_n, sdy_c, sdy_h, sdy_w,
    stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
    pix_per_split,  # output pixels reduced by one program (a multiple of BLOCK_P)
    CIN_G: tl.constexpr,
    COUT_G: tl.constexpr,
    KH: tl.constexpr,
    KW: tl.constexpr,
    TAPS: tl.constexpr,  # KH * KW rounded up to a power of two
    ACC_DTYPE: tl.constexpr,
    BLOCK_P: tl.constexpr,
    BLOCK_C: tl.constexpr,  # output channels per program
):
    # One program reduces every tap of one input channel ci at once, on a
    # [pixels x out-channels x taps] tile: dy is read once per ci, not once per (ci, tap).
    split = tl.program_id(0)
    co = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    ci = tl.program_id(2)
    c_mask = co < COUT
    t = tl.arange(0, TAPS)
    t_ok = t < KH * KW
    kh = t // KW
    kw = t % KW
    x_c = ((co // COUT_G) * CIN_G + ci).to(tl.int64) * sx_c
    dy_c = co.to(tl.int64) * sdy_c
    total = N * OH * OW
    start = split * pix_per_split

    acc = tl.zeros((BLOCK_P, BLOCK_C, TAPS), dtype=ACC_DTYPE)
    for p0 in range(start, start + pix_per_split, BLOCK_P):
        p = p0 + tl.arange(0, BLOCK_P)
        p64 = p.to(tl.int64)
        ow = p64 % OW
        oh = (p64 // OW) % OH
        n = p64 // (OW * OH)
        p_ok = p < total
        ih = (oh * stride_h - pad_h)[:, None] + (kh * dil_h)[None, :]
        iw = (ow * stride_w - pad_w)[:, None] + (kw * dil_w)[None, :]
        x_ok = p_ok[:, None] & t_ok[None, :] & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
        x_sp = (n * sx_n)[:, None] + ih * sx_h + iw * sx_w
        xv = tl.load(x_ptr + (x_sp[:, None, :] + x_c[None, :, None]),
                     mask=x_ok[:, None, :] & c_mask[None, :, None], other=0.0)
        dyv = tl.load(dy_ptr + ((n * sdy_n + oh * sdy_h + ow * sdy_w)[:, None] + dy_c[None, :]),
                      mask=p_ok[:, None] & c_mask[None, :], other=0.0)
        acc += dyv.to(ACC_DTYPE)[:, :, None] * xv.to(ACC_DTYPE)

    out = (split * COUT + co).to(tl.int64)[:, None] * (CIN_G * KH * KW) + (ci * (KH * KW) + t)[None, :]
    tl.store(part_ptr + out, tl.sum(acc, axis=0), mask=c_mask[:, None] & t_ok[None, :])


@triton.jit
def grouped_conv2d_wgrad_gemm_kernel(
    x_ptr, dy_ptr,  # as in grouped_conv2d_wgrad_fma_kernel
    part_ptr,  # partial sums (SPLITS, COUT, CIN_G, KH, KW), contiguous, ACC_DTYPE
    N, H, W, OH, OW,
    CIN_G, COUT_G, COUT,
    sx_n, sx_c, sx_h, sx_w,
    sdy_n, sdy_c, sdy_h, sdy_w,
    stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
    pix_per_split,  # a multiple of BLOCK_K
    KH: tl.constexpr,
    KW: tl.constexpr,
    ACC_DTYPE: tl.constexpr,
    DOT_PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr,  # output channels of the group per program
    BLOCK_N: tl.constexpr,  # input channels of the group per program
    BLOCK_K: tl.constexpr,  # pixels per tl.dot step
):
    tl.static_assert(BLOCK_K >= 16)
    split = tl.program_id(0)
    tiles_n = tl.cdiv(CIN_G, BLOCK_N)
    pid_m = tl.program_id(1) // tiles_n
    pid_n = tl.program_id(1) % tiles_n
    g = tl.program_id(2) // (KH * KW)
    tap = tl.program_id(2) % (KH * KW)
    kh = tap // KW
    kw = tap % KW
    com = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    cin = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    m_mask = com < COUT_G
    n_mask = cin < CIN_G
    dy_c = (g * COUT_G + com).to(tl.int64) * sdy_c
    x_c = (g * CIN_G + cin).to(tl.int64) * sx_c
    total = N * OH * OW
    start = split * pix_per_split

    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=ACC_DTYPE)
    for p0 in range(start, start + pix_per_split, BLOCK_K):
        p = p0 + tl.arange(0, BLOCK_K)
        p64 = p.to(tl.int64)
        ow = p64 % OW
        oh = (p64 // OW) % OH
        n = p64 // (OW * OH)
        ih = oh * stride_h - pad_h + kh * dil_h
        iw = ow * stride_w - pad_w + kw * dil_w
        p_ok = p < total
        x_ok = p_ok & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
        dyt = tl.load(dy_ptr + (dy_c[:, None] + (n * sdy_n + oh * sdy_h + ow * sdy_w)[None, :]),
                      mask=m_mask[:, None] & p_ok[None, :], other=0.0)
        xv = tl.load(x_ptr + ((n * sx_n + ih * sx_h + iw * sx_w)[:, None] + x_c[None, :]),
                     mask=x_ok[:, None] & n_mask[None, :], other=0.0)
        acc = tl.dot(dyt, xv, acc, input_precision=DOT_PRECISION, out_dtype=ACC_DTYPE)

    out = ((split * COUT + g * COUT_G + com).to(tl.int64) * (CIN_G * KH * KW))[:, None] \
        + (cin * (KH * KW) + tap)[None, :]
    tl.store(part_ptr + out, acc, mask=m_mask[:, None] & n_mask[None, :])


@triton.jit
def channel_sum_kernel(
    dy_ptr,  # (N, C, H, W), any strides
    part_ptr,  # partial sums (SPLITS, C), contiguous, ACC_DTYPE
    N, H, W, C,
    s_n, s_c, s_h, s_w,
    pix_per_split,
    ACC_DTYPE: tl.constexpr,
    BLOCK_P: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    """Bias gradient: the sum of dy over batch and space, per channel."""
    split = tl.program_id(0)
    c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    c_mask = c < C
    c_off = c.to(tl.int64) * s_c
    start = split * pix_per_split
    acc = tl.zeros((BLOCK_P, BLOCK_C), dtype=ACC_DTYPE)
    for p0 in range(start, start + pix_per_split, BLOCK_P):
        p = p0 + tl.arange(0, BLOCK_P)
        p64 = p.to(tl.int64)
        off = (p64 // (H * W)) * s_n + ((p64 // W) % H) * s_h + (p64 % W) * s_w
        v = tl.load(dy_ptr + (off[:, None] + c_off[None, :]), mask=(p < N * H * W)[:, None] & c_mask[None, :],
                    other=0.0)
        acc += v.to(ACC_DTYPE)
    tl.store(part_ptr + split * C + c, tl.sum(acc, axis=0), mask=c_mask)
