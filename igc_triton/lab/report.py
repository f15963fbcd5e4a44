"""``igc-lab report``: ``report.md`` and figures from a results folder.

Every number in the report is computed from rows of the results CSV files, and each one is
recorded in ``report_numbers.json`` with the rows it came from (file and line) and the
formula (the value itself, a minimum, or a ratio), so that anyone -- and the tests -- can
trace it back. Nothing is typed in by hand.
"""

import csv
import glob
import json
import math
import os

from igc_triton.lab import providers

IGC_BASELINES = ("cudnn-igc-eager", "cudnn-igc-folded", "cudnn-igc-eager+graph", "cudnn-igc-folded+graph")
TRITON_IGC = ("triton-igc", "triton-igc-fused", "triton-igc-module", "triton-igc+graph", "triton-igc-fused+graph",
              "triton-igc-module+graph")


def load(results_dir: str) -> tuple[list[dict], list[dict]]:
    """All result rows (with their ``_file`` and ``_line``) and all environments of a folder."""
    files = sorted(glob.glob(os.path.join(results_dir, "results*.csv")))
    if not files:
        raise FileNotFoundError(f"no results*.csv in {results_dir}; run igc-lab bench --out {results_dir} first")
    rows = []
    for path in files:
        with open(path, newline="") as f:
            for line, r in enumerate(csv.DictReader(f), start=2):
                r["_file"], r["_line"] = os.path.basename(path), line
                rows.append(r)
    envs = []
    for path in sorted(glob.glob(os.path.join(results_dir, "env*.json"))):
        with open(path) as f:
            envs.append(dict(json.load(f), _file=os.path.basename(path)))
    return rows, envs


def mixed(envs: list[dict]) -> list[str]:
    """What the runs of one folder do not share and should: the GPU model (or CPU), the kernels'
    sources (runs recorded before env files held it are not compared on it)."""
    out = []
    for what, value in (("GPU models", lambda e: e.get("gpu_name") or e.get("device")),
                        ("kernel sources", lambda e: e.get("kernels"))):
        values = sorted({str(value(e)) for e in envs if value(e)})
        if len(values) > 1:
            out.append(f"{what} differ ({', '.join(values)})")
    return out


class Cite:
    """Formats numbers for the report and records where each one came from."""

    def __init__(self):
        self.numbers = []
        self.table = None

    def __call__(self, value: float, fmt: str, rows: list[dict], formula: str, field: str = "value") -> str:
        """``value`` formatted; ``formula`` says how it follows from ``rows``: "value" (of ``field``
        in the one row), "ratio" (of ``field`` in two rows), "count" (of the rows)."""
        text = format(value, fmt)
        self.numbers.append({"text": text, "format": fmt, "formula": formula, "field": field, "table": self.table,
                             "sources": [{"file": r["_file"], "line": r["_line"], "metric": r["metric"]}
                                         for r in rows]})
        return text


def _f(r) -> float:
    return float(r["value"])


def _best(rows):
    """The row with the smallest value (e.g. the fastest layout)."""
    return min(rows, key=_f) if rows else None


def _md_table(header, body) -> list[str]:
    widths = [max(len(str(h)), *(len(str(b[i])) for b in body)) for i, h in enumerate(header)] if body else \
        [len(h) for h in header]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(b) for b in body]


