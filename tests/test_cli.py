"""igc-lab: help on every subcommand, verify's table and exit status."""

import importlib.metadata
import os
import subprocess
import sys

import pytest
import torch

from igc_triton import cli
from igc_triton.lab import verify


def test_console_script_is_installed():
    eps = importlib.metadata.entry_points(group="console_scripts", name="igc-lab")
    assert [ep.value for ep in eps] == ["igc_triton.cli:main"]


def test_help_runs_as_a_module():
    proc = subprocess.run([sys.executable, "-m", "igc_triton.cli", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "usage: igc-lab" in proc.stdout, proc.stderr


@pytest.mark.parametrize("command", ["verify", "compile-check", "paper-tables", "train", "bench", "report", "inspect",
                                     "tune"])
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([command, "--help"])
    assert exit_.value.code == 0
    assert f"usage: igc-lab {command}" in capsys.readouterr().out


def test_subcommands_listed_in_help():
    out = cli.build_parser().format_help()
    assert "verify" in out and "compile-check" in out


def test_verify_prints_table_and_passes(capsys):
    device = "cuda" if torch.cuda.is_available() else "cpu"
    assert cli.main(["verify", "--device", device, "--dtype", "fp32"]) == 0
    out = capsys.readouterr().out
    assert out.count("PASS") == len(verify.CASES) and "FAIL" not in out
    assert f"{len(verify.CASES)}/{len(verify.CASES)} passed" in out


def test_verify_exits_nonzero_on_a_wrong_result(capsys, monkeypatch):
    from igc_triton.launch import launchers
    real = launchers.igc_secondary_fwd
    monkeypatch.setattr(launchers, "igc_secondary_fwd", lambda t, w, L, path=None: real(t, w, L, path) * 1.01)
    monkeypatch.setattr(verify, "CASES", [c for c in verify.CASES if c.op != "grouped_conv2d"][:1])
    device = "cuda" if torch.cuda.is_available() else "cpu"
    assert cli.main(["verify", "--device", device, "--dtype", "fp32"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "1 FAILED" in out


def test_verify_rejects_bf16_on_cpu(capsys):
    assert cli.main(["verify", "--device", "cpu", "--dtype", "bf16"]) == 2
    assert "bf16" in capsys.readouterr().err


def test_importing_the_package_and_cli_does_not_import_triton():
    """Triton's interpreter only works when TRITON_INTERPRET is set before triton is first
    imported (Triton 3.9: its own @jit library functions, tl.zeros and tl.cdiv among them, are
    built for the compiler otherwise). `igc-lab bench` on a CPU sets it after importing the CLI,
    so nothing it imports at start may import triton."""
    code = ("import sys\n"
            "import igc_triton, igc_triton.cli, igc_triton.lab.harness, igc_triton.lab.tune, igc_triton.lab.report\n"
            "import igc_triton.lab.inspect, igc_triton.lab.inspect.command, igc_triton.lab.inspect.validate\n"
            "print(sorted(m for m in sys.modules if m == 'triton' or m.startswith('triton.')))")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out
