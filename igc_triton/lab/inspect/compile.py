"""Compile recorded launches for a GPU target on a machine without a GPU.

Each launch is specialised exactly as a GPU launch of the same arguments would be -- Triton's
own argument binder and its ``specialize`` rules (integers equal to 1 become constexprs,
integers and 16-byte-aligned pointers get ``tt.divisibility = 16``, sizes past 2**31 become
i64) -- then compiled by ``triton.compile`` for ``GPUTarget("cuda", arch, 32)``. Kept per
launch: registers, spills and stack (from ptxas's own report), shared memory, the TTGIR and
the SASS (``nvdisasm -c -g``, with source lines), all from the Triton installed here.

Runs in worker processes without ``TRITON_INTERPRET`` (kernels must be built for the
compiler, see ``igc_triton.runtime``); ``compile_all`` starts them (``workers``).
"""

import contextlib
import importlib
import importlib.util
import io
import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass


@dataclass
class Compiled:
    error: str | None = None
    regs: int = 0
    spill_stores: int = 0  # bytes
    spill_loads: int = 0
    stack: int = 0
    smem: int = 0
    ttgir: str = ""
    sass: str = ""
    triton: str = ""
    seconds: float = 0.0

    @property
    def spills(self) -> bool:
        return self.spill_stores > 0 or self.spill_loads > 0


def load_kernel(module: str, name: str, file: str):
    """The kernel ``name`` of ``module``; a module that is not importable by name (a test's
    helper file) is loaded from ``file``."""
    try:
        mod = importlib.import_module(module)
        if os.path.abspath(getattr(mod, "__file__", "") or "") != os.path.abspath(file):
            raise ImportError(module)
    except ImportError:
        spec = importlib.util.spec_from_file_location(f"_igc_inspect_{abs(hash(file))}", file)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    return getattr(mod, name)


class StandIn:
    """A tensor argument as the specialiser sees it: a dtype and a pointer whose alignment is a
    real one's (allocations are 256-byte aligned on a GPU; a view adds its storage offset)."""

    def __init__(self, dtype, offset_bytes: int = 0):
        self.dtype = dtype
        self._ptr = 256 + offset_bytes % 256

    def data_ptr(self):
        return self._ptr


def specialised_source(fn, args: list, num_warps: int, num_stages: int, target):
    """(source, options) to ``triton.compile`` ``fn`` with: specialised for ``args`` (tensors as
    ``StandIn``) exactly as Triton's launch binder does it on a GPU."""
    from triton.compiler import ASTSource, make_backend
    from triton.runtime.jit import create_function_from_signature

    backend = make_backend(target)
    kwargs = {"num_warps": num_warps, "num_stages": num_stages}
    binder = create_function_from_signature(fn.signature, fn.params, backend)
    bound, specialization, options = binder(*args, **kwargs)
    options, signature, constexprs, attrs = fn._pack_args(backend, kwargs, bound, specialization, options)
    return ASTSource(fn, signature, constexprs, attrs), options.__dict__


def _value(v):
    import triton.language as tl
    if isinstance(v, tuple) and len(v) == 2 and v[0] == "tl":
        return tl.dtype(v[1])
    return v


def _nvidia_bin(tool: str) -> str:
    import triton
    return os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", tool)


PTXAS_REGS = re.compile(r"Used (\d+) registers")
PTXAS_SPILLS = re.compile(r"(\d+) bytes spill stores, (\d+) bytes spill loads")
PTXAS_STACK = re.compile(r"(\d+) bytes stack frame")


def launch_source(launch, arch: int = 90):
    """(source, options, target) to ``triton.compile`` one ``capture.Launch`` for sm_``arch`` as a
    GPU launch of it would (``specialised_source``)."""
    import torch
    from triton.backends.compiler import GPUTarget

    fn = load_kernel(launch.module, launch.function, launch.file)
    target = GPUTarget("cuda", arch, 32)
    args = [StandIn(getattr(torch, v.dtype), v.storage_offset * v.element_size)
            if v.__class__.__name__ == "TensorArg" else _value(v) for _, v in launch.params]
    return (*specialised_source(fn, args, launch.num_warps, launch.num_stages, target), target)


def compile_launch(launch, arch: int = 90) -> Compiled:
    """Compile one ``capture.Launch`` for sm_``arch``; a compiler error is returned, not raised."""
    import triton

    start = time.perf_counter()
    out = Compiled(triton=triton.__version__)
    try:
        source, options, target = launch_source(launch, arch)
        log = io.StringIO()
        knobs = triton.knobs
        saved = knobs.nvidia.dump_ptxas_log, knobs.compilation.always_compile
        # ptxas -v runs in every compile and Triton prints its report on request; a cached kernel
        # would skip ptxas, so the cache is bypassed (the result is still written to it).
        knobs.nvidia.dump_ptxas_log, knobs.compilation.always_compile = True, True
        try:
            with contextlib.redirect_stdout(log):
                kernel = triton.compile(source, target=target, options=options)
        finally:
            knobs.nvidia.dump_ptxas_log, knobs.compilation.always_compile = saved
        text = log.getvalue()
        m = PTXAS_REGS.search(text)
        if m is None:
            raise RuntimeError(f"no register count in ptxas's report: {text.strip()[:300]!r}")
        out.regs = int(m.group(1))
        if m := PTXAS_SPILLS.search(text):
            out.spill_stores, out.spill_loads = int(m.group(1)), int(m.group(2))
        if m := PTXAS_STACK.search(text):
            out.stack = int(m.group(1))
        out.smem = int(kernel.metadata.shared)
        out.ttgir = kernel.asm["ttgir"]
        out.sass = _disassemble(kernel.asm["cubin"])
    except Exception as e:  # noqa: BLE001 - a compile error is a finding about the launch
        lines = [line for line in str(e).strip().splitlines() if line.strip()]
        out.error = f"{type(e).__name__}: {lines[0] if lines else ''}"[:400]
    out.seconds = time.perf_counter() - start
    return out


def _disassemble(cubin: bytes) -> str:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "k.cubin")
        with open(path, "wb") as f:
            f.write(cubin)
        proc = subprocess.run([_nvidia_bin("nvdisasm"), "-c", "-g", path], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"nvdisasm failed: {proc.stderr.strip()[:300]}")
        return proc.stdout


def compile_item(item: dict, arch: str) -> dict:
    """Worker side: one launch (as ``capture.launch_to_dict``) in, ``Compiled`` as a dict out."""
    import dataclasses

    from igc_triton.lab.inspect.capture import launch_from_dict
    return dataclasses.asdict(compile_launch(launch_from_dict(item), int(arch)))


def compile_all(launches, arch: int = 90, jobs: int = 2, progress=None, python: str | None = None) -> list[Compiled]:
    """Compile every launch in ``jobs`` processes without TRITON_INTERPRET, results in order.
    ``python``: another interpreter whose Triton compiles them (igc_triton installed there too,
    e.g. ``pip install --no-deps -e .``): the machine code of the GPU's Triton version."""
    from igc_triton.lab.inspect import workers
    from igc_triton.lab.inspect.capture import launch_to_dict
    out = workers.run("igc_triton.lab.inspect.compile", [launch_to_dict(lc) for lc in launches], jobs, interpret=False,
                      python=python, extra=("--arg", str(arch)), progress=progress)
    return [Compiled(**c) for c in out]


if __name__ == "__main__":
    from igc_triton.lab.inspect import workers
    raise SystemExit(workers.serve(None, compile_item, "compile recorded launches (igc-lab inspect's worker)"))
