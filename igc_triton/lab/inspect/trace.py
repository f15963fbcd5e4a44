"""Run one program of a recorded launch under Triton's interpreter and record its memory accesses.

The program chosen is the middle of the grid (away from the first and last blocks). Every
``tl.load`` / ``tl.store`` it executes is recorded with its pointer and mask tiles and its
source line; mapped through the compiled layout of that site (``igc_triton.lab.inspect.layouts``),
that gives per site: executions, elements each thread holds, and, per warp-level instruction,
the distinct 128-byte lines and 32-byte sectors its active lanes touch. Tensors are real
(uninitialised) CPU allocations of the launch's shapes and strides, aligned like a GPU
allocation; bf16 tensors are traced as fp16 (same addresses: the interpreter has no bf16).

Runs in worker processes with ``TRITON_INTERPRET=1`` set before triton is imported;
``trace_all`` starts them (``workers``).
"""

import math
import os
import sys
from dataclasses import dataclass, field

ALIGN = 512  # bytes: what CUDA's caching allocator guarantees
SECTOR = 32  # bytes: the unit L2 and DRAM move
# A neighbour along a slower grid axis is traced only when the programs launched between the two
# move more than this: below every L2 of the device table, so a smaller sweep keeps its data there.
REREAD_MIN_SWEEP_BYTES = 16 << 20


@dataclass
class SiteStats:
    kind: str  # load | store
    element_bytes: int
    calls: int = 0
    registers: int = 0  # elements each thread holds per execution (the last one)
    thread_bytes: int = 0  # bytes one thread accesses, every execution
    vector: int = 1  # elements per memory instruction
    warp_instructions: int = 0  # per program, every execution
    active_instructions: int = 0  # with at least one active lane
    sectors: int = 0
    lines: int = 0
    active_elements: int = 0
    laid_out: bool = True  # False: no layout for the site in the TTGIR (counts from the tile only)


@dataclass
class Trace:
    program: tuple = ()
    sites: dict = field(default_factory=dict)  # (file, line, column) -> SiteStats
    outputs: int = 0  # elements the program stored (active lanes)
    read: set = field(default_factory=set)  # TensorArg idents loaded from
    written: set = field(default_factory=set)
    error: str | None = None
    # Distinct bytes (whole 32-byte sectors) the program reads per tensor ident, and writes in all.
    footprint: dict = field(default_factory=dict)
    written_bytes: int = 0
    # Per slower grid axis (1, 2) whose neighbour program was traced: {"distance": programs launched
    # between the two (the faster axes' extents), "extent": the axis's, "overlap": {ident: share of
    # this program's sectors of the tensor that the neighbour reads too}}. Empty: none traced (a
    # sweep small enough to stay in every L2, or a trace frozen before this was kept).
    rereads: dict = field(default_factory=dict)


