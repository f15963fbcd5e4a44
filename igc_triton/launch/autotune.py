"""Per-problem choice of a kernel's launch config, benchmarked once and persisted per GPU.

A launcher names its kernel, a *problem key* (L, M, channels, kernel size, stride, dilation,
dtype, layout and the pixel count rounded up to a power of two -- not the raw batch size), its
candidate configs (the kernel's space in ``launch/configs.py``, pruned for the problem, the
heuristic default first) and a function that launches one config. ``IGC_TRITON_AUTOTUNE``
says what happens then:

- ``off``: the default config (the cost model's first choice, see below); no tuning file is read and
  nothing is benchmarked.
- ``cached`` (default): the config persisted for this GPU -- first the user's tuning cache,
  then the configs shipped in the package (``igc_triton/tuned/<gpu>.json``); a problem found
  in neither is benchmarked once, on first use, and the result added to the user's cache, so
  later processes do not tune it again.
- ``full``: every problem is benchmarked again once per process, ignoring what is persisted,
  and the user's cache updated (after a Triton or driver upgrade; ``igc-lab tune --force``).

The static cost model (``igc-lab inspect``) orders the candidates: its ranking of each
problem's configs for a GPU model ships as ``igc_triton/tuned/model-ranking.json`` (made by
``igc-lab inspect --suite S --config all --ship-ranking``; a kernel's entries stand while its
source files are those it was ranked from). The model's
first choice is the default config, and tuning a problem on first use compiles (in
parallel, on a GPU) and benchmarks only the model's ``MODEL_TOP_K`` best (``full`` still
benchmarks every candidate: it is the offline, exhaustive mode). A problem the ranking lacks takes the
ranking of its nearest ranked problem (same kernel, dtype, layout, kernel size and stride;
closest channels, L, M and pixels); without a ranking for the GPU or the current kernel
sources, the heuristic order of the config space stands in.

Why not ``triton.autotune``: its key is a list of kernel arguments (our keys are derived from
shapes and layouts, and the pixel count is bucketed), it cannot load configs shipped per
GPU, and it would benchmark inside a CUDA graph capture. Here a capture, a single candidate
(always the case under the interpreter) or mode ``off`` never benchmarks.

Every benchmarked config's output is compared with the default config's before it may win,
so a config the compiler gets wrong is rejected rather than chosen. A corrupt cache file, or
one written for other kernel sources or another Triton version, is ignored with a warning and
rewritten on the next tuning; a failure to write it is a warning, never an error.
"""

import contextlib
import functools
import hashlib
import importlib.resources
import json
import math
import os
import re
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Callable

import torch

# No module-level ``import triton``: Triton's interpreter only works when TRITON_INTERPRET is set
# before triton is first imported, and the CLI sets it after importing this module (see
# igc_triton.runtime).

ENV_MODE = "IGC_TRITON_AUTOTUNE"
MODEL_TOP_K = 3  # candidates benchmarked on a first call: the cost model's best
MODEL_RANKING = "model-ranking.json"
RANKING_FORMAT = 3
ENV_CACHE_DIR = "IGC_TRITON_CACHE_DIR"
OFF, CACHED, FULL = "off", "cached", "full"
MODES = (OFF, CACHED, FULL)
FORMAT = 1

# Where a choice came from (``Tuner.record``).
DEFAULT, MEMO, USER_CACHE, SHIPPED, TUNED = "default", "memo", "cache", "shipped", "tuned"


class TuningWarning(UserWarning):
    pass


def mode() -> str:
    value = os.environ.get(ENV_MODE, CACHED).strip().lower() or CACHED
    if value not in MODES:
        raise ValueError(f"{ENV_MODE}={value!r}: expected one of {', '.join(MODES)}")
    return value


# --------------------------------------------------------------------------------------------
# Configs and keys as text


def config_to_dict(cfg) -> dict:
    return {"kwargs": dict(cfg.kwargs), "num_warps": cfg.num_warps, "num_stages": cfg.num_stages}


def config_from_dict(d: dict):
    import triton
    kwargs = d["kwargs"]
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) and type(v) is int for k, v in kwargs.items()):
        raise ValueError(f"bad config kwargs {kwargs!r}")
    if type(d["num_warps"]) is not int or type(d["num_stages"]) is not int:
        raise ValueError(f"bad config {d!r}")
    return triton.Config(kwargs, num_warps=d["num_warps"], num_stages=d["num_stages"])


def config_str(cfg) -> str:
    return " ".join(f"{k}={v}" for k, v in cfg.kwargs.items()) + f" warps={cfg.num_warps} stages={cfg.num_stages}"


