"""From recorded launches to per-kernel reports: compile, trace, count, predict."""

import math
from dataclasses import dataclass, field

from igc_triton.lab.inspect import layouts, model, sass
from igc_triton.lab.inspect.capture import Launch
from igc_triton.lab.inspect.compile import Compiled, compile_all
from igc_triton.lab.inspect.trace import SECTOR, Trace, trace_all, trace_from_dict, trace_to_dict


@dataclass
class KernelReport:
    launch: Launch
    compiled: Compiled
    trace: Trace | None = None
    counts: sass.Counts | None = None
    loops: list = field(default_factory=list)  # (source line, trip count)
    unsolved_loops: list = field(default_factory=list)
    moved_lines: list = field(default_factory=list)  # SASS line info put back on the TTGIR's lines
    solve_residual: float = 0.0
    dram_bytes: int = 0  # the DRAM traffic modelled: each tensor once, re-reads that miss L2 again
    l2_bytes: int = 0  # between L2 and the SMs, all programs (``l2_bytes``)
    once_bytes: int = 0  # each tensor once (the kernel's memory floor)
    floor_us: float = math.nan
    prediction: model.Prediction | None = None
    device: str = ""

    @property
    def error(self) -> str | None:
        if self.compiled.error:
            return f"compile: {self.compiled.error}"
        if self.trace is not None and self.trace.error:
            return f"trace: {self.trace.error}"
        return None

    @property
    def threads(self) -> int:
        return 32 * self.launch.num_warps

    @property
    def outputs_per_program(self) -> int:
        return max(1, self.trace.outputs) if self.trace else 1

    def per_output(self, per_thread: float) -> float:
        """A per-thread dynamic count of one program, per output element."""
        return per_thread * self.threads / self.outputs_per_program

    def memory(self, kind: str) -> dict:
        """Totals over the program's global ``kind`` sites (load | store): warp instructions with an
        active lane, lines, sectors."""
        out = {"instructions": 0, "lines": 0, "sectors": 0}
        for st in (self.trace.sites.values() if self.trace else ()):
            if st.kind == kind:
                out["instructions"] += st.active_instructions
                out["lines"] += st.lines
                out["sectors"] += st.sectors
        return out

    def row(self) -> dict:
        """Flat fields for the table, JSON and CSV outputs (per output element unless named)."""
        lc = self.launch
        r = {"label": lc.label, "kernel": lc.kernel, "config": lc.config_str, "config_source": lc.config_source,
             "key": lc.key, "grid": "x".join(map(str, lc.grid)), "programs": lc.programs, "warps": lc.num_warps,
             "device": self.device, "error": self.error or ""}
        c = self.compiled
        r.update(regs=c.regs, spill_bytes=c.spill_stores + c.spill_loads, spills=c.spills, smem_bytes=c.smem,
                 triton=c.triton, compile_s=round(c.seconds, 2))
        if self.error or self.counts is None:
            return r
        k = self.counts
        p = self.prediction
        r.update(blocks_per_sm=p.blocks_per_sm, warps_per_sm=p.blocks_per_sm * lc.num_warps,
                 outputs_per_program=self.outputs_per_program)
        r["instr_per_out"] = self.per_output(k.total)
        for cls in ("fp32", "fp16x2", "alu", "imad", "conversion", "tensor", "shared", "local"):
            r[f"{cls}_per_out"] = self.per_output(k.by_class.get(cls, 0.0))
        for kind, table in (("ldg", k.loads_by_width), ("stg", k.stores_by_width)):
            for bits in (8, 16, 32, 64, 128):
                r[f"{kind}{bits}_per_out"] = self.per_output(table.get(bits, 0.0))
        loads = sum(k.loads_by_width.values())
        wide = sum(v for b, v in k.loads_by_width.items() if b >= 64)
        r["ldg_wide_share"] = wide / loads if loads else 0.0
        r["ldgsts_share"] = k.async_loads / loads if loads else 0.0
        for kind, name in (("load", "ld"), ("store", "st")):
            m = self.memory(kind)
            n = max(m["instructions"], 1)
            r[f"{name}_lines_per_instr"] = m["lines"] / n
            r[f"{name}_sectors_per_instr"] = m["sectors"] / n
        r["loops"] = " ".join(f"{line}x{trip:g}" for line, trip in self.loops)
        r["unsolved_loops"] = " ".join(self.unsolved_loops)
        r["dram_mb"] = self.dram_bytes / 1e6
        r["l2_mb"] = self.l2_bytes / 1e6
        r["floor_us"] = self.floor_us
        r["predicted_us"] = p.us
        r["bound"] = p.bound
        for term, us in p.terms.items():
            r[f"t_{term}_us"] = us
        return r