def write(results_dir: str, out_dir: str | None = None, figures: bool = True) -> str:
    """Write ``report.md``, ``report_numbers.json`` and ``figures/*.png``; returns report.md's path.
    ``figures=False``: report.md alone (``igc-lab selfcheck`` keeps its folder to a few files)."""
    rows, envs = load(results_dir)
    out_dir = out_dir or results_dir
    if figures:
        os.makedirs(os.path.join(out_dir, "figures"), exist_ok=True)
    cite = Cite()
    suite = "`, `".join(dict.fromkeys(r["suite"] for r in rows)) if rows else "?"
    device = rows[0]["device"] if rows else "?"
    md = [f"# igc-triton benchmark report: suite{'s' if '`, `' in suite else ''} `{suite}`", ""]
    md += _environment(envs, device)
    timed = [r for r in rows if r["metric"] == "latency_ms"]
    status = [r for r in rows if r["metric"] == "status"]
    layer_lat = [r for r in timed if r["kind"] == "layer"]
    net_lat = [r for r in timed if r["kind"] == "network"]
    # The first page answers the mission: the paper's pairs, then FLOPs against time per regime.
    md += _claims([r for r in rows if r["kind"] == "claim"], net_lat, cite)
    md += _answer(layer_lat, cite, figures, device)
    md += _ceilings(rows, cite)
    md += _status(status, cite)
    md += _correctness(rows, cite)
    if layer_lat:
        md += _layers(layer_lat, cite)
        md += _against_cudnn(layer_lat, [r for r in rows if r["metric"] == "pct_copy_bw"], cite)
        md += _host_time([r for r in rows if r["metric"] == "host_us"], cite)
    configs = [r for r in rows if r["metric"] == "config"]
    if configs:
        md += _configs(configs, cite)
    predicted = load_predicted(results_dir)
    if predicted and layer_lat:
        md += _predicted(layer_lat, predicted, cite)
    if net_lat:
        md += _networks(net_lat, cite)
    drawn = _figures(rows, out_dir) if figures else []
    if drawn:
        md += ["## Figures", ""] + [f"![{title}](figures/{name})" for name, title in drawn] + [""]
    md += ["## Method", "",
           "Each measurement is checked against a float64 reference (on its first two images) before it is "
           "timed; a wrong result is recorded as `wrong_result` and never timed. GPU times are CUDA-event "
           "medians with p20/p80 over repeated calls, with the L2 cache flushed before each call and warm-up "
           "(compilation, autotuning) outside the timed region; `+graph` providers replay a CUDA graph. "
           "cuDNN runs with `cudnn.benchmark=True`; each provider's best layout (NCHW or channels_last) is "
           "reported, and named. TFLOP/s count the paper's multiply-adds x2 (useful work only); GB/s count the "
           "minimal bytes (input and output once, weights once). Every number above is traced to its CSV rows "
           "in `report_numbers.json`.", ""]
    path = os.path.join(out_dir, "report.md")
    with open(path, "w") as f:
        f.write("\n".join(md))
    if figures:
        with open(os.path.join(out_dir, "report_numbers.json"), "w") as f:
            json.dump(cite.numbers, f, indent=1)
    return path


def _environment(envs, device) -> list[str]:
    md = []
    if device == "cpu":
        md += ["> **No GPU was used.** The times below are PyTorch's own CPU convolutions. The Triton "
               "providers ran under Triton's interpreter, for correctness only (status `checked`), and are not "
               "timed. Nothing here says anything about GPU performance.", ""]
    for env in envs[:1] + [e for e in envs[1:] if e.get("gpu_name") != envs[0].get("gpu_name")]:
        where = env.get("gpu_name") or f"CPU ({env.get('cpu', '?')}, {env.get('cpu_count', '?')} cores)"
        md.append(f"- Device: **{where}**" + (f", driver {env['driver']}" if env.get("driver") else "")
                  + (f", SM clock {env['sm_clock_mhz']}/{env['sm_clock_max_mhz']} MHz" if env.get("sm_clock_mhz")
                     else ""))
    if envs:
        e = envs[0]
        gpu = device == "cuda"
        md += [f"- Software: torch {e.get('torch')}, triton {e.get('triton')}"
               + (f", cuDNN {e.get('cudnn')}" if gpu else "")
               + f", igc-triton {e.get('igc_triton')} (commit `{e.get('git_commit')}`), Python {e.get('python')}",
               "- Settings: " + (f"cudnn.benchmark={e.get('cudnn_benchmark')}, cudnn.allow_tf32="
                                 f"{e.get('cudnn_allow_tf32')} (fp32 convolutions and Triton's fp32 implicit GEMM "
                                 f"may use TF32 tensor cores), matmul.allow_tf32={e.get('matmul_allow_tf32')}; "
                                 if gpu else "") + f"Triton: {e.get('triton_mode')}",
               f"- Run: {e.get('timestamp')} on {e.get('host')}, {len(envs)} shard(s) or run(s)", ""]
    if len(envs) > 1:
        md += [f"This report merges {len(envs)} runs (one env file each; `igc-lab merge`, or a `--resume` on "
               "another machine):", ""]
        md += _md_table(["env file", "when", "host", "device", "torch", "triton", "commit", "kernels"],
                        [[e["_file"], e.get("timestamp", "?"), e.get("host", "?"), e.get("gpu_name") or "CPU",
                          e.get("torch", "?"), e.get("triton", "?"), f"`{e.get('git_commit', '?')}`",
                          f"`{e.get('kernels', '?')}`"] for e in envs]) + [""]
        for problem in mixed(envs):
            md += [f"> **Mixed runs: {problem}.** They were merged on request (`--allow-mixed`); their times "
                   "are not comparable with each other.", ""]
    return md


