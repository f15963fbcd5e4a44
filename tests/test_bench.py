"""The benchmark lab on a CPU: smoke suite, CSV schema, traceable report, resume, shards,
torchrun, failing providers, and bad input."""

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch

from igc_triton import cli
from igc_triton.lab import harness, providers, report, suites

TINY_SUITE = """
description = "test suite"
dtypes = ["fp32"]
layouts = ["nchw", "channels_last"]
{layers}
"""
TINY_LAYER = """
[[layer]]
name = "igc-{i}"
batch = 2
cin = 8
cout = 8
hw = {hw}
L = 4
"""
FAST = ["cudnn-regular", "cudnn-igc-eager", "cudnn-igc-folded"]


def tiny_suite(tmp_path, layers=2, name="tiny.toml"):
    path = tmp_path / name
    path.write_text(TINY_SUITE.format(layers="".join(TINY_LAYER.format(i=i, hw=6 + i) for i in range(layers))))
    return str(path)


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def status_keys(rows):
    return [(r["case"], r["side"], r["provider"], r["dtype"], r["layout"], r["mode"]) for r in rows
            if r["metric"] == "status"]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """The smoke suite as the lab runs it on a CPU. On a GPU machine: in a process that sees no
    GPU (kernels under the interpreter), as these tests check the CPU lab; in-process the GPU
    would time every provider, torch.compile included, for minutes."""
    out = str(tmp_path_factory.mktemp("smoke"))
    if torch.cuda.is_available():
        env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TRITON_INTERPRET="1")
        subprocess.run([sys.executable, "-m", "igc_triton.cli", "bench", "--suite", "smoke", "--out", out], env=env,
                       check=True, capture_output=True, timeout=1200)
    else:
        assert cli.main(["bench", "--suite", "smoke", "--out", out]) == 0
    return out


