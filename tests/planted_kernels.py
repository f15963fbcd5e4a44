"""Kernels with known machine-code counts, for the tests of ``igc-lab inspect`` (not tests
themselves: pytest does not collect this file)."""

import triton
import triton.language as tl


@triton.jit
def axpy_kernel(x_ptr, y_ptr, out_ptr, a, BLOCK: tl.constexpr):
    # 8 fp32 per thread with 4 warps and BLOCK = 1024: two 128-bit loads per operand per thread,
    # one FMA per element, two 128-bit stores; a warp's 128-bit access covers 512 bytes (4 lines).
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs)
    y = tl.load(y_ptr + offs)
    tl.store(out_ptr + offs, a * x + y)


@triton.jit
def weighted_rows_kernel(x_ptr, w_ptr, out_ptr, K, N, BLOCK: tl.constexpr):
    # out[j] = sum over k < K (a runtime count) of w[k] * x[k, j]: one FMA and one strided
    # row load per (k, element); the loop's trip count is only known from the traced program.
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    acc = tl.zeros((BLOCK,), dtype=tl.float32)
    for k in range(K):
        acc += tl.load(w_ptr + k) * tl.load(x_ptr + k * N + offs)
    tl.store(out_ptr + offs, acc)


@triton.jit
def spilling_kernel(x_ptr, out_ptr, BLOCK: tl.constexpr):
    # A [BLOCK x BLOCK] fp32 tile reduced along both axes in one warp: far more live values than
    # a thread's 255 registers.
    r = tl.arange(0, BLOCK)
    tile = tl.load(x_ptr + r[:, None] * BLOCK + r[None, :])
    t = tl.exp(tile) * tl.sum(tile, axis=0)[None, :] + tl.sum(tile, axis=1)[:, None]
    tl.store(out_ptr + r[:, None] * BLOCK + r[None, :], t / tl.sum(t, axis=0)[None, :])


@triton.jit
def _row_load(ptr, k, N, offs):
    return tl.load(ptr + k * N + offs)


@triton.jit
def two_tiles_kernel(x_ptr, out_ptr, K, N, BLOCK: tl.constexpr):
    # One helper's load (one source location) on a [BLOCK] tile and a [BLOCK // 4] one, K runtime
    # passes of one loop: the compiler gives the two tiles different layouts (8 and 2 fp32 a thread
    # with 4 warps and BLOCK = 1024), as the nhwc_fma kernel's two channel chunks get.
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    small = tl.program_id(0) * (BLOCK // 4) + tl.arange(0, BLOCK // 4)
    acc = tl.zeros((BLOCK,), dtype=tl.float32)
    acc_small = tl.zeros((BLOCK // 4,), dtype=tl.float32)
    for k in range(K):
        acc += _row_load(x_ptr, k, N, offs)
        acc_small += _row_load(x_ptr, k, N, small)
    tl.store(out_ptr + offs, acc)
    tl.store(out_ptr + N + small, acc_small)


@triton.jit
def tiled_rows_kernel(x_ptr, out_ptr, TILES: tl.constexpr, COLS: tl.constexpr, BLOCK: tl.constexpr,
                      FLAT: tl.constexpr):
    # out[r, t] = (t + 1) * sum_j x[r, j]: the TILES programs of a row block read the same rows.
    if FLAT:  # one grid axis, a row block's tiles next to each other in launch order
        rb = tl.program_id(0) // TILES
        t = tl.program_id(0) % TILES
    else:  # the tiles on the second axis: each sweeps every row block before the next begins
        rb = tl.program_id(0)
        t = tl.program_id(1)
    r = rb * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + r[:, None] * COLS + tl.arange(0, COLS)[None, :])
    tl.store(out_ptr + r * TILES + t, tl.sum(x, axis=1) * (t + 1))
