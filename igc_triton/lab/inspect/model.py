"""The static cost model: a kernel's predicted time on a GPU of the device table, and its bound.

Per launch, from the machine code and the traced program (nothing here is fitted to a
measurement; the constants are the device table's):

- ``issue``: warp instructions per SM sub-partition, one per clock; ``alu``, ``imad``,
  ``fp32``, ``conversion``: the same for the instructions of each pipe at its own rate;
  each multiplied by an occupancy factor, ``max(1, 4 / resident warps per sub-partition)``
  (fewer than four warps cannot hide the latency of the next dependent instruction);
- ``tensor``: tensor-core multiply-adds at the dense rate (TF32 at half; mma.sync at the
  device's ``mma_sync_efficiency``);
- ``l1``: 128-byte lines of every warp's global loads and stores plus shared-memory and spill
  (local memory) wavefronts, one per clock per SM (the path every byte takes between
  L1/shared memory and registers);
- ``l2``: where the device table has a measured L2 read bandwidth (``Device.l2_gbps``), the bytes
  the program moves between L2 and the SMs (``analyze.l2_bytes``: every sector of the loads that
  bypass L1, the cp.async of 16 bytes, ``LDGSTS.E.BYPASS``; the distinct sectors of the others, L1
  taken to serve a program's re-reads; every stored sector) over all programs, at that rate;
- ``dram``: each tensor the kernel reads or writes, once, at the measured copy bandwidth; a
  tensor that programs far apart in launch order read again (a slower grid axis's neighbours
  reading the same sectors, with more than the L2 moved in between: ``analyze.reread_factor``)
  as many times as it leaves L2.

Work per SM is the busiest SM's: ``ceil(programs / SMs)`` programs. The prediction is the
largest term plus a fixed launch cost; the bound names that term. What the model does not
see: L1 and L2 hit rates within the L2's reach (a re-read line is assumed to come from L1 at one
line per clock, and data re-read by programs launched close together from L2, for free without an
l2 term), shared-memory bank conflicts, instruction latency beyond the occupancy factor, and
overlap between kernels.
"""

import math
from dataclasses import dataclass, field

WARPS_TO_HIDE_LATENCY = 4  # resident warps per sub-partition that keep it issuing


@dataclass
class Prediction:
    us: float
    bound: str
    terms: dict = field(default_factory=dict)  # term -> microseconds
    blocks_per_sm: int = 0
    warps_per_smsp: float = 0.0
    occupancy_factor: float = 1.0


def blocks_per_sm(device, regs: int, num_warps: int, smem: int) -> int:
    """Resident programs per SM: registers (allocated per warp in units of 256), shared memory
    (plus 1 KB reserved per block), threads, and the hardware's block limit."""
    per_warp = math.ceil(max(regs, 1) * 32 / 256) * 256
    limits = [device.regs_per_sm // (per_warp * num_warps), device.max_threads_per_sm // (32 * num_warps),
              device.max_blocks_per_sm]
    if smem:
        limits.append(device.smem_per_sm // (smem + 1024))
    return max(0, min(limits))


def predict(device, *, programs: int, num_warps: int, regs: int, smem: int, counts, lines_per_program: float,
            dram_bytes: float, l2_bytes: float = 0.0) -> Prediction:
    """``counts``: ``sass.Counts`` of one thread (= one warp's instructions) of a program."""
    clk = device.clock_hz
    per_sm = math.ceil(programs / device.sms)
    warp_programs = per_sm * num_warps / device.smsp_per_sm  # per sub-partition
    cls = counts.by_class
    terms = {
        "issue": counts.total * warp_programs / clk,
        "alu": cls.get("alu", 0.0) * warp_programs / device.alu_per_clk / clk,
        "imad": cls.get("imad", 0.0) * warp_programs / device.imad_per_clk / clk,
        "fp32": cls.get("fp32", 0.0) * warp_programs / device.fp32_per_clk / clk,
        "conversion": cls.get("conversion", 0.0) * warp_programs / device.conversion_per_clk / clk,
    }
    blocks = blocks_per_sm(device, regs, num_warps, smem)
    resident = max(1, min(blocks, per_sm))
    warps = resident * num_warps / device.smsp_per_sm
    factor = max(1.0, WARPS_TO_HIDE_LATENCY / warps)
    terms = {k: v * factor for k, v in terms.items()}
    macs = counts.tensor_macs + counts.hmma_macs / device.mma_sync_efficiency
    terms["tensor"] = macs * per_sm * num_warps / device.tensor_macs_per_clk / clk
    terms["l1"] = (lines_per_program + counts.shared_wavefronts * num_warps) * per_sm / device.l1_lines_per_clk / clk
    if device.l2_gbps:
        terms["l2"] = l2_bytes / (device.l2_gbps * 1e9)
    terms["dram"] = dram_bytes / (device.dram_gbps * 1e9)
    bound = max(terms, key=terms.get)
    us = (terms[bound] * 1e6 + device.launch_us) if blocks else math.inf
    return Prediction(us, bound if blocks else "does not fit", {k: v * 1e6 for k, v in terms.items()}, blocks, warps,
                      factor)
