"""The benchmark harness behind ``igc-lab bench``.

For every (case, provider, dtype, layout, mode) of a suite -- a *measurement* -- it builds
seeded inputs, runs the provider once (compiling or autotuning outside the timed region),
checks its output against a float64 reference, and only then times it. A wrong result is
recorded as ``wrong_result`` and never timed; an exception (out of memory, compile error) is
recorded with its message, and the suite goes on.

Results are a long-format CSV: one row per (measurement, metric), all rows of a measurement
appended and flushed together, the ``status`` row last. An interrupted run keeps every
finished measurement; ``resume=True`` drops a trailing unfinished one and skips the rest.
``shard=(i, n)`` runs every n-th measurement from the i-th, into its own file; under
``torchrun`` the shard defaults to (RANK, WORLD_SIZE) and the device to LOCAL_RANK.
"""

import csv
import glob
import io
import json
import math
import os
import sys
import time
from dataclasses import dataclass

import torch

from igc_triton import runtime, testing
from igc_triton.lab import environment, providers
from igc_triton.lab.suites import Layer, Network, Suite
from igc_triton.launch import autotune, timing

COLUMNS = ["suite", "case", "side", "kind", "provider", "dtype", "layout", "mode", "device", "timer", "status",
           "metric", "value", "p20", "p80", "unit", "batch", "cin", "cout", "hw", "L", "M", "stride", "macs",
           "min_bytes", "params", "detail"]
OK, CHECKED, SKIPPED, WRONG, ERROR = "ok", "checked", "skipped", "wrong_result", "error"
BYTES = {"fp32": 4, "fp16": 2, "bf16": 2}
# Network outputs pass through many layers (and BN): a sanity check, looser than a layer's.
NETWORK_TOLERANCE_FACTOR = 5


@dataclass(frozen=True)
class Measurement:
    case: Layer | Network
    side: str  # "" for layers; "igc" or "baseline" for networks
    provider: providers.Provider
    dtype: str
    layout: str
    mode: str

    @property
    def key(self) -> tuple:
        return (self.case.name, self.side, self.provider.name, self.dtype, self.layout, self.mode)

    @property
    def label(self) -> str:
        case = self.case.name + (f"/{self.side}" if self.side else "")
        return f"{case} {self.provider.name} {self.dtype} {self.layout} {self.mode}"


def plan(suite: Suite, provider_names=None, dtypes=None, layouts=None) -> list[Measurement]:
    """Every measurement of the suite, in a fixed order (so that shards partition it)."""
    names = provider_names or list(providers.PROVIDERS)
    chosen = providers.parse_providers(names)
    dtypes, layouts = dtypes or suite.dtypes, layouts or suite.layouts
    out = []
    for case in suite.layers:
        for p in chosen:
            if p.kind == "layer" and p.applies(case) is None:
                out += [Measurement(case, "", p, d, lay, mode)
                        for mode in suite.modes for d in dtypes for lay in layouts]
    for case in suite.networks:
        sides = [("igc", case.igc)] + ([("baseline", case.baseline)] if case.baseline else [])
        for side, spec in sides:
            for p in chosen:
                if p.kind == "network" and p.applies(spec) is None:
                    out += [Measurement(case, side, p, d, lay, mode) for mode in suite.network_modes
                            for d in dtypes for lay in layouts]
    return out


def results_name(shard: tuple[int, int]) -> tuple[str, str]:
    i, n = shard
    suffix = "" if n == 1 else f"-shard{i}of{n}"
    return f"results{suffix}.csv", f"env{suffix}.json"


def torchrun_shard() -> tuple[int, int] | None:
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    return None


