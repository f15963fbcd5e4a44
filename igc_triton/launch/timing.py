"""Timers and hardware ceilings for the benchmark harness.

GPU: CUDA events around each call, the L2 cache flushed before every call (a 256 MB buffer
is zeroed, as ``triton.testing.do_bench`` does), warm-up first; optionally the call is
captured once as a CUDA graph and the graph replayed (no launch gaps). CPU:
``time.perf_counter`` around each call after warm-up (no cache flush). Both report the
median and the 20th/80th percentiles in milliseconds.
"""

import functools
import statistics
import time
import warnings
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Timing:
    p50: float
    p20: float
    p80: float
    reps: int
    timer: str


def _quantiles(ms: list[float], timer: str) -> Timing:
    ms = sorted(ms)
    if len(ms) == 1:
        return Timing(ms[0], ms[0], ms[0], 1, timer)
    q = statistics.quantiles(ms, n=10, method="inclusive")  # deciles: q[1] = p20, q[7] = p80
    return Timing(statistics.median(ms), q[1], q[7], len(ms), timer)


def time_cuda(fn, warmup_ms: float = 25, rep_ms: float = 100, graph: bool = False, max_reps: int = 1000,
              flush: bool = True) -> Timing:
    """``flush=False`` keeps what the last call left in L2 (for the L2 ceiling, which needs it there)."""
    cache = torch.empty(256 * 1024 * 1024 // 4, dtype=torch.int32, device="cuda") if flush else None
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    call = fn
    if graph:
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            fn()  # warm the side stream before capture
        torch.cuda.current_stream().wait_stream(stream)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            fn()
        call = g.replay
    # Estimate one call to size warm-up and repetitions.
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(5):
        if flush:
            cache.zero_()
        call()
    end.record()
    torch.cuda.synchronize()
    estimate = max(start.elapsed_time(end) / 5, 1e-3)
    for _ in range(max(1, int(warmup_ms / estimate))):
        call()
    reps = max(5, min(max_reps, int(rep_ms / estimate)))
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    for s, e in zip(starts, ends):
        if flush:
            cache.zero_()  # flush L2 so every call reads its inputs from HBM
        s.record()
        call()
        e.record()
    torch.cuda.synchronize()
    return _quantiles([s.elapsed_time(e) for s, e in zip(starts, ends)], "cuda-graph" if graph else "cuda-events")


def time_cpu(fn, min_seconds: float = 0.2, max_reps: int = 50) -> Timing:
    fn()
    fn()
    ms, spent = [], 0.0
    while len(ms) < 3 or (spent < min_seconds and len(ms) < max_reps):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        ms.append(dt * 1e3)
        spent += dt
    return _quantiles(ms, "cpu-perf-counter")


def host_us(fn, calls: int = 50) -> float:
    """Median host microseconds one call takes to return on a GPU (launches queued, not run:
    the Python and launch overhead a CUDA graph removes), over ``calls`` calls in batches of 5
    with the GPU drained between them so that the launch queue never fills."""
    per_call = []
    for _ in range(max(1, calls // 5)):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(5):
            fn()
        per_call.append((time.perf_counter() - t0) / 5 * 1e6)
    torch.cuda.synchronize()
    return statistics.median(per_call)


def time_fn(fn, device: torch.device, graph: bool = False) -> Timing:
    return time_cuda(fn, graph=graph) if device.type == "cuda" else time_cpu(fn)


def copy_bandwidth(device: torch.device) -> float:
    """Measured device-to-device copy bandwidth in GB/s (bytes read + bytes written)."""
    n = (1 << 30) if device.type == "cuda" else (1 << 27)
    src = torch.empty(n // 4, dtype=torch.float32, device=device).fill_(1.0)
    dst = torch.empty_like(src)
    t = time_fn(lambda: dst.copy_(src), device)
    return 2 * n / (t.p50 * 1e-3) / 1e9


L2_READ_BYTES = 16 << 20  # 0.4 of the smallest L2 of the cost model's GPUs (A100: 40 MB)
L2_READ_PASSES = (8, 72)


def l2_read_bandwidth(device: torch.device) -> float | None:
    """Measured rate, GB/s, at which every SM together reads a buffer held in L2, with L1
    bypassed (``kernels/l2_read.py``): (72 - 8) passes over 16 MB divided by the time the 64
    extra passes take (a warm-up call puts the buffer in L2; the difference cancels the launch
    and whatever else both calls pay once). None off a GPU, and None (with a warning) where the
    kernel fails or the two times do not differ: a ceiling that cannot be measured must not stop
    the bench."""
    if device.type != "cuda":
        return None
    try:
        return _l2_read_bandwidth(device)
    except Exception as e:  # noqa: BLE001 - compile or launch failure: no ceiling, the bench goes on
        warnings.warn(f"L2 read bandwidth not measured: {type(e).__name__}: {e}", stacklevel=2)
        return None


def _l2_read_bandwidth(device: torch.device) -> float | None:
    from igc_triton.kernels.l2_read import l2_read_kernel
    block = 4096
    n_blocks = L2_READ_BYTES // 4 // block
    x = torch.ones(n_blocks * block, dtype=torch.float32, device=device)
    programs = 4 * torch.cuda.get_device_properties(device).multi_processor_count
    out = torch.empty(programs * block, dtype=torch.float32, device=device)
    ms = {passes: time_cuda(functools.partial(l2_read_kernel[(programs,)], x, out, n_blocks, PASSES=passes,
                                              BLOCK=block, num_warps=8), flush=False).p50
          for passes in L2_READ_PASSES}
    extra = L2_READ_PASSES[1] - L2_READ_PASSES[0]
    dt_ms = ms[L2_READ_PASSES[1]] - ms[L2_READ_PASSES[0]]
    if not dt_ms > 0:
        warnings.warn(f"L2 read bandwidth not measured: {L2_READ_PASSES[1]} passes took {ms[L2_READ_PASSES[1]]:.4f} "
                      f"ms, {L2_READ_PASSES[0]} took {ms[L2_READ_PASSES[0]]:.4f} ms", stacklevel=3)
        return None
    return extra * n_blocks * block * 4 / (dt_ms * 1e-3) / 1e9


def gemm_tflops(device: torch.device, dtype: torch.dtype) -> float:
    """Measured dense GEMM rate in TFLOP/s (8192^3 on a GPU, 1024^3 on a CPU), for ``dtype``
    with the current TF32 settings (fp32 on a GPU is TF32 when torch allows it)."""
    n = 8192 if device.type == "cuda" else 1024
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    t = time_fn(lambda: a @ b, device)
    return 2 * n ** 3 / (t.p50 * 1e-3) / 1e12
