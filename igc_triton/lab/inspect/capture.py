"""Record the Triton kernel launches a call of the public API makes, without running them.

Inside ``recording()`` every ``kernel[grid](...)`` is recorded instead of launched, the ops
take the Triton path on CPU tensors (as they would on a GPU), the launchers see the GPU's
config spaces (not the interpreter's single config), and each launch's config is chosen
the way the tuner would: ``default`` (what ``IGC_TRITON_AUTOTUNE=off`` runs), ``tuned`` (the
choice persisted in a tuning file) or ``all`` (every candidate of the problem, each recorded
as its own launch). Outputs are allocated but never written: the call's result is garbage,
its launches are exact (grid, arguments, strides, constexprs, warps, stages). The activations
the launchers copy between layouts with PyTorch (``launchers.layout_copy``: an NCHW block run
in channels_last, for example) are recorded beside them (``Launches.copies``).

A ``Launch`` is plain data (tensors become ``TensorArg``: shape, strides, dtype, storage),
so it can be compiled and traced in other processes.
"""

import contextlib
import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

DEFAULT, TUNED, ALL = "default", "tuned", "all"
CONFIG_MODES = (DEFAULT, TUNED, ALL)
OPTIONS = ("num_warps", "num_stages")


@dataclass(frozen=True)
class TensorArg:
    ident: int  # arguments viewing the same storage share it
    shape: tuple
    stride: tuple
    dtype: str  # torch dtype name, e.g. "bfloat16"
    storage_offset: int
    storage_numel: int  # elements the storage holds

    @property
    def element_size(self) -> int:
        return torch.empty(0, dtype=getattr(torch, self.dtype)).element_size()

    @property
    def nbytes(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n * self.element_size


@dataclass
class Launch:
    kernel: str  # the tuner's name of the kernel (e.g. "igc_block_fwd")
    function: str  # the @triton.jit function
    module: str
    file: str
    key: str  # the tuner's problem key
    config: dict  # {"kwargs": {...}, "num_warps": w, "num_stages": s}
    config_source: str  # default, tuned, candidate i/n, ...
    grid: tuple  # three ints
    params: list  # [(name, value)] in signature order; tensors as TensorArg
    constexpr_names: tuple
    label: str = ""  # what the launch belongs to (a call, a suite case)
    candidates: int = 1  # size of the problem's pruned config space

    @property
    def num_warps(self) -> int:
        return self.config["num_warps"]

    @property
    def num_stages(self) -> int:
        return self.config["num_stages"]

    @property
    def programs(self) -> int:
        return self.grid[0] * self.grid[1] * self.grid[2]

    @property
    def config_str(self) -> str:
        kw = " ".join(f"{k}={v}" for k, v in self.config["kwargs"].items())
        return f"{kw} w{self.num_warps} s{self.num_stages}".strip()

    def tensors(self) -> list[tuple[str, TensorArg]]:
        return [(n, v) for n, v in self.params if isinstance(v, TensorArg)]

    def dtype(self) -> str:
        """The dtype of the first tensor argument (the activation)."""
        return next(v.dtype for _, v in self.params if isinstance(v, TensorArg))


@dataclass(frozen=True)
class Copy:
    """An activation copied between layouts by PyTorch (``launchers.layout_copy``) during a call:
    read once, written once."""
    shape: tuple
    dtype: str
    to: str  # the layout written: "nchw" or "channels_last"
    nbytes: int  # of the tensor (the copy moves twice as many)


class Launches(list):
    """The recorded launches of a call, in order; ``copies``: its layout copies (``Copy``), which
    run as PyTorch kernels between them."""

    def __init__(self, *args):
        super().__init__(*args)
        self.copies: list = []


@dataclass
class Recording:
    launches: list = field(default_factory=Launches)
    _pending: list = field(default_factory=list)  # (kernel, key, config dict, source, candidates) of launches to come
    label: str = ""


def _constexpr_names(fn) -> tuple:
    import triton.language as tl
    names = []
    for name, p in inspect.signature(fn).parameters.items():
        ann = p.annotation
        if ann is tl.constexpr or (isinstance(ann, str) and ann.split(".")[-1] == "constexpr"):
            names.append(name)
    return tuple(names)


def _describe(value, storages: dict):
    if isinstance(value, torch.Tensor):
        storage = value.untyped_storage()
        ident = storages.setdefault(storage.data_ptr(), len(storages))
        return TensorArg(ident, tuple(value.shape), tuple(value.stride()), str(value.dtype).removeprefix("torch."),
                         value.storage_offset(), storage.nbytes() // value.element_size())
    if value.__class__.__name__ == "dtype" and value.__class__.__module__.startswith("triton"):
        return ("tl", value.name)  # a tl.dtype constexpr, e.g. ACC_DTYPE
    return value


def _record(rec: Recording, jit_fn, grid, args, kwargs):
    fn = jit_fn.fn
    options = {k: kwargs.pop(k) for k in OPTIONS if k in kwargs}
    bound = inspect.signature(fn).bind(*args, **kwargs)
    bound.apply_defaults()
    storages: dict = {}
    params = [(name, _describe(v, storages)) for name, v in bound.arguments.items()]
    if callable(grid):
        grid = grid(bound.arguments)
    grid = tuple(int(g) for g in grid) + (1,) * (3 - len(grid))
    # The tuner's choice belongs to the launch that carries its config (a helper kernel launched
    # in between, e.g. one laying out weights, is not it).
    match = next((i for i, (_, _, cfg, _, _) in enumerate(rec._pending)
                  if all(kwargs.get(k) == v for k, v in cfg["kwargs"].items())
                  and options.get("num_warps", 4) == cfg["num_warps"]), None)
    if match is not None:
        kernel, key, config, source, candidates = rec._pending.pop(match)
    else:  # launched outside the tuner: its kwargs are the config
        kernel, key, source, candidates = fn.__name__, "", "fixed", 1
        config = {"kwargs": {}, "num_warps": options.get("num_warps", 4), "num_stages": options.get("num_stages", 3)}
    rec.launches.append(Launch(kernel, fn.__name__, fn.__module__, inspect.getsourcefile(fn), key, config, source,
                               grid, params, _constexpr_names(fn), rec.label, candidates))


def _tuning_entries(path) -> dict:
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict) or not isinstance(data.get("entries"), dict):
        raise ValueError(f"{path}: not a tuning file (no 'entries' object)")
    return data["entries"]


def _gpu_entries(device) -> dict:
    """The configs a GPU of this kind would find persisted: the user's tuning cache, then the
    package's shipped file (the tuner's own order)."""
    from igc_triton.launch import autotune
    entries: dict = {}
    for name in reversed(device.cuda_names):
        for path in (autotune.shipped_path(name), autotune.cache_path(name)):
            try:
                if path.is_file():
                    entries.update(_tuning_entries(path))
            except (OSError, ValueError):
                continue
    return entries


@contextlib.contextmanager
def recording(config: str = DEFAULT, tuning_file=None, device=None, label: str = ""):
    """Inside the block, Triton launches are recorded into the yielded ``Recording`` (see the
    module docstring). ``device``: an ``inspect.devices.Device`` (shared-memory limit of the
    config pruning, its GPU's tuning files for ``config="tuned"``)."""
    if config not in CONFIG_MODES:
        raise ValueError(f"unknown config mode {config!r}; choose from {', '.join(CONFIG_MODES)}")
    from triton.runtime.jit import KernelInterface

    from igc_triton import runtime
    from igc_triton.lab.inspect import devices
    from igc_triton.launch import autotune, tuning

    device = device or devices.get(devices.DEFAULT_GPU)
    entries = None
    if config == TUNED:
        entries = _tuning_entries(tuning_file) if tuning_file else _gpu_entries(device)
    rec = Recording(label=label)

    def getitem(self, grid):
        return lambda *args, **kwargs: _record(rec, self, grid, args, dict(kwargs))

    def choose(kernel, key, candidates, run, dev):
        cands = candidates()
        n = len(cands)
        default = autotune.TUNER.default_config(kernel, key, cands, device.cuda_names[0])
        if config == ALL:
            others = [c for c in cands if not autotune.same_config(c, default)]
            for i, cfg in enumerate(others):
                rec._pending.append((kernel, key, autotune.config_to_dict(cfg), f"candidate {i + 2}/{n}", n))
                run(cfg)
            rec._pending.append((kernel, key, autotune.config_to_dict(default), f"candidate 1/{n} (default)", n))
            return default
        chosen, source = default, "default"
        if config == TUNED:
            found = autotune.Tuner._lookup(entries, f"{kernel}|{key}", cands)
            chosen, source = (found, "tuned") if found is not None else (default, "default (not tuned)")
        rec._pending.append((kernel, key, autotune.config_to_dict(chosen), source, n))
        return chosen

    from igc_triton.launch import launchers
    real_copy = launchers.layout_copy

    def layout_copy(t, memory_format=torch.contiguous_format):
        out = real_copy(t, memory_format)
        if out.data_ptr() != t.data_ptr():
            rec.launches.copies.append(Copy(tuple(t.shape), str(t.dtype).removeprefix("torch."),
                                            "channels_last" if memory_format == torch.channels_last else "nchw",
                                            t.numel() * t.element_size()))
        return out

    saved = [(KernelInterface, "__getitem__", KernelInterface.__getitem__),
             (launchers, "layout_copy", real_copy),
             (runtime, "backend_for", runtime.backend_for),
             (runtime, "kernels_interpreted", runtime.kernels_interpreted),
             (tuning, "choose", tuning.choose),
             (tuning, "smem_bytes", tuning.smem_bytes)]
    KernelInterface.__getitem__ = getitem
    runtime.backend_for = lambda t: runtime.TRITON
    runtime.kernels_interpreted = lambda: False  # the GPU's config spaces
    tuning.choose = choose
    tuning.smem_bytes = lambda dev: device.smem_per_block
    launchers.layout_copy = layout_copy
    try:
        with torch.no_grad():
            yield rec
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)


