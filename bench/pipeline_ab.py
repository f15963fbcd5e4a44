"""Latency hiding and L1 reuse in the channels_last tensor-core kernels, A/B, on a GPU machine:
every layer of a suite that they take, timed as CUDA graph replays in the config the code picks
(model-ranked, autotuning off) and in variants of it. The fused *nhwc* form (M >= 4): the same
tile and channel block without the tap pipeline (num_stages=1: each tap loaded into registers,
then staged through shared memory for the tensor cores), with the tap loop's unrolling flipped,
and with the input copied in 8-byte pieces that L1 keeps (TAPS_L1=1: 16-byte cp.async bypasses
L1, so each tap re-reads its tile from L2). The *nhwc_fma* form (M = 1, 2): with its kernel-row
prefetch flipped (PREFETCH). The *primary* of the two-kernel call where the nhwc_gemm kernel
takes it (the call timed whole, its secondary unchanged): TAPS_L1 flipped, without the
pipeline (num_stages=1: plain loads, which L1 caches, staged through shared memory), and TAPS_L1
flipped at 2 stages (less shared memory, more of the SM left to L1). Checked against the float64
reference. Prints a table; ``--csv PATH`` also writes it, row by row (a run cut off keeps what it
timed); a layer that fails (compile error, out of memory) is a row with its error, and the run
goes on.

    python3 bench/pipeline_ab.py [--suite roofline] [--dtype bf16] [--forms nhwc,primary] [--cases 'igc-*']
                                 [--csv ab.csv]

``--device cpu`` (with TRITON_INTERPRET=1) is a dry run of the script itself: one image, at most
8x8, timed on the CPU; its times mean nothing.

Why: the cost model assumes latency hidden (it predicts the pipeline 1.1-1.5x faster, the prefetch
no faster); measured on an H100, the unpipelined nhwc kernel ran at 2-5x the model's time and the
nhwc_fma one at about 2x (reports/2026-11-26-h100-roofline). It has no L2 term: the tensor-core
kernels whose taps come from L2 (LDGSTS.E.BYPASS.128 in their machine code) ran at about 2x
their predictions on the H200 (reports/2026-11-27-h200-paper-layers), which an L2 bound would
explain; TAPS_L1 is the variant that would show it.
"""

import argparse
import csv
import fnmatch
import os
import sys

os.environ.setdefault("IGC_TRITON_AUTOTUNE", "off")  # the model-ranked default, as the bench runs it

import torch  # noqa: E402
import triton  # noqa: E402

from igc_triton import functional, reference, testing  # noqa: E402
from igc_triton.lab import suites  # noqa: E402
from igc_triton.launch import autotune, launchers, timing, tuning  # noqa: E402

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


# form -> (its kernel, the tuning function giving its candidates, the call that runs it)
FORMS = {"nhwc": ("igc_block_nhwc", "nhwc_candidates", functional.igc_block),
         "nhwc_fma": ("igc_block_nhwc_fma", "nhwc_fma_candidates", functional.igc_block),
         "primary": ("grouped_conv2d_fwd_nhwc_gemm", "nhwc_gemm_candidates", functional.igc_conv2d)}


def variants(form: str, cfg: triton.Config) -> list[tuple[str, triton.Config]]:
    """The picked config, then its variants (see the module's text)."""
    kw = cfg.kwargs

    def make(stages=cfg.num_stages, **changed):
        return triton.Config({**kw, **changed}, num_warps=cfg.num_warps, num_stages=stages)
    if form == "nhwc_fma":
        return [("picked", cfg), ("prefetch flipped", make(PREFETCH=1 - kw["PREFETCH"]))]
    out = [("picked", cfg)]
    l1 = 1 - kw.get("TAPS_L1", 0)
    if cfg.num_stages != 1:
        out.append(("no pipeline (num_stages=1)", make(1)))
    if form == "nhwc":
        out.append(("unroll flipped", make(UNROLL=1 - kw["UNROLL"])))
    out.append((f"TAPS_L1={l1}", make(TAPS_L1=l1)))
    if form == "primary" and cfg.num_stages > 2:
        out.append((f"TAPS_L1={l1}, num_stages=2", make(2, TAPS_L1=l1)))
    return out


def picked_config(form, x, wp, ws, L) -> triton.Config | None:
    """The config the block's call picks for the form's kernel; None if the call ran no such kernel
    (on a CPU without TRITON_INTERPRET=1 it runs the PyTorch reference)."""
    with autotune.TUNER.record() as seen:
        FORMS[form][2](x, wp, ws, L)
    return next((cfg for (kernel, _), (cfg, _) in seen.items() if kernel == FORMS[form][0]), None)