def test_smoke_writes_csv_env_report_and_figures(smoke):
    for name in ("results.csv", "env.json", "report.md", "report_numbers.json"):
        assert os.path.getsize(os.path.join(smoke, name)) > 0, name
    figures = os.listdir(os.path.join(smoke, "figures"))
    assert {"latency_vs_flops.png", "roofline.png", "throughput_vs_params.png"} <= set(figures)
    for f in figures:
        with open(os.path.join(smoke, "figures", f), "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n" and os.path.getsize(fh.name) > 5000
    text = open(os.path.join(smoke, "report.md")).read()
    assert "No GPU was used" in text.splitlines()[2]


def test_report_shows_the_launch_config_per_L_M(smoke):
    rows = [r for r in read_rows(os.path.join(smoke, "results.csv")) if r["metric"] == "config"]
    # Every Triton layer measurement names the config of each kernel it ran, and only those do.
    triton_layers = {(r["case"], r["provider"], r["layout"]) for r in read_rows(os.path.join(smoke, "results.csv"))
                     if r["metric"] == "status" and r["kind"] == "layer" and r["provider"].startswith("triton")
                     and r["status"] == "checked"}
    assert {(r["case"], r["provider"], r["layout"]) for r in rows} == triton_layers
    fused = [r for r in rows if r["provider"] == "triton-igc-fused"]
    kernels = ("igc_block_", "grouped_conv2d_fwd_nhwc_gemm", "igc_secondary_fwd_nhwc")
    assert fused and all(r["detail"].startswith(kernels) for r in fused)
    forms = {(r["case"], r["layout"]): r["detail"].split(" | ")[0] for r in fused}
    # C -> C blocks: M = 2 (C >= 16) takes the nhwc_fma kernel, other M dividing 64 the nhwc one,
    # a transition block (Cin != C, L = 16) the nhwc_pair form (the nhwc_gemm kernel, then the
    # nhwc secondary), in both layouts (NCHW on a channels_last copy).
    for layout in ("nchw", "channels_last"):
        assert forms[("igc-16-16-8px-L8M2", layout)] == "igc_block_nhwc_fma"
        assert forms[("igc-32-32-8px-L2M16", layout)] == "igc_block_nhwc"
        assert [r["detail"].split(" | ")[0] for r in fused if (r["case"], r["layout"]) == ("igc-16-32-8px-L16M2-s2",
                layout)] == ["grouped_conv2d_fwd_nhwc_gemm", "igc_secondary_fwd_nhwc"]
    text = open(os.path.join(smoke, "report.md")).read()
    section = text.split("## Launch configs per (L, M)")[1].split("\n## ")[0]
    assert re.search(r"\| 16 +\| 2 +\| fp32 +\| nchw +\| igc_secondary_fwd_nhwc +\| BLOCK_P=\d+ BLOCK_N=\d+ "
                     r"BLOCK_K=\d+ warps=4 stages=1 +\| default", section), section
    assert re.search(r"\| 8 +\| 2 +\| fp32 +\| channels_last \| igc_block_nhwc_fma +\| TILE_H=\d+ TILE_W=\d+ Q=\d "
                     r"PREFETCH=\d warps=4 stages=1 +\| default", section), section


def test_csv_schema(smoke):
    df = pd.read_csv(os.path.join(smoke, "results.csv"))
    assert list(df.columns) == harness.COLUMNS
    assert set(df["status"]) <= {"ok", "checked", "skipped", "wrong_result", "error"}
    planned = harness.plan(suites.load("smoke"))
    keys = status_keys(read_rows(os.path.join(smoke, "results.csv")))
    assert sorted(keys) == sorted(m.key for m in planned) and len(set(keys)) == len(keys)
    timed = df[df.metric == "latency_ms"]
    assert (timed.value > 0).all() and (timed.p20 <= timed.value).all() and (timed.value <= timed.p80).all()
    # On a CPU the Triton providers are checked, never timed; no wrong result is ever timed.
    assert not timed.provider.str.startswith(("triton", "net-triton")).any()
    triton = df[df.provider.str.contains("triton")]
    assert set(triton[~triton.provider.str.endswith("+graph")].status) == {"checked"}
    assert set(triton[triton.provider.str.endswith("+graph")].status) == {"skipped"}  # CUDA graphs: GPU only
    assert {"copy_gbps", "gemm_tflops_fp32"} <= set(df[df.kind == "ceiling"].metric)


def assert_report_traceable(folder):
    import glob
    import json
    numbers = json.load(open(os.path.join(folder, "report_numbers.json")))
    rows = {(os.path.basename(p), line): r for pattern in ("results*.csv", "predicted*.csv")
            for p in glob.glob(os.path.join(folder, pattern)) for line, r in enumerate(read_rows(p), start=2)}
    for entry in numbers:
        assert report.recompute(entry, rows) == entry["text"], entry
    # Every numeric table cell of report.md is one of the cited numbers.
    cited = {n["text"] for n in numbers}
    number = re.compile(r"^-?\d+(\.\d+)?(e[+-]?\d+)?( nc| cl)?$")
    text = open(os.path.join(folder, "report.md")).read()
    cells = [c.strip() for line in text.splitlines() if line.startswith("| ") for c in line.strip("|").split("|")]
    numeric = [c for c in cells if number.match(c)]
    assert numeric and all(c.split()[0] in cited for c in numeric), [c for c in numeric if c.split()[0] not in cited]
    runs_line = text.split("## Runs")[1].strip().splitlines()[0]
    assert all(n in cited for n in re.findall(r"\d+", runs_line))
    return text


def test_every_report_number_traces_to_csv_rows(smoke):
    assert_report_traceable(smoke)


def test_claims_table_comes_from_the_results(tmp_path):
    path = tmp_path / "claims.toml"
    path.write_text('description = "d"\nnetwork_modes = ["inference"]\n[[network]]\nname = "pair"\nbatch = 2\n'
                    'input = [3, 8, 8]\nigc = { builder = "plain_cifar", args = { depth = 5, L = 2, M = 2 } }\n'
                    'baseline = { builder = "plain_cifar", args = { depth = 5, width = 4 } }\n'
                    'paper = { igc = "IGC-L24M2 d20", baseline = "RegConv-W18 d20" }\n')
    out = str(tmp_path / "out")
    harness.run(suites.load(str(path)), out, ["net-cudnn"], progress=lambda s: None)
    report.write(out)
    text = assert_report_traceable(out)
    assert "The paper's claims" in text and "| pair | igc      | IGC-L24M2 d20" in text
    rows = read_rows(os.path.join(out, "results.csv"))
    paper = {(r["side"], r["metric"]): float(r["value"]) for r in rows if r["kind"] == "claim"}
    assert paper[("igc", "paper_params")] == 0.15e6 and paper[("baseline", "paper_flops")] == 0.51e8


def test_sigint_and_kill_then_resume(tmp_path):
    suite = tiny_suite(tmp_path, layers=6)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    total = len(harness.plan(suites.load(suite), FAST))
    for sig in (signal.SIGINT, signal.SIGKILL):
        out = tmp_path / f"run-{sig.name}"
        cmd = [sys.executable, "-m", "igc_triton.cli", "bench", "--suite", suite, "--out", str(out), "--no-report",
               "--providers", ",".join(FAST)]
        # SIGINT at its default in the child: a shell that starts this test suite in the background
        # ignores SIGINT, and children inherit that (Python then never raises KeyboardInterrupt).
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        results = out / "results.csv"
        deadline = time.time() + 600  # generous: a loaded 2-core CI machine starts torch slowly
        while time.time() < deadline and not (results.exists() and len(status_keys(read_rows(results))) >= 3):
            time.sleep(0.05)
        proc.send_signal(sig)
        output = proc.communicate(timeout=60)[0]
        if sig == signal.SIGINT:
            assert proc.returncode == 130 and "--resume" in output, output
        done_before = status_keys(read_rows(results))
        assert 3 <= len(done_before) < total, (len(done_before), total)
        before = open(results).read()
        complete = before[:before.find("\n", before.rfind(",status,")) + 1]  # up to the last finished one
        subprocess.run(cmd + ["--resume"], env=env, check=True, capture_output=True)
        keys = status_keys(read_rows(results))
        assert len(keys) == total == len(set(keys))
        # Finished measurements were kept byte for byte, not measured again.
        assert open(results).read().startswith(complete)


def test_resume_drops_a_cut_off_measurement(tmp_path):
    suite = suites.load(tiny_suite(tmp_path))
    out = str(tmp_path / "out")
    harness.run(suite, out, FAST, progress=lambda s: None)
    path = os.path.join(out, "results.csv")
    lines = open(path).read().splitlines(keepends=True)
    assert ",status," in lines[-1]
    # The last measurement lost its status row, cut off half-way through the line.
    with open(path, "w") as f:
        f.writelines(lines[:-1])
        f.write(lines[-1][:20])
    run, skipped = harness.run(suite, out, FAST, resume=True, progress=lambda s: None)
    assert run == 1 and skipped == len(harness.plan(suite, FAST)) - 1
    keys = status_keys(read_rows(path))
    assert len(keys) == len(set(keys)) == len(harness.plan(suite, FAST))


def test_budget_stops_between_measurements_and_resume_completes(tmp_path, monkeypatch):
    """A clock that advances 10 s per measurement and a 25 s budget: two measurements fit (the
    third would end at 30 s); --resume then completes the plan, no row lost or repeated."""
    suite = suites.load(tiny_suite(tmp_path, layers=2))
    out = str(tmp_path / "out")
    now = [0.0]
    monkeypatch.setattr(harness, "_clock", lambda: now[0])
    real_run = harness.Runner.run

    def slow_run(self, m):
        now[0] += 10.0
        return real_run(self, m)
    monkeypatch.setattr(harness.Runner, "run", slow_run)
    lines = []
    run, skipped = harness.run(suite, out, FAST, progress=lines.append, budget_s=25)
    total = len(harness.plan(suite, FAST))
    assert (run, skipped) == (2, 0) and total > 2
    assert f"{total - 2} measurement(s) left" in lines[-1] and "--resume" in lines[-1]
    path = os.path.join(out, "results.csv")
    assert len(status_keys(read_rows(path))) == 2
    run, skipped = harness.run(suite, out, FAST, resume=True, progress=lambda s: None)
    assert (run, skipped) == (total - 2, 2)
    keys = status_keys(read_rows(path))
    assert len(keys) == len(set(keys)) == total


def test_cases_runs_the_matching_cases_alone_and_resume_adds_the_rest(tmp_path):
    suite = tiny_suite(tmp_path, layers=3)
    out = str(tmp_path / "out")
    base = ["bench", "--suite", suite, "--out", out, "--no-report", "--providers", "cudnn-regular"]
    assert cli.main(base + ["--cases", "igc-0,igc-2"]) == 0
    assert [k[0] for k in status_keys(read_rows(os.path.join(out, "results.csv")))] == ["igc-0"] * 2 + ["igc-2"] * 2
    assert cli.main(base + ["--cases", "igc-*", "--resume"]) == 0
    assert sorted({k[0] for k in status_keys(read_rows(os.path.join(out, "results.csv")))}) == ["igc-0", "igc-1",
                                                                                                 "igc-2"]


def test_a_resumed_pass_of_another_dtype_adds_that_dtypes_gemm_ceiling_alone(tmp_path):
    suite = suites.load(tiny_suite(tmp_path, layers=1))
    out = str(tmp_path / "out")
    harness.run(suite, out, ["cudnn-regular"], dtypes=["fp32"], layouts=["nchw"], progress=lambda s: None)
    harness.run(suite, out, ["cudnn-regular"], dtypes=["bf16"], layouts=["nchw"], resume=True, progress=lambda s: None)
    harness.run(suite, out, ["cudnn-regular"], dtypes=["bf16"], layouts=["nchw"], resume=True, progress=lambda s: None)
    ceilings = [r["metric"] for r in read_rows(os.path.join(out, "results.csv")) if r["kind"] == "ceiling"]
    assert sorted(ceilings) == ["copy_gbps", "gemm_tflops_bf16", "gemm_tflops_fp32"]


def test_existing_results_need_resume(tmp_path):
    suite = suites.load(tiny_suite(tmp_path, layers=1))
    out = str(tmp_path / "out")
    harness.run(suite, out, ["cudnn-regular"], progress=lambda s: None)
    with pytest.raises(FileExistsError, match="--resume"):
        harness.run(suite, out, ["cudnn-regular"], progress=lambda s: None)


def test_shards_partition_the_suite_and_merge(tmp_path):
    suite = suites.load(tiny_suite(tmp_path, layers=3))
    out = str(tmp_path / "out")
    for i in range(2):
        harness.run(suite, out, FAST, shard=(i, 2), progress=lambda s: None)
    shard_keys = [set(status_keys(read_rows(os.path.join(out, f"results-shard{i}of2.csv")))) for i in range(2)]
    assert not shard_keys[0] & shard_keys[1]
    assert shard_keys[0] | shard_keys[1] == {m.key for m in harness.plan(suite, FAST)}
    report.write(out)
    numbers = {n["table"] for n in __import__("json").load(open(os.path.join(out, "report_numbers.json")))}
    assert "layers fp32 fwd" in numbers and "2 shard(s)" in open(os.path.join(out, "report.md")).read()


def test_torchrun_spreads_the_suite_over_ranks(tmp_path):
    suite = tiny_suite(tmp_path, layers=2)
    out = tmp_path / "out"
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--module",
                    "igc_triton.cli", "bench", "--suite", suite, "--out", str(out), "--no-report",
                    "--providers", ",".join(FAST)], check=True, capture_output=True, timeout=300)
    keys = [set(status_keys(read_rows(out / f"results-shard{i}of2.csv"))) for i in range(2)]
    assert keys[0] and keys[1] and not keys[0] & keys[1]
    assert keys[0] | keys[1] == {m.key for m in harness.plan(suites.load(suite), FAST)}


