"""bench/precompile.py: kernels compiled here for sm_90, carried to a GPU machine, hit there."""

import glob
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def _precompile():
    spec = importlib.util.spec_from_file_location("precompile", os.path.join(HERE, "..", "bench", "precompile.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# Compiles one recorded launch for sm_90 through Triton's own binder (as a GPU launch would
# specialise it), with the cache folder of TRITON_CACHE_DIR: prints the files it wrote there.
COMPILE = """
import glob, json, os, sys
import triton
from igc_triton.lab.inspect.capture import launch_from_dict
from igc_triton.lab.inspect.compile import launch_source
source, options, target = launch_source(launch_from_dict(json.load(open(sys.argv[1]))), 90)
cache = os.environ["TRITON_CACHE_DIR"]
before = set(glob.glob(os.path.join(cache, "*", "*")))
assert triton.compile(source, target=target, options=options).asm["cubin"]
print(json.dumps(sorted(set(glob.glob(os.path.join(cache, "*", "*"))) - before)))
"""


def _compile(launch_file, cache_dir):
    """The files compiling the launch wrote into the Triton cache ``cache_dir`` (in a process of
    its own: the kernels are compiled, not interpreted)."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TRITON_CACHE_DIR"] = str(cache_dir)
    done = subprocess.run([sys.executable, "-c", COMPILE, str(launch_file)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_an_archived_kernel_is_a_cache_hit_in_another_folder(tmp_path):
    """Compiled into one cache folder, archived (metadata and cubin only), installed into another
    (whose path Triton's absolute file groups did not know): compiling the same launch there
    writes nothing, a cache hit; in an empty folder it compiles (writes its IRs)."""
    from igc_triton.lab import inspect as ii
    from igc_triton.lab.inspect import calls
    from igc_triton.lab.inspect.capture import launch_to_dict
    pc = _precompile()
    label, fn, args, kw = calls.op_call("igc_block", calls.Shape(2, 48, 48, 8, 24), "fp16", "channels_last")
    launch = tmp_path / "launch.json"
    launch.write_text(json.dumps(launch_to_dict(ii.capture_call(fn, *args, label=label, **kw)[0][-1])))
    built = _compile(launch, tmp_path / "here")
    assert any(f.endswith(".ttgir") for f in built)
    archive = str(tmp_path / "kernels.tgz")
    assert pc.pack(str(tmp_path / "here"), archive, {"suite": "test"}) == 1
    shutil.rmtree(tmp_path / "here")  # the groups' recorded paths lead nowhere now
    manifest = pc.install(archive, str(tmp_path / "there"))
    assert manifest["installed"] == 1 and manifest["suite"] == "test"
    assert not glob.glob(str(tmp_path / "there" / "*" / "*.ttgir"))  # only what a hit loads travelled
    assert _compile(launch, tmp_path / "there") == []
    assert _compile(launch, tmp_path / "empty")


def test_install_refuses_paths_outside_its_folder(tmp_path):
    import io
    import tarfile
    archive = tmp_path / "bad.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in ("../escape.json", "/abs.json", "ok/__grp__k.json"):
            data = b'{"child_paths": {"k.json": "/elsewhere/k.json"}}'
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    manifest = _precompile().install(str(archive), str(tmp_path / "cache"))
    assert not (tmp_path / "escape.json").exists() and sorted(os.listdir(tmp_path / "cache")) == ["ok"]
    assert manifest["installed"] == 0  # the group names a metadata file the archive did not carry
