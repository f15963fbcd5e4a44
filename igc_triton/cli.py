"""``igc-lab``: the command line of the IGC Triton lab."""

import argparse
import math
import os
import pathlib
import sys

DTYPE_NAMES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16", "fp64": "float64"}


def _cmd_verify(args) -> int:
    import torch
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device == "cuda" and not torch.cuda.is_available():
        print("igc-lab verify: --device cuda asked for, but no CUDA device is available", file=sys.stderr)
        return 2
    dtypes = args.dtype or (["fp32", "fp16", "bf16"] if args.device == "cuda" else ["fp32", "fp16"])
    if args.device == "cpu" and "bf16" in dtypes:
        print("igc-lab verify: bf16 is not supported by Triton's CPU interpreter", file=sys.stderr)
        return 2
    if args.device == "cpu":
        # The kernels are built on first use, so this still selects the interpreter here.
        os.environ.setdefault("TRITON_INTERPRET", "1")

    from igc_triton import runtime
    from igc_triton.lab import verify
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
    from igc_triton.lab import compile_check
    return compile_check.run(args.arch, args.jobs)


def _cmd_inspect(args) -> int:
    from igc_triton.lab.inspect import command
    return command.run(args)


def _cmd_paper_tables(args) -> int:
    from igc_triton.lab import paper_tables
    print(paper_tables.render(args.format))
    return 0


def _cmd_train(args) -> int:
    import torch
    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu" and "triton" in args.backends:
        os.environ.setdefault("TRITON_INTERPRET", "1")
        print("note: no GPU, so the triton backend runs under Triton's interpreter (slow); "
              "try --steps 20 --size 8")
    from igc_triton.lab import train
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


def _add_dtype_and_layout_args(p):
    p.add_argument("--dtype", type=lambda s: s.split(","), help="comma-separated, from fp32,fp16,bf16 "
                                                                "(default: the suite's)")
    p.add_argument("--layout", type=lambda s: s.split(","), help="comma-separated, from nchw,channels_last "
                                                                 "(default: the suite's)")


def _check_dtypes_and_layouts(args):
    """ValueError naming any unknown ``--dtype`` or ``--layout`` value."""
    from igc_triton.lab import suites
    for flag, values, allowed in (("--dtype", args.dtype, suites.DTYPES), ("--layout", args.layout, suites.LAYOUTS)):
        bad = [v for v in values or [] if v not in allowed]
        if bad:
            raise ValueError(f"unknown {flag} {', '.join(bad)}; choose from {', '.join(allowed)}")


def _cmd_bench(args) -> int:
    import torch
    shard = args.shard
    from igc_triton.lab import harness
    if shard is None:
        shard = harness.torchrun_shard() or (0, 1)
    device = args.device
    if device == "auto":
        if torch.cuda.is_available():
            # Ranks beyond the GPUs there are (torchrun on a machine with fewer) share them.
            local = int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count()
            device = f"cuda:{local}"
        else:
            device = "cpu"
    if device == "cpu":
        # Without a GPU the Triton providers are checked for correctness under the interpreter.
        os.environ.setdefault("TRITON_INTERPRET", "1")
    from igc_triton.lab import providers, suites
    name = args.suite or ("paper-layers" if device.startswith("cuda") else "smoke")
    try:
        suite = suites.load(name)
        if args.cases:
            suite = suites.select(suite, args.cases)
        if args.providers:
            providers.parse_providers(args.providers)
        _check_dtypes_and_layouts(args)
    except ValueError as e:
        print(f"igc-lab bench: {e}", file=sys.stderr)
        return 2
    out = args.out or os.path.join("runs", name)
    print(f"igc-lab bench: suite {name} ({len(suite.layers)} layers, {len(suite.networks)} network pairs) on "
          f"{device}, shard {shard[0]}/{shard[1]}, results in {out}")
    try:
        done, skipped = harness.run(suite, out, args.providers, args.dtype, args.layout, args.resume, shard, device,
                                    progress=lambda line: print(line, flush=True), budget_s=args.budget_s)
    except (FileExistsError, ValueError) as e:
        print(f"igc-lab bench: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished measurements are saved in {out}; rerun with --resume to complete",
              file=sys.stderr)
        return 130
    print(f"{done} measurements run" + (f", {skipped} already done (--resume)" if skipped else ""))
    if args.report and shard[1] == 1:
        from igc_triton.lab import report
        path = report.write(out)
        print(f"report: {path}")
    return 0


