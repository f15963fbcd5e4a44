"""The whole IGC block for contiguous channels_last (NHWC) tensors, both steps on tensor cores.

The generic fused kernels (``igc_block_fwd.py``) gather every input of every output from any
strides: one 16-bit load, through a 64-bit pointer, per multiply-add (``igc-lab inspect``:
200-800 instructions per output). Here a program owns a TILE_H x TILE_W tile of one image's
output pixels and every channel, and the data moves in wide pieces:

- **Primary as block-diagonal products.** The C channels are split into blocks of BC (16, 32
  or 64; BC is a multiple of M, so a block holds whole groups). For output block j the
  primary is ``acc_j += X_tap[:, j's channels] @ Wbd[j, tap]`` over the taps: a tap's input
  against the block-diagonal weight of the block's groups, zero off the groups. It does BC / M
  times the useful multiply-adds, on tensor cores, and loads BC contiguous channels of a pixel
  at a time (16-byte vectors; the mask is per pixel).
- **The taps are a software pipeline.** The tap loop is a loop (``tl.range``), so Triton
  copies each tap's input tile and weight straight from global to shared memory (cp.async,
  ``num_stages`` taps in flight) while the tensor cores work on an earlier tap, and wgmma
  reads both operands from shared memory. Unrolled taps (the first version of this kernel)
  went load -> registers -> shared memory -> barrier -> product -> wait, one tap after the
  other; on an H100 its blocks ran at 2-5x the cost model's time (which assumes latency
  hidden), worst on small grids (C = 192 at 8x8: 41 us, one program per SM).
- **Secondary with the folded weight.** ``y_i = sum_j t_j @ Wf[i, j]``, the interleave,
  1x1 group convolution and permute-back in one dense product per block pair (the folded
  weight is block-sparse inside, dense across blocks). For large partitions (M = 32, 64 in a
  block of M channels) each block pair's folded weight is diagonal: the product wastes
  tensor-core work (BC per L useful multiply-adds), but its weight loads stay 128-bit, where
  a per-channel multiply on CUDA cores reloads each weight in 16-bit pieces in every thread
  that holds its channel (``igc-lab inspect``: more L1 traffic than the product's, for
  C = 256, L = 4).
- **Epilogue** (folded BatchNorm, residual, ReLU) and one store per block, in channels_last or,
  for an NCHW caller (``OUT_NCHW``: its input copied to channels_last first), in NCHW, so the
  output needs no copy back.

Offsets inside an image are 32-bit (the launcher checks an image fits), the image base is
64-bit. The two weights are laid out by ``igc_block_nhwc_weights_kernel`` in the same launch
sequence, from the module's weights as they are now (nothing is cached: a weight changed
in place, even through ``.data``, is always seen).
"""

import triton
import triton.language as tl
from igc_triton.kernels.igc_block_fwd import block_epilogue
from igc_triton.kernels.nhwc_out import nhwc_block_out


