"""Where the nhwc blocks (``igc_block_nhwc.py``, ``igc_block_nhwc_fma.py``) write: channels_last,
or NCHW for a caller whose input was NCHW (copied to channels_last for the kernel, the output
written in the caller's layout, so it needs no copy back)."""

import triton
import triton.language as tl


@triton.jit
def nhwc_block_out(n, oh, ow, OH, OW, C: tl.constexpr, NCHW: tl.constexpr):
    """Output (and residual) offsets of pixels (oh, ow) of image ``n`` (int64) and their channel
    stride, in channels_last or, with ``NCHW``, in NCHW (both contiguous)."""
    if NCHW:
        pix = n * (C * OH * OW) + (oh * OW + ow)
        stride_c = OH * OW
    else:
        pix = (n * (OH * OW) + (oh * OW + ow)) * C
        stride_c = 1
    return pix, stride_c