def run_forced(form, cfg, x, wp, ws, L, device):
    """The block with the form's config forced to ``cfg`` (a fresh tuner: no remembered choice)."""
    name = FORMS[form][1]
    real, tuner = getattr(tuning, name), autotune.TUNER
    setattr(tuning, name, lambda *a: [cfg])
    autotune.TUNER = autotune.Tuner()

    def fn():
        return FORMS[form][2](x, wp, ws, L)
    try:
        out = fn()
        t = timing.time_cuda(fn, graph=True) if device.type == "cuda" else timing.time_cpu(fn, 0, 1)
    finally:
        setattr(tuning, name, real)
        autotune.TUNER = tuner
    return out, t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", default="roofline")
    ap.add_argument("--dtype", default="bf16", choices=sorted(DTYPES))
    ap.add_argument("--forms", default="nhwc,nhwc_fma,primary",
                    help=f"comma-separated, of {', '.join(FORMS)} (default: all)")
    ap.add_argument("--cases", help="only the layers whose names match these comma-separated shell patterns")
    ap.add_argument("--csv", help="also write the rows here")
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu: a dry run under TRITON_INTERPRET=1")
    args = ap.parse_args(argv)
    dev, dt = torch.device(args.device), DTYPES[args.dtype]
    if dev.type == "cuda" and not torch.cuda.is_available():
        print("pipeline_ab.py needs a CUDA GPU (or --device cpu for a dry run)", file=sys.stderr)
        return 2
    forms = [f.strip() for f in args.forms.split(",") if f.strip()]
    unknown = [f for f in forms if f not in FORMS]
    if unknown:
        ap.error(f"unknown form(s) {', '.join(unknown)}; choose from {', '.join(FORMS)}")
    patterns = [p.strip() for p in (args.cases or "*").split(",") if p.strip()]
    layers = []
    for ly in suites.load(args.suite).layers:
        if not (ly.L and ly.stride == 1 and any(fnmatch.fnmatchcase(ly.name, p) for p in patterns)):
            continue
        fused = launchers.fused_block_form(ly.cin, ly.cout, ly.L, dt, True)
        # The primary's kernel is known once it ran (picked_config): every layer is tried.
        layers += [(ly, form) for form in forms if form == fused or form == "primary"]
    if not layers:
        print(f"no layer of {args.suite} matches {args.cases or '*'} in the forms {', '.join(forms)}", file=sys.stderr)
        return 2
    gpu = torch.cuda.get_device_name() if dev.type == "cuda" else "cpu (dry run)"
    f = open(args.csv, "w", newline="") if args.csv else None
    writer = csv.writer(f) if f else None
    if writer:
        writer.writerow(["case", "variant", "config", "median_us", "correct", "gpu", "triton", "dtype", "error"])
    ok_all = True

    def emit(case, variant, desc, us, ok, error=""):
        # Row by row, flushed: a run cut off by its budget keeps what it timed.
        print(f"{case:<32} {variant:<36} {desc:<48} {us:8.1f} us  {'ok' if ok else error or 'WRONG'}", flush=True)
        if writer:
            writer.writerow([case, variant, desc, f"{us:.2f}", ok, gpu, triton.__version__, args.dtype, error])
            f.flush()
    with torch.no_grad():
        data = {}
        for ly, form in layers:
            if ly.name not in data:  # the same inputs and reference for each form of a layer
                g = torch.Generator(device="cpu").manual_seed(0)
                n, hw = (ly.batch, ly.hw) if dev.type == "cuda" else (1, min(ly.hw, 8))
                x64 = torch.randn(n, ly.cin, hw, hw, dtype=torch.float64, generator=g)
                wp64 = torch.randn(ly.cout, ly.cin // ly.L, 3, 3, dtype=torch.float64, generator=g) / 3
                ws64 = torch.randn(ly.cout, ly.L, 1, 1, dtype=torch.float64, generator=g) / ly.L ** 0.5
                x = x64.to(dev, dt).contiguous(memory_format=torch.channels_last)
                data = {ly.name: [x, wp64.to(dev, dt), ws64.to(dev, dt), None]}
            x, wp, ws, ref = data[ly.name]
            try:
                picked = picked_config(form, x, wp, ws, ly.L)
                if picked is None:
                    print(f"{ly.name:<32} {form}: its kernel did not run (skipped)", flush=True)
                    continue
                if ref is None:
                    ref = data[ly.name][3] = reference.igc_conv2d(x.double(), wp.double(), ws.double(), ly.L,
                                                                   padding=1)
                for name, cfg in variants(form, picked):
                    desc = " ".join(f"{k}={v}" for k, v in cfg.kwargs.items()) + f" w{cfg.num_warps} s{cfg.num_stages}"
                    out, t = run_forced(form, cfg, x, wp, ws, ly.L, dev)
                    ok = testing.rel_error(out.double(), ref) <= testing.tolerance(dt, dev.type)
                    ok_all &= ok
                    emit(ly.name, f"{form}: {name}", desc, t.p50 * 1e3, ok)
            except Exception as e:  # noqa: BLE001 - one layer's failure (compile, memory) must not end the run
                ok_all = False
                emit(ly.name, form, "", float("nan"), False, f"{type(e).__name__}: {str(e).splitlines()[0][:200]}")
    if f:
        f.close()
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
