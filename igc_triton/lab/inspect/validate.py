"""The cost model against a measured bench run: predicted beside measured time of every Triton
measurement, their Spearman rank correlation and the median error.

A run folder is what ``igc-lab bench`` wrote on a GPU: ``results.csv`` (latency rows of the
``triton-*`` layer providers, and the launch config each used) and, where it was copied
beside it, the tuner's ``tuning-cache.json`` (per-kernel times of the chosen configs). Each
measurement is captured again on this machine with the run's tuned configs, every kernel
launch is compiled, traced and modelled, and a measurement's prediction is the sum over its
launches.

Kernels change after a run; its launches then compile to other code. ``freeze`` stores, next
to the run, what the model reads (launches, the run's own Triton's machine code, the traced
accesses: ``inspect-frozen.json.gz``), so that the run keeps validating the model -- this
module's SASS reading, trip counts and cost terms -- whatever the kernels become.
"""

import argparse
import csv
import dataclasses
import gzip
import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

FROZEN = "inspect-frozen.json.gz"


@dataclass
class Measurement:
    name: str
    source: str  # "bench" or "tuning cache"
    ms: float
    launches: list  # launch identities (capture.identity)
    case: str = ""  # a bench row: its case, provider, dtype and layout
    provider: str = ""
    dtype: str = ""
    layout: str = ""


@dataclass
class Validation:
    gpu: str
    rows: list  # (Measurement, predicted ms, bound)
    rho: float
    median_factor: float  # median of max(pred/meas, meas/pred)
    frozen: bool
    triton: str
    notes: list
    l2: str = ""  # the l2 term's bandwidth and source (devices.l2_note), "" without one


def spearman(a, b) -> float:
    def ranks(x):
        order = sorted(range(len(x)), key=lambda i: x[i])
        r = [0.0] * len(x)
        i = 0
        while i < len(x):
            j = i
            while j + 1 < len(x) and x[order[j + 1]] == x[order[i]]:
                j += 1
            for k in range(i, j + 1):
                r[order[k]] = (i + j) / 2
            i = j + 1
        return r
    ra, rb = ranks(a), ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    var = math.sqrt(sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb))
    return cov / var if var else math.nan


def _layer(row):
    from igc_triton.lab.suites import Layer
    return Layer(row["case"], "", int(row["batch"]), int(row["cin"]), int(row["cout"]), int(row["hw"]),
                 int(row["L"]) if row["L"] else None, int(row["stride"] or 1))


