"""``igc-lab selfcheck`` on a CPU: its folder (at most 8 files, each readable), its summary,
and a run killed half-way that keeps what it finished."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

from igc_triton.lab import selfcheck

TINY_SUITE = """
description = "selfcheck test suite"
dtypes = ["fp32"]
layouts = ["nchw", "channels_last"]

[[layer]]
name = "igc-8-8-6px-L4M2"
batch = 2
cin = 8
cout = 8
hw = 6
L = 4
"""
PROVIDERS = "cudnn-regular,cudnn-igc-eager,triton-igc-fused"


def _cmd(tmp_path, out, budget=600):
    suite = tmp_path / "tiny.toml"
    suite.write_text(TINY_SUITE)
    return [sys.executable, "-m", "igc_triton.cli", "selfcheck", "--device", "cpu", "--out", str(out),
            "--budget-s", str(budget), "--suite", str(suite), "--providers", PROVIDERS]


def _files(out):
    names = sorted(os.listdir(out))
    assert len(names) <= selfcheck.MAX_FILES, names
    assert set(names) <= set(selfcheck.FILES), names
    return names


def test_selfcheck_writes_its_folder_and_prints_the_summary(tmp_path):
    out = tmp_path / "check"
    proc = subprocess.run(_cmd(tmp_path, out), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _files(out) == sorted(selfcheck.FILES)
    summary = (out / "summary.md").read_text()
    assert proc.stdout.rstrip().endswith(summary.rstrip())  # printed at the end
    for step in ("tests", "verify", "bench"):
        assert f"| {step} | passed |" in summary, summary
    env = json.loads((out / "env.json").read_text())
    assert env["device"] == "cpu" and env["torch"]
    cases = list(ET.parse(out / "junit.xml").getroot().iter("testcase"))
    assert cases and all(c.find("failure") is None for c in cases)
    assert f"{len(cases)} passed" in summary
    verify_rows = [line for line in (out / "verify.txt").read_text().splitlines() if line.startswith("PASS")]
    assert verify_rows and f"{len(verify_rows)}/{len(verify_rows)} rows within tolerance" in summary
    with open(out / "results.csv", newline="") as f:
        statuses = [r["status"] for r in csv.DictReader(f) if r["metric"] == "status"]
    assert len(statuses) == 3 * 2 and set(statuses) <= {"ok", "checked"}  # 3 providers x 2 layouts
    assert "# igc-triton benchmark report" in (out / "report.md").read_text()
    # A folder that already holds a run is refused, with one line.
    again = subprocess.run(_cmd(tmp_path, out), capture_output=True, text=True, timeout=300)
    assert again.returncode == 2 and "not empty" in again.stderr and len(again.stderr.strip().splitlines()) == 1


def test_a_selfcheck_killed_half_way_keeps_what_finished(tmp_path):
    out = tmp_path / "check"
    proc = subprocess.Popen(_cmd(tmp_path, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    verify = out / "verify.txt"
    deadline = time.time() + 600  # generous: a loaded 2-core CI machine starts torch slowly
    try:
        while time.time() < deadline and not (verify.exists() and "PASS " in verify.read_text()):
            assert proc.poll() is None, "selfcheck ended before it could be killed"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the selfcheck and the step it runs
        proc.wait(timeout=60)
    names = _files(out)
    assert {"summary.md", "env.json", "tests.log", "junit.xml", "verify.txt"} <= set(names)
    summary = (out / "summary.md").read_text()
    assert "| tests | passed |" in summary and "| verify | running |" in summary, summary
    assert "| bench | not run |" in summary
    json.loads((out / "env.json").read_text())
    ET.parse(out / "junit.xml")
    assert "PASS " in verify.read_text()
    assert "results.csv" not in names  # killed before the benchmark began


def test_bad_input_is_one_line_and_creates_nothing(tmp_path, capsys):
    from igc_triton import cli
    out = tmp_path / "check"
    for args, words in [(["--suite", "nope"], "unknown suite 'nope'"), (["--providers", "nope"], "nope")]:
        assert cli.main(["selfcheck", "--device", "cpu", "--out", str(out), *args]) == 2
        err = capsys.readouterr().err
        assert words in err and len(err.strip().splitlines()) == 1
        assert not out.exists()
    assert cli.main(["merge", str(tmp_path / "missing"), "--into", str(out)]) == 2
    assert "is not a folder" in capsys.readouterr().err and not out.exists()


def test_tracebacks_of_a_stopped_test_run_are_kept_in_its_log(tmp_path):
    log, failures = tmp_path / "tests.log", tmp_path / "failures.txt"
    log.write_text("[gw0] FAILED tests/test_x.py::test_y\n")
    selfcheck.append_failures(failures, log)  # none written: the log is left as it is
    assert log.read_text() == "[gw0] FAILED tests/test_x.py::test_y\n"
    failures.write_text("==== tests/test_x.py::test_y (call)\nE   assert 1 == 2\n\n")
    selfcheck.append_failures(failures, log)
    text = log.read_text()
    assert text.startswith("[gw0] FAILED")
    assert text.endswith("==== tests/test_x.py::test_y (call)\nE   assert 1 == 2\n\n")