def _cmd_selfcheck(args) -> int:
    import torch

    from igc_triton.lab import selfcheck
    on_gpu = torch.cuda.is_available() and args.device != "cpu"
    if args.device == "cuda" and not torch.cuda.is_available():
        print("igc-lab selfcheck: --device cuda asked for, but no CUDA device is available", file=sys.stderr)
        return 2
    from igc_triton.lab import providers, suites
    try:
        if args.providers:
            providers.parse_providers(args.providers)
        if args.suite:
            suites.load(args.suite)
    except ValueError as e:
        print(f"igc-lab selfcheck: {e}", file=sys.stderr)
        return 2
    name = torch.cuda.get_device_name() if on_gpu else "cpu"
    out = args.out or selfcheck.default_out(name)
    check = selfcheck.Selfcheck(out, args.budget_s, on_gpu, suite=args.suite, tests=args.tests,
                                providers=args.providers, progress=lambda line: print(line, flush=True))
    try:
        rc = check.run()
    except FileExistsError as e:
        print(f"igc-lab selfcheck: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        check._write_summary()
        print(f"\ninterrupted: what finished is in {out}", file=sys.stderr)
        return 130
    print()
    print((pathlib.Path(out) / "summary.md").read_text())
    return rc


def _cmd_tune(args) -> int:
    import torch

    from igc_triton.lab import suites
    from igc_triton.launch import autotune
    device = torch.device(args.device if args.device != "auto" else "cuda")
    if device.type != "cuda" or not torch.cuda.is_available():
        print("igc-lab tune: needs a CUDA GPU (under Triton's interpreter every kernel has a single config: "
              "nothing to tune)", file=sys.stderr)
        return 2
    try:
        suite = suites.load(args.suite)
        if autotune.mode() == autotune.OFF and not args.force:
            raise ValueError(f"{autotune.ENV_MODE}=off: nothing would be tuned (unset it, or pass --force)")
        _check_dtypes_and_layouts(args)
    except ValueError as e:
        print(f"igc-lab tune: {e}", file=sys.stderr)
        return 2
    os.environ[autotune.ENV_MODE] = autotune.FULL if args.force else autotune.CACHED
    from igc_triton.lab import tune
    gpu = autotune.gpu_name(device)
    print(f"igc-lab tune: suite {suite.name} on {gpu}; tuning cache {autotune.cache_path(gpu)}", flush=True)
    chosen = tune.tune_suite(suite, device, args.dtype, args.layout, args.training,
                             progress=lambda line: print(line, flush=True))
    print(tune.table(chosen))
    if args.ship:
        print(f"shipped configs: {tune.ship(chosen, gpu)}")
    return 0


def _cmd_report(args) -> int:
    from igc_triton.lab import report
    try:
        path = report.write(args.results_dir, args.out)
    except (FileNotFoundError, ValueError) as e:
        print(f"igc-lab report: {e}", file=sys.stderr)
        return 2
    print(f"report: {path}")
    return 0


def _cmd_merge(args) -> int:
    from igc_triton.lab import merge
    try:
        path = merge.merge(args.runs, args.into, args.allow_mixed)
    except (merge.MergeError, FileNotFoundError) as e:
        print(f"igc-lab merge: {e}", file=sys.stderr)
        return 2
    print(f"report: {path}")
    return 0


def _shard(text):
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard must be I/N, e.g. 0/4, got {text!r}") from None
    if not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"--shard I/N needs 0 <= I < N, got {text!r}")
    return i, n


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


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

    p = sub.add_parser("inspect", help="what each Triton kernel compiles to, and its predicted time, without a GPU",
                       description="Run an op (or every Triton case of a suite) on CPU with its Triton launches "
                                   "recorded, compile each launch for a GPU target exactly as a GPU launch would "
                                   "be specialised, and report per kernel: registers, spills, shared memory, "
                                   "occupancy, SASS instructions per output element by class, global loads and "
                                   "stores by width, cache lines per warp access, and the static cost model's "
                                   "predicted time and bound. Predictions, not measurements. Examples: "
                                   "igc-lab inspect igc_block --cin 48 --L 24 --batch 128; "
                                   "igc-lab inspect --suite paper-layers --dtype bf16")
    from igc_triton.lab.inspect import command as inspect_command
    inspect_command.add_arguments(p)
    p.set_defaults(func=_cmd_inspect)

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

    p = sub.add_parser("bench", help="run a benchmark suite: every provider, dtype and layout, checked then timed",
                       description="Run a benchmark suite. Each measurement is checked against a float64 "
                                   "reference before it is timed (CUDA events, L2 flushed, median and p20/p80); "
                                   "results are appended row by row to RESULTS_DIR/results.csv, so an "
                                   "interrupted run can --resume. Without a GPU, PyTorch's CPU providers are "
                                   "timed and the Triton providers are checked under Triton's interpreter.")
    p.add_argument("--suite", help="suite name (smoke, paper-layers, lm-sweep, networks) or a .toml path "
                                   "(default: paper-layers on a GPU, smoke on a CPU)")
    p.add_argument("--cases", type=lambda s: s.split(","), metavar="PATTERNS",
                   help="comma-separated shell-style patterns of case names to run, e.g. 'igc-*' for the IGC "
                        "layers alone (default: every case)")
    p.add_argument("--providers", type=lambda s: s.split(","), help="comma-separated provider names (default: all)")
    _add_dtype_and_layout_args(p)
    p.add_argument("--out", help="results folder (default runs/SUITE)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--budget-s", type=_positive_seconds, metavar="S",
                   help="start no measurement that would end after S seconds (the longest so far says how "
                        "long one takes); --resume continues later")
    p.add_argument("--shard", type=_shard, help="run shard I of N (default: RANK/WORLD_SIZE under torchrun, else 0/1)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--no-report", dest="report", action="store_false", help="do not write report.md at the end")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("selfcheck", help="check a GPU machine in minutes: compiled tests, verify, a quick benchmark",
                       description="Run the compiled test suite (in parallel with pytest-xdist when installed), "
                                   "igc-lab verify and a quick benchmark suite covering every kernel regime and the "
                                   "headline layers, within --budget-s seconds, into one folder of at most 8 files "
                                   "(summary.md, env.json, tests.log, junit.xml, verify.txt, bench.log, results.csv, "
                                   "report.md), flushed as it goes: a run killed at any point keeps what finished. "
                                   "Prints summary.md at the end; exits 1 if a step failed. Without a GPU: a CPU "
                                   "subset of the tests, verify and the smoke suite under Triton's interpreter.")
    p.add_argument("--out", help="the folder (default runs/selfcheck-GPU-torchV-tritonV-DATE); must be new or empty")
    p.add_argument("--budget-s", type=_positive_seconds, default=480.0, metavar="S",
                   help="stop cleanly within about S seconds (default 480)")
    p.add_argument("--suite", help="benchmark suite (default: selfcheck on a GPU, smoke on a CPU)")
    p.add_argument("--providers", type=lambda s: s.split(","),
                   help="comma-separated benchmark providers (default: cuDNN regular, grouped and IGC; Triton "
                        "grouped, IGC and fused)")
    p.add_argument("--no-tests", dest="tests", action="store_false", help="skip the test suite")
    p.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto",
                   help="auto (default: cuda if available), cuda or cpu")
    p.set_defaults(func=_cmd_selfcheck)

    p = sub.add_parser("tune", help="autotune every Triton kernel a suite uses, on this GPU",
                       description="Run every Triton kernel of a suite once per dtype and layout so that the "
                                   "autotuner benchmarks its candidate configs for each problem (L, M, kernel "
                                   "size, stride, dtype, layout, pixel bucket) and persists the fastest in the "
                                   "user's tuning cache (IGC_TRITON_CACHE_DIR, default ~/.cache/igc_triton). "
                                   "Problems already in the cache are not tuned again unless --force. Prints "
                                   "the chosen config per problem. Needs a CUDA GPU.")
    p.add_argument("--suite", required=True, help="suite name (smoke, paper-layers, lm-sweep, networks) or a "
                                                  ".toml path")
    _add_dtype_and_layout_args(p)
    p.add_argument("--training", action="store_true", help="also tune the backward kernels")
    p.add_argument("--force", action="store_true", help="benchmark every problem again (IGC_TRITON_AUTOTUNE=full)")
    p.add_argument("--ship", action="store_true",
                   help="also write the choices into the package's igc_triton/tuned/<gpu>.json (for developers: "
                        "commit that file so users get tuned configs on first run)")
    p.add_argument("--device", default="auto", help="auto (default: cuda), cuda or cuda:N")
    p.set_defaults(func=_cmd_tune)

    p = sub.add_parser("merge", help="gather runs of one GPU model into one folder and report them together",
                       description="Copy each RUN_DIR's results*.csv and env*.json into --into (e.g. "
                                   "reports/<gpu>-<date>/, where short GPU runs accumulate) under names that keep "
                                   "the runs apart, then write its report.md from all of them. Refuses runs of "
                                   "another GPU model or other kernel sources (see env.json's gpu_name and kernels) "
                                   "unless --allow-mixed, and a measurement present in two runs.")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--into", required=True, help="the merged folder (created if needed; its runs stay)")
    p.add_argument("--allow-mixed", action="store_true",
                   help="merge runs of different GPU models or kernel sources anyway (the report says so)")
    p.set_defaults(func=_cmd_merge)

    p = sub.add_parser("report", help="write report.md and figures from a results folder",
                       description="Read every results*.csv and env*.json in RESULTS_DIR (all shards) and write "
                                   "report.md and figures/*.png. Every number in the report comes from the CSV.")
    p.add_argument("results_dir")
    p.add_argument("--out", help="report folder (default: RESULTS_DIR)")
    p.set_defaults(func=_cmd_report)
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
