"""``igc-lab inspect``: argument handling (the parser lives in ``igc_triton.cli``)."""

import sys
from pathlib import Path

FORMATS = ("table", "json", "csv")


class InspectError(ValueError):
    """Bad input to ``igc-lab inspect``: one line for the user."""


def add_arguments(p):
    from igc_triton.lab.inspect import calls, capture, devices
    p.add_argument("op", nargs="?", metavar="OP",
                   help=f"the op to inspect: {', '.join(calls.OPS)} (or give --suite, or --validate)")
    p.add_argument("--batch", type=int, default=32, help="N (default 32)")
    p.add_argument("--cin", type=int, default=64, help="input channels (default 64)")
    p.add_argument("--cout", type=int, help="output channels (default: --cin)")
    p.add_argument("--hw", type=int, default=32, help="input height = width (default 32)")
    p.add_argument("--L", type=int, help="primary partitions (the groups of grouped_conv2d)")
    p.add_argument("--stride", type=int, default=1)
    p.add_argument("--kernel", type=int, default=3, help="primary kernel size (default 3; padding kernel//2)")
    p.add_argument("--dtype", type=lambda s: s.split(","), help="fp32, fp16 or bf16; comma-separated for several "
                                                                "(default bf16; a suite: its own)")
    p.add_argument("--layout", type=lambda s: s.split(","), help="nchw or channels_last; comma-separated "
                                                                 "(default nchw; a suite: its own)")
    p.add_argument("--suite", help="rank every Triton case of a suite (name or .toml path) by predicted time")
    p.add_argument("--case", action="append", help="with --suite: only this case (repeat for several)")
    p.add_argument("--providers", type=lambda s: s.split(","),
                   help="with --suite: Triton providers (default: every Triton layer provider and net-triton)")
    p.add_argument("--config", choices=capture.CONFIG_MODES, default=capture.DEFAULT,
                   help="launch configs: default (what IGC_TRITON_AUTOTUNE=off runs), tuned (the tuning file's "
                        "choice), all (every candidate, one row each)")
    p.add_argument("--tuning", metavar="FILE", help="tuning file for --config tuned (default: the --gpu's user "
                                                    "cache and shipped configs)")
    p.add_argument("--gpu", choices=sorted(devices.DEVICES), help=f"device of the cost model (default: "
                                                                   f"{devices.DEFAULT_GPU}, or --arch's)")
    p.add_argument("--arch", type=int, help="compile target, compute capability x10 (default: the --gpu's, 90)")
    p.add_argument("--l2-gbps", type=float, metavar="GB/S",
                   help="assume this L2 read bandwidth (the model's l2 term; the device table has one only where "
                        "measured: the bench's l2_read_gbps ceiling); not with --ship-ranking")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--out", help="write the output to this file instead of standard output")
    p.add_argument("--jobs", type=int, default=2, help="compiler processes (default 2)")
    p.add_argument("--triton-python", metavar="PYTHON",
                   help="compile with another Python's Triton, e.g. the version a GPU machine runs (needs "
                        "igc_triton installed there: pip install --no-deps -e .)")
    p.add_argument("--validate", metavar="RUN_DIR",
                   help="compare the model with a bench run folder (results.csv, tuning-cache.json): predicted "
                        "beside measured, rank correlation, median error")
    p.add_argument("--ship-ranking", action="store_true",
                   help="with --config all: write the model's ranking of each problem's configs into the package's "
                        "igc_triton/tuned/model-ranking.json (the autotuner's default and first candidates), for "
                        "every GPU of the target architecture")
    p.add_argument("--quiet", action="store_true", help="no progress lines on standard error")


