"""A ceiling, not an op: the bandwidth at which the SMs read data the L2 holds.

The cost model's tensor-core kernels copy their input tiles with 16-byte ``cp.async.cg``, which
does not allocate in L1: a 3x3 convolution's nine taps read overlapping tiles from L2 nine times.
Whether that bounds them needs the L2's read bandwidth, which no datasheet gives. Every program
reads blocks of a buffer small enough to stay in L2, pass after pass, with ``.cg`` loads (cached
in L2 only, so L1 serves none of it); ``timing.l2_read_bandwidth`` times two pass counts, L2
warm, and takes the difference, which cancels the launch and whatever else both calls pay once.
"""

import triton
import triton.language as tl


@triton.jit
def l2_read_kernel(x_ptr, out_ptr, n_blocks, PASSES: tl.constexpr, BLOCK: tl.constexpr):
    """out[pid, :] = the sum over every pass of the blocks ``pid, pid + programs, ...`` of x
    (shifted by one block per pass, so a program reads other addresses each time)."""
    pid = tl.program_id(0)
    programs = tl.num_programs(0)
    offs = tl.arange(0, BLOCK)
    acc = tl.zeros((BLOCK,), dtype=tl.float32)
    for r in range(PASSES):
        for b in range(pid, n_blocks, programs):
            blk = (b + r) % n_blocks
            acc += tl.load(x_ptr + blk * BLOCK + offs, cache_modifier=".cg")
    tl.store(out_ptr + pid * BLOCK + offs, acc)
