"""Read SASS (``nvdisasm -c -g``): instructions with their source lines, classes, memory widths,
tensor-core shapes, and the loops (backward branches) they sit in.

Static SASS says what one pass over the code issues; a kernel's dynamic count weights every
instruction by the trip counts of the loops around it. Trip counts come from
``solve_trip_counts``: the traced program (``igc_triton.lab.inspect.trace``) says how many
elements each load site read per thread, and the SASS holds the loads of that site inside
and outside each loop, so each loop's trip count is what makes the two agree. Loops sharing
their branch's source line (one source loop copied per unrolled tap) share one trip count.
Subroutines (``$__internal_*``: 64-bit division's slow path) run only on operands past
32 bits and are not counted.
"""

import math
import os
import re
from dataclasses import dataclass, field

INSTR = re.compile(r"^\s*/\*([0-9a-f]+)\*/\s+(@!?U?P[T0-9]+\s+)?([A-Z][A-Z0-9_]*(?:\.[A-Za-z0-9_]+)*)\s*(.*?)\s*;")
LABEL = re.compile(r"^\s*([.$][\w$.]+):\s*$")
LOCATION = re.compile(r'//## File "([^"]+)", line (\d+)')
BRANCH_TARGET = re.compile(r"`\(([.$][\w$.]+)\)")
MMA_SHAPE = re.compile(r"^H?G?MMA\.(\d+)x?(\d+)x?(\d+)")

# Memory instructions and their classes.
GLOBAL_LOADS = ("LDG", "LDGSTS")
GLOBAL_STORES = ("STG",)
SHARED = ("LDS", "STS", "LDSM", "STSM")
LOCAL = ("LDL", "STL")
TENSOR = ("HMMA", "HGMMA", "IMMA", "IGMMA")
FP32 = ("FFMA", "FMUL", "FADD", "FMNMX", "FSETP", "FSEL", "FCHK")
FP16X2 = ("HFMA2", "HMUL2", "HADD2", "HMNMX2", "HSETP2")
CONVERSION = ("F2F", "F2FP", "I2F", "F2I", "I2FP", "F2IP", "MUFU", "FRND")
IMAD = ("IMAD",)
ALU = ("IADD3", "LOP3", "SHF", "ISETP", "LEA", "SEL", "PRMT", "IMNMX", "VIADD", "VIADDMNMX", "IABS", "SGXT", "BMSK",
       "PLOP3", "POPC", "FLO", "BREV", "P2R", "R2P", "LOP", "IADD", "SHL", "SHR", "VIMNMX", "IDP")

WIDTH_BYTES = {"U8": 1, "S8": 1, "U16": 2, "S16": 2, "64": 8, "128": 16}


@dataclass
class Instr:
    addr: int
    op: str  # full opcode with modifiers, e.g. LDG.E.128
    args: str
    file: str  # basename of the source file
    line: int
    subroutine: bool = False
    mult: float = 1.0  # product of the trip counts of the loops around it

    @property
    def base(self) -> str:
        return self.op.split(".")[0]

    @property
    def site(self) -> tuple:
        return (self.file, self.line)


@dataclass
class Loop:
    start: int  # address of the branch target (loop head)
    end: int  # address of the backward branch
    file: str
    line: int  # source line of the backward branch: the source loop it implements
    trip: float | None = None
    parent: int | None = None  # index of the innermost enclosing loop

    def contains(self, addr: int) -> bool:
        return self.start <= addr <= self.end


@dataclass
class Sass:
    instrs: list
    loops: list
    unsolved: list = field(default_factory=list)  # source lines of loops whose trip count is unknown (taken as 1)
    residual: float = 0.0  # largest relative mismatch of the trip-count solve


