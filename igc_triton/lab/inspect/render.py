"""``igc-lab inspect`` output: a readable table per call, a ranking of calls, JSON and CSV."""

import csv
import io
import json
import math


def _f(v, nd=1) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    return f"{v:.{nd}f}"


def _us(v) -> str:
    """Microseconds with three significant figures or so."""
    if v is None or not math.isfinite(v):
        return _f(v)
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def _widths(row: dict, kind: str) -> str:
    parts = [f"{_f(row[f'{kind}{b}_per_out'], 2)}x{b}b" for b in (8, 16, 32, 64, 128) if row[f"{kind}{b}_per_out"]]
    return " ".join(parts) or "0"


COLUMNS = [("kernel", 24), ("config", 30), ("regs", 4), ("spill", 5), ("smem", 6), ("occ/SM", 8), ("instr", 6),
           ("fp32", 5), ("int", 6), ("mma", 5), ("LDG per output", 22), ("STG", 10), ("ln/LD", 5), ("ln/ST", 5),
           ("pred us", 8), ("bound", 10)]


def _cells(row: dict) -> list[str]:
    kernel = row["kernel"] + ("*" if row["config_source"].startswith("tuned") else "")
    if row["error"]:
        return [kernel, row["config"], "", "", "", "", row["error"]]
    return [kernel, row["config"], str(row["regs"]), str(row["spill_bytes"]) if row["spills"] else "-",
            f"{row['smem_bytes'] / 1024:.0f}K", f"{row['blocks_per_sm']} ({row['warps_per_sm']}w)",
            _f(row["instr_per_out"]), _f(row["fp32_per_out"]), _f(row["alu_per_out"] + row["imad_per_out"]),
            _f(row["tensor_per_out"], 2), _widths(row, "ldg"), _widths(row, "stg"), _f(row["ld_lines_per_instr"]),
            _f(row["st_lines_per_instr"]), _us(row["predicted_us"]), row["bound"]]


def _line(cells) -> str:
    out = []
    for (name, w), c in zip(COLUMNS, cells):
        out.append(c.ljust(w) if name in ("kernel", "config", "LDG per output", "STG", "bound") else c.rjust(w))
    if len(cells) > len(COLUMNS):
        out += cells[len(COLUMNS):]
    return " ".join(out).rstrip()


def table(result) -> str:
    """Per call: one line per kernel launch, then the call's prediction against its memory floor."""
    head = (f"igc-lab inspect: {result.gpu} (sm_{result.arch}{', ' + result.l2 if result.l2 else ''}), machine code "
            f"from Triton {result.triton}; counts are per output element; times are predictions of the static "
            "model, not measurements")
    lines = [head]
    for call in result.calls:
        lines += ["", call.label, _line([n for n, _ in COLUMNS])]
        for r in call.reports:
            lines.append(_line(_cells(r.row())))
        for c, us in call.copies:
            lines.append(_line([f"copy to {c.to}", f"{'x'.join(map(str, c.shape))} {c.dtype}", "", "", "",
                                "", "", "", "", "", f"{2 * c.nbytes / 1e6:.2f} MB moved", "", "", "", _us(us),
                                "dram"]))
        if call.ok:
            ratio = call.predicted_us / call.floor_us if call.floor_us else math.nan
            kernels = f"{len(call.reports)} kernel(s)" + (f" and {len(call.copies)} layout cop"
                                                          f"{'y' if len(call.copies) == 1 else 'ies'}" if call.copies
                                                          else "")
            lines.append(f"  predicted {_us(call.predicted_us)} us for {kernels}; memory floor "
                         f"{_us(call.floor_us)} us ({call.floor_bytes / 1e6:.2f} MB: inputs read once, output "
                         f"written once): {_f(ratio)}x the floor")
            if call.compute_us:
                bound = " (compute-bound: the memory floor is out of reach)" if call.compute_us > call.floor_us else ""
                lines.append(f"  compute floor {_us(call.compute_us)} us (the useful multiply-adds at the dense "
                             f"tensor-core rate): {_f(call.predicted_us / call.roofline_us)}x the larger floor{bound}")
        notes = {n for r in call.reports for n in _notes(r)}
        lines += [f"  note: {n}" for n in sorted(notes)]
    lines.append("")
    lines.append("* tuned config. occ/SM: resident programs (warps) per SM. instr, fp32, int, mma: SASS "
                 "instructions per output element; LDG/STG: global loads/stores per output element by width; "
                 "ln/LD, ln/ST: 128-byte lines per warp access. See README, 'Reading igc-lab inspect'.")
    return "\n".join(lines)


