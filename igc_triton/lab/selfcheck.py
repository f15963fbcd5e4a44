"""``igc-lab selfcheck``: a GPU machine checked in one command, within a time budget.

Three steps, each in its own process (a kernel fault in one cannot take the others down) and
each writing its file as it goes, so that a run killed at any point leaves what it finished:

1. the test suite, compiled (``pytest -n auto`` when pytest-xdist is installed), into
   ``tests.log`` (streamed) and ``junit.xml`` (at its end); without a GPU only the tests
   named in ``CPU_TESTS``, under Triton's interpreter;
2. ``igc-lab verify`` into ``verify.txt``;
3. a benchmark suite (``selfcheck``: every kernel regime and the headline layers; ``smoke``
   on a CPU) with ``--budget-s`` into ``results.csv``, ``env.json`` and ``bench.log``, then
   ``report.md``.

``summary.md`` is rewritten after every step and printed at the end. The folder never holds
more than ``MAX_FILES`` files (figures are left out of its report).
"""

import datetime
import os
import pathlib
import re
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

FILES = ("summary.md", "env.json", "tests.log", "junit.xml", "verify.txt", "bench.log", "results.csv", "report.md")
MAX_FILES = 8
# Without a GPU: the tests that check what the selfcheck itself relies on, quick under the interpreter.
CPU_TESTS = ("tests/test_testing.py", "tests/test_reference.py")
# Shares of the budget: the tests may take this much of what is left when they start, verify
# this much of what is left after them; the benchmark takes the rest but RESERVE_S.
TESTS_SHARE, VERIFY_SHARE, RESERVE_S = 0.6, 0.25, 15.0
# The benchmark's providers: cuDNN's regular, grouped and IGC compositions, and ours.
PROVIDERS = ("cudnn-regular", "cudnn-grouped", "cudnn-igc-eager", "cudnn-igc-folded", "triton-grouped",
             "triton-igc", "triton-igc-fused")


@dataclass
class Step:
    name: str
    status: str = "not run"  # not run, running, passed, failed, stopped (budget), skipped
    seconds: float = 0.0
    detail: str = ""
    problems: list = field(default_factory=list)


def repo_root() -> pathlib.Path | None:
    """The source checkout beside the package (where ``tests/`` is), or None for a plain install."""
    root = pathlib.Path(__file__).resolve().parents[2]  # igc_triton/lab/selfcheck.py
    return root if (root / "tests" / "conftest.py").is_file() else None


def default_out(device_name: str) -> str:
    import torch
    import triton
    slug = re.sub(r"[^a-z0-9]+", "-", device_name.lower()).strip("-")
    date = datetime.date.today().isoformat()
    return os.path.join("runs", f"selfcheck-{slug}-torch{torch.__version__.split('+')[0]}-"
                                f"triton{triton.__version__}-{date}")


