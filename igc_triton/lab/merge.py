"""``igc-lab merge``: runs of one GPU model, made in pieces (short GPU loans), gathered into one
folder (``reports/<gpu>-<date>/``) whose report is made again from all of them.

Each run's ``results*.csv`` and ``env*.json`` are copied under names that keep the runs apart
(``results-<run>.csv``, ``env-<run>.json``, ``<run>`` from the source folder's name). The
folder must stay one comparable set: merging runs of another GPU model or of other kernel
sources is refused unless ``allow_mixed`` (the report then says so at the top), and a
measurement present in two runs is refused (one would silently replace the other).
"""

import csv
import glob
import json
import os
import re
import shutil

from igc_triton.lab import report

KEY = ("suite", "case", "side", "provider", "dtype", "layout", "mode")


class MergeError(ValueError):
    """A merge that would mix what must not be mixed; the message says what."""


def _run_files(folder: str) -> tuple[list[str], list[str]]:
    results = sorted(glob.glob(os.path.join(folder, "results*.csv")))
    envs = sorted(glob.glob(os.path.join(folder, "env*.json")))
    if not results:
        raise MergeError(f"no results*.csv in {folder}")
    return results, envs


def _keys(path: str) -> set:
    with open(path, newline="") as f:
        return {tuple(r[k] for k in KEY) for r in csv.DictReader(f) if r.get("metric") == "status"}


def _tag(folder: str, taken: set) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", os.path.basename(os.path.normpath(folder))).strip("-") or "run"
    tag, n = base, 2
    while tag in taken:
        tag, n = f"{base}-{n}", n + 1
    return tag


def merge(sources: list[str], into: str, allow_mixed: bool = False) -> str:
    """Copy the runs in ``sources`` into ``into`` (created if needed; runs already there stay)
    and write its report.md (figures included); returns report.md's path."""
    for folder in sources:
        if not os.path.isdir(folder):
            raise MergeError(f"{folder} is not a folder")
        if os.path.exists(into) and os.path.samefile(folder, into):
            raise MergeError(f"{into} is also a source")
    os.makedirs(into, exist_ok=True)
    plan = []  # (source path, target name)
    taken = {m.group(1) for p in glob.glob(os.path.join(into, "env-*.json"))
             if (m := re.match(r"env-(.+)\.json$", os.path.basename(p)))}
    envs, seen = [], {}
    for path in glob.glob(os.path.join(into, "env*.json")):
        with open(path) as f:
            envs.append(json.load(f))
    for path in glob.glob(os.path.join(into, "results*.csv")):
        for k in _keys(path):
            seen[k] = path
    for folder in sources:
        results, env_files = _run_files(folder)
        tag = _tag(folder, taken)
        taken.add(tag)
        for path in results:
            for k in _keys(path):
                if k in seen:
                    raise MergeError(f"{' '.join(k[1:])} is measured in both {seen[k]} and {path}; merge one of them")
                seen[k] = path
            plan.append((path, f"results-{tag}{os.path.basename(path).removeprefix('results').removesuffix('.csv')}"
                               ".csv"))
        for path in env_files:
            with open(path) as f:
                envs.append(json.load(f))
            plan.append((path, f"env-{tag}{os.path.basename(path).removeprefix('env').removesuffix('.json')}.json"))
    problems = report.mixed(envs)
    if problems and not allow_mixed:
        raise MergeError(f"refusing to merge: {'; '.join(problems)} (pass --allow-mixed to merge anyway; the report "
                         "will say so)")
    for src, name in plan:
        shutil.copyfile(src, os.path.join(into, name))
    return report.write(into)
