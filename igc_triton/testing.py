"""Test utilities shared by the test suite and ``igc-lab verify``: numerical comparison
against the float64 reference (DESIGN.md section 4) and input layouts."""

import math

import torch


def rel_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    """``||out - ref|| / ||ref||`` in float64; NaN when ``out`` holds a NaN or inf (never passes)."""
    out = out.detach().to(device=ref.device, dtype=torch.float64)
    ref = ref.detach().to(torch.float64)
    if not torch.isfinite(out).all():
        return math.nan
    denom = ref.norm().item()
    diff = (out - ref).norm().item()
    return diff / denom if denom > 0 else diff


def tolerance(dtype: torch.dtype, device_type: str) -> float:
    """Largest accepted relative error for a result computed in ``dtype`` on ``device_type``.

    fp32 on a GPU may run on TF32 tensor cores (``torch.backends.cudnn.allow_tf32``, the
    default, as for ``F.conv2d``): 10-bit mantissas give relative errors of a few 1e-4.
    """
    if dtype == torch.float64:
        return 1e-10
    if dtype == torch.float32:
        if device_type == "cuda" and torch.backends.cudnn.allow_tf32:
            return 1e-3
        return 1e-5
    return 1e-2  # float16, bfloat16


def passes(out: torch.Tensor, ref: torch.Tensor, dtype: torch.dtype, device_type: str) -> bool:
    err = rel_error(out, ref)
    return err <= tolerance(dtype, device_type)  # False for NaN


def assert_close(out: torch.Tensor, ref: torch.Tensor, dtype: torch.dtype):
    """Shape, dtype, and relative error within :func:`tolerance` (NaN fails)."""
    assert out.shape == ref.shape, f"shape {tuple(out.shape)} != reference {tuple(ref.shape)}"
    assert out.dtype == dtype, f"dtype {out.dtype} != {dtype}"
    err = rel_error(out, ref)
    tol = tolerance(dtype, out.device.type)
    assert err <= tol, f"relative error {err:.3e} > {tol:.0e} ({dtype})"


LAYOUTS = ("nchw", "channels_last", "strided")


def to_layout(x: torch.Tensor, layout: str) -> torch.Tensor:
    """``x`` as an NCHW-contiguous, channels_last, or non-contiguous strided tensor (same values)."""
    if layout == "nchw":
        return x.contiguous()
    if layout == "channels_last":
        return x.contiguous(memory_format=torch.channels_last)
    if layout == "strided":
        # A view into a buffer twice as wide: a layout no kernel may assume.
        n, c, h, w = x.shape
        buf = torch.zeros(n, c, h, 2 * w, dtype=x.dtype, device=x.device)
        buf[..., ::2] = x
        return buf[..., ::2]
    raise ValueError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")