def launch_to_dict(launch: Launch) -> dict:
    d = dict(launch.__dict__)
    d["params"] = [[n, {"tensor": v.__dict__} if isinstance(v, TensorArg) else {"value": v}] for n, v in launch.params]
    d["grid"], d["constexpr_names"] = list(launch.grid), list(launch.constexpr_names)
    return d


def launch_from_dict(d: dict) -> Launch:
    d = dict(d)
    params = []
    for n, v in d["params"]:
        if "tensor" in v:
            t = v["tensor"]
            params.append((n, TensorArg(t["ident"], tuple(t["shape"]), tuple(t["stride"]), t["dtype"],
                                        t["storage_offset"], t["storage_numel"])))
        else:
            value = v["value"]
            params.append((n, tuple(value) if isinstance(value, list) else value))
    d["params"], d["grid"], d["constexpr_names"] = params, tuple(d["grid"]), tuple(d["constexpr_names"])
    return Launch(**d)


def identity(launch: Launch) -> str:
    """What makes two launches the same machine code on the same data layout (labels aside)."""
    shapes = [(n, v.shape, v.stride, v.dtype, v.storage_offset) if isinstance(v, TensorArg) else (n, v)
              for n, v in launch.params]
    return json.dumps([launch.function, launch.key, launch.config, list(launch.grid), shapes], default=str)