def _allocate(arg, buffers: dict):
    import torch
    dtype = getattr(torch, arg.dtype)
    if dtype == torch.bfloat16:
        dtype = torch.float16
    es = torch.empty(0, dtype=dtype).element_size()
    if arg.ident not in buffers:
        nbytes = max(arg.storage_numel, 1) * es
        raw = torch.empty(nbytes + ALIGN, dtype=torch.uint8)
        offset = (-raw.data_ptr()) % ALIGN
        buffers[arg.ident] = (raw, offset, nbytes)
    raw, offset, _ = buffers[arg.ident]
    t = torch.empty(0, dtype=dtype)
    t.set_(raw.untyped_storage(), offset // es + arg.storage_offset, arg.shape, arg.stride)
    return t


def _kernel_frame(skip: tuple):
    """(file, line, column from 1) of the call being made in the innermost frame outside Triton
    and this package: the ``tl.load`` / ``tl.store`` of the kernel (or of its @triton.jit
    helper), located as the compiler locates it."""
    frame = sys._getframe(2)
    while frame is not None:
        code = frame.f_code
        if not code.co_filename.startswith(skip):
            positions = list(code.co_positions())
            at = positions[frame.f_lasti // 2] if frame.f_lasti >= 0 else (frame.f_lineno, None, None, None)
            return os.path.basename(code.co_filename), at[0] or frame.f_lineno, (at[2] or 0) + 1
        frame = frame.f_back
    return ("?", 0, 0)


def trace_launch(launch, sites: dict, vector_bytes: dict) -> Trace:
    """Trace the middle program of ``launch``; ``sites`` are its compiled layouts
    (``layouts.parse_sites``), ``vector_bytes[(file, line)]`` the widest access the SASS makes
    on that line (so that a warp instruction covers as many registers as on the GPU)."""
    import numpy as np
    from triton.runtime import interpreter

    from igc_triton.lab.inspect.compile import _value, load_kernel
    from igc_triton.runtime import fix_interpreter_index
    fix_interpreter_index()

    out = Trace()
    try:
        kernel = load_kernel(launch.module, launch.function, launch.file)
        buffers: dict = {}
        args = {}
        for name, v in launch.params:
            args[name] = _allocate(v, buffers) if v.__class__.__name__ == "TensorArg" else _value(v)
        ranges = [(ident, raw.data_ptr() + off, raw.data_ptr() + off + n) for ident, (raw, off, n) in buffers.items()]
        records = []
        builder = interpreter.interpreter_builder
        saved = {n: getattr(builder, n) for n in ("create_masked_load", "create_masked_store", "set_grid_dim",
                                                    "set_grid_idx")}
        program = tuple(g // 2 for g in launch.grid)
        import triton
        skip = (os.path.dirname(triton.__file__) + os.sep, os.path.dirname(os.path.abspath(__file__)) + os.sep)

        def load(ptrs, mask, other, *rest):
            records.append(("load", _kernel_frame(skip), ptrs.data.copy(), np.broadcast_to(mask.data, ptrs.data.shape),
                            ptrs.get_element_ty().primitive_bitwidth // 8))
            return saved["create_masked_load"](ptrs, mask, other, *rest)

        def store(ptrs, value, mask, *rest):
            records.append(("store", _kernel_frame(skip), ptrs.data.copy(), np.broadcast_to(mask.data, ptrs.data.shape),
                            ptrs.get_element_ty().primitive_bitwidth // 8))
            return saved["create_masked_store"](ptrs, value, mask, *rest)

        builder.create_masked_load, builder.create_masked_store = load, store
        builder.set_grid_dim = lambda *g: saved["set_grid_dim"](*launch.grid)
        at = [program]
        builder.set_grid_idx = lambda *i: saved["set_grid_idx"](*at[0])
        try:
            kernel[(1,)](**args)
            out.program = program
            match = match_sites({(kind, where) for kind, where, *_ in records}, sites)
            for kind, where, ptrs, mask, es in records:
                _accumulate(out, kind, where, ptrs, np.asarray(mask, dtype=bool), es, match.get((kind, where)),
                            vector_bytes.get(where[:2], es), launch.num_warps, ranges)
            mine = _sectors(records, "load", ranges)
            out.footprint = {ident: int(s.size) * SECTOR for ident, s in mine.items()}
            out.written_bytes = sum(int(s.size) * SECTOR for s in _sectors(records, "store", ranges).values())
            per_program = sum(out.footprint.values()) + out.written_bytes
            for axis in (1, 2):
                distance = math.prod(launch.grid[:axis])
                if launch.grid[axis] < 2 or distance * per_program <= REREAD_MIN_SWEEP_BYTES or not mine:
                    continue
                nb = list(program)
                nb[axis] += 1 if nb[axis] + 1 < launch.grid[axis] else -1
                records.clear()
                at[0] = tuple(nb)
                kernel[(1,)](**args)
                theirs = _sectors(records, "load", ranges)
                out.rereads[axis] = {
                    "distance": distance, "extent": launch.grid[axis],
                    "overlap": {ident: float(np.intersect1d(s, theirs[ident], assume_unique=True).size / s.size)
                                if ident in theirs else 0.0 for ident, s in mine.items()}}
        finally:
            for n, f in saved.items():
                setattr(builder, n, f)
    except Exception as e:  # noqa: BLE001 - reported with the launch
        out.error = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"[:400]
    return out


def _owner(address: int, ranges):
    """The ident of the tensor whose allocation holds ``address`` (None: none of them)."""
    return next((i for i, start, end in ranges if start <= address < end), None)


def _sectors(records, kind: str, ranges) -> dict:
    """{tensor ident: sorted distinct 32-byte sectors} the ``kind`` accesses of ``records`` touch."""
    import numpy as np
    found: dict = {}
    for k, _, ptrs, mask, es in records:
        if k != kind:
            continue
        a = ptrs.reshape(-1).astype(np.int64)[np.asarray(mask, dtype=bool).reshape(-1)]
        if not a.size:
            continue
        ident = _owner(int(a.min()), ranges)
        if ident is not None:
            found.setdefault(ident, []).extend((a // SECTOR, (a + es - 1) // SECTOR))
    return {i: np.unique(np.concatenate(v)) for i, v in found.items()}


def match_sites(traced: set, sites: dict) -> dict:
    """``{(kind, traced site): compiled Site}``. Both name a line; columns are counted differently
    by Triton versions (the call, or its first argument), so the accesses of one kind on a line
    are paired in column order."""
    by_line: dict = {}
    for kind, where in traced:
        by_line.setdefault((kind, where[0], where[1]), []).append(where)
    compiled: dict = {}
    for where, site in sites.items():
        compiled.setdefault((site.kind, where[0], where[1]), []).append(where)
    out = {}
    for key, mine in by_line.items():
        theirs = sorted(compiled.get(key, []), key=lambda w: w[2])
        if not theirs:
            continue
        mine = sorted(mine, key=lambda w: w[2])
        for i, where in enumerate(mine):
            out[(key[0], where)] = sites[theirs[min(i, len(theirs) - 1)] if len(mine) == len(theirs)
                                         else min(theirs, key=lambda w: abs(w[2] - where[2]))]
    return out


def _accumulate(out: Trace, kind, where, ptrs, mask, es, site, vbytes, num_warps, ranges):
    import numpy as np

    from igc_triton.lab.inspect import layouts
    shape = tuple(ptrs.shape)
    ptrs = ptrs.reshape(-1).astype(np.int64)
    mask = mask.reshape(-1)
    active = ptrs[mask]
    st = out.sites.get(where)
    if st is None:
        st = out.sites[where] = SiteStats(kind, es)
    st.calls += 1
    st.active_elements += int(active.size)
    if active.size:
        ident = _owner(int(active.min()), ranges)
        if ident is not None:
            (out.read if kind == "load" else out.written).add(ident)
    if kind == "store":
        out.outputs += int(active.size)
    if site is not None and not (site.shape == () and ptrs.size == 1):
        site = site.for_shape(shape)
    if site is None:
        st.laid_out = False
        st.registers = max(1, -(-ptrs.size // (32 * num_warps)))
        st.thread_bytes += st.registers * es
        st.warp_instructions += num_warps * st.registers
        return
    own = layouts.owners(site, num_warps)  # [warps, 32, registers]
    regs = own.shape[2]
    v = max(1, min(vbytes // es, layouts.fastest_run(site), regs))
    while regs % v:
        v //= 2
    st.registers, st.vector = regs, v
    st.thread_bytes += regs * es
    chunks = regs // v
    addr = ptrs[own].reshape(num_warps, 32, chunks, v)
    on = mask[own].reshape(num_warps, 32, chunks, v)
    st.warp_instructions += num_warps * chunks
    lane_on = on.any(axis=3)  # [warps, 32, chunks]: the lane takes part in the instruction
    big, small = np.iinfo(np.int64).max, np.iinfo(np.int64).min
    first = np.where(on, addr, big).min(axis=3)
    last = np.where(on, addr, small).max(axis=3) + es - 1
    both = np.concatenate([lane_on, lane_on], axis=1)
    for unit, attr in ((128, "lines"), (32, "sectors")):
        # A lane's vector is contiguous: it spans first..last, one unit unless it straddles two.
        units = np.where(both, np.concatenate([first // unit, last // unit], axis=1), big)
        units.sort(axis=1)
        distinct = (units[:, 1:, :] != units[:, :-1, :]) & (units[:, 1:, :] != big)
        setattr(st, attr, getattr(st, attr) + int(distinct.sum() + (units[:, 0, :] != big).sum()))
    st.active_instructions += int(lane_on.any(axis=1).sum())


def trace_item(item: dict) -> dict:
    """Worker side: (launch, compiled sites, vector widths) as JSON in, the trace as a dict out."""
    from igc_triton.lab.inspect.capture import launch_from_dict
    from igc_triton.lab.inspect.layouts import site_from_json
    sites = dict(site_from_json(s) for s in item["sites"])
    widths = {(f, line): b for f, line, b in item["vector_bytes"]}
    return trace_to_dict(trace_launch(launch_from_dict(item["launch"]), sites, widths))


def trace_all(jobs_list, jobs: int = 1, progress=None) -> list[Trace]:
    """``jobs_list``: ``(launch, sites, vector_bytes)`` triples; traced in ``jobs`` processes with
    TRITON_INTERPRET=1, results in order."""
    from igc_triton.lab.inspect import workers
    from igc_triton.lab.inspect.capture import launch_to_dict
    from igc_triton.lab.inspect.layouts import site_to_json
    items = [{"launch": launch_to_dict(lc),
              "sites": [site_to_json(where, s) for where, s in sites.items()],
              "vector_bytes": [[*where, b] for where, b in widths.items()]} for lc, sites, widths in jobs_list]
    out = workers.run("igc_triton.lab.inspect.trace", items, jobs, interpret=True, progress=progress)
    return [trace_from_dict(t) for t in out]


def trace_to_dict(t: Trace) -> dict:
    # JSON keys are strings: tensor idents and axes as [key, value] pairs instead.
    return {"program": list(t.program), "outputs": t.outputs, "read": sorted(t.read), "written": sorted(t.written),
            "error": t.error, "sites": [[f, line, col, st.__dict__] for (f, line, col), st in t.sites.items()],
            "footprint": sorted(t.footprint.items()), "written_bytes": t.written_bytes,
            "rereads": [[axis, {**r, "overlap": sorted(r["overlap"].items())}]
                        for axis, r in sorted(t.rereads.items())]}


def trace_from_dict(d: dict) -> Trace:
    # Traces frozen before footprints and re-reads were kept have none: no re-read is modelled for them.
    return Trace(tuple(d["program"]), {(f, line, col): _site_stats(st) for f, line, col, st in d["sites"]},
                 d["outputs"], set(d["read"]), set(d["written"]), d["error"],
                 {int(i): b for i, b in d.get("footprint", [])}, d.get("written_bytes", 0),
                 {int(a): {**r, "overlap": {int(i): f for i, f in r["overlap"]}} for a, r in d.get("rereads", [])})


def _site_stats(st: dict) -> SiteStats:
    # Traces frozen before thread_bytes was kept: every execution held the same registers then.
    return SiteStats(**{"thread_bytes": st["calls"] * st["registers"] * st["element_bytes"], **st})


if __name__ == "__main__":
    import warnings

    from igc_triton.lab.inspect import workers
    # The traced tensors hold whatever memory held: overflows in their arithmetic are noise.
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    raise SystemExit(workers.serve(None, trace_item, "trace one program of recorded launches (igc-lab inspect's "
                                                     "worker)"))
