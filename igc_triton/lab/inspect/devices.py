"""The GPUs the static cost model knows: one table, one place.

Rates are per SM and per clock, so the model's terms are clock counts divided by one clock.
Where a number was measured on the project's own runs the entry says so; the rest are
datasheet figures. To add a GPU, add an entry here (``igc-lab inspect --gpu NAME`` picks it).
"""

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class Device:
    name: str  # the --gpu value
    cuda_names: tuple[str, ...]  # torch.cuda.get_device_name() of this GPU (its tuning files' names)
    arch: int  # compute capability x10: the compile target
    sms: int
    clock_ghz: float  # SM clock under load
    dram_gbps: float  # device-to-device copy bandwidth, bytes read + written
    dram_source: str
    # Issue and pipe rates, warp instructions per clock per SM sub-partition (4 per SM).
    smsp_per_sm: int = 4
    fp32_per_clk: float = 1.0  # FFMA / FMUL / FADD: 32 lanes per sub-partition
    alu_per_clk: float = 0.5  # integer, logic, compare, select: 16 lanes
    imad_per_clk: float = 0.5
    conversion_per_clk: float = 0.25  # F2F, I2F, MUFU: 8 lanes
    # Tensor cores, dense multiply-adds per clock per SM (16-bit inputs; TF32 is half).
    tensor_macs_per_clk: int = 2048
    mma_sync_efficiency: float = 0.6  # share of that rate mma.sync (HMMA) reaches; wgmma (HGMMA) gets it all
    l1_lines_per_clk: float = 1.0  # L1 tag lookups (128-byte lines) or shared-memory wavefronts per clock per SM
    regs_per_sm: int = 65536
    smem_per_sm: int = 233472
    smem_per_block: int = 232448
    max_threads_per_sm: int = 2048
    max_blocks_per_sm: int = 32
    launch_us: float = 2.0  # launch, ramp-up and tail of one kernel: an order of magnitude, the same for all
    l2_bytes: int = 50 << 20  # datasheet: H100 SXM5's 50 MB (the H200 is the same chip and configuration)
    # Rate at which the SMs read data the L2 holds, GB/s: the model's ``l2`` term. No datasheet gives it;
    # the bench measures it (ceiling ``l2_read_gbps``, kernels/l2_read.py). None until measured: no term
    # (``igc-lab inspect --l2-gbps`` assumes one, for a what-if).
    l2_gbps: float | None = None
    l2_source: str = "not measured"

    @property
    def clock_hz(self) -> float:
        return self.clock_ghz * 1e9


DEVICES = {
    "h100": Device("h100", ("NVIDIA H100 80GB HBM3", "NVIDIA H100", "NVIDIA H100 SXM5 80GB"), 90, 132, 1.98, 3000.0,
                   "measured copy of an H100 80GB HBM3 (../shared/anchors/perf_anchors.md; datasheet 3350)"),
    "h200": Device("h200", ("NVIDIA H200",), 90, 132, 1.98, 4214.6,
                   "measured copy, ../shared/gpu-runs/2026-11-26-h200 (datasheet 4800)"),
    "a100": Device("a100", ("NVIDIA A100-SXM4-80GB", "NVIDIA A100 80GB PCIe", "NVIDIA A100-SXM4-40GB"), 80, 108, 1.41,
                   2039.0, "datasheet (not measured)", tensor_macs_per_clk=1024, mma_sync_efficiency=1.0,
                   fp32_per_clk=0.5, smem_per_sm=167936, smem_per_block=166912, l2_bytes=40 << 20),
}
DEFAULT_GPU = "h100"


def with_l2(device: Device, gbps: float) -> Device:
    """``device`` with an assumed L2 read bandwidth (``--l2-gbps``), named so in its source."""
    if not gbps > 0:
        raise ValueError(f"an L2 bandwidth must be positive, got {gbps}")
    return dataclasses.replace(device, l2_gbps=float(gbps), l2_source=f"assumed: --l2-gbps {gbps:g}")


def l2_note(device: Device) -> str:
    """"L2 read 7000 GB/s (source)" where the model has an l2 term, else ""."""
    return f"L2 read {device.l2_gbps:g} GB/s ({device.l2_source})" if device.l2_gbps else ""


def get(name: str) -> Device:
    """The device called ``name`` (case-insensitive); ValueError naming the known ones."""
    key = name.strip().lower()
    if key not in DEVICES:
        raise ValueError(f"unknown GPU {name!r}; known: {', '.join(DEVICES)}")
    return DEVICES[key]


def for_arch(arch: int) -> Device:
    """The default device of a compile target: the first GPU of that architecture."""
    if DEVICES[DEFAULT_GPU].arch == arch:
        return DEVICES[DEFAULT_GPU]
    for d in DEVICES.values():
        if d.arch == arch:
            return d
    raise ValueError(f"no GPU of compute capability {arch} in the device table ({', '.join(DEVICES)}): "
                     f"pass --gpu, or add one to igc_triton/lab/inspect/devices.py")