def measurements(run_dir, device, progress=None):
    """(measurements, {identity: Launch}, notes) of a run folder, captured with its tuned configs."""
    import torch

    from igc_triton.lab import providers
    from igc_triton.lab.inspect import capture
    run = Path(run_dir)
    rows = list(csv.DictReader(open(run / "results.csv")))
    tuning = run / "tuning-cache.json"
    mode = capture.TUNED if tuning.is_file() else capture.DEFAULT
    used = {}  # (provider, case, dtype, layout) -> {kernel: config text} from the run's config rows
    for r in rows:
        if r["metric"] == "config" and r["provider"].startswith("triton"):
            kernel, cfg = [s.strip() for s in r["detail"].split("|")[:2]]
            used.setdefault((r["provider"], r["case"], r["dtype"], r["layout"]), {})[kernel] = cfg
    out, launches, notes = [], {}, []
    timed = [r for r in rows if r["metric"] == "latency_ms" and r["provider"].startswith("triton")
             and r["kind"] == "layer" and r["status"] == "ok"]
    host = {_which(r): float(r["value"]) / 1e3 for r in rows if r["metric"] == "host_us"}
    for n, r in enumerate(timed, 1):
        layer, p = _layer(r), providers.PROVIDERS[r["provider"]]
        name = f"{r['provider']} {r['case']} {r['layout']} {r['dtype']}"
        # The model predicts the GPU's time: a call whose host time comes near its latency
        # measured the host (seen on an H100: eager calls at 0.2-2 ms for 0.03 ms of kernels).
        if host.get(_which(r), 0.0) >= HOST_BOUND * float(r["value"]):
            notes.append(f"{name}: host-bound ({host[_which(r)]:.4g} ms of host time per call), left out")
            continue
        tensors = providers.layer_tensors(layer, providers.DTYPES[r["dtype"]], r["layout"], torch.device("cpu"))
        with capture.recording(mode, tuning_file=tuning if mode == capture.TUNED else None, device=device,
                               label=name) as rec:
            p.make(layer, tensors)()
        ids = [capture.identity(lc) for lc in rec.launches]
        for lc in rec.launches:
            ran = used.get((r["provider"], r["case"], r["dtype"], r["layout"]), {})
            want = ran.get(lc.kernel)
            if want is not None and _config_text(lc) != want:
                notes.append(f"{name}: {lc.kernel} ran {want!r} in the run, the code now runs "
                             f"{_config_text(lc)!r}: not the measured kernel, left out")
                break
            if ran and lc.key and want is None:
                notes.append(f"{name}: the run ran {', '.join(sorted(ran))}, the code now runs {lc.kernel}: "
                             "not the measured kernel, left out")
                break
        else:
            for ident, lc in zip(ids, rec.launches):
                launches.setdefault(ident, lc)
            out.append(Measurement(name, "bench", float(r["value"]), ids, r["case"], r["provider"], r["dtype"],
                                   r["layout"]))
        if progress:
            progress(f"  captured {n}/{len(timed)} {name}")
    if tuning.is_file():
        entries = json.loads(tuning.read_text()).get("entries", {})
        by_problem = {}
        for ident, lc in launches.items():
            by_problem.setdefault(f"{lc.kernel}|{lc.key}", []).append((ident, lc))
        for entry_key, e in sorted(entries.items()):
            for ident, lc in by_problem.get(entry_key, []):
                if e.get("ms") and e["config"] == lc.config:
                    out.append(Measurement(entry_key.replace("|", " "), "tuning cache", float(e["ms"]), [ident]))
                    break
    return out, launches, notes


# A bench call whose host time is at least this share of its latency is not a kernel time (its
# measured latency, CUDA events around one call, then includes the host enqueuing its launches).
HOST_BOUND = 0.5


def _which(r) -> tuple:
    return r["case"], r["provider"], r["dtype"], r["layout"]


def _config_text(lc) -> str:
    kw = " ".join(f"{k}={v}" for k, v in lc.config["kwargs"].items())
    return f"{kw} warps={lc.num_warps} stages={lc.num_stages}"


def freeze(run_dir, device, python=None, jobs=2, progress=None) -> Path:
    """Capture, compile (with ``python``'s Triton when given: the run's own version) and trace
    every launch of the run; write them to ``RUN/inspect-frozen.json.gz``."""
    from igc_triton.lab.inspect import analyze, capture, layouts
    from igc_triton.launch import autotune
    ms, launches, notes = measurements(run_dir, device, progress)
    ids = list(launches)
    reports = analyze.analyze([launches[i] for i in ids], device, jobs=jobs, progress=progress, python=python)
    bad = [f"{i}: {r.error}" for i, r in zip(ids, reports) if r.error]
    if bad:
        raise RuntimeError("cannot freeze a run whose launches fail:\n" + "\n".join(bad))
    data = {"about": "igc-lab inspect: the launches of this run's Triton measurements, compiled for sm_"
                     f"{device.arch} with Triton {reports[0].compiled.triton}, and one traced program each",
            "sources": sorted({f for lc in launches.values()
                               for f in autotune.kernel_files(os.path.basename(lc.file))}),
            "sources_fingerprint": autotune.sources_fingerprint({f for lc in launches.values() for f in
                                                                 autotune.kernel_files(os.path.basename(lc.file))}),
            "triton": reports[0].compiled.triton,
            "capture_notes": notes,
            "measurements": [dataclasses.asdict(m) for m in ms],
            "launches": {i: capture.launch_to_dict(launches[i]) for i in ids},
            "compiled": {i: {**dataclasses.asdict(r.compiled), "ttgir": layouts.essential(r.compiled.ttgir)}
                         for i, r in zip(ids, reports)},
            "traces": {i: analyze.trace_to_dict(r.trace) for i, r in zip(ids, reports)}}
    path = Path(run_dir) / FROZEN
    with gzip.open(path, "wt") as f:
        json.dump(data, f)
    return path