def test_failing_providers_are_recorded_and_the_suite_goes_on(tmp_path, monkeypatch):
    def broken(c, t):
        raise RuntimeError("compile error: no kernel for you")

    def wrong(c, t):
        return lambda: providers.F.conv2d(t["x"], t["w_regular"], None, c.stride, 1) * 1.5

    monkeypatch.setitem(providers.PROVIDERS, "broken", providers.Provider(
        "broken", "layer", "raises", False, broken, providers._ref_regular, macs=providers.regular_macs,
        weights=lambda c: 0))
    monkeypatch.setitem(providers.PROVIDERS, "wrong", providers.Provider(
        "wrong", "layer", "wrong answer", False, wrong, providers._ref_regular, macs=providers.regular_macs,
        weights=lambda c: 0))
    suite = suites.load(tiny_suite(tmp_path, layers=1))
    out = str(tmp_path / "out")
    harness.run(suite, out, ["broken", "wrong", "cudnn-regular"], progress=lambda s: None)
    rows = read_rows(os.path.join(out, "results.csv"))
    status = {(r["provider"], r["layout"]): r for r in rows if r["metric"] == "status"}
    assert status[("broken", "nchw")]["status"] == "error" and "compile error" in status[("broken", "nchw")]["detail"]
    assert status[("wrong", "nchw")]["status"] == "wrong_result"
    assert status[("cudnn-regular", "nchw")]["status"] == "ok"
    assert not [r for r in rows if r["provider"] in ("broken", "wrong") and r["metric"] == "latency_ms"]