def same_config(a, b) -> bool:
    return config_to_dict(a) == config_to_dict(b)


def pixel_bucket(pixels: int) -> int:
    """Pixel counts are keyed by the next power of two: batch 96 and 128 share a tuning."""
    return 1 << (max(int(pixels), 1) - 1).bit_length()


def layout_name(x: torch.Tensor) -> str:
    if x.is_contiguous():
        return "nchw"
    if x.is_contiguous(memory_format=torch.channels_last):
        return "nhwc"
    return "strided"


def problem_key(x: torch.Tensor, pixels: int, **fields) -> str:
    """``k=v`` fields, then the dtype, the layout of ``x`` and the pixel bucket."""
    return key_for(x.dtype, layout_name(x), pixels, **fields)


def key_for(dtype: torch.dtype, layout: str, pixels: int, **fields) -> str:
    """``problem_key`` of an input of ``dtype`` and ``layout`` (``layout_name``)."""
    # Remembered: formatting it took about 5 us of every launch's host time (2-core CPU machine).
    # Keyed by each value's type too (1, True and 1.0 are one dict key but three texts).
    typed = tuple((k, type(v), v) for k, v in fields.items())
    try:
        return _key_text(typed, dtype, layout, pixel_bucket(pixels))
    except TypeError:  # an unhashable value (a list): formatted each time
        return _key_text.__wrapped__(typed, dtype, layout, pixel_bucket(pixels))


@functools.lru_cache(maxsize=4096)
def _key_text(fields: tuple, dtype: torch.dtype, layout: str, bucket: int) -> str:
    parts = [f"{k}={'x'.join(map(str, v)) if isinstance(v, tuple) else v}" for k, _, v in fields]
    return " ".join([*parts, str(dtype).removeprefix("torch."), layout, f"P<={bucket}"])


# --------------------------------------------------------------------------------------------
# Files


def gpu_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return device.type


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "unknown"


def cache_dir() -> Path:
    if os.environ.get(ENV_CACHE_DIR):
        return Path(os.environ[ENV_CACHE_DIR])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "igc_triton"


def cache_path(gpu: str) -> Path:
    return cache_dir() / "tuning" / f"{slug(gpu)}.json"


def shipped_path(gpu: str):
    return importlib.resources.files("igc_triton.tuned") / f"{slug(gpu)}.json"


@functools.cache  # on the hot path of IGC_TRITON_AUTOTUNE=off (the key of its remembered defaults)
def ranking_path():
    return importlib.resources.files("igc_triton.tuned") / MODEL_RANKING


def read_ranking(gpu: str, path=None) -> dict:
    """``{"kernel|key": [config dicts, best first]}`` the cost model ranked for ``gpu`` (a CUDA
    device name), or {} when the file has no entry for that GPU. A kernel whose sources
    (``kernel_files``) changed since the ranking was made has no entries: its machine code, hence
    its ranking, has changed."""
    path = path or ranking_path()
    try:
        if not path.is_file():
            return {}
        data = json.loads(path.read_text())
        if data.get("format") != RANKING_FORMAT:
            return {}
        current = set(data["sources"]) - stale_kernels(data)
        configs = data["configs"]
        for entry in data.get("gpus", {}).values():
            if gpu in entry.get("cuda_names", []):
                return {k: [configs[i] for i in v] for k, v in entry["entries"].items()
                        if k.partition("|")[0] in current}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}
    return {}


def _key_fields(key: str) -> tuple[tuple, dict]:
    """(the fields that must match, the numeric ones) of a problem key."""
    exact, numeric = [], {}
    for tok in key.split():
        if tok.startswith("P<="):
            numeric["P"] = int(tok[3:])
        elif "=" in tok and tok.split("=", 1)[1].isdigit():
            numeric[tok.split("=", 1)[0]] = int(tok.split("=", 1)[1])
        else:
            exact.append(tok)
    return tuple(exact), numeric


# Dtypes of one element size compile to the same memory accesses: one's ranking serves the other.
SAME_SIZE_DTYPES = {"float16": "bfloat16", "bfloat16": "float16"}


def nearest_ranking(entries: dict, kernel: str, key: str):
    """The ranked configs of ``kernel|key``, else of the nearest ranked problem of the same kernel
    whose non-numeric key fields (dtype, layout, kernel size, stride, dilation) are equal:
    closest in log2 of channels, L, M and pixel bucket; else the same for the other 16-bit
    dtype. None when there is none."""
    if f"{kernel}|{key}" in entries:
        return entries[f"{kernel}|{key}"]
    found = _nearest(entries, kernel, key)
    if found is None:
        tokens = key.split()
        if any(t in SAME_SIZE_DTYPES for t in tokens):
            found = _nearest(entries, kernel, " ".join(SAME_SIZE_DTYPES.get(t, t) for t in tokens))
    return found


