"""``igc-lab inspect``: what each Triton kernel compiles to, and its predicted time, without a GPU.

A call of the public API (or a module forward, or a suite case) runs on CPU with every
Triton launch recorded instead of run (``capture``); each launch is compiled for a GPU target
with the specialisation a GPU launch would get (``compile``), its machine code read
(``sass``), one of its programs traced under Triton's interpreter to see which cache lines
each warp touches (``trace``, ``layouts``), and the static cost model (``model``, with the
device table ``devices``) predicts its time and names its bound.

Python API::

    from igc_triton.lab import inspect as ii
    result = ii.inspect_call(igc_triton.igc_block, x, wp, ws, L=24, gpu="h100")
    print(ii.render_table(result))

Nothing here imports triton until a function runs (``import igc_triton.lab.inspect`` is cheap).
"""

from dataclasses import dataclass, field

from igc_triton.lab.inspect.capture import ALL, CONFIG_MODES, DEFAULT, TUNED, Launch, identity, recording


@dataclass
class Call:
    """One inspected call: its kernel reports and the memory floor of the whole call."""
    label: str
    reports: list = field(default_factory=list)  # analyze.KernelReport, in launch order
    floor_bytes: int = 0  # the call's inputs read once and its output written once
    floor_us: float = 0.0
    meta: dict = field(default_factory=dict)  # case, provider, dtype, layout, mode; macs where known
    # The call's useful multiply-adds at the dense tensor-core rate (0: not known): where it
    # exceeds the memory floor (large partitions), no kernel gets near the memory floor.
    compute_us: float = 0.0
    # (capture.Copy, predicted us): activations the call copies between layouts with PyTorch,
    # each a kernel that reads and writes the tensor once (``copy_us``).
    copies: list = field(default_factory=list)

    @property
    def roofline_us(self) -> float:
        """The larger of the two floors."""
        return max(self.floor_us, self.compute_us)

    @property
    def predicted_us(self) -> float:
        if not self.ok:
            return float("nan")
        return sum(r.prediction.us for r in self.reports if r.prediction) + sum(us for _, us in self.copies)

    @property
    def ok(self) -> bool:
        return bool(self.reports) and all(r.prediction is not None for r in self.reports)


@dataclass
class Inspection:
    gpu: str
    arch: int
    triton: str
    calls: list = field(default_factory=list)
    l2: str = ""  # the l2 term's bandwidth and where it comes from, "" without one (devices.l2_note)


def _device(gpu=None, arch=None):
    from igc_triton.lab.inspect import devices
    if gpu is None:
        device = devices.for_arch(arch) if arch else devices.get(devices.DEFAULT_GPU)
    else:
        device = devices.get(gpu) if isinstance(gpu, str) else gpu
    if arch is not None and arch != device.arch:
        raise ValueError(f"--arch {arch} does not match --gpu {device.name} (sm_{device.arch})")
    return device


def _tensor_bytes(values) -> int:
    import torch
    seen, total = set(), 0
    for v in values:
        if isinstance(v, torch.Tensor) and v.untyped_storage().data_ptr() not in seen:
            seen.add(v.untyped_storage().data_ptr())
            total += v.numel() * v.element_size()
    return total


def capture_call(fn, *args, config: str = DEFAULT, gpu=None, tuning_file=None, label: str = "", **kwargs):
    """(launches, floor bytes): the Triton launches ``fn(*args, **kwargs)`` makes (under
    ``torch.no_grad``), and the bytes of its tensor arguments and result."""
    device = _device(gpu)
    with recording(config, tuning_file, device, label) as rec:
        out = fn(*args, **kwargs)
    outs = out if isinstance(out, (tuple, list)) else [out]
    return rec.launches, _tensor_bytes(list(args) + list(kwargs.values())) + _tensor_bytes(outs)


def analyze_calls(calls: list, gpu=None, arch=None, jobs: int = 2, python=None, progress=None) -> Inspection:
    """``calls``: (label, launches, floor bytes[, meta]) tuples. Each distinct launch is compiled
    and traced once, however many calls share it."""
    from igc_triton.lab.inspect import analyze
    device = _device(gpu, arch)
    unique: dict = {}
    for _, launches, *_ in calls:
        for lc in launches:
            unique.setdefault(identity(lc), lc)
    ids = list(unique)
    reports = dict(zip(ids, analyze.analyze([unique[i] for i in ids], device, arch, jobs, progress, python)))
    triton = next((r.compiled.triton for r in reports.values() if r.compiled.triton), "")
    from igc_triton.lab.inspect import devices
    result = Inspection(device.name, arch or device.arch, triton, l2=devices.l2_note(device))
    for label, launches, floor, *meta in calls:
        rs = []
        for lc in launches:
            r = reports[identity(lc)]
            if r.launch is not lc:  # the same code for another call: its own label and config source
                r = analyze.KernelReport(**{**r.__dict__, "launch": lc})
            rs.append(r)
        if floor is None:  # a network: each kernel's own floor
            floor = sum(r.once_bytes for r in rs)
        meta = meta[0] if meta else {}
        copies = [(c, copy_us(c.nbytes, device)) for c in getattr(launches, "copies", ())]
        result.calls.append(Call(label, rs, floor, floor / (device.dram_gbps * 1e9) * 1e6, meta,
                                 compute_floor_us(meta.get("macs", 0), meta.get("dtype", ""), device), copies))
    return result


def copy_us(nbytes: int, device) -> float:
    """A PyTorch copy of a tensor of ``nbytes`` between layouts: read and written once at the
    device's copy bandwidth, plus the model's launch cost (a prediction, as every kernel's)."""
    return 2 * nbytes / (device.dram_gbps * 1e9) * 1e6 + device.launch_us


def compute_floor_us(macs: int, dtype: str, device) -> float:
    """``macs`` multiply-adds at ``device``'s dense tensor-core rate for ``dtype`` ("fp32", "fp16"
    or "bf16"; fp32 as TF32, half the 16-bit rate, as cuDNN and our kernels run it by default),
    in microseconds."""
    rate = device.tensor_macs_per_clk * device.sms * device.clock_hz / (2 if dtype == "fp32" else 1)
    return macs / rate * 1e6


def inspect_call(fn, *args, config: str = DEFAULT, gpu=None, arch=None, tuning_file=None, label: str = "",
                 jobs: int = 2, python=None, progress=None, **kwargs) -> Inspection:
    """Inspect every kernel launch of ``fn(*args, **kwargs)`` (see the module docstring)."""
    launches, floor = capture_call(fn, *args, config=config, gpu=gpu, tuning_file=tuning_file,
                                   label=label or getattr(fn, "__name__", "call"), **kwargs)
    return analyze_calls([(label or getattr(fn, "__name__", "call"), launches, floor)], gpu, arch, jobs, python,
                         progress)


def render_table(result: Inspection) -> str:
    from igc_triton.lab.inspect.render import table
    return table(result)


__all__ = ["ALL", "CONFIG_MODES", "DEFAULT", "TUNED", "Call", "Inspection", "Launch", "analyze_calls", "capture_call",
           "compute_floor_us", "copy_us", "inspect_call", "recording", "render_table"]
