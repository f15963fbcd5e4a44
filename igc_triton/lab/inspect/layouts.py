"""Which thread holds which element of each global load and store, from the compiled TTGIR.

A memory op's register layout (``#ttg.blocked``, a ``#ttg.slice`` of one, or ``#ttg.linear``)
fixes, for every (warp, lane, register), the tile element it holds. Together with the
pointers the traced program computed (``igc_triton.lab.inspect.trace``), that gives the
addresses each warp-level instruction touches: the cache lines and sectors the hardware
must serve.
"""

import os
import re
from dataclasses import dataclass

import numpy as np

BLOCKED = re.compile(r"^(#[\w]+) = #ttg\.blocked<\{sizePerThread = \[([\d, ]+)\], threadsPerWarp = \[([\d, ]+)\], "
                     r"warpsPerCTA = \[([\d, ]+)\], order = \[([\d, ]+)\]")
LINEAR = re.compile(r"^(#[\w]+) = #ttg\.linear<\{register = (\[.*?\]), lane = (\[.*?\]), warp = (\[.*?\]), block")
LOCDEF = re.compile(r"^(#loc\d*) = (loc\(.*\))\s*$")
PTR_TYPE = re.compile(r"tensor<([\dx]+)x!tt\.ptr<(\w+)>, (#[\w]+|#ttg\.slice<\{dim = (\d+), parent = (#[\w]+)\}>)>")
SCALAR_PTR = re.compile(r":\s*!tt\.ptr<(\w+)>")
OP_LOC = re.compile(r"loc\((#loc\d*)\)\s*$")


@dataclass(frozen=True)
class Layout:
    kind: str  # "blocked", "linear" or "scalar"
    spt: tuple = ()
    tpw: tuple = ()
    wpc: tuple = ()
    order: tuple = ()
    bases: tuple = ()  # linear: (register bases, lane bases, warp bases)
    slice_dim: int | None = None


@dataclass(frozen=True)
class Site:
    kind: str  # "load" or "store"
    shape: tuple
    layout: Layout
    # Other ops of the same kind at the same source location with other tile shapes, as
    # (shape, Layout) pairs: a helper called on two tiles (the nhwc_fma kernel's two channel chunks).
    others: tuple = ()

    def for_shape(self, shape: tuple):
        """This site as the op of ``shape`` sees it, or None if no op there has that shape."""
        if tuple(self.shape) == tuple(shape):
            return self
        lay = next((lay for s, lay in self.others if tuple(s) == tuple(shape)), None)
        return None if lay is None else Site(self.kind, tuple(shape), lay)


def site_to_json(where: tuple, site: Site) -> list:
    return [*where, site.kind, list(site.shape), site.layout.__dict__,
            [[list(s), lay.__dict__] for s, lay in site.others]]


def site_from_json(item: list) -> tuple:
    """(where, Site) from ``site_to_json``'s list (JSON turned the tuples into lists)."""
    *where, kind, shape, lay, others = item
    return tuple(where), Site(kind, tuple(shape), _layout(lay), tuple((tuple(s), _layout(o)) for s, o in others))


def _layout(d: dict) -> Layout:
    return Layout(**{k: _tuples(v) for k, v in d.items()})


def _tuples(v):
    return tuple(_tuples(x) for x in v) if isinstance(v, list) else v


def _ints(text: str) -> tuple:
    return tuple(int(v) for v in text.split(",") if v.strip())


def _bases(text: str) -> tuple:
    return tuple(tuple(int(v) for v in b.split(",") if v.strip()) for b in re.findall(r"\[([\d, ]*)\]", text[1:-1]))


def parse_sites(ttgir: str) -> dict:
    """``{(file basename, line, column): Site}`` for every global load (``tt.load``, or a
    ``ttg.async_copy_global_to_local`` when it was pipelined) and store of a TTGIR module.
    Sites are keyed by the innermost source location (helpers included, as the traced
    program's frames are; columns count from 1)."""
    layouts, locdefs = {}, {}
    for line in ttgir.splitlines():
        if m := BLOCKED.match(line):
            layouts[m.group(1)] = Layout("blocked", _ints(m.group(2)), _ints(m.group(3)), _ints(m.group(4)),
                                         _ints(m.group(5)))
        elif m := LINEAR.match(line):
            layouts[m.group(1)] = Layout("linear", bases=(_bases(m.group(2)), _bases(m.group(3)), _bases(m.group(4))))
        elif m := LOCDEF.match(line):
            locdefs[m.group(1)] = m.group(2)
    sites = {}
    for line in ttgir.splitlines():
        if "tt.load " in line or "ttg.async_copy_global_to_local " in line:
            kind = "load"
        elif "tt.store " in line:
            kind = "store"
        else:
            continue
        lm = OP_LOC.search(line)
        where = _resolve(f"loc({lm.group(1)})", locdefs) if lm else None
        if where is None:
            continue
        if m := PTR_TYPE.search(line):
            shape = tuple(int(v) for v in m.group(1).split("x"))
            if m.group(4) is not None:
                parent = layouts.get(m.group(5))
                layout = None if parent is None else Layout(**{**parent.__dict__, "slice_dim": int(m.group(4))})
            else:
                layout = layouts.get(m.group(3))
            if layout is None:
                continue
            first = sites.get(where)
            if first is None:
                sites[where] = Site(kind, shape, layout)
            elif first.kind == kind and first.for_shape(shape) is None:
                sites[where] = Site(kind, first.shape, first.layout, first.others + ((shape, layout),))
        elif SCALAR_PTR.search(line) and where not in sites:
            sites[where] = Site(kind, (), Layout("scalar"))
    return sites


