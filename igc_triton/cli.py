"""``igc-lab``: the command line of the IGC Triton lab."""

import argparse
import os
import sys

DTYPE_NAMES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16", "fp64": "float64"}


def _cmd_verify(args) -> int:
    import torch
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device == "cuda" and not torch.cuda.is_available():
        print("igc-lab verify: --device cuda asked for, but no CUDA device is available", file=sys.stderr)
        return 2
    if args.device == "cpu":
        # The kernels are built on first use, so this still selects the interpreter here.
        os.environ.setdefault("TRITON_INTERPRET", "1")
    dtypes = args.dtype or (["fp32", "fp16", "bf16"] if args.device == "cuda" else ["fp32", "fp16"])
    if args.device == "cpu" and "bf16" in dtypes:
        print("igc-lab verify: bf16 is not supported by Triton's CPU interpreter", file=sys.stderr)
        return 2

    from igc_triton import runtime, verify
    device = torch.device(args.device)
    where = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    print(f"igc-lab verify on {where}: kernels vs float64 reference, relative L2 error")
    if device.type == "cpu" and not runtime.kernels_interpreted():
        print("note: Triton is not running in interpreter mode here, so CPU rows test the PyTorch fallback")
    print(verify.HEADER)
    rows = verify.run(device, [getattr(torch, DTYPE_NAMES[d]) for d in dtypes],
                      progress=lambda row: print(verify.format_row(row), flush=True))
    failed = sum(not r.ok for r in rows)
    print(f"{len(rows) - failed}/{len(rows)} passed" + (f", {failed} FAILED" if failed else ""))
    return 1 if failed else 0


def _cmd_compile_check(args) -> int:
    from igc_triton import compile_check
    return compile_check.run(args.arch, args.jobs)


def _cmd_paper_tables(args) -> int:
    from igc_triton import paper_tables
    print(paper_tables.render(args.format))
    return 0


def _cmd_train(args) -> int:
    import torch
    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu" and "triton" in args.backends:
        os.environ.setdefault("TRITON_INTERPRET", "1")
        print("note: no GPU, so the triton backend runs under Triton's interpreter (slow); "
              "try --steps 20 --size 8")
    from igc_triton import train
    every = max(1, args.steps // 10)

    def progress(backend, step, loss):
        if step % every == 0 or step == args.steps - 1:
            print(f"  [{backend}] step {step + 1}/{args.steps}  loss {loss:.4f}", flush=True)

    runs = []
    for backend in args.backends:
        print(f"training {train.MODELS[args.model][1]} with the {backend} backend on {device}")
        runs.append(train.train(args.model, backend, args.steps, args.batch, args.size, seed=args.seed,
                                device=device, progress=progress))
    title = f"{train.MODELS[args.model][1]}, batch {args.batch}, {args.size}x{args.size}, {device}"
    csv_path, png_path = train.write_outputs(runs, args.out, title)
    for r in runs:
        print(f"{r.backend:>10}: final loss {r.losses[-1]:.4f}, accuracy {r.accuracy[-1]:.2f}, {r.seconds:.1f} s")
    if len(runs) > 1:
        gap = max(abs(a - b) for a, b in zip(runs[0].losses, runs[1].losses))
        print(f"largest loss difference between {runs[0].backend} and {runs[1].backend}: {gap:.2e}")
    print(f"wrote {csv_path}" + (f" and {png_path}" if png_path else " (install matplotlib for the plot)"))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="igc-lab",
        description="Triton kernels for Interleaved Group Convolutions: verification and tools.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("verify", help="check the kernels against the float64 reference on paper shapes",
                       description="Run every kernel on shapes from the paper's networks against the float64 "
                                   "reference and print a pass/fail table. Exits 1 if any row fails. "
                                   "Without a GPU the kernels run under Triton's interpreter on small inputs.")
    p.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto",
                   help="where to run (default: cuda if available, else cpu)")
    p.add_argument("--dtype", choices=sorted(DTYPE_NAMES), action="append",
                   help="dtype to check; repeat for several (default: fp32 fp16, plus bf16 on cuda)")
    p.set_defaults(func=_cmd_verify)

    p = sub.add_parser("compile-check", help="compile every kernel config for a GPU target, no GPU needed",
                       description="Compile every kernel in every config of its space for sm_ARCH with "
                                   "Triton's bundled ptxas. Exits 1 if any fails.")
    p.add_argument("--arch", type=int, default=90, help="compute capability x10 (default 90: H100/H200)")
    p.add_argument("--jobs", type=int, default=2, help="parallel compiler processes (default 2)")
    p.set_defaults(func=_cmd_compile_check)

    p = sub.add_parser("paper-tables", help="the paper's params/FLOPs numbers beside our counts",
                       description="Every parameter and FLOP number of the seed slides beside our count of the "
                                   "same network (paper conventions: multiply-adds of conv and FC layers, "
                                   "no BN, no projection shortcuts), the relative difference and whether it "
                                   "matches at the printed precision. Mismatches carry their explanation.")
    p.add_argument("--format", choices=["md", "csv", "json"], default="md",
                   help="md: aligned markdown table, readable in a terminal (default); csv; json")
    p.set_defaults(func=_cmd_paper_tables)

    p = sub.add_parser("train", help="train a paper network with each backend and plot the loss curves",
                       description="Train one of the paper's networks on generated CIFAR-shaped data with the "
                                   "Triton and the reference backend from the same seed, and write losses.csv "
                                   "and losses.png to --out.")
    p.add_argument("--model", choices=["plain-igc", "resnet-igc", "xception-igc"], default="plain-igc")
    p.add_argument("--backends", type=lambda s: s.split(","), default=["triton", "reference"],
                   help="comma-separated, from triton,reference (default: both)")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=16, help="image height = width (default 16)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
    p.add_argument("--out", default="runs/train", help="output folder (default runs/train)")
    p.set_defaults(func=_cmd_train)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
