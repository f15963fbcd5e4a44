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


# --- the two wings: the library never imports the lab ----------------------------------------

def _imports(path: pathlib.Path) -> set[str]:
    import ast
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def test_the_library_never_imports_the_lab():
    """Every module of the library (igc_triton outside lab/, the launch layer, models, kernels),
    at any depth, function-level imports included; cli.py is the entry point to both wings."""
    library = [p for p in list((ROOT / "igc_triton").rglob("*.py")) + list((ROOT / "kernels").rglob("*.py"))
               if "lab" not in p.relative_to(ROOT).parts and p.name != "cli.py"]
    assert len(library) > 20
    offenders = {str(p.relative_to(ROOT)): sorted(m for m in _imports(p) if m.startswith("igc_triton.lab"))
                 for p in library}
    assert {k: v for k, v in offenders.items() if v} == {}
    # ...and the kernels folder holds device code only: no launch or lab module imported there.
    for p in (ROOT / "kernels").glob("*.py"):
        assert not any(m.startswith(("igc_triton.launch", "igc_triton.lab")) for m in _imports(p)), p


def test_importing_the_library_loads_neither_the_lab_nor_triton():
    code = ("import sys, igc_triton, igc_triton.models\n"
            "bad = [m for m in sys.modules if m.startswith('igc_triton.lab') or m == 'triton']\n"
            "assert not bad, bad")
    proc = subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