def evaluate(run_dir, device, live=False, python=None, jobs=2, progress=None) -> Validation:
    """Predict every measurement of the run and compare. Uses the frozen data when the folder has
    it (unless ``live``), else captures, compiles and traces the current kernels."""
    from igc_triton.lab.inspect import analyze, capture
    path = Path(run_dir) / FROZEN
    notes = []
    if path.is_file() and not live:
        with gzip.open(path, "rt") as f:
            data = json.load(f)
        ms = [Measurement(**m) for m in data["measurements"]]
        ids = list(data["launches"])
        reports = analyze.analyze([capture.launch_from_dict(data["launches"][i]) for i in ids], device,
                                  compiled=[analyze.compiled_from_dict(data["compiled"][i]) for i in ids],
                                  traces=[analyze.trace_from_dict(data["traces"][i]) for i in ids], progress=progress)
        triton, frozen = data["triton"], True
        notes += data.get("capture_notes", [])
    else:
        ms, launches, notes = measurements(run_dir, device, progress)
        ids = list(launches)
        reports = analyze.analyze([launches[i] for i in ids], device, jobs=jobs, progress=progress, python=python)
        triton, frozen = (reports[0].compiled.triton if reports else ""), False
    by_id = dict(zip(ids, reports))
    rows = []
    for m in ms:
        rs = [by_id[i] for i in m.launches]
        if any(r.prediction is None for r in rs):
            notes.append(f"{m.name}: not predicted ({'; '.join(r.error or 'no trace' for r in rs)})")
            continue
        pred = sum(r.prediction.us for r in rs) / 1e3
        rows.append((m, pred, "+".join(r.prediction.bound for r in rs)))
    meas = [m.ms for m, _, _ in rows]
    pred = [p for _, p, _ in rows]
    factors = sorted(max(p / m, m / p) for m, p in zip(meas, pred))
    median = factors[len(factors) // 2] if factors else math.nan
    from igc_triton.lab.inspect import devices
    return Validation(device.name, rows, spearman(meas, pred) if len(rows) > 2 else math.nan, median, frozen,
                      triton, notes, devices.l2_note(device))


def write_predicted(v: Validation, path) -> Path:
    """The bench rows' predictions as ``predicted.csv`` (the columns ``igc-lab report`` reads from
    ``igc-lab inspect --format csv``), so that the run's report shows them beside its times."""
    path = Path(path)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["call", "case", "provider", "dtype", "layout", "mode", "call_predicted_ms",
                                          "bound", "device", "triton"])
        w.writeheader()
        for m, pred, bound in v.rows:
            if m.source == "bench":
                w.writerow({"call": m.name, "case": m.case, "provider": m.provider, "dtype": m.dtype,
                            "layout": m.layout, "mode": "fwd", "call_predicted_ms": f"{pred:.6g}", "bound": bound,
                            "device": v.gpu, "triton": v.triton})
    return path


def render(v: Validation) -> str:
    lines = [f"cost model vs measured, {v.gpu}{' with ' + v.l2 if v.l2 else ''}: {len(v.rows)} Triton measurements "
             f"(machine code from Triton {v.triton}{', frozen' if v.frozen else ''})",
             f"{'measurement':70s} {'measured ms':>11s} {'predicted':>10s} {'ratio':>6s}  bound"]
    for m, p, bound in sorted(v.rows, key=lambda t: t[0].ms):
        lines.append(f"{m.name[:70]:70s} {m.ms:11.4f} {p:10.4f} {p / m.ms:6.2f}  {bound}")
    lines.append(f"Spearman rank correlation {v.rho:.3f}; median error x{v.median_factor:.2f}")
    lines += [f"note: {n}" for n in v.notes]
    return "\n".join(lines)


# A tuning cache of the run's GPU with every candidate timed (``igc-lab tune --force``; lease.sh
# copies it here). Kept apart from ``tuning-cache.json``, which says what the bench itself ran.
TIMED = "tuning-timed.json"


