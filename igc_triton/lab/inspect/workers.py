"""Worker processes of ``igc-lab inspect``.

Compiling needs kernels built for the compiler and tracing needs them built for Triton's
interpreter, and Triton decides which when it is imported (``igc_triton.runtime``), so each
step runs in a fresh ``python -m igc_triton.lab.inspect.<step>`` process with ``TRITON_INTERPRET``
set or unset, whatever the caller's process is (a test under the interpreter, a notebook, a
script read from standard input). Inputs and outputs go through JSON files; the worker runs
its items in a pool of ``jobs`` processes and reports progress on standard output as it goes.
"""

import concurrent.futures
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile

PROGRESS = "progress "


def run(module: str, items: list, jobs: int, interpret: bool, python: str | None = None, extra=(),
        progress=None) -> list:
    """Results of ``module``'s worker for ``items`` (JSON-able), in order."""
    if not items:
        return []
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    if interpret:
        env["TRITON_INTERPRET"] = "1"
    if python:  # another environment: none of this one's paths
        env = {k: v for k, v in env.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    with tempfile.TemporaryDirectory() as d:
        src, dst = os.path.join(d, "in.json"), os.path.join(d, "out.json")
        with open(src, "w") as f:
            json.dump(items, f)
        cmd = [python or sys.executable, "-m", module, "--jobs", str(jobs), *extra, src, dst]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for line in proc.stdout:
            if line.startswith(PROGRESS) and progress:
                done, total = line[len(PROGRESS):].split()
                progress(int(done), int(total))
        err = proc.stderr.read()
        if proc.wait() != 0:
            raise RuntimeError(f"{' '.join(cmd[:3])} failed: {err.strip()[-2000:]}")
        with open(dst) as f:
            return json.load(f)


def serve(argv, work, description: str):
    """A worker's ``main``: ``work(item, *extra)`` for every item of the input file, ``--jobs``
    at a time, results to the output file."""
    import argparse
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--arg", action="append", default=[], help="an extra argument of every item's work")
    parser.add_argument("items")
    parser.add_argument("out")
    args = parser.parse_args(argv)
    with open(args.items) as f:
        items = json.load(f)
    results = [None] * len(items)

    def report(done):
        print(f"{PROGRESS}{done} {len(items)}", flush=True)
    if args.jobs <= 1 or len(items) == 1:
        for i, item in enumerate(items):
            results[i] = work(item, *args.arg)
            report(i + 1)
    else:
        with concurrent.futures.ProcessPoolExecutor(max_workers=min(args.jobs, len(items)),
                                                    mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(work, item, *args.arg): i for i, item in enumerate(items)}
            for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
                results[futures[future]] = future.result()
                report(done)
    with open(args.out, "w") as f:
        json.dump(results, f)
    return 0