def essential(ttgir: str) -> str:
    """The lines of a TTGIR module ``parse_sites`` reads (layouts, locations, memory ops)."""
    keep = ("tt.load ", "tt.store ", "ttg.async_copy_global_to_local ")
    return "\n".join(line for line in ttgir.splitlines()
                     if BLOCKED.match(line) or LINEAR.match(line) or LOCDEF.match(line) or any(k in line for k in keep))


def _resolve(loc: str, defs: dict, depth: int = 0):
    if depth > 64:
        return None
    if m := re.match(r'loc\("([^"]+)":(\d+):(\d+)\)', loc):
        return os.path.basename(m.group(1)), int(m.group(2)), int(m.group(3))
    for pattern in (r"loc\(callsite\((#loc\d*) at", r'loc\("[^"]*"\((#loc\d*)\)\)', r"loc\((#loc\d*)\)",
                    r"loc\(fused\[(#loc\d*)"):
        if m := re.match(pattern, loc):
            return _resolve(defs.get(m.group(1), ""), defs, depth + 1)
    return None


def owners(site: Site, num_warps: int) -> np.ndarray:
    """Flat (row-major) tile index held by each (warp, lane, register): ``[warps, 32, registers]``.
    Consecutive registers run along the layout's fastest dimension first (a vector load takes
    a run of them)."""
    shape = site.shape
    lay = site.layout
    if lay.kind == "scalar":
        return np.zeros((num_warps, 32, 1), dtype=np.int64)
    if lay.kind == "linear":
        coords = _linear_coords(lay, num_warps)
    else:
        coords = _blocked_coords(lay, shape, num_warps)
    flat = np.zeros(coords.shape[:3], dtype=np.int64)
    for d, size in enumerate(shape):
        flat = flat * size + (coords[..., d] % size)
    return flat


def _linear_coords(lay: Layout, num_warps: int) -> np.ndarray:
    reg_b, lane_b, warp_b = lay.bases
    rank = len((reg_b or lane_b or warp_b)[0])
    nregs = 1 << len(reg_b)

    def span(index: np.ndarray, bases) -> np.ndarray:
        out = np.zeros(index.shape + (rank,), dtype=np.int64)
        for bit, b in enumerate(bases):
            on = ((index >> bit) & 1).astype(bool)
            out[on] ^= np.array(b, dtype=np.int64)
        return out

    w = span(np.arange(num_warps), warp_b)[:, None, None, :]
    ln = span(np.arange(32), lane_b)[None, :, None, :]
    r = span(np.arange(nregs), reg_b)[None, None, :, :]
    return w ^ ln ^ r


def _blocked_coords(lay: Layout, shape: tuple, num_warps: int) -> np.ndarray:
    sd = lay.slice_dim
    full = list(shape)
    if sd is not None:
        full.insert(sd, 1)
    rank = len(full)

    def split(index: np.ndarray, sizes) -> list:
        parts = [None] * rank
        for d in lay.order:
            parts[d] = index % sizes[d]
            index = index // sizes[d]
        return parts

    # Registers per dimension: sizePerThread, times the repetitions of the CTA tile.
    regs = []
    for d in range(rank):
        if d == sd:
            regs.append(1)
            continue
        tile = lay.spt[d] * lay.tpw[d] * lay.wpc[d]
        regs.append(lay.spt[d] * max(1, -(-full[d] // tile)))
    nregs = int(np.prod(regs))
    # Register order: within sizePerThread along `order`, then the repetitions along `order`.
    spt = [1 if d == sd else lay.spt[d] for d in range(rank)]
    reps = [regs[d] // spt[d] for d in range(rank)]
    r = np.arange(nregs)
    inner = split(r % int(np.prod(spt)), spt)
    outer = split(r // int(np.prod(spt)), reps)
    wc = split(np.arange(num_warps), lay.wpc)
    lc = split(np.arange(32), lay.tpw)
    coords = np.zeros((num_warps, 32, nregs, rank), dtype=np.int64)
    for d in range(rank):
        if d == sd:
            continue
        c = ((outer[d][None, None, :] * lay.wpc[d] + wc[d][:, None, None]) * lay.tpw[d]
             + lc[d][None, :, None]) * lay.spt[d] + inner[d][None, None, :]
        coords[..., d] = c
    if sd is not None:
        coords = np.delete(coords, sd, axis=3)
    return coords


def fastest_run(site: Site) -> int:
    """Registers that are consecutive elements along the fastest dimension (a vector's limit)."""
    lay = site.layout
    if lay.kind == "blocked":
        d = next(d for d in lay.order if d != lay.slice_dim)
        return lay.spt[d]
    if lay.kind == "linear" and lay.bases[0]:
        reg = lay.bases[0]
        first = reg[0]
        if sorted(first)[-1] != 1 or sum(first) != 1:
            return 1
        d, run = first.index(1), 1
        for b in reg:
            if b[d] != run or sum(b) != run:
                break
            run *= 2
        return run
    return 1
