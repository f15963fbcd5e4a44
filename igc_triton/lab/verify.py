"""``igc-lab verify``: run the kernels against the float64 reference on a few shapes from the
paper's networks, on whatever device is present, and print a pass/fail table.

On a GPU the shapes are the paper's (batch 32); on a CPU they keep the channel structure
but shrink batch and spatial size, because the kernels then run under Triton's interpreter.
"""

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from igc_triton import functional, reference, runtime, testing


@dataclass(frozen=True)
class Case:
    name: str
    op: str  # "grouped_conv2d" | "igc_secondary" | "igc_conv2d"
    cin: int
    cout: int
    L: int  # groups of the primary conv (= groups for grouped_conv2d)
    hw: int  # input height = width on a GPU
    stride: int = 1

    @property
    def reduction(self) -> int:
        """Products summed into each output (3x3 taps over a group's inputs, then L for the
        secondary): the tolerance grows with it under TF32."""
        primary = self.cin // self.L * 9
        return {"grouped_conv2d": primary, "igc_secondary": self.L}.get(self.op, primary + self.L)


CASES = [
    Case("CIFAR IGC-L24M2 primary (stage 1)", "grouped_conv2d", 48, 48, 24, 32),
    Case("ImageNet IGC-L4M32 primary (stage 1)", "grouped_conv2d", 128, 128, 4, 56),
    Case("Xception depthwise 3x3 (M=1)", "grouped_conv2d", 64, 64, 64, 32),
    Case("CIFAR IGC-L24M2 secondary (stage 3, M=8)", "igc_secondary", 192, 192, 24, 8),
    Case("ImageNet IGC-L4M32 secondary", "igc_secondary", 128, 128, 4, 56),
    Case("CIFAR IGC-L24M2 block (stage 2, M=4)", "igc_conv2d", 96, 96, 24, 16),
    Case("CIFAR IGC-L24M2 transition 48->96, stride 2", "igc_conv2d", 48, 96, 24, 32, 2),
    Case("ImageNet IGC-L16M16 block", "igc_conv2d", 256, 256, 16, 28),
]


@dataclass
class Row:
    case: Case
    dtype: torch.dtype
    backend: str
    rel_error: float
    tolerance: float
    seconds: float

    @property
    def ok(self) -> bool:
        return self.rel_error <= self.tolerance  # False for NaN


def run_case(case: Case, dtype: torch.dtype, device: torch.device, small: bool) -> Row:
    g = torch.Generator().manual_seed(0)
    n, hw = (2, 6) if small else (32, case.hw)

    def rnd(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    x = rnd(n, case.cin, hw, hw)
    if case.op == "grouped_conv2d":
        w, b = rnd(case.cout, case.cin // case.L, 3, 3), rnd(case.cout)
        ref = F.conv2d(x, w, b, case.stride, 1, 1, case.L)
        call = lambda a, wa, ba: functional.grouped_conv2d(a, wa, ba, case.stride, 1, 1, case.L)  # noqa: E731
        args = (x, w, b)
    elif case.op == "igc_secondary":
        w = rnd(case.cout, case.L, 1, 1)
        ref = reference.igc_secondary(x, w, case.L)
        call = lambda a, wa: functional.igc_secondary(a, wa, case.L)  # noqa: E731
        args = (x, w)
    else:
        wp, ws = rnd(case.cout, case.cin // case.L, 3, 3), rnd(case.cout, case.L, 1, 1)
        ref = reference.igc_conv2d(x, wp, ws, case.L, case.stride, 1)
        call = lambda a, wpa, wsa: functional.igc_conv2d(a, wpa, wsa, case.L, case.stride, 1)  # noqa: E731
        args = (x, wp, ws)
    inputs = [a.to(device=device, dtype=dtype) for a in args]
    start = time.perf_counter()
    out = call(*inputs)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return Row(case, dtype, runtime.backend_for(inputs[0]), testing.rel_error(out, ref),
               testing.tolerance(dtype, device.type, case.reduction), seconds)


def run(device: torch.device, dtypes, progress=print) -> list[Row]:
    small = device.type != "cuda"
    rows = []
    for case in CASES:
        for dtype in dtypes:
            row = run_case(case, dtype, device, small)
            rows.append(row)
            if progress:
                progress(row)
    return rows


def format_row(row: Row) -> str:
    c = row.case
    shape = f"{c.cin}->{c.cout} L={c.L}" + (f" s{c.stride}" if c.stride != 1 else "")
    return (f"{'PASS' if row.ok else 'FAIL'}  {c.op:<15} {c.name:<46} {shape:<18} {str(row.dtype)[6:]:<9} "
            f"{row.backend:<12} {row.rel_error:9.2e} {row.tolerance:8.0e} {row.seconds * 1e3:9.1f}")


HEADER = (f"{'':4}  {'op':<15} {'case':<46} {'channels':<18} {'dtype':<9} {'backend':<12} "
          f"{'rel.err':>9} {'tol':>8} {'ms':>9}")