def parse(text: str) -> Sass:
    instrs, labels = [], {}
    pending, where, in_subroutine = [], ("?", 0), False
    for raw in text.splitlines():
        if m := LOCATION.search(raw):
            where = (os.path.basename(m.group(1)), int(m.group(2)))
            continue
        if m := LABEL.match(raw):
            name = m.group(1)
            if name.startswith("$__internal"):
                in_subroutine = True
            pending.append(name)
            continue
        if m := INSTR.match(raw):
            addr = int(m.group(1), 16)
            for name in pending:
                labels[name] = addr
            pending = []
            instrs.append(Instr(addr, m.group(3), m.group(4), where[0], where[1], in_subroutine))
    loops = []
    for i in instrs:
        if i.base != "BRA" or i.subroutine:
            continue
        m = BRANCH_TARGET.search(i.args)
        if m and m.group(1) in labels and labels[m.group(1)] < i.addr:
            loops.append(Loop(labels[m.group(1)], i.addr, i.file, i.line))
    loops.sort(key=lambda lp: (lp.start, -lp.end))
    for j, lp in enumerate(loops):
        enclosing = [k for k, o in enumerate(loops) if k != j and o.start <= lp.start and lp.end <= o.end
                     and (o.start, o.end) != (lp.start, lp.end)]
        lp.parent = max(enclosing, key=lambda k: loops[k].start) if enclosing else None
    return Sass([i for i in instrs], loops)


def memory_width(op: str) -> int:
    """Bytes per thread of a memory instruction (32 bits unless a width modifier says otherwise)."""
    for part in op.split(".")[1:]:
        if part in WIDTH_BYTES:
            return WIDTH_BYTES[part]
    return 4


def is_load(i: Instr) -> bool:
    return i.base in GLOBAL_LOADS


def is_store(i: Instr) -> bool:
    return i.base in GLOBAL_STORES


def mma_macs(i: Instr) -> float:
    """Multiply-adds one warp's issue of a tensor-core instruction does: HMMA.16816 is 16x8x16 per
    warp; HGMMA.64xNx16 is 64xNx16 per warpgroup, a quarter of it per warp."""
    m = MMA_SHAPE.match(i.op)
    if not m:
        return 0.0
    a, b, c = (int(v) for v in m.groups())
    if i.base in ("HGMMA", "IGMMA"):
        return a * b * c / 4
    digits = i.op.split(".")[1]
    # HMMA.16816 / HMMA.1688 / HMMA.1684: m16, n8, k16 / k8 / k4.
    if i.base in ("HMMA", "IMMA") and digits.isdigit():
        m_, n_, k_ = int(digits[:2]), int(digits[2]), int(digits[3:])
        return m_ * n_ * k_
    return a * b * c


def _enclosing(sass: Sass, addr: int) -> list[int]:
    return [k for k, lp in enumerate(sass.loops) if lp.contains(addr)]


