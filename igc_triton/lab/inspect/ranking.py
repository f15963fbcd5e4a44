"""The cost model's ranking of each problem's candidate configs, shipped for the autotuner.

From an inspection with ``--config all`` (every candidate of every problem compiled and
traced), each problem's configs are ordered by predicted time, for every GPU of the device
table with the inspected architecture (the machine code is the same; bandwidths and clocks
differ). ``ship`` merges them into the package's ``igc_triton/tuned/model-ranking.json``,
which ``igc_triton.launch.autotune`` reads: the default config of a problem is its first, and a
first call benchmarks its best ``MODEL_TOP_K``.
"""

import json
import os
import re
import tempfile
from pathlib import Path

from igc_triton.lab.inspect import analyze, devices, model

# A config that spills registers ranks as if this much slower: the model counts its local-memory
# traffic, not the latency of the reloads on the critical path, and issue 12 asks for no spills
# (the nhwc form at C = 64, L = 8 spilled 64 bytes in a config predicted 1% faster than the best
# that does not).
SPILL_PENALTY = 1.1


def rank(result, device) -> dict:
    """``{"kernel|key": [{"config", "us"}, ...]}``, fastest predicted first, for ``device``; a
    config that spills ranked as if ``SPILL_PENALTY`` times slower, and among configs predicted
    equally fast (a memory-bound problem), those that spill last, then in the order the recording
    gave the candidates (the default it ran with first, the config space's order after): a
    ranking made again keeps its first choice where nothing tells the new one apart."""
    seen: dict = {}
    for call in result.calls:
        for r in call.reports:
            if r.prediction is None or not r.launch.key:
                continue
            p = model.predict(device, programs=r.launch.programs, num_warps=r.launch.num_warps, regs=r.compiled.regs,
                              smem=r.compiled.smem, counts=r.counts,
                              lines_per_program=sum(st.lines for st in r.trace.sites.values()),
                              dram_bytes=analyze.dram_bytes(r.launch, r.trace, device.l2_bytes), l2_bytes=r.l2_bytes)
            per = seen.setdefault(f"{r.launch.kernel}|{r.launch.key}", {})
            per[json.dumps(r.launch.config, sort_keys=True)] = (p.us, r.compiled.spills,
                                                                 candidate_index(r.launch.config_source))

    def order(config_prediction):
        us, spills, index = config_prediction[1]
        return round(us * (SPILL_PENALTY if spills else 1), 3), spills, index
    return {k: [{"config": json.loads(c), "us": round(us, 3)} for c, (us, *_) in sorted(v.items(), key=order)]
            for k, v in sorted(seen.items())}


def candidate_index(source: str) -> int:
    """The place ``capture.recording(config="all")`` gave a candidate ("candidate 3/12" -> 3; the
    default is 1); any other source after them."""
    m = re.match(r"candidate (\d+)/", source)
    return int(m.group(1)) if m else 1 << 30


KEEP = 4  # ranked configs kept per problem: the autotuner times the first 3


def ship(result, path=None, command: str = "") -> Path:
    """Merge ``result``'s rankings, for every GPU of its architecture, into the shipped file
    (dropping the entries of kernels whose sources changed since they were ranked). The file
    keeps each problem's ``KEEP`` best configs, as indexes into one list of configs, and per
    kernel its source files and their hash."""
    from igc_triton.launch import autotune
    path = Path(path or str(autotune.ranking_path()))
    try:
        data = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        data = {}
    if data.get("format") != autotune.RANKING_FORMAT:
        data = {}
    # Each kernel's entries stand for its own source files; a kernel whose sources changed starts afresh.
    # A kernel's source files are found again on every ranking: one that starts importing a
    # helper from another kernel file (as the nhwc kernel did) depends on that file from then on.
    sources = data.get("sources", {})
    current_files = {}
    for call in result.calls:
        for r in call.reports:
            if not r.launch.key:  # launched outside the tuner: nothing to rank
                continue
            current_files[r.launch.kernel] = autotune.kernel_files(os.path.basename(r.launch.file))
            sources.setdefault(r.launch.kernel, {"files": current_files[r.launch.kernel], "hash": ""})
    fresh = {k for k, src in sources.items() if autotune.sources_fingerprint(src["files"]) == src["hash"]
             and current_files.get(k, src["files"]) == src["files"]}
    for k in list(sources):
        if k not in fresh:
            files = current_files.get(k, sources[k]["files"])
            sources[k] = {"files": files, "hash": autotune.sources_fingerprint(files)}
            for gpu in data.get("gpus", {}).values():
                gpu["entries"] = {p: v for p, v in gpu["entries"].items() if p.partition("|")[0] != k}
    configs = data.get("configs", [])
    index = {json.dumps(c, sort_keys=True): i for i, c in enumerate(configs)}

    def ref(cfg):
        k = json.dumps(cfg, sort_keys=True)
        if k not in index:
            index[k] = len(configs)
            configs.append(cfg)
        return index[k]
    gpus = data.get("gpus", {})
    for d in devices.DEVICES.values():
        if d.arch != result.arch:
            continue
        entry = gpus.setdefault(d.name, {"entries": {}})
        entry["cuda_names"] = list(d.cuda_names)
        for problem, ranked in rank(result, d).items():
            entry["entries"][problem] = [ref(r["config"]) for r in ranked[:KEEP]]
    # A kernel whose sources changed and that this inspection did not reach has no entries left:
    # no record of its sources either (the autotuner reads a recorded kernel as ranked).
    with_entries = {p.partition("|")[0] for gpu in gpus.values() for p in gpu["entries"]}
    sources = {k: v for k, v in sources.items() if k in with_entries}
    command = re.sub(r"\s--out \S+", "", re.sub(r"--triton-python \S+", "--triton-python PYTHON", command))
    commands = [c for c in data.get("commands", []) if c != command] + ([command] if command else [])
    data.pop("command", None)
    data.pop("kernels", None)
    data.update(format=autotune.RANKING_FORMAT, sources=sources, triton=result.triton, arch=result.arch,
                about="the static cost model's ranking of each problem's launch configs (igc-lab inspect): per "
                      "GPU, problem -> indexes into configs, best first; see igc_triton/autotune.py",
                commands=commands, configs=configs, gpus=gpus)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, sort_keys=True, separators=(",", ":"))
        f.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path