class Selfcheck:
    def __init__(self, out: str, budget_s: float, on_gpu: bool, suite: str | None = None, tests: bool = True,
                 providers=None, progress=print):
        self.out = pathlib.Path(out)
        self.budget_s = budget_s
        self.on_gpu = on_gpu
        self.suite = suite or ("selfcheck" if on_gpu else "smoke")
        self.run_tests = tests
        self.providers = list(providers or PROVIDERS)
        self.progress = progress
        self.start = time.monotonic()
        self.steps = [Step("tests"), Step("verify"), Step("bench")]
        self.device_name = "CPU"
        self.versions = ""

    # ---- the steps -----------------------------------------------------------------------------

    def run(self) -> int:
        """Every step in turn; the exit status is 0 when nothing failed (a step stopped by the
        budget is not a failure, but the summary says so)."""
        if self.out.exists() and any(self.out.iterdir()):
            raise FileExistsError(f"{self.out} is not empty: give a new --out")
        self.out.mkdir(parents=True, exist_ok=True)
        self._environment()
        self._write_summary()
        tests, verify, bench = self.steps
        if self.run_tests:
            self._tests(tests)
        else:
            tests.status, tests.detail = "skipped", "--no-tests"
        self._write_summary()
        self._verify(verify)
        self._write_summary()
        self._bench(bench)
        self._write_summary()
        return 1 if any(s.status == "failed" for s in self.steps) else 0

    def left(self) -> float:
        return self.budget_s - (time.monotonic() - self.start)

    def _environment(self):
        import json

        import torch

        from igc_triton.lab import environment
        device = torch.device("cuda" if self.on_gpu else "cpu")
        env = environment.capture(device)
        env["selfcheck"] = {"budget_s": self.budget_s, "suite": self.suite, "command": " ".join(sys.argv)}
        self.device_name = env.get("gpu_name") or "CPU"
        self.versions = (f"torch {env['torch']}, Triton {env['triton']}, " +
                         (f"CUDA {env.get('cuda')}, driver {env.get('driver')}, " if self.on_gpu else "") +
                         f"igc-triton {env['git_commit']}")
        (self.out / "env.json").write_text(json.dumps(env, indent=2))

    def _subprocess(self, step: Step, cmd: list, log: pathlib.Path, timeout: float, cwd=None,
                    extra_env=None) -> int | None:
        """Run ``cmd`` with its output streamed into ``log``; None when the budget stopped it."""
        env = dict(os.environ, PYTHONUNBUFFERED="1", **(extra_env or {}))
        if not self.on_gpu:  # --device cpu on a GPU machine too: the steps must not find the GPU
            env.setdefault("TRITON_INTERPRET", "1")
            env["CUDA_VISIBLE_DEVICES"] = ""
        step.status = "running"  # what a killed run's summary shows for the step it cut off
        self._write_summary()
        began = time.monotonic()
        self.progress(f"selfcheck: {step.name} (up to {timeout:.0f} s): {' '.join(cmd[2:])}")
        with open(log, "a") as f:
            proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=cwd, env=env, start_new_session=True)
            try:
                rc = proc.wait(timeout=max(timeout, 1.0))
            except subprocess.TimeoutExpired:
                _stop(proc)
                rc = None
            except BaseException:
                _stop(proc)
                raise
            finally:
                step.seconds = time.monotonic() - began
        return rc

    def _tests(self, step: Step):
        root = repo_root()
        if root is None:
            step.status, step.detail = "skipped", "no tests/ folder beside the package (a plain install)"
            return
        junit = self.out / "junit.xml"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}"]
        if self.on_gpu:
            if _has_xdist():
                cmd += ["-n", "auto"]
            cmd += ["tests"]
        else:
            cmd += [t for t in CPU_TESTS if (root / t).is_file()]
        # Under pytest-xdist tracebacks print at the end, which a run stopped by the budget never
        # reaches: conftest.py writes each one as it happens (IGC_TEST_FAILURES), kept if stopped.
        with tempfile.TemporaryDirectory() as tmp:
            failures_file = pathlib.Path(tmp) / "failures.txt"
            rc = self._subprocess(step, cmd, self.out / "tests.log", self.left() * TESTS_SHARE, cwd=root,
                                  extra_env={"IGC_TEST_FAILURES": str(failures_file)})
            if rc is None:
                append_failures(failures_file, self.out / "tests.log")
        counts, failures = read_test_results(junit, self.out / "tests.log")
        step.problems = failures
        step.detail = ", ".join(f"{v} {k}" for k, v in counts.items() if v) or "no result"
        if rc is None:
            step.status = "stopped"
            step.detail += " (stopped at its share of the budget)"
        else:
            step.status = "passed" if rc == 0 else "failed"
        if not self.on_gpu:
            step.detail += f"; CPU subset: {', '.join(CPU_TESTS)}"

    def _verify(self, step: Step):
        cmd = [sys.executable, "-m", "igc_triton.cli", "verify", "--device", "cuda" if self.on_gpu else "cpu"]
        log = self.out / "verify.txt"
        rc = self._subprocess(step, cmd, log, self.left() * VERIFY_SHARE)
        text = log.read_text() if log.exists() else ""
        step.problems = [line.split(None, 1)[1] for line in text.splitlines() if line.startswith("FAIL ")]
        rows = [line for line in text.splitlines() if line.startswith(("PASS ", "FAIL "))]
        step.detail = f"{len(rows) - len(step.problems)}/{len(rows)} rows within tolerance"
        step.status = "stopped" if rc is None else "passed" if rc == 0 else "failed"

    def _bench(self, step: Step):
        budget = self.left() - RESERVE_S
        if budget < 10:
            step.status, step.detail = "skipped", "no time left in the budget"
            return
        cmd = [sys.executable, "-m", "igc_triton.cli", "bench", "--suite", self.suite, "--out", str(self.out),
               "--no-report", "--budget-s", f"{budget:.0f}", "--providers", ",".join(self.providers),
               "--device", "cuda" if self.on_gpu else "cpu"]
        log = self.out / "bench.log"
        # Energy rows cost >= 0.5 s per measurement: a quick check spends it on more measurements.
        rc = self._subprocess(step, cmd, log, budget + 60,  # the bench stops itself; the margin is for a hang
                              extra_env={"IGC_LAB_ENERGY": os.environ.get("IGC_LAB_ENERGY", "off")})
        text = log.read_text() if log.exists() else ""
        left = re.search(r"budget of .* reached: (\d+) measurement", text)
        if rc is None or left:
            step.status = "stopped"
        else:
            step.status = "passed" if rc == 0 else "failed"
            if rc:
                step.problems = text.strip().splitlines()[-3:]
        results = self.out / "results.csv"
        if results.exists():
            from igc_triton.lab import report
            statuses = _statuses(results)
            step.detail = (f"suite {self.suite}: " + ", ".join(f"{v} {k}" for k, v in sorted(statuses.items()))
                           + (f"; {left.group(1)} left (igc-lab bench --resume --out ...)" if left else ""))
            step.problems += [f"{k}: {v}" for k, v in _bad_rows(results)]
            try:
                report.write(str(self.out), figures=False)
            except Exception as e:  # a report that cannot be written must not lose the summary
                step.problems.append(f"report.md not written: {e}")

    # ---- the summary ---------------------------------------------------------------------------

    def summary(self) -> str:
        md = [f"# igc-lab selfcheck: {self.device_name}", "",
              f"{datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}; {self.versions}; "
              f"budget {self.budget_s:g} s, {time.monotonic() - self.start:.0f} s used.", ""]
        if not self.on_gpu:
            md += ["No GPU: the tests are a CPU subset under Triton's interpreter, verify runs small shapes "
                   "under it, and the benchmark times PyTorch's CPU convolutions only. Nothing here measures "
                   "GPU performance.", ""]
        md += ["| step | status | seconds | result |", "|---|---|---|---|"]
        md += [f"| {s.name} | {s.status} | {s.seconds:.0f} | {s.detail} |" for s in self.steps]
        md.append("")
        for s in self.steps:
            if s.problems:
                md += [f"## {s.name}: {len(s.problems)} problem(s)", ""] + [f"- {p}" for p in s.problems[:40]]
                md += ([f"- ... {len(s.problems) - 40} more"] if len(s.problems) > 40 else []) + [""]
        results = self.out / "results.csv"
        if results.exists():
            md += headline(results, self.device_name)
        md += ["Files: " + ", ".join(f for f in FILES if (self.out / f).exists()) + ".", ""]
        return "\n".join(md)

    def _write_summary(self):
        # Written beside the folder, then moved in: never a half-written summary, even if killed
        # here, and never a ninth file in the folder.
        tmp = self.out.parent / f".{self.out.name}.summary.tmp"
        tmp.write_text(self.summary())
        os.replace(tmp, self.out / "summary.md")