def _ceilings(rows, cite) -> list[str]:
    ceil = [r for r in rows if r["kind"] == "ceiling"]
    if not ceil:
        return []
    cite.table = "ceilings"
    body = [[r["metric"], cite(_f(r), ".4g", [r], "value"), r["unit"], r["detail"]] for r in ceil]
    return ["## Measured ceilings", ""] + _md_table(["ceiling", "value", "unit", "how"], body) + [""]


def _status(status, cite) -> list[str]:
    cite.table = "runs"
    counts = _group(status, "status")
    md = ["## Runs", "", ", ".join(f"{cite(len(rs), 'd', rs, 'count')} {s}" for (s,), rs in sorted(counts.items()))
          + " measurements.", ""]
    bad = [r for r in status if r["status"] in ("error", "wrong_result")]
    if bad:
        md += ["Failed measurements (recorded, not timed):", ""]
        md += _md_table(["case", "provider", "dtype", "layout", "mode", "status", "detail"],
                        [[r["case"] + (f"/{r['side']}" if r["side"] else ""), r["provider"], r["dtype"], r["layout"],
                          r["mode"], r["status"], r["detail"]] for r in bad]) + [""]
    return md


def _correctness(rows, cite) -> list[str]:
    errs = [r for r in rows if r["metric"] == "rel_error" and r["value"] not in ("", "nan")]
    if not errs:
        return []
    tols = {(r["_file"], r["case"], r["side"], r["provider"], r["dtype"], r["layout"], r["mode"]): r
            for r in rows if r["metric"] == "tolerance"}
    cite.table = "correctness"
    body = []
    for (prov, dtype), rs in sorted(_group(errs, "provider", "dtype").items()):
        worst = max(rs, key=_f)
        tol = tols[(worst["_file"], worst["case"], worst["side"], prov, dtype, worst["layout"], worst["mode"])]
        wrong = [r for r in rs if r["status"] == "wrong_result"]
        body.append([prov, dtype, cite(len(rs), "d", rs, "count"), cite(_f(worst), ".2e", [worst], "value"),
                     cite(_f(tol), ".0e", [tol], "value"), cite(len(wrong), "d", wrong, "count")])
    return ["## Correctness", "", "Relative L2 error against the float64 reference, worst case per provider "
            "and dtype (every measurement is checked before it is timed).", ""] + _md_table(
        ["provider", "dtype", "checked", "worst rel. error", "tolerance", "wrong results"], body) + [""]


def _group(rows, *keys):
    out = {}
    for r in rows:
        out.setdefault(tuple(r[k] for k in keys), []).append(r)
    return out


def _layers(lat, cite) -> list[str]:
    md = ["## Layers", "",
          "Median latency in ms of each provider's best layout (`nc` NCHW, `cl` channels_last). "
          "*IGC/regular*: the fastest cuDNN IGC time over the cuDNN regular convolution of the same width, beside "
          "the FLOP ratio it would have if time followed FLOPs. *Triton*: speedup of `triton-igc` over the fastest "
          "cuDNN IGC baseline (eager or folded, plain or CUDA graph, either layout).", ""]
    names = [p for p in providers.PROVIDERS if providers.PROVIDERS[p].kind == "layer"]
    for (dtype, mode), group in sorted(_group(lat, "dtype", "mode").items()):
        present = [p for p in names if any(r["provider"] == p for r in group)]
        cite.table = f"layers {dtype} {mode}"
        body = []
        for case, rows in _group(group, "case").items():
            by_p = _group(rows, "provider")
            first = rows[0]
            cells = [case[0]] + [cite(float(first[k]), "g", [first], "value", k) if first[k] else "-" for k in "LM"]
            for p in present:
                best = _best(by_p.get((p,), []))
                layout = "cl" if best and best["layout"] == "channels_last" else "nc"
                cells.append(f"{cite(_f(best), '.4g', [best], 'value')} {layout}" if best else "")
            regular = _best(by_p.get(("cudnn-regular",), []))
            igc_base = _best([r for p in IGC_BASELINES for r in by_p.get((p,), [])])
            if regular and igc_base:
                cells.append(cite(_f(igc_base) / _f(regular), ".2f", [igc_base, regular], "ratio"))
                cells.append(cite(float(igc_base["macs"]) / float(regular["macs"]), ".2f", [igc_base, regular],
                                  "ratio", "macs"))
            else:
                cells += ["", ""]
            triton = _best(by_p.get(("triton-igc",), []))
            cells.append(cite(_f(igc_base) / _f(triton), ".2f", [igc_base, triton], "ratio")
                         if triton and igc_base else "")
            body.append(cells)
        md += [f"### {dtype}, {mode}", ""] + _md_table(["case", "L", "M"] + present + ["IGC/regular time",
                                                                                        "IGC/regular FLOPs",
                                                                                        "Triton speedup"], body) + [""]
    return md


