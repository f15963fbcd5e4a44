"""Where an eager call's host time goes, on a GPU machine: Triton's launch of an empty kernel
(with 1 argument, and with as many arguments and compile-time constants as the nhwc_fma block
kernel), the fused block end to end (functional, and as a fused module whose weights are laid
out once), the same with every Triton launch replaced by a no-op
(our Python alone), and cuDNN's convolution for scale. Median microseconds per call to return
(``timing.host_us``: launches queued, not run). Prints a table; ``--csv PATH`` also writes it.

    python3 bench/host_overhead.py [--csv host.csv] [--profile host_profile.txt]

Measured on an H100 (reports/2026-11-26-h100-roofline-hostfix): an eager fused block call
takes 0.14-0.42 ms of host time; this splits it.
"""

import argparse
import csv
import sys

import torch
import triton
import triton.language as tl

from igc_triton import functional, ops
from igc_triton.fuse import FusedIGCBlock
from igc_triton.launch import timing
from igc_triton.nn import IGCConv2d


@triton.jit
def _empty_kernel(x_ptr):
    pass


@triton.jit
def _wide_kernel(a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q,
                 C0: tl.constexpr, C1: tl.constexpr, C2: tl.constexpr, C3: tl.constexpr, C4: tl.constexpr,
                 C5: tl.constexpr, C6: tl.constexpr, C7: tl.constexpr, C8: tl.constexpr, C9: tl.constexpr,
                 C10: tl.constexpr, C11: tl.constexpr, C12: tl.constexpr, C13: tl.constexpr, C14: tl.constexpr):
    pass


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", help="also write the rows here")
    ap.add_argument("--profile", help="also write here where the eager block call's host time goes (cProfile, "
                                      "2000 calls, by own time)")
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("host_overhead.py needs a CUDA GPU", file=sys.stderr)
        return 2
    dev = torch.device("cuda")
    t = torch.empty(1024, device=dev)
    ints = [7] * 10
    consts = dict(C0=1, C1=3, C2=3, C3=2, C4=64, C5=48, C6=1, C7=1, C8=False, C9=False, C10=True, C11="tf32",
                  C12=2, C13=32, C14=4)
    x = torch.randn(128, 48, 32, 32, device=dev, dtype=torch.bfloat16).contiguous(memory_format=torch.channels_last)
    wp = torch.randn(48, 2, 3, 3, device=dev, dtype=torch.bfloat16)
    ws = torch.randn(48, 24, 1, 1, device=dev, dtype=torch.bfloat16)
    w_reg = torch.randn(48, 48, 3, 3, device=dev, dtype=torch.bfloat16)
    igc = IGCConv2d(48, 48, 3, L=24, device=dev, dtype=torch.bfloat16)
    module = FusedIGCBlock(igc.eval(), None, relu=False)  # as fuse_for_inference makes it
    cases = [
        ("triton launch, empty kernel, 1 argument", lambda: _empty_kernel[(1,)](t)),
        ("triton launch, empty kernel, 7 tensors + 10 ints + 15 constexprs",
         lambda: _wide_kernel[(1,)](t, t, t, t, t, t, t, *ints, **consts)),
        ("igc_block C=48 L=24 bf16 channels_last, eager", lambda: functional.igc_block(x, wp, ws, 24)),
        ("igc_block C=48 L=24 bf16 channels_last, eager, through the dispatcher (the torch.library op)",
         _through_op(lambda: functional.igc_block(x, wp, ws, 24))),
        ("fused module (weights laid out once), same block, eager", lambda: module(x)),
        ("igc_block C=48 L=24 bf16 NCHW (on a channels_last copy), eager",
         lambda: functional.igc_block(x.contiguous(), wp, ws, 24)),
        ("cudnn conv2d 48->48 3x3 bf16 channels_last", lambda: torch.nn.functional.conv2d(x, w_reg, padding=1)),
    ]
    rows = []
    with torch.no_grad():
        for name, fn in cases:
            fn()
            torch.cuda.synchronize()
            rows.append((name, timing.host_us(fn, calls=200)))
        # Our Python alone: the same call with every JIT launch a no-op (compiled already).
        from triton.runtime import jit
        real = jit.JITFunction.run
        jit.JITFunction.run = lambda self, *a, **k: None
        try:
            rows.append(("igc_block C=48 L=24 bf16 channels_last, launches stubbed (our Python)",
                         timing.host_us(lambda: functional.igc_block(x, wp, ws, 24), calls=200)))
        finally:
            jit.JITFunction.run = real
    if args.profile:
        _profile(lambda: functional.igc_block(x, wp, ws, 24), args.profile)
    width = max(len(n) for n, _ in rows)
    print(f"{'host time per call, median':<{width}}  us   ({torch.cuda.get_device_name()}, triton "
          f"{triton.__version__}, torch {torch.__version__})")
    for name, us in rows:
        print(f"{name:<{width}}  {us:7.1f}")
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["case", "host_us", "gpu", "triton", "torch"])
            for name, us in rows:
                w.writerow([name, f"{us:.2f}", torch.cuda.get_device_name(), triton.__version__, torch.__version__])
    return 0


def _through_op(fn):
    """``fn`` with functional's direct path off (``ops.plain_eager`` False): the call as it was
    before eager calls skipped the dispatcher."""
    def call():
        direct = ops.plain_eager
        ops.plain_eager = lambda tensors: False
        try:
            return fn()
        finally:
            ops.plain_eager = direct
    return call


def _profile(fn, path: str):
    """cProfile of ``fn`` called 2000 times (in batches, the GPU drained between them, as
    ``timing.host_us`` does), the top 40 functions by own time, to ``path``."""
    import cProfile
    import io
    import pstats
    prof = cProfile.Profile()
    with torch.no_grad():
        for _ in range(400):
            torch.cuda.synchronize()
            prof.enable()
            for _ in range(5):
                fn()
            prof.disable()
    torch.cuda.synchronize()
    text = io.StringIO()
    pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(40)
    with open(path, "w") as f:
        f.write(text.getvalue())


if __name__ == "__main__":
    sys.exit(main())