def append_failures(failures: pathlib.Path, log: pathlib.Path):
    """The tracebacks the tests wrote as they failed (``IGC_TEST_FAILURES``), appended to ``log``."""
    if failures.is_file() and failures.stat().st_size:
        with open(log, "a") as f:
            f.write("\n==== tracebacks of the tests that failed before the budget stopped the run ====\n")
            f.write(failures.read_text())


def _stop(proc: subprocess.Popen):
    """The process and its children (xdist workers): SIGTERM, then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _has_xdist() -> bool:
    try:
        import xdist  # noqa: F401
    except ImportError:
        return False
    return True


def read_test_results(junit: pathlib.Path, log: pathlib.Path) -> tuple[dict, list]:
    """({passed, failed, errors, skipped: count}, ["FAILED test id", ...]) from the JUnit XML,
    or from pytest's log when the run was stopped before writing it."""
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    failures = []
    if junit.exists():
        try:
            root = ET.parse(junit).getroot()
            for case in root.iter("testcase"):
                name = f"{case.get('classname', '')}::{case.get('name', '')}"
                if case.find("failure") is not None:
                    counts["failed"] += 1
                    failures.append(f"FAILED {name}")
                elif case.find("error") is not None:
                    counts["errors"] += 1
                    failures.append(f"ERROR {name}")
                elif case.find("skipped") is not None:
                    counts["skipped"] += 1
                else:
                    counts["passed"] += 1
            return counts, failures
        except ET.ParseError:
            pass
    text = log.read_text() if log.exists() else ""
    failures = [line.split(" - ")[0] for line in text.splitlines() if line.startswith(("FAILED ", "ERROR "))]
    counts["passed"] = sum(line.count(".") for line in text.splitlines() if re.fullmatch(r"[.sFEx]+( +\[ *\d+%\])?",
                                                                                          line.strip()))
    counts["failed"] = sum(f.startswith("FAILED") for f in failures)
    counts["errors"] = sum(f.startswith("ERROR") for f in failures)
    return counts, failures