FUSED = ("triton-igc-fused", "triton-igc-fused+graph", "triton-igc-module", "triton-igc-module+graph")
# Like against like: a CUDA graph replay hides the host's launch work, which for small layers
# exceeds the kernels' time (measured on an H100: 0.15-0.5 ms per eager Triton call).
AGAINST = (("all", TRITON_IGC, IGC_BASELINES),
           ("eager", tuple(p for p in TRITON_IGC if "+graph" not in p), tuple(p for p in IGC_BASELINES
                                                                                if "+graph" not in p)),
           ("graph", tuple(p for p in TRITON_IGC if "+graph" in p), tuple(p for p in IGC_BASELINES if "+graph" in p)))


def _against_cudnn(lat, pct_rows, cite) -> list[str]:
    """Per IGC layer, the best Triton IGC time against the best cuDNN IGC composition (either
    layout): over all providers, eager against eager and CUDA graph against CUDA graph, with
    their geometric means; the fused block's share of the measured copy bandwidth; and its NCHW
    time over its channels_last time."""
    igc = [r for r in lat if r["L"]]
    if not igc:
        return []
    pct = {(r["case"], r["provider"], r["dtype"], r["layout"], r["mode"]): r for r in pct_rows}
    md = ["## Triton against cuDNN's IGC", "",
          "Speedup of the fastest Triton IGC provider over the fastest cuDNN IGC composition (best layout each; "
          "above 1: Triton is faster): over all providers, eager calls against eager calls, and CUDA graph "
          "replays against CUDA graph replays; the geometric mean over the layers timed on both sides. "
          "*Fused % copy*: the fastest fused block (eager or graph) as a share of the measured copy bandwidth "
          "(minimal bytes over time). *NCHW / cl fused*: the fused block's best NCHW time over its best "
          "channels_last time.", ""]
    for (dtype, mode), group in sorted(_group(igc, "dtype", "mode").items()):
        cite.table = f"against cudnn {dtype} {mode}"
        body, pairs = [], {what: [] for what, _, _ in AGAINST}
        for (case,), rows in _group(group, "case").items():
            def best(names, layout=None):
                return _best([r for r in rows if r["provider"] in names and layout in (None, r["layout"])])
            cells = [case]
            for what, tri_names, base_names in AGAINST:
                tri, base = best(tri_names), best(base_names)
                if tri and base:
                    pairs[what] += [base, tri]
                cells.append(cite(_f(base) / _f(tri), ".2f", [base, tri], "ratio") if tri and base else "-")
            fused = best(FUSED)
            share = fused and pct.get((case, fused["provider"], dtype, fused["layout"], mode))
            cells.append(cite(_f(share), ".3g", [share], "value") if share else "-")
            cl, nc = best(FUSED, "channels_last"), best(FUSED, "nchw")
            cells.append(cite(_f(nc) / _f(cl), ".2f", [nc, cl], "ratio") if cl and nc else "-")
            body.append(cells)
        body.append(["geomean"] + [cite(_geomean([_f(r) for r in pairs[w][0::2]], [_f(r) for r in pairs[w][1::2]]),
                                        ".2f", pairs[w], "geomean_ratio") if pairs[w] else "-"
                                   for w, _, _ in AGAINST] + ["", ""])
        md += [f"### {dtype}, {mode}", ""] + _md_table(
            ["case", "best Triton / best cuDNN IGC", "eager / eager", "graph / graph", "fused % copy",
             "NCHW / cl fused"], body) + [""]
    return md


