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
  reads both operands from shared memory. Those copies are 16 bytes, which Triton emits as
  ``cp.async.cg``: L1 bypassed, each tap's tile read from L2 although it overlaps the last tap's
  (a 4 x 32 tile's 9 taps read 1152 pixel rows for 204 distinct). ``TAPS_L1`` = 1 copies the
  input in 8-byte ``cp.async.ca`` pieces, which allocate in L1 (twice the copy instructions;
  whether L1 then serves the next taps is not measured yet: ``bench/pipeline_ab.py``).
  Unrolled taps (the first version of this kernel) went load -> registers -> shared memory ->
  barrier -> product -> wait, one tap after the other; on an H100 its blocks ran at 2-5x the
  cost model's time (which assumes latency hidden), worst on small grids (C = 192 at 8x8: 41 us,
  one program per SM).
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
64-bit. Both weights are read as they are now, in every program (nothing laid out, nothing
cached: a weight changed in place, even through ``.data``, is always seen, and no layout kernel
runs before this one: a launch less, about 2 us predicted): the primary's block-diagonal tile
from the channels_last weight (each group a run of M channels), the folded secondary's from
ws's rows (each output's partitions a run of T of them), spread over the positions in
registers (inspect, Triton 3.6: 55 -> 64 instructions per output at C = 256, L = 4, where 16
block pairs are built per 128-pixel program; 1.3 us less in all there).
"""

import triton
import triton.language as tl
from igc_triton.kernels.igc_block_fwd import block_epilogue
from igc_triton.kernels.nhwc_out import nhwc_block_out


@triton.jit
def igc_block_nhwc_kernel(
    x_ptr,  # input (N, H, W, C) contiguous
    wp_ptr,  # primary weight (C, M, KH, KW) in channels_last: (C, KH, KW, M) in memory
    ws_ptr,  # secondary weight (C, L), contiguous: ws[m * L + l2, l]
    scale_ptr, shift_ptr,  # (C,), read when HAS_AFFINE
    res_ptr,  # residual in y's layout, read when HAS_RESIDUAL
    y_ptr,  # output (N, OH, OW, C) contiguous, or (N, C, OH, OW) with OUT_NCHW
    H, W, OH, OW,
    stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
    taps,  # KH * KW at run time: the tap loop stays a loop unless UNROLL (see below)
    C: tl.constexpr,  # channels in and out
    M: tl.constexpr,  # channels per partition (L = C / M)
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
    TAPS_L1: tl.constexpr,  # 1: the input tile copied in 8-byte pieces, which L1 keeps (see above)
):
    # Annotated so that the interpreter treats them as constexprs too (outside any static_range:
    # inside one, an annotated assignment does not compile for the GPU).
    NB: tl.constexpr = (C + BC - 1) // BC
    TAPS: tl.constexpr = KH * KW
    L: tl.constexpr = C // M
    T: tl.constexpr = BC // M  # partitions per block
    BLOCK_P: tl.constexpr = TILE_H * TILE_W
    VEC8: tl.constexpr = 64 // x_ptr.dtype.element_ty.primitive_bitwidth  # channels per 8 bytes (TAPS_L1)
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
    # Pixels past the output's edge start at a row no tap reaches, so that a tap's mask is one
    # unsigned comparison per axis (a chain of five conditions compiled to five selects per copy).
    ih_ok = tl.where(p_ok, ih0, -(1 << 24)).to(tl.uint32)
    iw_u = iw0.to(tl.uint32)
    # Primary: one [BLOCK_P x BC] tile per channel block, kept (rounded to the storage dtype, as
    # the two-kernel path rounds t when it writes it) for the secondary.
    ts = ()
    same_group = (cb // M)[:, None] == (cb // M)[None, :]
    for j in tl.static_range(NB):
        cin = j * BC + cb
        x_pix = pix[:, None] + cin[None, :]
        # The block-diagonal weight [co, ci] of the block's groups, from the weight as given:
        # output co's group is a run of M channels of it (one vector), zero off the group.
        # (Written as row base + ci, not + ci % M, so that the compiler sees runs of contiguous,
        # aligned channels: masked off the group, the other addresses are never read.)
        w_at = wp_ptr + (cin * (TAPS * M) - (cb // M) * M)[:, None] + cb[None, :]
        w_ok = same_group & (cin < C)[:, None]
        acc = tl.zeros((BLOCK_P, BC), dtype=tl.float32)
        for tap in tl.range(0, TAPS if UNROLL else taps):  # software-pipelined over num_stages taps
            dh = (tap // KW) * dil_h
            dw = (tap % KW) * dil_w
            ok = (ih_ok + dh < H) & (iw_u + dw < W)  # unsigned: a row or column before the first wraps past H, W
            if C % BC == 0:
                m = ok[:, None]
            else:
                m = ok[:, None] & (cin < C)[None, :]
            if TAPS_L1:
                x_off = tl.max_contiguous((dh * W + dw) * C + x_pix, [1, VEC8])
                xv = tl.load(x_img + x_off, mask=m, other=0.0)
            else:
                xv = tl.load(x_img + (dh * W + dw) * C + x_pix, mask=m, other=0.0)
            # Read [co, ci] and transposed here: K-major in shared memory, as TF32's wgmma needs
            # (read [ci, co], fp32 weights were copied 4 bytes at a time into a transposed buffer).
            wv = tl.trans(tl.load(w_at + tap * M, mask=w_ok, other=0.0))
            acc = tl.dot(xv, wv, acc, input_precision=DOT_PRECISION)
        ts = ts + (acc.to(y_ptr.dtype.element_ty),)
    # Secondary, epilogue, store: one output block at a time.
    y_pix, y_c = nhwc_block_out(n, oh, ow, OH, OW, C, OUT_NCHW)  # residual and output share the layout
    # The folded secondary weight from block j's channel k = t * M + m (partition j * T + t,
    # position m) to block i's channel o: ws[m * L + l2, j * T + t] for o's partition l2 when o's
    # position is m, else 0. Per output a run of T partitions of ws's row (a vector), read as a
    # [BC x T] tile, transposed and spread over the positions in registers.
    t = tl.arange(0, T)
    same_position = (cb % M)[:, None] == (cb % M)[None, :]
    for i in tl.static_range(NB):
        co = i * BC + cb
        ws_row = ((co % M) * L + co // M) * L
        y = tl.zeros((BLOCK_P, BC), dtype=tl.float32)
        for j in tl.static_range(NB):
            if C % BC == 0:  # no mask along t, so a run of partitions is one vector
                part = tl.trans(tl.load(ws_ptr + ws_row[:, None] + (j * T + t)[None, :]))
            else:
                part = tl.trans(tl.load(ws_ptr + ws_row[:, None] + (j * T + t)[None, :],
                                        mask=(co < C)[:, None] & (j * T + t < L)[None, :], other=0.0))
            wv = tl.reshape(tl.broadcast_to(part[:, None, :], (T, M, BC)), (BC, BC))
            wv = tl.where(same_position, wv, tl.zeros_like(wv))
            y = tl.dot(ts[j], wv, y, input_precision=DOT_PRECISION)
        block_epilogue(y, co, co < C, p_ok, y_pix, y_pix, scale_ptr, shift_ptr, res_ptr, y_ptr, y_c, y_c, HAS_AFFINE,
                       HAS_RESIDUAL, RELU)