def solve_trip_counts(sass: Sass, expected: dict):
    """Set each loop's trip count and every instruction's ``mult``.

    ``expected[(file, line)]``: bytes one thread loads at that source line in the whole program
    (from the traced program). Loops are solved outermost first, each from the loads of the
    lines directly inside it (its anchors): the trip count that makes their bytes match.
    Loops sharing their branch's source line are copies of one source loop: equal ones (one per
    unrolled tap) share the iterations; an unrolled loop and its remainder split them (the
    unrolled one takes whole passes, the remainder the rest).
    """
    loads = [i for i in sass.instrs if is_load(i) and not i.subroutine and i.site in expected]
    groups: dict = {}
    for k, lp in enumerate(sass.loops):
        groups.setdefault((lp.file, lp.line, _depth(sass, k)), []).append(k)
    worst = 0.0
    for g in sorted(groups, key=lambda g: g[2]):
        members = groups[g]
        need, per_loop = 0.0, {k: 0.0 for k in members}
        for site in {i.site for i in loads if _innermost(sass, i.addr) in members}:
            known, inside = 0.0, {k: 0.0 for k in members}
            usable = True
            for i in loads:
                if i.site != site:
                    continue
                inner = _innermost(sass, i.addr)
                if inner in members:
                    inside[inner] += memory_width(i.op) * _mult(sass, i.addr, skip=members)
                elif (m := _mult(sass, i.addr)) is not None:
                    known += memory_width(i.op) * m
                else:  # also in a loop not solved yet: no anchor for this one
                    usable = False
                    break
            if usable and any(inside.values()):
                need += expected[site] - known
                for k in members:
                    per_loop[k] += inside[k]
        trips = _split(need, per_loop)
        if trips is None:
            sass.unsolved.append(f"{g[0]}:{g[1]}")
            trips = {k: 1.0 for k in members}
        else:
            # A source loop whose copies with loads all come out at half a pass or less never ran by
            # its lines, yet it has loads: they did not anchor it (a remainder copy alone may
            # rightly run no pass beside its unrolled loop).
            if any(per_loop.values()) and all(t <= 0.5 for k, t in trips.items() if per_loop[k]):
                worst = max(worst, 1.0)
            for k, t in trips.items():
                rounded = float(round(t))
                if per_loop[k] and t > 0.5:
                    worst = max(worst, abs(t - rounded) / rounded)
                trips[k] = rounded
        for k in members:
            sass.loops[k].trip = trips[k]
    if (worst > 0.05 or sass.unsolved) and len(groups) == 1 and all(lp.parent is None for lp in sass.loops):
        # One loop (or copies of it) whose loads' source lines do not all match the traced ones:
        # the compiler may give a load the line of the code it was moved next to (Triton 3.9
        # does, in the nhwc_fma kernel). Every load then anchors it, by bytes in all.
        members = next(iter(groups.values()))
        every = [i for i in sass.instrs if is_load(i) and not i.subroutine]
        outside = sum(memory_width(i.op) for i in every if _innermost(sass, i.addr) is None)
        per_loop = {k: sum(memory_width(i.op) for i in every if _innermost(sass, i.addr) == k) for k in members}
        trips = _split(sum(expected.values()) - outside, per_loop)
        if trips is not None:
            misfit = max((abs(t - round(t)) / round(t) for k, t in trips.items() if per_loop[k] and t > 0.5),
                         default=1.0)
            if misfit < (worst if not sass.unsolved else 0.05):
                worst = misfit
                sass.unsolved.clear()
                for k, t in trips.items():
                    sass.loops[k].trip = float(round(t))
    sass.residual = worst
    for i in sass.instrs:
        i.mult = 1.0
        for k in _enclosing(sass, i.addr):
            i.mult *= sass.loops[k].trip or 1.0


def _split(need: float, per_loop: dict):
    """Trip counts of a group of loops that must load ``need`` bytes, loop k ``per_loop[k]`` bytes
    per pass; None when nothing anchors them."""
    if need <= 0 or not any(per_loop.values()):
        return None
    big = max(per_loop.values())
    main = [k for k, b in per_loop.items() if b == big]
    rest = [k for k, b in per_loop.items() if 0 < b < big]
    if not rest:  # copies of one loop
        return {k: (need / (big * len(main)) if per_loop[k] else 0.0) for k in per_loop}
    # An unrolled loop and its remainder, once per copy: whole unrolled passes, then the rest.
    each = need / len(main)
    t_main = math.floor(each / big + 1e-9)
    left = (need - t_main * big * len(main)) / sum(per_loop[k] for k in rest)
    return {k: (t_main if k in main else left if k in rest else 0.0) for k in per_loop}


def _depth(sass: Sass, k: int) -> int:
    d, p = 0, sass.loops[k].parent
    while p is not None:
        d, p = d + 1, sass.loops[p].parent
    return d


def _innermost(sass: Sass, addr: int):
    inside = _enclosing(sass, addr)
    return max(inside, key=lambda k: sass.loops[k].start) if inside else None


def _mult(sass: Sass, addr: int, skip=()):
    """Product of the (already solved) trip counts around ``addr``, leaving out ``skip``; None
    when one of them is not solved yet."""
    m = 1.0
    for k in _enclosing(sass, addr):
        if k in skip:
            continue
        if sass.loops[k].trip is None:
            return None
        m *= sass.loops[k].trip
    return m