def _check(args):
    from igc_triton.lab.inspect import calls, devices
    if args.jobs < 1:
        raise InspectError(f"--jobs must be >= 1, got {args.jobs}")
    if args.gpu is None and args.arch is not None:
        try:
            devices.for_arch(args.arch)
        except ValueError as e:
            raise InspectError(str(e)) from None
    if args.arch is not None and args.gpu is not None and devices.get(args.gpu).arch != args.arch:
        raise InspectError(f"--arch {args.arch} does not match --gpu {args.gpu} (sm_{devices.get(args.gpu).arch})")
    for flag, values, allowed in (("--dtype", args.dtype, calls.DTYPES), ("--layout", args.layout, calls.LAYOUTS)):
        bad = [v for v in values or [] if v not in allowed]
        if bad:
            raise InspectError(f"unknown {flag} {', '.join(bad)}; choose from {', '.join(allowed)}")
    if args.tuning and args.config != "tuned":
        raise InspectError("--tuning needs --config tuned")
    if args.ship_ranking and args.config != "all":
        raise InspectError("--ship-ranking needs --config all (every candidate config ranked)")
    if args.l2_gbps is not None and (args.ship_ranking or not args.l2_gbps > 0):
        raise InspectError("--l2-gbps must be positive, and a shipped ranking uses the device table's measured "
                           "figures only (no --ship-ranking with it)")
    modes = sum(x is not None for x in (args.op, args.suite, args.validate))
    if modes != 1:
        raise InspectError(f"give exactly one of OP ({', '.join(calls.OPS)}), --suite NAME or --validate RUN_DIR")
    if args.op is not None and args.op not in calls.OPS:
        raise InspectError(f"unknown op {args.op!r}; choose from {', '.join(calls.OPS)}")


def run(args) -> int:
    try:
        _check(args)
        return _run(args)
    except (InspectError, ValueError, TypeError, FileNotFoundError) as e:
        print(f"igc-lab inspect: {e}", file=sys.stderr)
        return 2


def _run(args) -> int:
    from igc_triton.lab import inspect as ii
    from igc_triton.lab.inspect import calls, render
    say = (lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    gpu = ii._device(args.gpu, args.arch)
    if args.l2_gbps is not None:
        from igc_triton.lab.inspect import devices
        gpu = devices.with_l2(gpu, args.l2_gbps)
    if args.validate:
        from igc_triton.lab.inspect import validate
        device = devices_for_run(args)
        v = validate.evaluate(args.validate, device, python=args.triton_python, jobs=args.jobs, progress=say)
        text = validate.render(v)
        timed = Path(args.validate) / validate.TIMED
        if timed.is_file():
            text += "\n" + validate.render_regret(validate.first_choice_regret(timed, device.cuda_names[0]))
        return _emit(args, text)
    captured = []
    if args.op:
        shape = calls.Shape(args.batch, args.cin, args.cout, args.hw, args.L, args.stride, args.kernel)
        for dt in args.dtype or ["bf16"]:
            for lay in args.layout or ["nchw"]:
                label, fn, fargs, fkw = calls.op_call(args.op, shape, dt, lay)
                launches, floor = ii.capture_call(fn, *fargs, config=args.config, gpu=gpu, tuning_file=args.tuning,
                                                  label=label, **fkw)
                captured.append((label, launches, floor, dict(dtype=dt, layout=lay,
                                                              macs=calls.op_macs(args.op, shape))))
    else:
        from igc_triton.lab import suites
        suite = suites.load(args.suite)
        todo = calls.suite_calls(suite, args.case, args.providers, args.dtype, args.layout)
        if not todo:
            raise InspectError(f"suite {suite.name}: no Triton case to inspect with these options")
        for n, (label, meta, thunk) in enumerate(todo, 1):
            with ii.recording(args.config, args.tuning, gpu, label) as rec:
                floor = thunk()
            captured.append((label, rec.launches, floor, meta))
            say(f"  captured {n}/{len(todo)} {label} ({len(rec.launches)} launches)")
    result = ii.analyze_calls(captured, gpu, args.arch, args.jobs, args.triton_python, say)
    if args.ship_ranking:
        from igc_triton.lab.inspect import ranking
        say(f"model ranking: {ranking.ship(result, command='igc-lab inspect ' + ' '.join(sys.argv[2:]))}")
    if args.format == "json":
        return _emit(args, render.to_json(result))
    if args.format == "csv":
        return _emit(args, render.to_csv(result))
    text = render.table(result)
    if args.suite:
        text = render.ranking(result) + "\n\n" + text
    return _emit(args, text)


def devices_for_run(args):
    from igc_triton.lab.inspect import devices, validate
    device = devices.get(args.gpu) if args.gpu else validate.run_device(args.validate)
    return devices.with_l2(device, args.l2_gbps) if args.l2_gbps is not None else device


def _emit(args, text: str) -> int:
    if args.out:
        with open(args.out, "w") as f:
            f.write(text if text.endswith("\n") else text + "\n")
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        print(text)
    return 0