class ResultsFile:
    """The results CSV of one shard, appended one whole measurement at a time."""

    def __init__(self, path: str, suite: str, resume: bool):
        self.path = path
        self.done: set[tuple] = set()
        self.has_ceilings = False
        if os.path.exists(path):
            if not resume:
                raise FileExistsError(f"{path} exists; pass --resume to continue that run or choose another --out")
            self._recover(suite)
        else:
            with open(path, "w", newline="") as f:
                csv.writer(f).writerow(COLUMNS)

    def _recover(self, suite: str):
        with open(path := self.path, newline="") as f:
            lines = f.read().splitlines(keepends=True)
        if not lines or lines[0].rstrip("\r\n").split(",") != COLUMNS:
            raise ValueError(f"{path} is not a results file of this version of igc-lab (header differs)")
        # Keep complete measurements only: their rows up to and including the status row.
        keep, pending = [lines[0]], []
        for line in lines[1:]:
            if not line.endswith("\n"):
                break  # cut off mid-line by a kill
            row = next(csv.reader([line]))
            if len(row) != len(COLUMNS):
                break
            r = dict(zip(COLUMNS, row))
            if r["suite"] != suite:
                raise ValueError(f"{path} holds results of suite {r['suite']!r}, not {suite!r}")
            pending.append(line)
            if r["kind"] in ("ceiling", "claim"):
                keep += pending
                pending = []
                self.has_ceilings = True
            elif r["metric"] == "status":
                keep += pending
                pending = []
                self.done.add((r["case"], r["side"], r["provider"], r["dtype"], r["layout"], r["mode"]))
        with open(path, "w", newline="") as f:
            f.writelines(keep)

    def append(self, rows: list[dict]):
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        w.writerows(rows)
        with open(self.path, "a", newline="") as f:
            f.write(buf.getvalue())  # one write per measurement
            f.flush()
            os.fsync(f.fileno())