def _nearest(entries: dict, kernel: str, key: str):
    exact, numeric = _key_fields(key)
    best, best_d = None, math.inf
    for entry_key, ranked in sorted(entries.items()):
        k, _, other = entry_key.partition("|")
        if k != kernel:
            continue
        o_exact, o_numeric = _key_fields(other)
        if o_exact != exact or o_numeric.keys() != numeric.keys():
            continue
        d = sum(abs(math.log2(max(numeric[f], 1) / max(o_numeric[f], 1))) for f in numeric)
        if d < best_d:
            best, best_d = ranked, d
    return best


@functools.cache
def kernels_fingerprint() -> str:
    """Hash of the kernel sources and config spaces: a timing is only valid for the code it timed."""
    root = importlib.resources.files("igc_triton.kernels")
    h = hashlib.sha256()
    for name in sorted(p.name for p in root.iterdir() if p.name.endswith(".py")):
        h.update(name.encode())
        h.update((root / name).read_bytes())
    h.update((importlib.resources.files("igc_triton.launch") / "configs.py").read_bytes())
    return h.hexdigest()[:16]


KERNEL_IMPORT = re.compile(r"^from igc_triton\.kernels\.(\w+) import", re.M)


def kernel_files(name: str) -> list[str]:
    """The kernel source file ``name`` (e.g. ``igc_block_fwd.py``) and the kernel files it imports
    helpers from, transitively: the sources one kernel's machine code depends on."""
    root = importlib.resources.files("igc_triton.kernels")
    todo, seen = [name], set()
    while todo:
        f = todo.pop()
        if f in seen or not (root / f).is_file():
            continue
        seen.add(f)
        todo += [m + ".py" for m in KERNEL_IMPORT.findall((root / f).read_text())]
    return sorted(seen)


def sources_fingerprint(files) -> str:
    """Hash of some kernel source files (``kernel_files``)."""
    root = importlib.resources.files("igc_triton.kernels")
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode())
        h.update((root / name).read_bytes() if (root / name).is_file() else b"<missing>")
    return h.hexdigest()[:16]


def header(gpu: str) -> dict:
    import triton
    return {"format": FORMAT, "gpu": gpu, "triton": triton.__version__, "kernels": kernels_fingerprint()}


def read_entries(path, gpu: str, check_versions: bool) -> dict:
    """The ``entries`` of a tuning file, or {} (with a warning) when it is corrupt or stale.

    ``check_versions``: the file must come from these kernel sources and this Triton (the
    user's cache). Shipped files are checked per entry against the config spaces instead,
    since a kernel change that keeps the spaces keeps their entries meaningful.
    """
    try:
        if not path.is_file():
            return {}
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or not isinstance(data.get("entries"), dict):
            raise ValueError("no 'entries' object")
        for k, e in data["entries"].items():
            config_from_dict(e["config"])
            if not isinstance(k, str) or "|" not in k:
                raise ValueError(f"bad entry key {k!r}")
    except (OSError, ValueError, KeyError, TypeError) as e:
        warnings.warn(f"ignoring the corrupt tuning file {path} ({type(e).__name__}: {e}); it is rebuilt as "
                      "problems are tuned again", TuningWarning, stacklevel=3)
        return {}
    want = header(gpu)
    keys = ("format", "gpu", "triton", "kernels") if check_versions else ("format", "gpu")
    stale = [f"{k} {data.get(k)!r} != {want[k]!r}" for k in keys if data.get(k) != want[k]]
    if stale:
        warnings.warn(f"ignoring the stale tuning file {path} ({'; '.join(stale)}); it is rebuilt as problems are "
                      "tuned again", TuningWarning, stacklevel=3)
        return {}
    changed = stale_kernels(data)
    return {k: e for k, e in data["entries"].items() if k.partition("|")[0] not in changed}


def stale_kernels(data: dict) -> set:
    """Kernels of a shipped tuning file (``sources``: per kernel its source files and their hash,
    written by ``igc-lab tune --ship``) whose sources changed since: their entries are not used."""
    sources = data.get("sources") or {}
    return {k for k, src in sources.items() if sources_fingerprint(src["files"]) != src["hash"]}