def _notes(r) -> list[str]:
    out = []
    if r.unsolved_loops:
        out.append(f"{r.launch.kernel}: loop trip count unknown at {', '.join(r.unsolved_loops)} (taken as 1)")
    if r.solve_residual > 0.05:
        out.append(f"{r.launch.kernel}: loop trip counts fit the traced loads only to {r.solve_residual:.0%}")
    if r.trace and any(not st.laid_out for st in r.trace.sites.values()):
        out.append(f"{r.launch.kernel}: some accesses have no layout in the TTGIR (lines not counted there)")
    return out


def ranking(result) -> str:
    """Every call, fastest predicted first, with its floor and the bounds of its kernels."""
    lines = [f"igc-lab inspect: {len(result.calls)} calls ranked by predicted time on {result.gpu} (sm_{result.arch}, "
             f"{result.l2 + ', ' if result.l2 else ''}Triton {result.triton}); predictions of the static model, not "
             "measurements", "",
             f"{'#':>3s} {'call':64s} {'kernels':>7s} {'pred us':>9s} {'floor us':>9s} {'x floor':>7s}  bound"]
    order = sorted(result.calls, key=lambda c: (not c.ok, c.predicted_us if c.ok else 0))
    for i, c in enumerate(order, 1):
        if not c.ok:
            err = next((r.error for r in c.reports if r.error), "no kernel launched")
            lines.append(f"{i:3d} {c.label[:64]:64s} {len(c.reports):7d} {'-':>9s} {'-':>9s} {'-':>7s}  {err}")
            continue
        bounds = "+".join(r.prediction.bound for r in c.reports)
        lines.append(f"{i:3d} {c.label[:64]:64s} {len(c.reports):7d} {_us(c.predicted_us):>9s} {_us(c.floor_us):>9s} "
                     f"{_f(c.predicted_us / c.floor_us if c.floor_us else math.nan):>7s}  {bounds}")
    return "\n".join(lines)


def records(result) -> list[dict]:
    out = []
    for c in result.calls:
        for r in c.reports:
            row = r.row()
            meta = {k: c.meta.get(k, "") for k in ("case", "provider", "dtype", "layout", "mode")}
            out.append({"call": c.label, **meta, "call_predicted_ms": c.predicted_us / 1e3,
                        "call_predicted_us": c.predicted_us, "call_floor_us": c.floor_us,
                        "call_compute_floor_us": c.compute_us,
                        "call_copies_us": sum(us for _, us in c.copies), **row})
    return out


def to_json(result) -> str:
    data = {"gpu": result.gpu, "arch": result.arch, "triton": result.triton, "predicted": True, "l2": result.l2,
            "calls": [{"label": c.label, "predicted_us": c.predicted_us, "floor_us": c.floor_us,
                       "floor_bytes": c.floor_bytes, "compute_floor_us": c.compute_us,
                       "kernels": [r.row() for r in c.reports],
                       "copies": [{"shape": list(cp.shape), "dtype": cp.dtype, "to": cp.to, "bytes": cp.nbytes,
                                   "predicted_us": us} for cp, us in c.copies]} for c in result.calls]}
    return json.dumps(_finite(data), indent=1, default=str)


def _finite(v):
    """NaN and infinity have no JSON spelling: null."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_finite(x) for x in v]
    return v


def to_csv(result) -> str:
    rows = records(result)
    fields = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields)
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    return buf.getvalue()