def _rows(results: pathlib.Path) -> list[dict]:
    import csv
    with open(results, newline="") as f:
        return [r for r in csv.DictReader(f) if r.get("metric")]


def _statuses(results: pathlib.Path) -> dict:
    out = {}
    for r in _rows(results):
        if r["metric"] == "status":
            out[r["status"]] = out.get(r["status"], 0) + 1
    return out


def _bad_rows(results: pathlib.Path) -> list[tuple[str, str]]:
    from igc_triton.lab import harness
    return [(f"{r['case']} {r['provider']} {r['dtype']} {r['layout']}", f"{r['status']} {r['detail']}".strip())
            for r in _rows(results) if r["metric"] == "status" and r["status"] in (harness.WRONG, harness.ERROR)]


def headline(results: pathlib.Path, where: str = "") -> list[str]:
    """Per IGC layer, dtype and layout: the fused Triton block beside the best cuDNN IGC
    composition (the report's ``IGC_BASELINES``) and cuDNN's regular convolution of the same
    width (median ms, measured)."""
    from igc_triton.lab import report
    lat = {}
    for r in _rows(results):
        if r["metric"] == "latency_ms" and r["kind"] == "layer":
            lat[(r["case"], r["dtype"], r["layout"], r["provider"])] = float(r["value"])
    cases = sorted({k[:3] for k in lat})
    body = []
    for case, dtype, layout in cases:
        fused = lat.get((case, dtype, layout, "triton-igc-fused"))
        base = [lat[(case, dtype, layout, p)] for p in report.IGC_BASELINES if (case, dtype, layout, p) in lat]
        best = min(base) if base else None
        regular = lat.get((case, dtype, layout, "cudnn-regular"))
        if fused is None and best is None:
            continue
        ratio = f"{best / fused:.2f}x" if fused and best else "-"
        body.append(f"| {case} | {dtype} | {layout} | {_ms(fused)} | {_ms(best)} | {_ms(regular)} | {ratio} |")
    if not body:
        return ["No layer was timed on a GPU (on a CPU the Triton providers are checked, not timed).", ""]
    return ([f"## Headline (measured{' on ' + where if where else ''}, median ms)", "",
             "| layer | dtype | layout | Triton fused | best cuDNN IGC | cuDNN regular | fused speedup over best IGC |",
             "|---|---|---|---|---|---|---|"] + body + [""])


def _ms(v) -> str:
    return "-" if v is None else f"{v:.4g}"
