"""``igc-lab tune``: run every Triton kernel a suite uses once, so that the autotuner chooses
(and persists) a config for each of its problems; optionally ship the choices with the package.

Each layer case runs every Triton layer provider that applies to it, each network case its
IGC network, per dtype and layout of the suite -- forward, and with ``training`` also the
backward kernels. What the autotuner chose is written to the user's tuning cache as it goes
(an interrupted run keeps what it tuned); ``ship`` adds the choices to
``igc_triton/tuned/<gpu>.json`` in the package, the file a fresh install reads first.
"""

import json
from pathlib import Path

import torch

from igc_triton.lab import providers
from igc_triton.lab.suites import Layer, Suite
from igc_triton.launch import autotune


def _layer_work(case: Layer, dtype: str, layout: str, device: torch.device, training: bool):
    for p in providers.PROVIDERS.values():
        if p.kind != "layer" or not p.triton or p.applies(case) is not None:
            continue
        t = providers.layer_tensors(case, providers.DTYPES[dtype], layout, device)
        with torch.no_grad():  # inference: the fused block runs only without autograd
            p.make(case, t)()
        if training:
            t = {k: v.detach().requires_grad_(v.is_floating_point()) for k, v in t.items()}
            out = p.make(case, t)()
            if out.requires_grad:
                out.float().square().mean().backward()


def _network_work(case, dtype: str, layout: str, device: torch.device, training: bool):
    for spec in (case.igc, case.baseline):
        if spec is None or providers.PROVIDERS["net-triton"].applies(spec) is not None:  # no IGC layer
            continue
        net = providers.build_network(spec, providers.DTYPES[dtype], layout, device, "triton")
        fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
        x = torch.randn(case.batch, *case.input, device=device).to(providers.DTYPES[dtype]).contiguous(
            memory_format=fmt)
        providers.network_step(net, x, "inference")()
        if training:
            providers.network_step(net, x, "train")()


def tune_suite(suite: Suite, device: torch.device, dtypes=None, layouts=None, training: bool = False,
               progress=print) -> dict:
    """Tune every problem of ``suite``; returns ``{(kernel, key): (config, source)}`` with the
    source of its first choice in this run (``tuned``, ``cache``, ``shipped``, ``default``)."""
    chosen: dict = {}
    work = [(case, dt, lay) for case in [*suite.layers, *suite.networks]
            for dt in (dtypes or suite.dtypes) for lay in (layouts or suite.layouts)]
    for i, (case, dtype, layout) in enumerate(work, 1):
        label = f"[{i}/{len(work)}] {case.name} {dtype} {layout}"
        with autotune.TUNER.record() as seen:
            try:
                if isinstance(case, Layer):
                    _layer_work(case, dtype, layout, device, training)
                else:
                    _network_work(case, dtype, layout, device, training)
            except torch.cuda.OutOfMemoryError:
                progress(f"{label}: out of memory, skipped")
                continue
        new = {k: v for k, v in seen.items() if k not in chosen}
        chosen.update(new)
        counts = {}
        for _, source in new.values():
            counts[source] = counts.get(source, 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "nothing new"
        progress(f"{label}: {len(new)} new problems ({summary})")
    return chosen


def ship(chosen: dict, gpu: str, path: Path | None = None) -> Path:
    """Add ``chosen`` to the shipped tuning file of ``gpu`` (in the package, unless ``path``),
    with each kernel's source files and their hash (entries of kernels that changed since an
    earlier ship are dropped: they were tuned on other code)."""
    path = Path(path or str(autotune.shipped_path(gpu)))
    entries = autotune.read_entries(path, gpu, check_versions=False)
    try:
        sources = json.loads(path.read_text()).get("sources", {}) if path.is_file() else {}
    except (OSError, ValueError, AttributeError):
        sources = {}
    from igc_triton.launch import tuning  # imports triton: not at module level (see test_cli)
    for kernel in {k for k, _ in chosen} | {k.partition("|")[0] for k in entries}:
        if kernel in tuning.KERNEL_SOURCES:
            sources[kernel] = tuning.kernel_sources(kernel)
    user = autotune.read_entries(autotune.cache_path(gpu), gpu, check_versions=True)
    for (kernel, key), (cfg, _) in chosen.items():
        entry_key = f"{kernel}|{key}"
        entry = {"config": autotune.config_to_dict(cfg)}
        if entry_key in user and "ms" in user[entry_key]:
            entry["ms"] = user[entry_key]["ms"]
        entries[entry_key] = entry
    autotune.write_entries(path, gpu, entries, sources)
    return path


def table(chosen: dict) -> str:
    """The choices as a markdown table, one row per (kernel, problem)."""
    lines = ["| kernel | problem | config | source |", "|---|---|---|---|"]
    for (kernel, key), (cfg, source) in sorted(chosen.items()):
        lines.append(f"| {kernel} | {key} | {autotune.config_str(cfg)} | {source} |")
    return "\n".join(lines)