def _fmt(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return f"{v:.6g}" if isinstance(v, float) else v


class Runner:
    def __init__(self, suite: Suite, device: torch.device, results: ResultsFile, ceilings: dict):
        self.suite, self.device, self.results, self.ceilings = suite, device, results, ceilings
        self.interpreted = runtime.kernels_interpreted()
        self.energy = environment.EnergyMeter(device)

    # -- rows --------------------------------------------------------------------------------
    def _base(self, m: Measurement, timer: str, status: str) -> dict:
        c = m.case
        kind = "layer" if isinstance(c, Layer) else "network"
        base = dict(suite=self.suite.name, case=c.name, side=m.side, kind=kind, provider=m.provider.name,
                    dtype=m.dtype, layout=m.layout, mode=m.mode, device=self.device.type, timer=timer, status=status,
                    batch=c.batch)
        if isinstance(c, Layer):
            bytes_ = BYTES[m.dtype] * (c.batch * (c.cin * c.hw ** 2 + c.cout * c.out_hw ** 2) + m.provider.weights(c))
            base.update(cin=c.cin, cout=c.cout, hw=c.hw, L=c.L, M=c.M, stride=c.stride, macs=m.provider.macs(c),
                        min_bytes=bytes_)
        else:
            spec = c.igc if m.side == "igc" else c.baseline
            counts = providers.network_counts(spec, c.input)
            base.update(hw=c.input[1], macs=counts.macs * c.batch, params=counts.params)
        return base

    def _rows(self, m, timer, status, detail="", metrics=()):
        base = self._base(m, timer, status)
        rows = [dict(base, metric=name, value=_fmt(v), p20=_fmt(lo), p80=_fmt(hi), unit=unit, detail=d)
                for name, v, lo, hi, unit, d in metrics]
        rows.append(dict(base, metric="status", value=int(status in (OK, CHECKED)), unit="", detail=detail))
        return [{k: _fmt(v) for k, v in r.items()} for r in rows]

    # -- one measurement -----------------------------------------------------------------------
    def run(self, m: Measurement) -> list[dict]:
        """Measure ``m`` and append its rows; returns them (the status row last)."""
        p = m.provider
        if p.cuda_only and self.device.type != "cuda":
            rows = self._rows(m, "", SKIPPED, "needs a CUDA device")
        elif p.triton and self.device.type != "cuda" and not self.interpreted:
            rows = self._rows(m, "", SKIPPED, "Triton needs a CUDA device, or TRITON_INTERPRET=1 on a CPU")
        else:
            try:
                rows = self._measure_layer(m) if isinstance(m.case, Layer) else self._measure_network(m)
            except torch.cuda.OutOfMemoryError as e:
                rows = self._rows(m, "", ERROR, f"out of memory: {str(e).splitlines()[0]}")
            except KeyboardInterrupt:
                raise
            except Exception as e:  # noqa: BLE001 - a failing provider is a result, the suite goes on
                rows = self._rows(m, "", ERROR, f"{type(e).__name__}: {str(e).strip().splitlines()[0][:300]}"
                                  if str(e).strip() else type(e).__name__)
            finally:
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
        self.results.append(rows)
        return rows

    def _check(self, m: Measurement, out, ref, interpret_only: bool, what: str, factor: int = 1, extra=()):
        """(error metrics, final rows): the rows are set when the measurement ends at the check,
        with a wrong result (never timed) or a Triton run under the interpreter (not timed)."""
        err = testing.rel_error(out, ref)
        tol = testing.tolerance(providers.DTYPES[m.dtype], self.device.type, reduction(m)) * factor
        metrics = [("rel_error", err, None, None, "", f"vs float64, {what}"), ("tolerance", tol, None, None, "", ""),
                   *extra]
        if not err <= tol:  # NaN fails too
            return metrics, self._rows(m, "", WRONG, f"relative error {err:.3e} > tolerance {tol:.1e}", metrics)
        if interpret_only:
            return metrics, self._rows(m, "triton-interpreter", CHECKED, "correct under the interpreter; not timed",
                                       metrics)
        return metrics, None

    def _measure_layer(self, m: Measurement):
        c, p = m.case, m.provider
        t = providers.layer_tensors(c, providers.DTYPES[m.dtype], m.layout, self.device)
        k = min(c.batch, 2)
        interpret_only = p.triton and self.interpreted
        if interpret_only:  # the interpreter runs ~1 ms per program: check on the first images only
            t = dict(t, x=t["x"][:k])
        fn = p.make(c, t)
        with autotune.TUNER.record() as chosen:
            out = fn()  # first call: compilation and autotuning happen here, outside the timed region
        t64 = {name: (v[:k] if name == "x" else v).double() for name, v in t.items()}
        metrics, final = self._check(m, out[:k], p.reference(c, t64), interpret_only, "first images",
                                     extra=config_metrics(chosen))
        if final:
            return final
        tm = timing.time_fn(fn, self.device, graph=p.graph)
        base = self._base(m, tm.timer, OK)
        return self._rows(m, tm.timer, OK, "", metrics + self._perf(tm, base["macs"], base["min_bytes"], m.dtype, fn,
                                                                   c.batch))

    def _measure_network(self, m: Measurement):
        c, p = m.case, m.provider
        spec = c.igc if m.side == "igc" else c.baseline
        dtype = providers.DTYPES[m.dtype]
        fmt = torch.channels_last if m.layout == "channels_last" else torch.contiguous_format
        g = torch.Generator(device=self.device).manual_seed(0)
        x = torch.randn(c.batch, *c.input, generator=g, device=self.device).to(dtype).contiguous(memory_format=fmt)
        k = min(c.batch, 2)
        interpret_only = p.triton and self.interpreted

        def factory(backend):
            return providers.build_network(spec, dtype, m.layout, self.device, backend)

        # Correctness: the provider's inference output vs the float64 cuDNN/ATen network.
        check_x = x[:k] if interpret_only else x
        out = p.make(factory, check_x, "inference")()
        ref_net = providers.build_network(spec, torch.float64, m.layout, self.device, "reference").eval()
        with torch.no_grad():
            ref = ref_net(x[:k].double())
        metrics, final = self._check(m, out[:k], ref, interpret_only, "inference output, first images",
                                     NETWORK_TOLERANCE_FACTOR)
        if final:
            return final
        fn = p.make(factory, x, m.mode)
        fn()
        tm = timing.time_fn(fn, self.device, graph=p.graph)
        base = self._base(m, tm.timer, OK)
        images = [("images_per_s", c.batch / (tm.p50 * 1e-3), c.batch / (tm.p80 * 1e-3), c.batch / (tm.p20 * 1e-3),
                   "1/s", "")]
        return self._rows(m, tm.timer, OK, "", metrics + images + self._perf(tm, base["macs"], None, m.dtype, fn,
                                                                            c.batch))

    def _perf(self, tm: timing.Timing, macs, min_bytes, dtype, fn, batch):
        def rate(amount, ms):
            return amount / (ms * 1e-3)
        out = [("latency_ms", tm.p50, tm.p20, tm.p80, "ms", f"{tm.reps} reps")]
        if self.device.type == "cuda" and tm.timer == "cuda-events" and min_bytes:  # layers
            out.append(("host_us", timing.host_us(fn), None, None, "us", "host time for one call to return "
                                                                          "(launches queued, not run)"))
        tflops = [rate(2 * macs, t) / 1e12 for t in (tm.p50, tm.p80, tm.p20)]
        out.append(("tflops", *tflops, "TFLOP/s", "useful: 2 x the paper's multiply-adds"))
        gemm = self.ceilings.get(f"gemm_tflops_{dtype}")
        if gemm:
            out.append(("pct_gemm_peak", 100 * tflops[0] / gemm, None, None, "%", f"of {gemm:.4g} TFLOP/s measured"))
        if min_bytes:
            gbps = [rate(min_bytes, t) / 1e9 for t in (tm.p50, tm.p80, tm.p20)]
            out.append(("gbps", *gbps, "GB/s", "minimal bytes: input and output once, weights once"))
            copy = self.ceilings.get("copy_gbps")
            if copy:
                out.append(("pct_copy_bw", 100 * gbps[0] / copy, None, None, "%", f"of {copy:.4g} GB/s measured"))
        if self.energy.available:
            e = self.energy.measure(fn)
            if e:
                out += [("energy_j_per_image", e[0] / batch, None, None, "J", "NVML energy counter, >= 0.5 s"),
                        ("power_w", e[1], None, None, "W", "")]
        return out


def reduction(m: Measurement) -> int | None:
    """Products summed into each output of a layer measurement (its tolerance grows with it
    under TF32): 3x3 taps over the input channels of a group, plus L for an IGC secondary.
    None (the default) for networks."""
    c = m.case
    if not isinstance(c, Layer):
        return None
    if c.L is None or "regular" in m.provider.name:
        return c.cin * 9
    primary = c.cin // c.L * 9
    return primary if "grouped" in m.provider.name else primary + c.L


def config_metrics(chosen: dict) -> list[tuple]:
    """One ``config`` row per kernel launch config a measurement used (text in ``detail``:
    ``kernel | config | source | problem key``; the value is empty)."""
    return [("config", None, None, None, "", f"{kernel} | {autotune.config_str(cfg)} | {source} | {key}")
            for (kernel, key), (cfg, source) in sorted(chosen.items(), key=lambda kv: kv[0])]


def measure_ceilings(device: torch.device, dtypes, copy: bool = True, l2: bool | None = None) -> dict:
    """Device copy bandwidth (unless ``copy`` is false), the L2 read bandwidth on a GPU (with the
    copy's unless ``l2`` says), and dense GEMM rate per dtype, measured now (TF32 for fp32 when
    cuDNN may use it, since that is what fp32 convolutions run on)."""
    out = {"copy_gbps": timing.copy_bandwidth(device)} if copy else {}
    l2 = timing.l2_read_bandwidth(device) if (copy if l2 is None else l2) else None
    if l2 is not None:
        out["l2_read_gbps"] = l2
    for d in dtypes:
        prev = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32
        try:
            out[f"gemm_tflops_{d}"] = timing.gemm_tflops(device, providers.DTYPES[d])
        finally:
            torch.backends.cuda.matmul.allow_tf32 = prev
    return out


def ceiling_rows(suite: str, device: torch.device, ceilings: dict) -> list[dict]:
    rows = []
    for name, v in ceilings.items():
        unit = "GB/s" if name.endswith("_gbps") else "TFLOP/s"
        dtype = name.rsplit("_", 1)[1] if name.startswith("gemm") else ""
        detail = {"copy_gbps": "device-to-device copy, bytes read + written",
                  "l2_read_gbps": f"reads of a {timing.L2_READ_BYTES >> 20} MB buffer held in L2, L1 bypassed, "
                                  f"every SM (kernels/l2_read.py)"}.get(
            name, f"dense {'8192' if device.type == 'cuda' else '1024'}^3 matmul")
        rows.append({k: _fmt(v) for k, v in dict(suite=suite, case="ceiling", kind="ceiling", provider=name,
                                                  dtype=dtype, device=device.type, status=OK, metric=name, value=v,
                                                  unit=unit, detail=detail).items()})
    return rows


def claim_rows(suite: Suite, device: torch.device) -> list[dict]:
    """The paper's printed params and FLOPs of the suite's networks (``paper = {...}`` in the
    suite), beside our per-image counts of the same networks, so that the report's claims
    table comes from the results file too."""
    from igc_triton.lab import paper_tables
    rows = []
    for case in suite.networks:
        for side, name in case.paper:
            counts = paper_tables.network_counts(name)
            base = dict(suite=suite.name, case=case.name, side=side, kind="claim", provider=name, device=device.type,
                        status=OK, batch=1, hw=case.input[1])
            for c in paper_tables.CLAIMS:
                if c.network == name and c.quantity in ("params", "FLOPs"):
                    ours = counts.params if c.quantity == "params" else counts.macs
                    rows += [dict(base, metric=f"paper_{c.quantity.lower()}", value=float(c.printed) * c.unit,
                                  unit="multiply-adds" if c.quantity == "FLOPs" else "", detail=f"printed {c.printed} "
                                  f"x {c.unit:g} ({c.table})"),
                             dict(base, metric=f"ours_{c.quantity.lower()}", value=ours,
                                  unit="multiply-adds" if c.quantity == "FLOPs" else "",
                                  detail="igc_triton.models.count, per image")]
    return [{k: _fmt(v) for k, v in r.items()} for r in rows]


_clock = time.monotonic  # the budget's clock (tests replace it)


def run(suite: Suite, out_dir: str, provider_names=None, dtypes=None, layouts=None, resume=False,
        shard=(0, 1), device=None, progress=print, budget_s: float | None = None) -> tuple[int, int]:
    """Run (this shard of) ``suite`` into ``out_dir``; returns (measurements run now, skipped
    as already done). ``budget_s``: start no measurement that the longest one so far says
    would end past that many seconds from the call (a measurement is never cut: its rows are
    written whole or not at all); what is left is printed, and ``resume=True`` continues."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        if device.index is None:  # set_device needs an index
            device = torch.device("cuda", torch.cuda.current_device())
        torch.cuda.set_device(device)
    benchmark = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True  # for this run only: the caller's setting comes back after it
    try:
        return _run(suite, out_dir, provider_names, dtypes, layouts, resume, shard, device, progress, budget_s)
    finally:
        torch.backends.cudnn.benchmark = benchmark


def _run(suite, out_dir, provider_names, dtypes, layouts, resume, shard, device, progress, budget_s):
    start = _clock()
    os.makedirs(out_dir, exist_ok=True)
    csv_name, env_name = results_name(shard)
    env = environment.capture(device)
    env.update(suite=suite.name, shard=list(shard), command=" ".join(sys.argv))
    env_path = _env_path(out_dir, env_name, env) if resume else os.path.join(out_dir, env_name)
    results = ResultsFile(os.path.join(out_dir, csv_name), suite.name, resume)
    todo = [m for i, m in enumerate(plan(suite, provider_names, dtypes, layouts)) if i % shard[1] == shard[0]]
    remaining = [m for m in todo if m.key not in results.done]
    dtypes_run = sorted({m.dtype for m in todo})
    ceilings = _read_ceilings(results.path) if results.has_ceilings else {}
    # A resumed run that adds a dtype (one dtype per lease pass) measures that dtype's GEMM alone.
    missing = [d for d in dtypes_run if f"gemm_tflops_{d}" not in ceilings]
    # A run resumed from one made before the L2 ceiling existed (or whose L2 measurement failed) gets it now.
    need_l2 = device.type == "cuda" and "l2_read_gbps" not in ceilings
    if not ceilings or missing or need_l2:
        progress("measuring the ceilings (copy bandwidth, L2 read, dense GEMM) ..." if not ceilings else
                 f"measuring the missing ceilings ({', '.join(missing + ['L2 read'] * need_l2)}) ...")
        new = measure_ceilings(device, missing, copy=not ceilings, l2=need_l2)
        results.append(ceiling_rows(suite.name, device, new) + ([] if ceilings else claim_rows(suite, device)))
        ceilings.update(new)
    env["ceilings"] = ceilings
    with open(env_path, "w") as f:
        json.dump(env, f, indent=2)
    runner = Runner(suite, device, results, ceilings)
    width = len(str(len(remaining)))
    longest = 0.0
    for i, m in enumerate(remaining, 1):
        if budget_s is not None and _clock() - start + longest > budget_s:
            left = len(remaining) - i + 1
            progress(f"budget of {budget_s:g} s reached: {left} measurement(s) left, from {m.label}; "
                     "run again with --resume to continue")
            return i - 1, len(todo) - len(remaining)
        began = _clock()
        rows = runner.run(m)
        longest = max(longest, _clock() - began)
        status = rows[-1]
        latency = next((f", {float(r['value']):.4g} ms" for r in rows if r["metric"] == "latency_ms"), "")
        progress(f"[{i:>{width}}/{len(remaining)}] {m.label}: {status['status']}{latency}"
                 + (f" ({status['detail']})" if status["detail"] else ""))
    return len(remaining), len(todo) - len(remaining)


def _env_path(out_dir: str, env_name: str, env: dict) -> str:
    """Where a resumed run's environment goes: beside the earlier runs' (``env-run2.json`` ...),
    which must share its GPU model and kernel sources -- a folder holds one comparable set."""
    from igc_triton.lab import report
    stem = env_name.removesuffix(".json")
    earlier = sorted(glob.glob(os.path.join(out_dir, f"{stem}.json"))
                     + glob.glob(os.path.join(out_dir, f"{stem}-run*.json")))
    envs = []
    for path in earlier:
        with open(path) as f:
            envs.append(json.load(f))
    problems = report.mixed(envs + [env])
    if problems:
        raise ValueError(f"cannot resume in {out_dir}: {'; '.join(problems)} between its runs and this one "
                         "(measure into a new --out; igc-lab merge --allow-mixed puts them side by side)")
    if not earlier:
        return os.path.join(out_dir, env_name)
    run = 2
    while os.path.exists(os.path.join(out_dir, f"{stem}-run{run}.json")):
        run += 1
    return os.path.join(out_dir, f"{stem}-run{run}.json")


def _read_ceilings(path: str) -> dict:
    with open(path, newline="") as f:
        return {r["metric"]: float(r["value"]) for r in csv.DictReader(f) if r["kind"] == "ceiling"}
