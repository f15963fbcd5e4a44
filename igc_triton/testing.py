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


# Unit roundoff u (half the gap from 1 to the next number) of the arithmetic a result comes from.
UNIT_ROUNDOFF = {"float64": 2.0**-53, "float32": 2.0**-24, "tf32": 2.0**-11}
# A 3x3 convolution over 16 input channels: the reduction length when a caller gives none.
DEFAULT_REDUCTION = 144
# Floors, relative L2 error. fp64: the reference itself. fp32: fp32 accuracy, what fp32 with
# TF32 off must meet. 16-bit: the result (and, in the two-kernel path and the nhwc kernels,
# the intermediate t) is rounded to 16 bits: 2.6 u for bfloat16 (u = 2^-8), the same figure
# for float16 (u = 2^-11) as PyTorch's own conv tests give both 16-bit types about 1e-2.
FLOORS = {torch.float64: 1e-10, torch.float32: 1e-5, torch.float16: 1e-2, torch.bfloat16: 1e-2}


def tf32_in_use(dtype: torch.dtype, device_type: str) -> bool:
    """fp32 convolutions on a GPU may run on TF32 tensor cores when cuDNN may (the default,
    ``torch.backends.cudnn.allow_tf32``); the Triton kernels follow the same flag."""
    return dtype == torch.float32 and device_type == "cuda" and torch.backends.cudnn.allow_tf32


def tolerance(dtype: torch.dtype, device_type: str, k: int | None = None) -> float:
    """Largest accepted relative L2 error (:func:`rel_error`) of a result computed in ``dtype``
    on ``device_type`` from inputs representable in ``dtype``, each output a sum of ``k``
    products (a conv: input channels per group x kernel taps; an IGC block: its primary's
    plus its secondary's, L; default ``DEFAULT_REDUCTION``).

    ``max(floor, u * sqrt(k))``: each product carries a relative error up to about u (the
    operands' rounding: TF32 keeps 10 mantissa bits) and k independent errors add up to
    ``u * sqrt(k)`` times the products' norm (the probabilistic bound of Higham and Mary, SIAM
    J. Sci. Comput. 2019, with its constant taken as 1). With TF32, k = 144 gives 5.9e-3, where
    PyTorch's conv tests accept 5e-3 (``tf32_on_and_off(0.005)``). 16-bit inputs multiply
    exactly into fp32 sums, so their reduction term is fp32's and the floor (the 16-bit
    rounding of the result) dominates. fp32 with TF32 off: fp32 accuracy, 1e-5 up to k = 1.7e6.
    """
    k = DEFAULT_REDUCTION if k is None else max(int(k), 1)
    if dtype == torch.float64:
        u = UNIT_ROUNDOFF["float64"]
    elif tf32_in_use(dtype, device_type):
        u = UNIT_ROUNDOFF["tf32"]
    else:
        u = UNIT_ROUNDOFF["float32"]
    return max(FLOORS.get(dtype, 1e-2), u * math.sqrt(k))


def passes(out: torch.Tensor, ref: torch.Tensor, dtype: torch.dtype, device_type: str, k: int | None = None) -> bool:
    err = rel_error(out, ref)
    return err <= tolerance(dtype, device_type, k)  # False for NaN


def assert_close(out: torch.Tensor, ref: torch.Tensor, dtype: torch.dtype, k: int | None = None):
    """Shape, dtype, and relative error within :func:`tolerance` (NaN fails); ``k``: the
    reduction length of each output."""
    assert out.shape == ref.shape, f"shape {tuple(out.shape)} != reference {tuple(ref.shape)}"
    assert out.dtype == dtype, f"dtype {out.dtype} != {dtype}"
    err = rel_error(out, ref)
    tol = tolerance(dtype, out.device.type, k)
    assert err <= tol, f"relative error {err:.3e} > {tol:.1e} ({dtype}, k={k or DEFAULT_REDUCTION})"


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