@pytest.mark.parametrize("content,message", [
    ('dtypes = ["fp32"]\n[[layer]]\nname = "a"\nbatch = 1\ncin = 4\ncout = 4\nhw = 4\n', "missing description"),
    ('description = "d"\n[[layer]]\nname = "a"\nbatch = 1\ncin = 6\ncout = 6\nhw = 4\nL = 4\n',
     "must be divisible by L"),
    ('description = "d"\n[[layer]]\nname = "a"\nbatch = 1\ncin = 4\ncout = 4\nhw = 4\nkernel = 5\n',
     "unknown key"),
    ('description = "d"\ndtypes = ["fp8"]\n[[layer]]\nname = "a"\nbatch = 1\ncin = 4\ncout = 4\nhw = 4\n',
     "dtypes must be"),
    ('description = "d"\n[[network]]\nname = "n"\nbatch = 1\ninput = [3, 8, 8]\n'
     'igc = { builder = "plain_cifar", args = { depth = 7, L = 2, M = 2 } }\n', "3n\\+2"),
    ('description = "d"\n[[network]]\nname = "n"\nbatch = 1\ninput = [3, 8, 8]\nigc = { builder = "vgg" }\n',
     "unknown builder"),
    ('description = "d"\n[[network]]\nname = "n"\nbatch = 1\ninput = [3, 8, 8]\n'
     'igc = { builder = "xception_cifar", args = { L = 2, M = 2 } }\npaper = { igc = "IGC-L2M2" }\n',
     "not a network of the paper's tables"),
    ("description = \n", "not valid TOML"),
    ('description = "d"\n', "no \\[\\[layer\\]\\]"),
])
def test_bad_suite_files(tmp_path, content, message):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(suites.SuiteError, match=message):
        suites.load(str(path))