def first_choice_regret(tuning_path, gpu: str, ranking_path=None) -> list[tuple]:
    """Per problem of a tuning cache whose candidates were all timed (``timed``): (problem,
    candidates timed, measured ms of the cost model's first choice -- the autotuner's default --,
    the fastest measured ms, the first choice's place among the measured, 1 = fastest)."""
    from igc_triton.launch import autotune
    entries = json.loads(Path(tuning_path).read_text()).get("entries", {})
    ranking = autotune.read_ranking(gpu, ranking_path)
    out = []
    for key, e in sorted(entries.items()):
        timed = e.get("timed") or []
        kernel, _, problem = key.partition("|")
        ranked = autotune.nearest_ranking(ranking, kernel, problem) if len(timed) > 1 else None
        if not ranked:
            continue
        measured = {json.dumps(t["config"], sort_keys=True): float(t["ms"]) for t in timed}
        pick = next((k for k in (json.dumps(c, sort_keys=True) for c in ranked) if k in measured), None)
        if pick is not None:
            place = 1 + sum(ms < measured[pick] for ms in measured.values())
            out.append((key, len(timed), measured[pick], min(measured.values()), place))
    return out


def render_regret(rows) -> str:
    if not rows:
        return "no problem with its candidates timed and ranked by the model"
    lines = [f"the cost model's first choice (the autotuner's default) against every candidate timed: "
             f"{len(rows)} problems",
             f"{'problem':90s} {'timed':>5s} {'choice ms':>10s} {'best ms':>10s} {'x best':>7s} {'place':>5s}"]
    for key, n, pick, best, place in rows:
        lines.append(f"{key[:90]:90s} {n:5d} {pick:10.4f} {best:10.4f} {pick / best:7.2f} {place:5d}")
    ratios = sorted(pick / best for _, _, pick, best, _ in rows)
    lines.append(f"fastest chosen in {sum(place == 1 for *_, place in rows)} of {len(rows)}; median "
                 f"x{ratios[len(ratios) // 2]:.2f} the fastest, worst x{ratios[-1]:.2f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m igc_triton.lab.inspect.validate",
                                     description="Compare the cost model with a measured bench run folder.")
    parser.add_argument("run_dir")
    parser.add_argument("--gpu", help="device table entry (default: the run's GPU)")
    parser.add_argument("--live", action="store_true", help="ignore frozen data: capture and compile the kernels now")
    parser.add_argument("--freeze", action="store_true", help=f"write RUN_DIR/{FROZEN} (launches, machine code, "
                                                               "traces) for later validations")
    parser.add_argument("--triton-python", help="compile with this Python's Triton (e.g. the GPU's version)")
    parser.add_argument("--predicted", metavar="CSV", help="also write the bench rows' predictions here (e.g. "
                                                           "RUN_DIR/predicted.csv, which igc-lab report shows)")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    from igc_triton.lab.inspect import devices
    device = devices.get(args.gpu) if args.gpu else run_device(args.run_dir)
    say = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    if args.freeze:
        print(f"wrote {freeze(args.run_dir, device, args.triton_python, args.jobs, say)}")
    v = evaluate(args.run_dir, device, args.live, args.triton_python, args.jobs, say)
    print(render(v))
    if (Path(args.run_dir) / TIMED).is_file():
        print(render_regret(first_choice_regret(Path(args.run_dir) / TIMED, device.cuda_names[0])))
    if args.predicted:
        print(f"wrote {write_predicted(v, args.predicted)}")
    return 0


def run_device(run_dir):
    """The device table entry of the GPU a run folder was measured on (its env.json)."""
    from igc_triton.lab.inspect import devices
    env = Path(run_dir) / "env.json"
    name = json.loads(env.read_text()).get("gpu_name", "") if env.is_file() else ""
    for d in devices.DEVICES.values():
        if name in d.cuda_names:
            return d
    raise ValueError(f"{run_dir}: GPU {name or '(no env.json)'} is not in the device table; pass --gpu")


if __name__ == "__main__":
    sys.exit(main(os.sys.argv[1:]))