def _vector_bytes(code: sass.Sass) -> dict:
    """Widest access per source line, (file, line) -> bytes."""
    widest: dict = {}
    for i in code.instrs:
        if sass.is_load(i) or sass.is_store(i):
            widest[i.site] = max(widest.get(i.site, 0), sass.memory_width(i.op))
    return widest


def align_lines(code: sass.Sass, sites: dict) -> list[str]:
    """Put each global load and store of the SASS on a source line where the TTGIR has one of its
    kind: Triton 3.9's line info in kernel bodies can be off by a line or a few (the statement
    before or after). A line with no such access takes the nearest one above it in the file (a
    statement's machine code follows it), else the nearest below. Returns what was moved."""
    lines: dict = {}
    for (f, line, _), site in sites.items():
        lines.setdefault((site.kind, f), set()).add(line)
    moved = set()
    for i in code.instrs:
        kind = "load" if sass.is_load(i) else "store" if sass.is_store(i) else None
        known = lines.get((kind, i.file), set()) if kind else set()
        if not known or i.line in known:
            continue
        above = [t for t in known if t < i.line]
        target = max(above) if above else min(known)
        moved.add(f"{i.file}:{i.line}->{target}")
        i.line = target
    return sorted(moved)


def reread_factor(trace: Trace, ident: int, l2_bytes: int) -> float:
    """How many times a tensor is read from DRAM. Along a slower grid axis whose neighbouring
    programs read a share ``f`` of the same sectors but are launched so far apart that the
    programs between them move more than the L2 holds (their footprints, read and written), the
    shared sectors have left L2 and are read again: ``extent`` programs along it read ``extent``
    footprints where ``1 + (extent - 1) * (1 - f)`` are distinct (each adds what its neighbour did
    not read: all of them the same footprint at f = 1, ``extent`` times the reads; overlapping
    windows, a little more than once). Programs next to each other in launch order share through
    L2, taken as free."""
    per_program = sum(trace.footprint.values()) + trace.written_bytes
    factor = 1.0
    for r in trace.rereads.values():
        f = r["overlap"].get(ident, 0.0)
        if f > 0 and r["distance"] * per_program > l2_bytes:
            factor *= r["extent"] / (1 + (r["extent"] - 1) * (1 - f))
    return factor


def l1_bypass_share(code: sass.Sass) -> dict:
    """Per source line (file, line) with global loads, the share of their bytes (executed) that
    skips L1: cp.async of 16 bytes, which Triton emits as ``cp.async.cg`` (``LDGSTS.E.BYPASS.128``),
    and ``.cg`` loads (``LDG....STRONG.GPU``). A share, not a flag: line info puts some of one
    statement's copies on the next one's line (the nhwc block's weight tile on its input's)."""
    total: dict = {}
    skipped: dict = {}
    for i in code.instrs:
        if i.subroutine or not sass.is_load(i) or i.base not in sass.GLOBAL_LOADS:
            continue
        n = i.mult * sass.memory_width(i.op)
        total[i.site] = total.get(i.site, 0.0) + n
        if (i.base == "LDGSTS" and "BYPASS" in i.op) or (i.base == "LDG" and "STRONG.GPU" in i.op):
            skipped[i.site] = skipped.get(i.site, 0.0) + n
    return {site: skipped.get(site, 0.0) / n for site, n in total.items() if n}


