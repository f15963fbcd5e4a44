"""Compile a suite's Triton kernels for sm_90 here, on the CPU, so that a briefly lent GPU does
not spend its minutes compiling them: cold compiles cost 1-3 s per kernel variant there, and a
suite like paper-layers runs hundreds.

    # here (no GPU): the GPU image's Triton in PYTHON (see README, 'Reading igc-lab inspect')
    python3 bench/precompile.py build --suite roofline --triton-python /path/to/triton36/python \\
        --out runs/precompiled-roofline.tgz
    # on the GPU machine (bench/lease.sh does this when PRECOMPILED names the archive)
    python3 bench/precompile.py install runs/precompiled-roofline.tgz --dir "$TRITON_CACHE_DIR"

``build`` runs ``igc-lab inspect`` on the suite's Triton cases at their default configs (what
``IGC_TRITON_AUTOTUNE=off`` runs: the shipped model ranking's first choice) with a fresh
Triton cache: inspect compiles each launch as Triton's launcher would specialise it on a GPU
(aligned pointers, the same binder and options), so the cache keys are the ones a GPU launch of
the same Triton computes. The archive keeps each kernel's metadata and cubin (what a cache hit
loads) and a manifest. ``install`` unpacks it into a Triton cache folder and points each
kernel's file group at its new place (Triton records absolute paths). Whether the GPU's
launches hit these entries is not verified without a GPU: a miss only compiles as before
(the log's measurement times tell).
"""

import argparse
import csv
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time

KEEP = (".json", ".cubin")  # a cache hit reads the metadata and the binary; the IRs are not needed
MANIFEST = "precompiled.json"


def build(args) -> int:
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, TRITON_CACHE_DIR=cache)
        cmd = [sys.executable, "-m", "igc_triton.cli", "inspect", "--suite", args.suite, "--config", "default",
               "--arch", "90", "--format", "csv", "--out", os.path.join(cache, "inspect.csv"), "--quiet",
               "--jobs", str(args.jobs)]
        for flag in ("dtype", "layout", "providers", "triton_python"):
            if getattr(args, flag):
                cmd += ["--" + flag.replace("_", "-"), getattr(args, flag)]
        start = time.perf_counter()
        done = subprocess.run(cmd, env=env)
        if done.returncode:
            print(f"precompile: igc-lab inspect failed ({done.returncode})", file=sys.stderr)
            return done.returncode
        with open(os.path.join(cache, "inspect.csv"), newline="") as f:
            triton = next(csv.DictReader(f), {}).get("triton") or "unknown"  # the compiling Triton's version
        kernels = pack(cache, args.out, {"suite": args.suite, "triton": triton, "arch": 90, "dtype": args.dtype,
                                         "layout": args.layout, "providers": args.providers})
    print(f"precompile: {kernels} kernels of {args.suite} for sm_90 with Triton {triton} -> {args.out} "
          f"({os.path.getsize(args.out) / 1e6:.1f} MB, {time.perf_counter() - start:.0f} s)")
    return 0


def pack(cache_dir: str, out: str, manifest: dict) -> int:
    """Archive the Triton cache folder ``cache_dir`` (metadata and binaries, and ``manifest``) to
    ``out``; the number of kernels."""
    kernels = sorted(d for d in os.listdir(cache_dir) if os.path.isdir(os.path.join(cache_dir, d)))
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with tarfile.open(out, "w:gz") as tar:
        for d in kernels:
            for name in sorted(os.listdir(os.path.join(cache_dir, d))):
                if name.endswith(KEEP):
                    tar.add(os.path.join(cache_dir, d, name), arcname=f"{d}/{name}")
        data = json.dumps(dict(manifest, kernels=len(kernels)), indent=1).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return len(kernels)


def install(archive: str, cache_dir: str) -> dict:
    """Unpack ``archive`` into the Triton cache folder ``cache_dir`` and rewrite each kernel's
    group file (``__grp__<name>.json``) to the files it has there; the manifest, with the number
    of kernels installed."""
    os.makedirs(cache_dir, exist_ok=True)
    with tarfile.open(archive, "r:gz") as tar:
        members = [m for m in tar.getmembers() if m.isfile() and _safe(m.name)]
        try:
            tar.extractall(cache_dir, members=members, filter="data")
        except TypeError:  # a Python without extraction filters (the members are checked above)
            tar.extractall(cache_dir, members=members)
    manifest = {}
    path = os.path.join(cache_dir, MANIFEST)
    if os.path.exists(path):
        with open(path) as f:
            manifest = json.load(f)
        os.remove(path)
    installed = 0
    for d in sorted(os.listdir(cache_dir)):
        folder = os.path.join(cache_dir, d)
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            if not (name.startswith("__grp__") and name.endswith(".json")):
                continue
            with open(os.path.join(folder, name)) as f:
                group = json.load(f)
            children = {c: os.path.join(folder, c) for c in group.get("child_paths", {})
                        if os.path.exists(os.path.join(folder, c))}
            with open(os.path.join(folder, name), "w") as f:
                json.dump({"child_paths": children}, f)
            installed += name[len("__grp__"):] in children  # the metadata is there: a hit can load
    manifest["installed"] = installed
    return manifest


def _safe(name: str) -> bool:
    return not (name.startswith("/") or ".." in name.split("/"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="compile a suite's kernels here into an archive")
    b.add_argument("--suite", required=True)
    b.add_argument("--dtype")
    b.add_argument("--layout")
    b.add_argument("--providers")
    b.add_argument("--triton-python", help="the Python whose Triton compiles (the GPU image's version)")
    b.add_argument("--jobs", type=int, default=2)
    b.add_argument("--out", required=True)
    i = sub.add_parser("install", help="unpack an archive into a Triton cache folder")
    i.add_argument("archive")
    i.add_argument("--dir", required=True, help="the Triton cache folder (TRITON_CACHE_DIR of the runs)")
    args = ap.parse_args(argv)
    if args.command == "build":
        return build(args)
    manifest = install(args.archive, args.dir)
    import triton
    note = "" if manifest.get("triton") in (None, triton.__version__) else \
        f" -- built with Triton {manifest['triton']}, this is {triton.__version__}: expect no hits"
    print(f"precompiled: {manifest['installed']} kernels of {manifest.get('suite', '?')} in {args.dir}{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