@pytest.mark.parametrize("argv,message", [
    (["--suite", "nope"], "unknown suite 'nope'"),
    (["--providers", "cudnn-regular,warp-drive"], "unknown provider(s) warp-drive"),
    (["--dtype", "fp8"], "unknown --dtype fp8"),
    (["--layout", "nhwc"], "unknown --layout nhwc"),
    (["--suite", "smoke", "--cases", "igc-nope*"], "no case matches igc-nope*"),
])
def test_bad_arguments_exit_nonzero_with_one_line(tmp_path, capsys, argv, message):
    assert cli.main(["bench", "--out", str(tmp_path / "x"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_shipped_suites_load_and_paper_layers_cover_the_paper_networks():
    import torch

    from igc_triton import models
    from igc_triton.nn import IGCConv2d
    assert set(suites.available()) >= {"smoke", "paper-layers", "lm-sweep", "networks"}
    for name in suites.available():
        suites.load(name)
    layers = {(c.cin, c.cout, c.hw, c.L, c.stride) for c in suites.load("paper-layers").layers}
    for build, hw in [(lambda: models.plain_cifar(20, L=24, M=2), 32), (lambda: models.resnet_cifar(20, 32, 26), 32),
                      (lambda: models.xception_cifar(85, 2), 32),
                      (lambda: models.igc_resnet18_imagenet(100, 2, widen="L"), 224)]:
        with torch.device("meta"):
            net = build()
        seen = []
        hooks = [m.register_forward_hook(lambda m, i, o: seen.append(
            (i[0].shape[1], m.primary.out_channels, i[0].shape[2], m.L, m.primary.stride[0])))
            for m in net.modules() if isinstance(m, IGCConv2d)]
        net.eval()(torch.empty(1, 3, hw, hw, device="meta"))
        for h in hooks:
            h.remove()
        assert seen and set(seen) <= layers


def test_a_folder_named_like_a_suite_does_not_shadow_it(tmp_path, monkeypatch):
    (tmp_path / "smoke").mkdir()
    monkeypatch.chdir(tmp_path)
    assert suites.load("smoke").name == "smoke"


# --- runs made in pieces: resume on another machine, merge into one report ----------------------

def _set_env(folder, name="env.json", **fields):
    path = os.path.join(folder, name)
    with open(path) as f:
        env = json.load(f)
    env.update(fields)
    with open(path, "w") as f:
        json.dump(env, f)


def test_merging_two_runs_gives_one_report_and_mixed_runs_are_refused(tmp_path):
    suite = suites.load(tiny_suite(tmp_path, layers=2))
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    harness.run(suite, a, ["cudnn-regular"], progress=lambda s: None)
    harness.run(suite, b, ["cudnn-igc-eager"], progress=lambda s: None)
    into = str(tmp_path / "report")
    assert cli.main(["merge", a, b, "--into", into]) == 0
    assert sorted(os.listdir(into)) == sorted(["env-a.json", "env-b.json", "figures", "report.md",
                                               "report_numbers.json", "results-a.csv", "results-b.csv"])
    text = assert_report_traceable(into)
    assert "This report merges 2 runs" in text and "| env-a.json" in text and "Mixed runs" not in text
    layers = text.split("## Layers")[1].split("\n## ")[0]
    assert "cudnn-regular" in layers and "cudnn-igc-eager" in layers  # both runs' providers, one table
    # The same measurement twice is refused, and so are runs of another GPU model or other kernels.
    assert cli.main(["merge", a, "--into", into]) == 2
    c = str(tmp_path / "c")
    harness.run(suite, c, ["cudnn-igc-folded"], progress=lambda s: None)
    for fields, words in [(dict(gpu_name="No Such GPU"), "GPU models differ"), (dict(kernels="0123abcd"),
                                                                                 "kernel sources differ")]:
        _set_env(c, **fields)
        proc = subprocess.run([sys.executable, "-m", "igc_triton.cli", "merge", c, "--into", into],
                              capture_output=True, text=True)
        assert proc.returncode == 2 and words in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
        assert not os.path.exists(os.path.join(into, "results-c.csv"))
    assert cli.main(["merge", c, "--into", into, "--allow-mixed"]) == 0
    text = open(os.path.join(into, "report.md")).read()
    assert "Mixed runs: GPU models differ" in text and "Mixed runs: kernel sources differ" in text


def test_resume_on_another_machine_keeps_both_environments_and_refuses_another_gpu(tmp_path):
    suite = suites.load(tiny_suite(tmp_path, layers=2))
    out = str(tmp_path / "out")
    harness.run(suite, out, FAST, progress=lambda s: None, budget_s=1e-9)  # ceilings only, then out of time
    _set_env(out, host="the-first-machine")
    harness.run(suite, out, FAST, resume=True, progress=lambda s: None)
    assert sorted(f for f in os.listdir(out) if f.startswith("env")) == ["env-run2.json", "env.json"]
    report.write(out)
    text = open(os.path.join(out, "report.md")).read()
    assert "This report merges 2 runs" in text and "the-first-machine" in text
    _set_env(out, gpu_name="No Such GPU")  # not an H100 either: leases run these too
    with pytest.raises(ValueError, match="cannot resume in .*GPU models differ"):
        harness.run(suite, out, FAST, resume=True, progress=lambda s: None)


def test_first_page_answers_flops_against_time_per_regime(tmp_path):
    """The report opens with the FLOP ratio beside the time ratio per regime (one sentence each),
    and the equal-width replacements at C >= 256; every number traced to the CSV."""
    path = tmp_path / "regimes.toml"
    layer = '[[layer]]\nname = "{n}"\nbatch = 1\ncin = {c}\ncout = {c}\nhw = 4\nL = {L}\n'
    path.write_text('description = "d"\ndtypes = ["fp32"]\nlayouts = ["nchw"]\n'
                    + "".join(layer.format(n=n, c=c, L=L) for n, c, L in [("small", 16, 8), ("wide", 256, 4)]))
    out = str(tmp_path / "out")
    harness.run(suites.load(str(path)), out, ["cudnn-regular", "cudnn-igc-eager"], progress=lambda s: None)
    report.write(out)
    text = assert_report_traceable(out)
    first = text.split("## Does fewer FLOPs mean less time?")[1].split("\n## ")[0]
    assert text.index("## Does fewer FLOPs") < text.index("## Measured ceilings")
    assert "small partitions (M = 2-8), fp32: IGC does 0.18x" in first  # (16/8 * 9 + 8) / (16 * 9)
    assert "large partitions (M >= 16), fp32: IGC does" in first and first.count("fewer FLOPs") == 2
    assert "| wide  | fp32  | 0.25" in first  # (64 * 9 + 4) / (256 * 9) = 0.25


def test_energy_off_skips_nvml(monkeypatch):
    from igc_triton.lab import environment

    def no_nvml(device):
        raise AssertionError("NVML asked for although IGC_LAB_ENERGY=off")

    monkeypatch.setattr(environment, "_nvml_handle", no_nvml)
    monkeypatch.setenv(environment.ENERGY_ENV, "off")
    meter = environment.EnergyMeter(torch.device("cuda"))
    assert not meter.available and meter.measure(lambda: None) is None
    monkeypatch.setenv(environment.ENERGY_ENV, "on")
    with pytest.raises(AssertionError, match="NVML asked"):
        environment.EnergyMeter(torch.device("cuda"))


def test_report_of_a_run_cut_off_by_its_budget(tmp_path):
    # Measured on an H100: the last layer (C = 256, the equal-width table's range) got only its
    # regular convolution timed before the budget ran out; the report used to raise on it.
    shutil.copy(os.path.join(os.path.dirname(__file__), "data", "budget_cut_results.csv"), tmp_path / "results.csv")
    report.write(str(tmp_path))
    text = assert_report_traceable(str(tmp_path))  # GPU rows: host time, copy-bandwidth share
    assert "igc-192-192-8px-L24M8-n128" in text and "Equal-width replacement" not in text
    host = text.split("## Host time per call")[1].split("\n## ")[0]
    assert re.search(r"\| triton-igc-fused +\| 2 +\| \d+ ", host) and re.search(r"\| cudnn-regular +\| 4 ", host)
    # Triton against cuDNN's IGC: the fastest of each side (either layout), like against like.
    lat = {}
    for r in read_rows(tmp_path / "results.csv"):
        if r["metric"] == "latency_ms" and r["case"] == "igc-192-192-8px-L24M8-n128":
            lat[r["provider"]] = min(lat.get(r["provider"], float("inf")), float(r["value"]))
    ratio = lat["cudnn-igc-folded+graph"] / lat["triton-igc-fused"]
    row = next(line for line in text.split("## Triton against cuDNN's IGC")[1].splitlines()
               if line.startswith("| igc-192"))
    assert [c.strip() for c in row.strip("|").split("|")][1:4] == [f"{ratio:.2f}", "-", "-"]


def test_l2_read_kernel_reads_each_block_once_per_pass_shifted(device):
    """The L2 ceiling's kernel (timing.l2_read_bandwidth): program p sums blocks p, p + P, ... of
    every pass, pass r shifted by r blocks, so the bytes it times are every block once per pass."""
    from igc_triton.kernels.l2_read import l2_read_kernel
    n_blocks, block, programs, passes = 5, 16, 3, 2
    x = torch.arange(n_blocks * block, dtype=torch.float32, device=device)
    out = torch.full((programs * block,), float("nan"), device=device)
    l2_read_kernel[(programs,)](x, out, n_blocks, PASSES=passes, BLOCK=block)
    xb = x.view(n_blocks, block).cpu()
    want = torch.stack([sum(xb[(b + r) % n_blocks] for r in range(passes) for b in range(p, n_blocks, programs))
                        for p in range(programs)])
    assert torch.equal(out.view(programs, block).cpu(), want)
    assert out.sum().item() == passes * x.sum().item()


def test_l2_ceiling_is_a_gpu_measurement_with_its_method_in_the_row():
    from igc_triton.launch import timing
    assert timing.l2_read_bandwidth(torch.device("cpu")) is None
    [row] = harness.ceiling_rows("s", torch.device("cuda"), {"l2_read_gbps": 7000.0})
    assert row["unit"] == "GB/s" and "L2" in row["detail"] and "L1 bypassed" in row["detail"]


def test_the_l2_ceiling_is_measured_with_the_copy_or_alone_and_a_failure_leaves_it_out(monkeypatch):
    """A resumed run that lacks it measures the L2 ceiling alone (``l2=True``); one that cannot be
    measured (``None``: a failed kernel, times that do not differ) is left out, not an error."""
    from igc_triton.launch import timing
    monkeypatch.setattr(timing, "copy_bandwidth", lambda device: 1000.0)
    monkeypatch.setattr(timing, "l2_read_bandwidth", lambda device: 7000.0)
    cpu = torch.device("cpu")
    assert harness.measure_ceilings(cpu, []) == {"copy_gbps": 1000.0, "l2_read_gbps": 7000.0}
    assert harness.measure_ceilings(cpu, [], copy=False) == {}
    assert harness.measure_ceilings(cpu, [], copy=False, l2=True) == {"l2_read_gbps": 7000.0}
    monkeypatch.setattr(timing, "l2_read_bandwidth", lambda device: None)
    assert harness.measure_ceilings(cpu, []) == {"copy_gbps": 1000.0}