def l2_bytes(launch: Launch, trace: Trace, bypass: dict) -> int:
    """Bytes between L2 and the SMs, all programs: per program every sector of the loads that
    skip L1 (``bypass``: ``l1_bypass_share`` of each line; each tap's tile again), the distinct
    sectors of the other loads (a re-read taken from L1: the program's footprint, shared among
    the two kinds by their sectors where both read), and every stored sector (L1 writes through)."""
    loads = [(st.sectors, bypass.get((f, line), 0.0)) for (f, line, _), st in trace.sites.items()
             if st.kind == "load"]
    skipped = sum(n * b for n, b in loads)
    cached = sum(n * (1 - b) for n, b in loads)
    footprint = sum(trace.footprint.values())
    kept = min(cached * SECTOR, footprint * cached / (cached + skipped)) if cached else 0.0
    stored = sum(st.sectors for st in trace.sites.values() if st.kind == "store")
    return int((skipped * SECTOR + kept + stored * SECTOR) * launch.programs)


def dram_bytes(launch: Launch, trace: Trace, l2_bytes: int) -> int:
    seen: dict = {}
    for _, t in launch.tensors():
        if t.ident in trace.read or t.ident in trace.written:
            reads = t.nbytes * reread_factor(trace, t.ident, l2_bytes) if t.ident in trace.read else 0
            n = reads + t.nbytes * (t.ident in trace.written)
            seen[t.ident] = max(seen.get(t.ident, 0), n)
    return int(sum(seen.values()))


def analyze(launches: list, device, arch: int | None = None, jobs: int = 2, progress=None, python=None,
            compiled: list | None = None, traces: list | None = None) -> list[KernelReport]:
    """Compile (``jobs`` processes; ``python``: another interpreter's Triton), trace (interpreter
    processes) and model every launch. ``compiled`` / ``traces`` given (frozen data) skip those
    steps."""
    arch = arch or device.arch
    say = progress or (lambda msg: None)

    def every_tenth(what):
        return lambda i, n: say(f"  {what} {i}/{n}") if i == n or i % max(1, n // 10) == 0 else None
    if compiled is None:
        say(f"compiling {len(launches)} launch(es) for sm_{arch}")
        compiled = compile_all(launches, arch, jobs, progress=every_tenth("compiled"), python=python)
    reports = [KernelReport(lc, c, device=device.name) for lc, c in zip(launches, compiled)]
    parsed, todo = {}, []
    for i, r in enumerate(reports):
        if r.compiled.error:
            continue
        code = sass.parse(r.compiled.sass)
        sites = layouts.parse_sites(r.compiled.ttgir)
        r.moved_lines = align_lines(code, sites)
        parsed[i] = code
        todo.append((i, (r.launch, sites, _vector_bytes(code))))
    if traces is None:
        say(f"tracing {len(todo)} program(s) under the interpreter")
        traces = trace_all([job for _, job in todo], jobs=max(1, min(jobs, 2)),
                           progress=every_tenth("traced"))
    else:
        traces = [traces[i] for i, _ in todo]
    for (i, _), tr in zip(todo, traces):
        r = reports[i]
        r.trace = tr
        if tr.error:
            continue
        code = parsed[i]
        expected: dict = {}  # bytes per thread per source line (SASS locates lines, not columns)
        for (f, line, _), st in tr.sites.items():
            if st.kind == "load":
                expected[(f, line)] = expected.get((f, line), 0) + st.thread_bytes
        sass.solve_trip_counts(code, expected)
        r.loops = [(f"{lp.file}:{lp.line}", lp.trip) for lp in code.loops]
        r.unsolved_loops, r.solve_residual = code.unsolved, code.residual
        r.counts = sass.count(code)
        r.dram_bytes = dram_bytes(r.launch, tr, device.l2_bytes)
        r.once_bytes = dram_bytes(r.launch, tr, math.inf)
        r.floor_us = r.once_bytes / (device.dram_gbps * 1e9) * 1e6
        r.l2_bytes = l2_bytes(r.launch, tr, l1_bypass_share(code))
        lines = sum(st.lines for st in tr.sites.values())
        r.prediction = model.predict(device, programs=r.launch.programs, num_warps=r.launch.num_warps,
                                     regs=r.compiled.regs, smem=r.compiled.smem, counts=r.counts,
                                     lines_per_program=lines, dram_bytes=r.dram_bytes, l2_bytes=r.l2_bytes)
    return reports


def compiled_from_dict(d: dict) -> Compiled:
    return Compiled(**d)


__all__ = ["KernelReport", "align_lines", "analyze", "compiled_from_dict", "trace_from_dict", "trace_to_dict"]