@triton.jit
def igc_block_nhwc_kernel(
    x_ptr,  # input (N, H, W, C) contiguous
    wbd_ptr,  # primary, block-diagonal: (NB, KH * KW, BC out, BC in), see the weights kernel
    wf_ptr,  # folded secondary: (NB out blocks, NB in blocks, BC in, BC out)
    scale_ptr, shift_ptr,  # (C,), read when HAS_AFFINE
    res_ptr,  # residual in y's layout, read when HAS_RESIDUAL
    y_ptr,  # output (N, OH, OW, C) contiguous, or (N, C, OH, OW) with OUT_NCHW
    H, W, OH, OW,
    stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
    taps,  # KH * KW at run time: the tap loop stays a loop unless UNROLL (see below)
    C: tl.constexpr,  # channels in and out
    KH: tl.constexpr,
    KW: tl.constexpr,
    HAS_AFFINE: tl.constexpr,
    HAS_RESIDUAL: tl.constexpr,
    RELU: tl.constexpr,
    OUT_NCHW: tl.constexpr,  # 1: y (and the residual) contiguous NCHW, written from here (no copy after)
    DOT_PRECISION: tl.constexpr,
    BC: tl.constexpr,  # channels per block: 16, 32 or 64
    TILE_H: tl.constexpr,  # output rows per program
    TILE_W: tl.constexpr,  # output columns per program
    UNROLL: tl.constexpr,  # 1: the tap loop's trip count a constant, which LLVM/ptxas unroll (the SASS has
    # no loop left): no loop overhead, but later taps' addresses are hoisted into registers (C = 256 at
    # BC = 64 spills)
):
    # Annotated so that the interpreter treats them as constexprs too (outside any static_range:
    # inside one, an annotated assignment does not compile for the GPU).
    NB: tl.constexpr = (C + BC - 1) // BC
    TAPS: tl.constexpr = KH * KW
    BLOCK_P: tl.constexpr = TILE_H * TILE_W
    tiles_w = tl.cdiv(OW, TILE_W)
    pid = tl.program_id(0)
    n = tl.program_id(1).to(tl.int64)
    p = tl.arange(0, BLOCK_P)
    oh = (pid // tiles_w) * TILE_H + p // TILE_W
    ow = (pid % tiles_w) * TILE_W + p % TILE_W
    p_ok = (oh < OH) & (ow < OW)
    ih0 = oh * stride_h - pad_h
    iw0 = ow * stride_w - pad_w
    x_img = x_ptr + n * (H * W * C)
    cb = tl.arange(0, BC)
    # A tap shifts every pixel's input by the same offset: the per-pixel part is loop-invariant.
    pix = (ih0 * W + iw0) * C
    # Primary: one [BLOCK_P x BC] tile per channel block, kept (rounded to the storage dtype, as
    # the two-kernel path rounds t when it writes it) for the secondary.
    ts = ()
    for j in tl.static_range(NB):
        cin = j * BC + cb
        x_pix = pix[:, None] + cin[None, :]
        acc = tl.zeros((BLOCK_P, BC), dtype=tl.float32)
        for tap in tl.range(0, TAPS if UNROLL else taps):  # software-pipelined over num_stages taps
            dh = (tap // KW) * dil_h
            dw = (tap % KW) * dil_w
            ok = p_ok & (ih0 >= -dh) & (ih0 < H - dh) & (iw0 >= -dw) & (iw0 < W - dw)
            if C % BC == 0:
                m = ok[:, None]
            else:
                m = ok[:, None] & (cin < C)[None, :]
            xv = tl.load(x_img + (dh * W + dw) * C + x_pix, mask=m, other=0.0)
            # Stored [co, ci] and transposed here: K-major in shared memory, as TF32's wgmma needs
            # (stored [ci, co], fp32 weights were copied 4 bytes at a time into a transposed buffer).
            wv = tl.trans(tl.load(wbd_ptr + ((j * TAPS + tap) * BC + cb)[:, None] * BC + cb[None, :]))
            acc = tl.dot(xv, wv, acc, input_precision=DOT_PRECISION)
        ts = ts + (acc.to(y_ptr.dtype.element_ty),)
    # Secondary, epilogue, store: one output block at a time.
    y_pix, y_c = nhwc_block_out(n, oh, ow, OH, OW, C, OUT_NCHW)  # residual and output share the layout
    for i in tl.static_range(NB):
        co = i * BC + cb
        y = tl.zeros((BLOCK_P, BC), dtype=tl.float32)
        for j in tl.static_range(NB):
            wv = tl.load(wf_ptr + ((i * NB + j) * BC + cb)[:, None] * BC + cb[None, :])
            y = tl.dot(ts[j], wv, y, input_precision=DOT_PRECISION)
        block_epilogue(y, co, co < C, p_ok, y_pix, y_pix, scale_ptr, shift_ptr, res_ptr, y_ptr, y_c, y_c, HAS_AFFINE,
                       HAS_RESIDUAL, RELU)


@triton.jit
def igc_block_nhwc_weights_kernel(
    wp_ptr,  # primary weight (C, M, KH, KW), contiguous
    ws_ptr,  # secondary weight (C, L), contiguous: ws[m * L + l2, l]
    wbd_ptr,  # out: (NB, KH * KW, BC out, BC in)
    wf_ptr,  # out: (NB, NB, BC, BC)
    C, L,
    M: tl.constexpr,
    KH: tl.constexpr,
    KW: tl.constexpr,
    BC: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """Both weights of ``igc_block_nhwc_kernel`` in one launch: element e < size(wbd) of wbd,
    the rest of wf. wbd[j, tap, co, ci] = wp[j*BC + co, ci % M, tap] when ci and co are in the
    same group (ci // M == co // M), else 0. wf[i, j, k, o] is
    the folded secondary weight from input channel j*BC + k to output channel i*BC + o:
    ws[m*L + l2, l] when the output is l2*M + m and the input l*M + m (the same position m)."""
    NB = (C + BC - 1) // BC
    n_bd = NB * (KH * KW) * BC * BC
    e = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    # Primary.
    ci_l = e % BC
    co_l = (e // BC) % BC
    jt = e // (BC * BC)  # j * KH * KW + tap
    tap = jt % (KH * KW)
    co = (jt // (KH * KW)) * BC + co_l
    ok = (e < n_bd) & (co < C) & (ci_l // M == co_l // M)
    v = tl.load(wp_ptr + (co * M + ci_l % M) * (KH * KW) + tap, mask=ok, other=0.0)
    tl.store(wbd_ptr + e, v, mask=e < n_bd)
    # Folded secondary.
    f = e - n_bd
    o = f % BC
    kk = (f // BC) % BC
    ij = f // (BC * BC)  # i * NB + j
    co = (ij // NB) * BC + o
    ci = (ij % NB) * BC + kk
    ok = (f >= 0) & (f < NB * NB * BC * BC) & (co < C) & (ci < C) & (co % M == ci % M)
    v = tl.load(ws_ptr + ((co % M) * L + co // M) * L + ci // M, mask=ok, other=0.0)
    tl.store(wf_ptr + f, v, mask=(f >= 0) & (f < NB * NB * BC * BC))
