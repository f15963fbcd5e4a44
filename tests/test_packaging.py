"""Packaging rules: kernels/ is igc_triton.kernels, never a top-level `kernels`; README and CI agree."""

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_no_top_level_kernels_module():
    code = ("import sys, torch, igc_triton\n"
            "igc_triton.grouped_conv2d(torch.randn(1, 2, 3, 3), torch.randn(2, 1, 3, 3), groups=2)\n"
            "import igc_triton.kernels.grouped_conv2d_fwd\n"
            "assert 'kernels' not in sys.modules, 'a top-level kernels module was imported'\n"
            "print(igc_triton.kernels.__name__)")
    # Run outside the repository so that the source folder is not on sys.path.
    proc = subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "igc_triton.kernels"


def test_no_bare_kernels_import_in_sources():
    pattern = re.compile(r"^\s*(from|import)\s+kernels(\s|\.|$)", re.M)
    sources = [p for d in ("kernels", "igc_triton", "tests") for p in (ROOT / d).rglob("*.py")]
    assert sources
    offenders = [str(p) for p in sources if pattern.search(p.read_text())]
    assert offenders == []


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- test-command -->\s*```(?:sh|bash)?\n(.+?)\n```", readme, re.S)
    assert match, "README.md lacks the test command block after <!-- test-command -->"
    command = match.group(1).strip()
    assert command in (ROOT / ".ci" / "run").read_text()