def write_entries(path: Path, gpu: str, entries: dict, sources: dict | None = None):
    """Atomically replace ``path`` (a reader never sees half a file); ``sources``: per kernel,
    its source files and their hash (shipped files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {**header(gpu), **({"sources": dict(sorted(sources.items()))} if sources else {}),
            "entries": dict(sorted(entries.items()))}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# --------------------------------------------------------------------------------------------
# Timing


def cuda_timer(fn: Callable[[], object]) -> float:
    """Median milliseconds of ``fn`` (L2 flushed before each call), short runs: tuning compares
    configs of one problem, the benchmark harness does the careful timing."""
    from igc_triton.launch import timing
    return timing.time_cuda(fn, warmup_ms=5, rep_ms=25, max_reps=100).p50


def _accepts(out, ref) -> bool:
    from igc_triton import testing
    err = testing.rel_error(out, ref)
    return err <= testing.tolerance(ref.dtype, ref.device.type)


class Tuner:
    """Chooses configs (``choose``), remembers them for this process, persists benchmarked ones."""

    def __init__(self, timer: Callable[[Callable[[], object]], float] = cuda_timer, precompile=None):
        self.timer = timer
        self.precompile = precompile or parallel_compile  # (configs, run, device) before timing them
        self._memo: dict[tuple, tuple] = {}  # (device, kernel, key) -> (triton.Config, source)
        # (device, kernel, key, ranking file) -> (default config, whether it is the only candidate)
        self._defaults: dict[tuple, tuple] = {}
        self._entries: dict[str, dict] = {}  # gpu -> user-cache entries, as loaded and updated
        self._shipped: dict[str, dict] = {}
        self._rankings: dict[tuple, dict] = {}  # (gpu, ranking file) -> the cost model's ranked configs
        self._recorders: list[dict] = []
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def record(self):
        """Collects ``{(kernel, key): (config, source)}`` of every choice made inside the block
        (the source of the first choice of each problem: later ones come from memory)."""
        seen: dict = {}
        self._recorders.append(seen)
        try:
            yield seen
        finally:
            self._recorders.remove(seen)

    def choose(self, kernel: str, key: str, candidates: Callable[[], list], run: Callable, device: torch.device):
        """The config to launch ``kernel`` with for problem ``key``.

        ``candidates()``: the configs to choose from, the default first -- called only when this
        process has not chosen for the problem yet, so that a launch on the hot path costs a
        dictionary lookup; ``run(cfg)`` launches one and returns its output (tuning calls it;
        the caller launches the chosen config itself).
        """
        cfg, source = self._choose(kernel, key, candidates, run, device)
        for seen in self._recorders:
            seen.setdefault((kernel, key), (cfg, source))
        return cfg

    def model_order(self, kernel: str, key: str, candidates: list, gpu: str) -> list:
        """``candidates`` in the cost model's order for ``gpu`` (its ranked configs first, the
        others after them in their own order); unchanged without a ranking."""
        # Keyed by the file too: a ranking read from another file (a test's) never stands in for it.
        where = (gpu, ranking_path())
        if where not in self._rankings:
            self._rankings[where] = read_ranking(gpu, where[1])
        ranked = nearest_ranking(self._rankings[where], kernel, key) or []
        order = []
        for d in ranked:
            for c in candidates:
                if config_to_dict(c) == d and not any(c is o for o in order):
                    order.append(c)
        return order + [c for c in candidates if not any(c is o for o in order)]

    def default_config(self, kernel: str, key: str, candidates: list, gpu: str):
        """The config a problem runs without tuning (``IGC_TRITON_AUTOTUNE=off``): the cost model's
        first choice, or the config space's heuristic default without a ranking."""
        return self.model_order(kernel, key, candidates, gpu)[0]

    def _choose(self, kernel, key, candidates, run, device):
        m = mode()
        memo_key = (device, kernel, key)
        if m != OFF and memo_key in self._memo:
            return self._memo[memo_key][0], MEMO
        # Remembered too: building the config space and finding the nearest ranked problem take
        # about a millisecond of Python, more than the kernels of a small layer (measured on an H100).
        default_key = (device, kernel, key, ranking_path())
        known = self._defaults.get(default_key)
        if known is not None and (m == OFF or known[1]):
            return known[0], DEFAULT
        candidates = candidates()
        default = self.default_config(kernel, key, candidates, gpu_name(device))
        if len(candidates) == 1 or m == OFF:
            self._defaults[default_key] = (default, len(candidates) == 1)
            return default, DEFAULT
        gpu = gpu_name(device)
        entry_key = f"{kernel}|{key}"
        if m == CACHED:
            for source, entries in ((USER_CACHE, self._user_entries(gpu)), (SHIPPED, self._shipped_entries(gpu))):
                found = self._lookup(entries, entry_key, candidates)
                if found is not None:
                    self._memo[memo_key] = (found, source)
                    return found, source
        if device.type == "cuda" and torch.cuda.is_current_stream_capturing():
            return default, DEFAULT  # no benchmarking inside a CUDA graph capture; not remembered
        # A first call times the model's best few; `full` (igc-lab tune --force, offline) times all.
        top = self.model_order(kernel, key, candidates, gpu)
        top = top if m == FULL else top[:MODEL_TOP_K]
        best, ms, timed = self._benchmark(top, run, device)
        self._memo[memo_key] = (best, TUNED)
        # Every timed candidate is kept too: the measured ranking the cost model's is checked against.
        self._persist(gpu, entry_key, {"config": config_to_dict(best), "ms": ms, "candidates": len(candidates),
                                       "benchmarked": len(top), "timed": timed})
        return best, TUNED

    @staticmethod
    def _lookup(entries: dict, entry_key: str, candidates: list):
        entry = entries.get(entry_key)
        if entry is None:
            return None
        cfg = config_from_dict(entry["config"])
        # A config no longer in the (pruned) space is stale: tune the problem again.
        return next((c for c in candidates if same_config(c, cfg)), None)

    def _user_entries(self, gpu: str) -> dict:
        if gpu not in self._entries:
            self._entries[gpu] = read_entries(cache_path(gpu), gpu, check_versions=True)
        return self._entries[gpu]

    def _shipped_entries(self, gpu: str) -> dict:
        if gpu not in self._shipped:
            self._shipped[gpu] = read_entries(shipped_path(gpu), gpu, check_versions=False)
        return self._shipped[gpu]

    def _benchmark(self, candidates, run, device):
        """(the fastest of ``candidates``, its ms, [{config, ms} of each one timed]); the first
        candidate is the default, whose output is the reference."""
        self.precompile(candidates, run, device)
        ref = run(candidates[0]).clone()  # the launches may share one output buffer
        best, best_ms, timed = candidates[0], math.inf, []
        for cfg in candidates:
            try:
                if cfg is not candidates[0] and not _accepts(run(cfg), ref):
                    warnings.warn(f"config {config_str(cfg)} gives a wrong result; it is never chosen",
                                  TuningWarning, stacklevel=4)
                    continue
                ms = self.timer(lambda cfg=cfg: run(cfg))
            except Exception as e:  # noqa: BLE001 - e.g. out of shared memory: that config is out
                warnings.warn(f"config {config_str(cfg)} failed ({type(e).__name__}: {str(e)[:200]}); skipped",
                              TuningWarning, stacklevel=4)
                continue
            timed.append({"config": config_to_dict(cfg), "ms": ms})
            if ms < best_ms:
                best, best_ms = cfg, ms
        return best, (best_ms if math.isfinite(best_ms) else None), timed

    def _persist(self, gpu: str, entry_key: str, entry: dict):
        with self._lock:
            path = cache_path(gpu)
            # Merge with what other processes wrote meanwhile (a stale or corrupt file is replaced).
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", TuningWarning)
                entries = read_entries(path, gpu, check_versions=True)
            entries[entry_key] = entry
            self._entries[gpu] = entries
            try:
                write_entries(path, gpu, entries)
            except OSError as e:
                warnings.warn(f"could not write the tuning cache {path} ({e}); tuned configs last for this process "
                              "only", TuningWarning, stacklevel=4)


def parallel_compile(configs: list, run: Callable, device: torch.device):
    """Compile every config's kernel at once before they are timed one by one: Triton's
    ``AsyncCompileMode`` with a thread each (its frontend holds the GIL; LLVM and ptxas run in
    parallel). ``run(cfg, warmup=True)`` compiles without launching. Only on a GPU; any failure
    here is left for the timed launch to meet and report."""
    if device.type != "cuda" or len(configs) < 2:
        return
    try:
        from concurrent.futures import ThreadPoolExecutor

        from triton.runtime._async_compile import AsyncCompileMode
        with ThreadPoolExecutor(len(configs)) as pool, AsyncCompileMode(pool, ignore_errors=True):
            for cfg in configs:
                run(cfg, warmup=True)
    except Exception as e:  # noqa: BLE001 - an optimisation only: the candidates still compile when timed
        warnings.warn(f"parallel compilation of the candidates failed ({type(e).__name__}: {str(e)[:200]}); "
                      "they compile one by one", TuningWarning, stacklevel=3)


TUNER = Tuner()