def _host_time(host_rows, cite) -> list[str]:
    """Per provider: the host time one eager call takes to return (its launches queued, not run),
    over the layers, dtypes and layouts measured: the lower median, the least and the most."""
    if not host_rows:
        return []
    cite.table = "host time"
    body = []
    for (provider,), rows in sorted(_group(host_rows, "provider").items()):
        ordered = sorted(rows, key=_f)
        mid, lo, hi = ordered[(len(ordered) - 1) // 2], ordered[0], ordered[-1]
        body.append([provider, cite(len(rows), "d", rows, "count"), cite(_f(mid), ".0f", [mid], "value"),
                     cite(_f(lo), ".0f", [lo], "value"), cite(_f(hi), ".0f", [hi], "value")])
    return ["## Host time per call", "",
            "Microseconds one eager call takes to return on the host (its launches queued, not run: our Python, "
            "PyTorch's dispatch and the launches), per provider over every layer, dtype and layout measured. Where "
            "it exceeds the kernels' time, the call is bound by the host, and a CUDA graph replay (`+graph`) "
            "removes it.", ""] + _md_table(["provider", "calls", "median us", "least us", "most us"], body) + [""]


def load_predicted(results_dir: str) -> list[dict]:
    """Rows of ``predicted*.csv``: ``igc-lab inspect --suite S --config tuned --format csv`` written
    into the results folder (the static cost model's predictions of the same measurements)."""
    rows = []
    for path in sorted(glob.glob(os.path.join(results_dir, "predicted*.csv"))):
        with open(path, newline="") as f:
            for line, r in enumerate(csv.DictReader(f), start=2):
                if r.get("call_predicted_ms") not in (None, "", "nan"):
                    r["_file"], r["_line"], r["metric"] = os.path.basename(path), line, "predicted"
                    rows.append(r)
    return rows


def _predicted(lat, predicted, cite) -> list[str]:
    by_key = {}
    for r in predicted:
        by_key.setdefault((r["case"], r["provider"], r["dtype"], r["layout"]), r)
    body = []
    for r in sorted((r for r in lat if r["provider"].startswith("triton")),
                    key=lambda r: (r["case"], r["provider"], r["dtype"], r["layout"])):
        p = by_key.get((r["case"], r["provider"], r["dtype"], r["layout"]))
        if p is None:
            continue
        body.append([r["case"], r["provider"], r["dtype"], r["layout"], cite(_f(r), ".4g", [r], "value"),
                     cite(float(p["call_predicted_ms"]), ".4g", [p], "value", "call_predicted_ms"),
                     cite(_f(r) / float(p["call_predicted_ms"]), ".2f", [r, p], "ratio", "value,call_predicted_ms"),
                     p.get("bound", "")])
    if not body:
        return []
    return ["## Measured beside predicted", "",
            "The static cost model's prediction (`igc-lab inspect`, from the machine code, without a GPU; "
            "`predicted*.csv` in this folder) beside each measured Triton time. A prediction is not a "
            "measurement; the bound is the model's limiting term of the call's first kernel.", ""] + \
        _md_table(["case", "provider", "dtype", "layout", "measured ms", "predicted ms", "measured / predicted",
                   "bound"], body) + [""]


def _configs(rows, cite) -> list[str]:
    """The launch config each Triton kernel ran with, per (L, M), dtype and layout."""
    md = ["## Launch configs per (L, M)", "",
          "The config each Triton kernel of the layer providers ran with (chosen by the autotuner, "
          "`IGC_TRITON_AUTOTUNE`; *source*: `tuned` = benchmarked in this run, `cache`/`shipped` = persisted "
          "earlier, `memo` = chosen earlier in this run, `default` = a single candidate or tuning off). *cases*: "
          "how many of the suite's layers ran this kernel with this config.", ""]
    if any(r["timer"] == "triton-interpreter" for r in rows):
        md += ["Under Triton's interpreter (no GPU) every kernel has one large-tile config, chosen to keep the "
               "number of (slow, Python-level) programs small: these are not GPU configs.", ""]
    body = []
    keyed = _group(rows, "dtype", "layout")
    for (dtype, layout), group in sorted(keyed.items()):
        cite.table = f"configs {dtype} {layout}"
        parsed = {}
        for r in group:
            kernel, config, source, _ = (part.strip() for part in r["detail"].split("|", 3))
            parsed.setdefault((r["L"], r["M"], kernel, config), []).append((r, source))
        for (L, M, kernel, config), uses in sorted(parsed.items(), key=lambda kv: (_num(kv[0][0]), _num(kv[0][1]),
                                                                                  kv[0][2], kv[0][3])):
            r0 = uses[0][0]
            per_case = list({u[0]["case"]: u[0] for u in uses}.values())
            sources = sorted({u[1] for u in uses})
            body.append([cite(float(L), "g", [r0], "value", "L") if L else "-",
                         cite(float(M), "g", [r0], "value", "M") if M else "-", dtype, layout, kernel, config,
                         ", ".join(sources), cite(len(per_case), "d", per_case, "count")])
    return md + _md_table(["L", "M", "dtype", "layout", "kernel", "config", "source", "cases"], body) + [""]


def _num(v) -> float:
    return float(v) if v else -1.0


EQUAL_WIDTH_MIN_C = 256


def _regime(M: int) -> str:
    return "M = 1 (depthwise + pointwise)" if M == 1 else \
        "small partitions (M = 2-8)" if M <= 8 else "large partitions (M >= 16)"


def _answer(lat, cite, figures: bool, device: str = "cuda") -> list[str]:
    """Per dtype and regime, IGC layers against cuDNN's regular convolution of the same width:
    the multiply-add ratio beside the time ratios (best cuDNN IGC, best Triton IGC), one
    sentence each; then the equal-width replacements at C >= EQUAL_WIDTH_MIN_C, layer by layer."""
    pairs = {}  # (dtype, regime) -> [(case, regular, best cuDNN IGC, best Triton IGC)]
    for (case, dtype), rs in _group([r for r in lat if r["L"]], "case", "dtype").items():
        regular = _best([r for r in rs if r["provider"] == "cudnn-regular"])
        if regular is None:
            continue
        pairs.setdefault((dtype, _regime(int(rs[0]["M"]))), []).append(
            (case, regular, _best([r for r in rs if r["provider"] in IGC_BASELINES]),
             _best([r for r in rs if r["provider"] in TRITON_IGC])))
    if not pairs:
        return []
    md = ["## Does fewer FLOPs mean less time?", "",
          "Each IGC layer against cuDNN's regular 3x3 convolution of the same width (best layout each): the "
          "geometric mean, per regime, of the multiply-add ratio IGC / regular beside the time ratios, for the best "
          "cuDNN IGC composition and the best Triton IGC (where timed). Below 1: IGC is cheaper.", ""]
    body, sentences = [], []
    for (dtype, regime), items in sorted(pairs.items()):
        cite.table = f"answer {dtype}"
        macs = [(it[2] or it[3], it[1]) for it in items if it[2] or it[3]]
        if not macs:
            continue
        flops = cite(_geomean([a["macs"] for a, _ in macs], [b["macs"] for _, b in macs]), ".2f",
                     [x for pair in macs for x in pair], "geomean_ratio", "macs")
        cells, times = [dtype, regime, cite(len(items), "d", [it[1] for it in items], "count"), flops], []
        for pick in (2, 3):
            got = [(it[pick], it[1]) for it in items if it[pick]]
            if got:
                t = _geomean([_f(a) for a, _ in got], [_f(b) for _, b in got])
                times.append(t)
                cells.append(cite(t, ".3g", [x for pair in got for x in pair], "geomean_ratio"))
            else:
                cells.append("not timed")
        body.append(cells)
        if times:
            became = min(times) < 1
            sentences.append(f"- {regime}, {dtype}: IGC does {flops}x the regular convolution's multiply-adds and "
                             f"takes {cells[4]}x its time "
                             + ("on cuDNN" if device != "cpu" else "with PyTorch's CPU convolutions")
                             + (f", {cells[5]}x with Triton" if cells[5] != "not timed" else "")
                             + (": fewer FLOPs became less time." if became else ": fewer FLOPs did not become less "
                                "time."))
    md += _md_table(["dtype", "regime", "layers", "FLOPs IGC/regular", "time, cuDNN IGC/regular",
                     "time, Triton IGC/regular"], body) + [""] + sentences + [""]
    # A layer with only its regular convolution timed (a run cut off by its budget) has no row.
    wide = [(it[0], d, it) for (d, _), items in sorted(pairs.items()) for it in items
            if int(it[1]["cin"]) == int(it[1]["cout"]) >= EQUAL_WIDTH_MIN_C and (it[2] or it[3])]
    if wide:
        cite.table = "equal width"
        rows = []
        for case, dtype, (_, regular, igc, tri) in sorted(wide):
            ref = igc or tri
            rows.append([case, dtype, cite(float(ref["macs"]) / float(regular["macs"]), ".2f", [ref, regular],
                                           "ratio", "macs"),
                         cite(_f(igc) / _f(regular), ".3g", [igc, regular], "ratio") if igc else "not timed",
                         cite(_f(tri) / _f(regular), ".3g", [tri, regular], "ratio") if tri else "not timed"])
        md += [f"Equal-width replacement (a regular 3x3 convolution's C >= {EQUAL_WIDTH_MIN_C} channels as an IGC "
               "block):", ""]
        md += _md_table(["layer", "dtype", "FLOPs IGC/regular", "time, cuDNN IGC/regular", "time, Triton IGC/regular"],
                        rows) + [""]
    if figures:
        md += ["Where each kernel runs against the measured ceilings: `figures/roofline.png`.", ""]
    return md


def _geomean(a: list, b: list) -> float:
    return math.exp(sum(math.log(float(x) / float(y)) for x, y in zip(a, b)) / len(a))


def _claims(claims, lat, cite) -> list[str]:
    if not claims:
        return []
    by = {(r["case"], r["side"], r["metric"]): r for r in claims}
    cases = list(dict.fromkeys(r["case"] for r in claims))
    cite.table = "claims"
    body = []
    for case in cases:
        for side in ("igc", "baseline"):
            if (case, side, "paper_params") not in by:
                continue
            cells = [case, side, by[(case, side, "paper_params")]["provider"]]
            for q, fmt in (("params", ".4g"), ("flops", ".4g")):
                for who in ("paper", "ours"):
                    r = by.get((case, side, f"{who}_{q}"))
                    cells.append(cite(_f(r), fmt, [r], "value") if r else "")
            body.append(cells)
    md = ["## The paper's claims, and the time", "",
          "The paper's printed parameters and FLOPs (multiply-adds) of each network beside our count of the same "
          "network (`igc-lab paper-tables` explains the three numbers that differ), then the measured time ratio "
          "IGC / baseline (best layout, baseline on cuDNN) beside the paper's FLOP ratio: time follows FLOPs where "
          "the two agree.", ""]
    md += _md_table(["pair", "side", "network", "params (paper)", "params (ours)", "FLOPs (paper)", "FLOPs (ours)"],
                    body) + [""]
    for (dtype,), group in sorted(_group(lat, "dtype").items()):
        cite.table = f"claims {dtype}"
        body = []
        for case in cases:
            pi, pb = by.get((case, "igc", "paper_flops")), by.get((case, "baseline", "paper_flops"))
            if not (pi and pb):
                continue
            cells = [case, cite(_f(pi) / _f(pb), ".2f", [pi, pb], "ratio")]
            for mode in ("inference", "train"):
                base = _best([r for r in group if r["case"] == case and r["side"] == "baseline"
                              and r["mode"] == mode and r["provider"] == "net-cudnn"])
                for prov in ("net-cudnn", "net-triton"):
                    igc = _best([r for r in group if r["case"] == case and r["side"] == "igc" and r["mode"] == mode
                                 and r["provider"] == prov])
                    cells.append(cite(_f(igc) / _f(base), ".2f", [igc, base], "ratio") if igc and base else "")
            body.append(cells)
        if body:
            md += [f"### Time ratio IGC / baseline, {dtype}", ""] + _md_table(
                ["pair", "FLOP ratio (paper)", "inference, cuDNN IGC", "inference, Triton IGC", "train, cuDNN IGC",
                 "train, Triton IGC"], body) + [""]
    return md


def _networks(lat, cite) -> list[str]:
    md = ["## Networks: does the FLOP saving become a time saving?", "",
          "For each paper pair, the IGC network's time over its baseline's (best layout each), per provider and "
          "mode, beside the FLOP ratio (the paper's multiply-adds). A time ratio below the FLOP ratio means the "
          "IGC network runs its FLOPs less efficiently than the baseline.", ""]
    for (dtype,), group in sorted(_group(lat, "dtype").items()):
        cite.table = f"networks {dtype}"
        body = []
        for (case, mode, prov), rows in sorted(_group(group, "case", "mode", "provider").items()):
            igc = _best([r for r in rows if r["side"] == "igc"])
            base = _best([r for r in rows if r["side"] == "baseline"])
            # The baseline of a pair may only run on cuDNN (no IGC layer): compare with that.
            if igc and not base:
                base = _best([r for r in group if r["case"] == case and r["mode"] == mode
                              and r["side"] == "baseline" and r["provider"] == "net-cudnn"])
            if not (igc and base):
                continue
            body.append([case, mode, prov, cite(_f(igc), ".4g", [igc], "value"), cite(_f(base), ".4g", [base], "value"),
                         base["provider"], cite(_f(igc) / _f(base), ".2f", [igc, base], "ratio"),
                         cite(float(igc["macs"]) / float(base["macs"]), ".2f", [igc, base], "ratio", "macs"),
                         cite(float(igc["params"]) / float(base["params"]), ".2f", [igc, base], "ratio", "params")])
        md += [f"### {dtype}", ""] + _md_table(["pair", "mode", "IGC provider", "IGC ms", "baseline ms",
                                                "baseline provider", "time ratio", "FLOP ratio", "params ratio"],
                                               body) + [""]
    return md


def _figures(rows, out_dir) -> list[tuple[str, str]]:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    made = []
    lat = [r for r in rows if r["metric"] == "latency_ms" and r["kind"] == "layer"]
    if lat:
        fig, ax = plt.subplots(figsize=(7, 5))
        for (p,), rs in sorted(_group(lat, "provider").items()):
            ax.scatter([2 * float(r["macs"]) for r in rs], [_f(r) for r in rs], label=p, s=14)
        ax.set(xscale="log", yscale="log", xlabel="FLOPs (2 x multiply-adds)", ylabel="median latency (ms)",
               title="Latency against FLOPs, per provider")
        ax.legend(fontsize=7)
        made.append(_save(fig, out_dir, "latency_vs_flops.png", "Latency against FLOPs", plt))
        tf = {(r["_file"], r["case"], r["provider"], r["dtype"], r["layout"]): r for r in rows
              if r["metric"] == "tflops" and r["kind"] == "layer"}
        ceil = {r["metric"]: _f(r) for r in rows if r["kind"] == "ceiling"}
        fig, ax = plt.subplots(figsize=(7, 5))
        for (p,), rs in sorted(_group([r for r in lat if r["min_bytes"]], "provider").items()):
            pts = [(2 * float(r["macs"]) / float(r["min_bytes"]),
                    _f(tf[(r["_file"], r["case"], r["provider"], r["dtype"], r["layout"])]))
                   for r in rs if (r["_file"], r["case"], r["provider"], r["dtype"], r["layout"]) in tf]
            if pts:
                ax.scatter(*zip(*pts), label=p, s=14)
        if "copy_gbps" in ceil:
            xs = [10 ** (i / 10) for i in range(-10, 41)]
            bw = ceil["copy_gbps"] / 1e3
            for name, peak in ((k, v) for k, v in ceil.items() if k.startswith("gemm_tflops")):
                ax.plot(xs, [min(bw * x, peak) for x in xs], "--", lw=1,
                        label=f"roof: {ceil['copy_gbps']:.0f} GB/s copy, {peak:.3g} TFLOP/s {name[12:]} GEMM")
        ax.set(xscale="log", yscale="log", xlabel="arithmetic intensity (FLOP per minimal byte)",
               ylabel="achieved TFLOP/s", title="Roofline with the measured ceilings")
        ax.legend(fontsize=6)
        made.append(_save(fig, out_dir, "roofline.png", "Roofline with the measured ceilings", plt))
        speed = []
        for (case, dtype), rs in _group(lat, "case", "dtype").items():
            base = _best([r for r in rs if r["provider"] in IGC_BASELINES])
            tri = _best([r for r in rs if r["provider"] == "triton-igc"])
            if base and tri:
                speed.append((f"L{base['L']}M{base['M']} {dtype}\n{case}", _f(base) / _f(tri)))
        if speed:
            fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(speed)), 4.5))
            ax.bar(range(len(speed)), [s for _, s in speed])
            ax.axhline(1, color="k", lw=0.8)
            ax.set_xticks(range(len(speed)), [n for n, _ in speed], rotation=90, fontsize=5)
            ax.set(ylabel="speedup of triton-igc over the best cuDNN IGC", title="Speedup per (L, M)")
            made.append(_save(fig, out_dir, "speedup_per_LM.png", "Speedup per (L, M)", plt))
    thr = [r for r in rows if r["metric"] == "images_per_s"]
    if thr:
        fig, ax = plt.subplots(figsize=(7, 5))
        for (p, side), rs in sorted(_group(thr, "provider", "side").items()):
            ax.scatter([float(r["params"]) for r in rs], [_f(r) for r in rs], label=f"{p} ({side})", s=16,
                       marker="o" if side == "igc" else "s")
        ax.set(xscale="log", yscale="log", xlabel="parameters (paper convention)", ylabel="images / s",
               title="Network throughput against parameters")
        ax.legend(fontsize=7)
        made.append(_save(fig, out_dir, "throughput_vs_params.png", "Network throughput against parameters", plt))
    return made


def _save(fig, out_dir, name, title, plt):
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "figures", name), dpi=120)
    plt.close(fig)
    return name, title


def recompute(entry: dict, rows_by_source: dict) -> str:
    """Recompute one cited number from its CSV rows (used by the tests to trace the report)."""
    src = [rows_by_source[(s["file"], s["line"])] for s in entry["sources"]]
    f, field = entry["formula"], entry["field"]
    if f == "value":
        v = float(src[0][field])
    elif f == "ratio":
        a, _, b = field.partition(",")  # "value" (both rows), or "field of the first,field of the second"
        v = float(src[0][a]) / float(src[1][b or a])
    elif f == "count":
        v = len(src)
    elif f == "geomean_ratio":  # rows in pairs: the geometric mean of first / second
        a, _, b = field.partition(",")
        v = _geomean([r[a] for r in src[0::2]], [r[b or a] for r in src[1::2]])
    else:
        raise ValueError(f"unknown formula {f!r}")
    return format(v, entry["format"])