@dataclass
class Counts:
    """Dynamic instructions per thread of one program, by class, and memory traffic by width."""
    total: float = 0.0
    by_class: dict = field(default_factory=dict)
    loads_by_width: dict = field(default_factory=dict)  # bits -> instructions (LDG and LDGSTS)
    async_loads: float = 0.0  # LDGSTS (cp.async): global to shared memory, no register on the way
    stores_by_width: dict = field(default_factory=dict)
    shared_wavefronts: float = 0.0  # per warp: LDS/STS/LDSM and spill (LDL/STL) wavefronts, wgmma operand reads
    tensor_instrs: float = 0.0
    # Tensor-core multiply-adds per warp, 16-bit equivalent (a TF32 one counts twice: half rate):
    tensor_macs: float = 0.0  # wgmma (HGMMA)
    hmma_macs: float = 0.0  # mma.sync (HMMA)
    static: int = 0
    subroutine: int = 0


def classify(i: Instr) -> str:
    b = i.base
    if b in GLOBAL_LOADS:
        return "load"
    if b in GLOBAL_STORES:
        return "store"
    if b in SHARED:
        return "shared"
    if b in LOCAL:
        return "local"
    if b in TENSOR:
        return "tensor"
    if b in FP32:
        return "fp32"
    if b in FP16X2:
        return "fp16x2"
    if b in CONVERSION:
        return "conversion"
    if b in IMAD:
        return "imad"
    if b in ALU:
        return "alu"
    if b.startswith("U"):
        return "uniform"
    if b in ("MOV", "S2R", "CS2R", "S2UR", "R2UR", "SHFL", "MOVM", "LDC"):
        return "move"
    return "control"


def count(sass: Sass) -> Counts:
    c = Counts(static=sum(not i.subroutine for i in sass.instrs), subroutine=sum(i.subroutine for i in sass.instrs))
    for i in sass.instrs:
        if i.subroutine:
            continue
        cls = classify(i)
        c.total += i.mult
        c.by_class[cls] = c.by_class.get(cls, 0.0) + i.mult
        if cls in ("load", "store"):
            bits = memory_width(i.op) * 8
            table = c.loads_by_width if cls == "load" else c.stores_by_width
            table[bits] = table.get(bits, 0.0) + i.mult
            if i.base == "LDGSTS":
                c.async_loads += i.mult
        elif cls in ("shared", "local"):  # spills (LDL/STL) go through L1 like shared memory
            c.shared_wavefronts += i.mult * _shared_wavefronts(i)
        elif cls == "tensor":
            c.tensor_instrs += i.mult
            macs = i.mult * mma_macs(i) * (2 if "TF32" in i.op else 1)
            if i.base == "HMMA":
                c.hmma_macs += macs
            else:
                c.tensor_macs += macs
            if i.base == "HGMMA":
                c.shared_wavefronts += i.mult * _wgmma_operand_wavefronts(i)
    return c


def _shared_wavefronts(i: Instr) -> float:
    if i.base == "LDSM":  # .x4 moves four 8x8 16-bit matrices per warp: 512 bytes
        n = 4 if ".4" in i.op else 2 if ".2" in i.op else 1
        return n
    return max(1.0, math.ceil(32 * memory_width(i.op) / 128))


def _wgmma_operand_wavefronts(i: Instr) -> float:
    """Shared-memory bytes a wgmma reads (B always; A too when it is a descriptor), per warp."""
    m = MMA_SHAPE.match(i.op)
    if not m:
        return 0.0
    rows, n, k = (int(v) for v in m.groups())
    es = 4 if "TF32" in i.op else 2
    operands = i.args.split(",")
    a_in_smem = len(operands) > 1 and "gdesc" in operands[1]
    nbytes = n * k * es + (rows * k * es if a_in_smem else 0)
    return nbytes / 128 / 4
