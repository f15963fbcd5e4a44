"""The autotuner: modes, the persisted cache (shared by processes), shipped configs, corrupt
and stale files, rejected configs, and the pruned candidate spaces. No GPU: a stubbed timer
stands in for the CUDA one, and the candidates are small fakes or interpreter-sized tiles."""

import importlib.resources
import json
import os
import subprocess
import sys
import textwrap
import warnings

import pytest
import torch
import torch.nn.functional as F
import triton

from igc_triton import functional, runtime
from igc_triton.launch import autotune, tuning
from igc_triton.launch.autotune import FULL, OFF, Tuner, TuningWarning
from igc_triton.testing import to_layout

A = triton.Config({"BLOCK": 16}, num_warps=4, num_stages=1)
B = triton.Config({"BLOCK": 32}, num_warps=4, num_stages=1)
C = triton.Config({"BLOCK": 64}, num_warps=8, num_stages=2)
CPU = torch.device("cpu")


class StubTimer:
    """Milliseconds per BLOCK value; counts calls; calls the function once (as a timer would)."""

    def __init__(self, ms=None):
        self.ms = ms or {16: 3.0, 32: 1.0, 64: 2.0}
        self.calls = 0

    def __call__(self, fn):
        self.calls += 1
        out = fn()
        return self.ms[out.block]


class Out(torch.Tensor):
    pass


def output(cfg, value=1.0):
    t = torch.full((4,), value).as_subclass(Out)
    t.block = cfg.kwargs["BLOCK"]
    return t


def run_ok(cfg):
    return output(cfg)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(autotune.ENV_CACHE_DIR, str(tmp_path))
    monkeypatch.delenv(autotune.ENV_MODE, raising=False)
    return autotune.cache_path("cpu")


def choose(tuner, key="k1", candidates=(A, B, C), run=run_ok):
    with tuner.record() as seen:
        cfg = tuner.choose("kern", key, lambda: list(candidates), run, CPU)
    return cfg, seen[("kern", key)][1]


def test_off_uses_the_default_and_never_benchmarks(cache, monkeypatch):
    monkeypatch.setenv(autotune.ENV_MODE, OFF)
    timer = StubTimer()
    cfg, source = choose(Tuner(timer))
    assert cfg is A and source == autotune.DEFAULT
    assert timer.calls == 0 and not cache.exists()


def test_off_builds_the_config_space_once_per_problem(cache, monkeypatch):
    # The space and the nearest ranked problem cost ~1 ms of Python: not on every launch.
    monkeypatch.setenv(autotune.ENV_MODE, OFF)
    tuner, built = Tuner(StubTimer()), []

    def candidates():
        built.append(1)
        return [A, B, C]
    for _ in range(3):
        assert tuner.choose("kern", "k1", candidates, run_ok, CPU) is A
    assert len(built) == 1
    tuner.choose("kern", "k2", candidates, run_ok, CPU)
    assert len(built) == 2
    monkeypatch.setenv(autotune.ENV_MODE, FULL)  # a remembered default never stands in for tuning
    assert choose(tuner, candidates=(A, B, C))[1] == autotune.TUNED


def test_one_candidate_is_never_benchmarked(cache):
    timer = StubTimer()
    assert choose(Tuner(timer), candidates=[B]) == (B, autotune.DEFAULT)
    assert timer.calls == 0 and not cache.exists()


def test_cached_tunes_a_miss_once_and_persists_it(cache):
    timer = StubTimer()
    tuner = Tuner(timer)
    assert choose(tuner) == (B, autotune.TUNED)
    assert timer.calls == 3
    assert choose(tuner) == (B, autotune.MEMO) and timer.calls == 3
    data = json.loads(cache.read_text())
    assert data["entries"]["kern|k1"]["config"] == autotune.config_to_dict(B)
    # every timed candidate with its time: the measured ranking the cost model is checked against
    assert data["entries"]["kern|k1"]["timed"] == [{"config": autotune.config_to_dict(c), "ms": ms}
                                                   for c, ms in ((A, 3.0), (B, 1.0), (C, 2.0))]
    assert data["kernels"] == autotune.kernels_fingerprint() and data["triton"] == triton.__version__
    # A new tuner (as in a new process) reads the file and does not benchmark.
    fresh = StubTimer()
    assert choose(Tuner(fresh)) == (B, autotune.USER_CACHE) and fresh.calls == 0


def test_full_benchmarks_again_and_overwrites(cache, monkeypatch):
    choose(Tuner(StubTimer()))
    monkeypatch.setenv(autotune.ENV_MODE, FULL)
    timer = StubTimer({16: 3.0, 32: 2.0, 64: 1.0})
    assert choose(Tuner(timer)) == (C, autotune.TUNED) and timer.calls == 3
    assert json.loads(cache.read_text())["entries"]["kern|k1"]["config"] == autotune.config_to_dict(C)


def test_entries_of_other_problems_are_kept(cache):
    choose(Tuner(StubTimer()), key="k1")
    choose(Tuner(StubTimer({16: 1.0, 32: 2.0, 64: 3.0})), key="k2")
    entries = json.loads(cache.read_text())["entries"]
    assert entries["kern|k1"]["config"]["kwargs"] == {"BLOCK": 32}
    assert entries["kern|k2"]["config"]["kwargs"] == {"BLOCK": 16}


@pytest.mark.parametrize("content", ["{not json", '{"entries": []}', '{"entries": {"kern|k1": {"config": 3}}}',
                                     '{"entries": {"kern|k1": {"config": {"kwargs": {"BLOCK": "x"}, '
                                     '"num_warps": 4, "num_stages": 1}}}}', "[1, 2]"])
def test_corrupt_cache_is_ignored_with_a_warning_and_rebuilt(cache, content):
    cache.parent.mkdir(parents=True)
    cache.write_text(content)
    timer = StubTimer()
    with pytest.warns(TuningWarning, match="corrupt tuning file"):
        assert choose(Tuner(timer)) == (B, autotune.TUNED)
    assert timer.calls == 3
    assert json.loads(cache.read_text())["entries"]["kern|k1"]["config"]["kwargs"] == {"BLOCK": 32}


@pytest.mark.parametrize("field,value", [("kernels", "0123456789abcdef"), ("triton", "0.0.1"), ("format", 0),
                                         ("gpu", "NVIDIA A100")])
def test_stale_cache_is_ignored_with_a_warning_and_rebuilt(cache, field, value):
    data = {**autotune.header("cpu"), field: value,
            "entries": {"kern|k1": {"config": autotune.config_to_dict(A), "ms": 1.0}}}
    cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps(data))
    timer = StubTimer()
    with pytest.warns(TuningWarning, match="stale tuning file"):
        assert choose(Tuner(timer)) == (B, autotune.TUNED)
    assert json.loads(cache.read_text())[field] == autotune.header("cpu")[field]


def test_an_entry_outside_the_candidates_is_tuned_again(cache):
    other = triton.Config({"BLOCK": 128}, num_warps=4, num_stages=1)
    autotune.write_entries(cache, "cpu", {"kern|k1": {"config": autotune.config_to_dict(other)}})
    assert choose(Tuner(StubTimer())) == (B, autotune.TUNED)


def test_shipped_configs_are_used_when_the_user_cache_misses(cache, tmp_path, monkeypatch):
    shipped = tmp_path / "shipped" / "cpu.json"
    shipped.parent.mkdir()
    autotune.write_entries(shipped, "cpu", {"kern|k1": {"config": autotune.config_to_dict(C)}})
    monkeypatch.setattr(autotune, "shipped_path", lambda gpu: shipped)
    timer = StubTimer()
    assert choose(Tuner(timer)) == (C, autotune.SHIPPED) and timer.calls == 0
    # The user's own tuning wins over the shipped one.
    autotune.write_entries(cache, "cpu", {"kern|k1": {"config": autotune.config_to_dict(A)}})
    assert choose(Tuner(timer)) == (A, autotune.USER_CACHE)


def test_a_wrong_or_failing_config_is_never_chosen(cache):
    def run(cfg):
        if cfg is C:
            raise RuntimeError("out of resources: shared memory")
        return output(cfg, value=2.0 if cfg is B else 1.0)  # B is fastest but wrong

    timer = StubTimer()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert choose(Tuner(timer), run=run) == (A, autotune.TUNED)
    messages = [str(w.message) for w in caught if issubclass(w.category, TuningWarning)]
    assert any("wrong result" in m and "BLOCK=32" in m for m in messages), messages
    assert any("out of resources" in m and "BLOCK=64" in m for m in messages), messages


def test_an_unwritable_cache_is_a_warning(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv(autotune.ENV_CACHE_DIR, str(blocker / "sub"))  # a directory under a file
    monkeypatch.delenv(autotune.ENV_MODE, raising=False)
    with pytest.warns(TuningWarning, match="could not write"):
        assert choose(Tuner(StubTimer())) == (B, autotune.TUNED)


def test_a_bad_mode_names_the_valid_ones(monkeypatch):
    monkeypatch.setenv(autotune.ENV_MODE, "fast")
    with pytest.raises(ValueError, match="IGC_TRITON_AUTOTUNE='fast'.*off, cached, full"):
        choose(Tuner(StubTimer()))


def test_problem_key_buckets_pixels_not_batch():
    x = torch.empty(3, 8, 5, 5)
    k = autotune.problem_key(x, 3 * 25, L=4, M=2)
    assert k == "L=4 M=2 float32 nchw P<=128"
    assert autotune.problem_key(torch.empty(4, 8, 5, 5), 4 * 25, L=4, M=2) == k  # 75 and 100 pixels: one bucket
    assert autotune.problem_key(x, 3 * 25, L=2, M=4) != k
    assert "nhwc" in autotune.problem_key(x.contiguous(memory_format=torch.channels_last), 75, L=4, M=2)


def test_remembered_problem_keys_keep_values_of_other_types_apart():
    x = torch.empty(3, 8, 5, 5)
    assert autotune.problem_key(x, 75, relu=1) != autotune.problem_key(x, 75, relu=True)  # equal as dict keys
    assert autotune.problem_key(x, 75, L=4.0) != autotune.problem_key(x, 75, L=4)
    assert autotune.problem_key(x, 75, s=[1, 2]).startswith("s=[1, 2] ")  # unhashable: formatted, not remembered
    assert autotune.problem_key(x, 75, s=(1, 2)).startswith("s=1x2 ")
    assert "float16" in autotune.problem_key(x.half(), 75, L=4, M=2)


# --- the real launchers and candidate spaces --------------------------------------------------

@pytest.fixture
def compiled_spaces(monkeypatch):
    """The GPU candidate spaces, as the launchers see them on a GPU."""
    monkeypatch.setattr(runtime, "kernels_interpreted", lambda: False)


def test_candidate_spaces_are_pruned_and_lead_with_the_default(compiled_spaces, monkeypatch):
    from igc_triton.launch import configs

    wide = tuning.gemm_candidates(64, 64, 2, CPU)
    assert wide[0] is configs.GEMM_CONFIGS[0] and len(wide) >= 4
    narrow = tuning.gemm_candidates(16, 16, 2, CPU)
    assert narrow[0] is configs.GEMM_CONFIGS[2]
    assert all(c.kwargs["BLOCK_K"] == 16 and c.kwargs["BLOCK_N"] <= 32 for c in narrow)
    monkeypatch.setattr(tuning, "smem_bytes", lambda device: 40 * 1024)
    for cfg in tuning.gemm_candidates(64, 64, 4, CPU)[1:]:
        kw = cfg.kwargs
        assert (kw["BLOCK_M"] + kw["BLOCK_N"]) * kw["BLOCK_K"] * 4 * cfg.num_stages <= 40 * 1024
    for c_pad in (16, 64, 256):
        fused = tuning.fused_candidates(c_pad)
        assert fused[0].kwargs["BLOCK_P"] == configs.FUSED_CONFIGS[0].kwargs["BLOCK_P"]
        assert all(c.kwargs["BLOCK_N"] <= c_pad for c in fused)
        assert all(c.kwargs["BLOCK_P"] * c_pad <= 64 * 32 * c.num_warps for c in fused)
    assert len(tuning.fused_candidates(64)) > len(tuning.fused_candidates(256))
    for l_pad in (1, 2, 4, 8, 16):
        tc = tuning.fused_tc_candidates(l_pad, 64, 64)
        assert tc and all(c.kwargs["BLOCK_P"] * l_pad * c.kwargs["BLOCK_M"] <= 64 * 32 * c.num_warps for c in tc)
    assert len(tuning.fused_tc_candidates(2, 64, 64)) > len(tuning.fused_tc_candidates(16, 64, 64)) == 1
    narrow_wide = tuning.fused_wide_candidates(20)
    assert all(c.kwargs["BLOCK_N"] <= 32 for c in narrow_wide) and len(narrow_wide) >= 2
    assert all(c.kwargs["BLOCK_C"] <= 16 for c in tuning.fma_candidates(8, False)[1:])
    assert tuning.fma_candidates(8, True)[0] is configs.FMA_CONFIGS[1]
    for space in (wide, tuning.fma_candidates(256, False), tuning.fused_candidates(64)):
        names = [autotune.config_str(c) for c in space]
        assert len(names) == len(set(names))


def test_every_candidate_is_compiled_by_the_compile_check(compiled_spaces):
    from igc_triton.lab import compile_check
    compiled = {(v.kernel, v.config) for v in compile_check.variants()}
    spaces = {"grouped_conv2d_fwd_fma_kernel": tuning.fma_candidates(256, False) + tuning.fma_candidates(256, True),
              "grouped_conv2d_fwd_gemm_kernel": tuning.gemm_candidates(256, 256, 2, CPU),
              "igc_block_fwd_kernel": tuning.fused_candidates(64),
              "igc_block_fwd_wide_kernel": tuning.fused_wide_candidates(512),
              "igc_block_fwd_tc_kernel": [c for lp in (1, 2, 4, 8, 16) for c in tuning.fused_tc_candidates(lp, 64, 64)],
              "igc_block_nhwc_kernel": tuning.nhwc_candidates(128, 2, 32),
              "igc_block_nhwc_fma_kernel": [c for ch in (32, 48, 64, 80, 128, 256) for w in (8, 14, 32)
                                            for c in tuning.nhwc_fma_candidates(ch, w)],
              "grouped_conv2d_nhwc_kernel": [c for ch in (8, 16, 48, 64, 256, 1024) for w in (8, 14, 32)
                                             for c in tuning.nhwc_conv_candidates(ch, w)]}
    for kernel, space in spaces.items():
        for cfg in space:
            assert (kernel, compile_check._cfg_name(cfg)) in compiled, (kernel, cfg)


def test_interpreter_has_a_single_candidate_per_kernel():
    if not runtime.kernels_interpreted():
        pytest.skip("compiled kernels")
    assert len(tuning.fma_candidates(64, False)) == 1
    assert len(tuning.gemm_candidates(64, 64, 4, CPU)) == 1
    assert len(tuning.fused_candidates(64)) == 1


SECOND_PROCESS = textwrap.dedent("""
    import json, sys, torch, triton
    from igc_triton import functional
    from igc_triton.launch import autotune, tuning
    from igc_triton.launch import configs
    base = configs.INTERPRET_FMA
    small = triton.Config({**base.kwargs, "BLOCK_P": 64}, num_warps=4, num_stages=1)
    tuning.fma_candidates = lambda channels, channels_last: [base, small]

    def timer(fn):
        raise AssertionError("the second process benchmarked")
    autotune.TUNER.timer = timer
    torch.manual_seed(0)
    x, w = torch.randn(2, 4, 6, 6), torch.randn(8, 2, 3, 3)
    with autotune.TUNER.record() as seen:
        y = functional.grouped_conv2d(x, w, None, 1, 1, 1, 2)
    (kernel, key), (cfg, source) = next(iter(seen.items()))
    ok = torch.allclose(y, torch.nn.functional.conv2d(x, w, None, 1, 1, 1, 2), atol=1e-5)
    print(json.dumps({"kernel": kernel, "block_p": cfg.kwargs["BLOCK_P"], "source": source, "ok": ok}))
""")


def test_a_second_process_reuses_the_first_ones_tuning(cache, monkeypatch):
    """Real launcher, real file: this process tunes a grouped conv between two interpreter-sized
    configs (stubbed timer prefers the second); a new process finds it and never benchmarks."""
    if not runtime.kernels_interpreted():
        pytest.skip("uses interpreter-sized configs")
    from igc_triton.launch import configs
    base = configs.INTERPRET_FMA
    small = triton.Config({**base.kwargs, "BLOCK_P": 64}, num_warps=4, num_stages=1)
    monkeypatch.setattr(tuning, "fma_candidates", lambda channels, channels_last: [base, small])
    calls = []

    def timer(fn):
        out = fn()
        calls.append(out)
        return 1.0 if len(calls) == 2 else 2.0  # the second candidate is "faster"
    monkeypatch.setattr(autotune, "TUNER", Tuner(timer))
    torch.manual_seed(0)
    x, w = torch.randn(2, 4, 6, 6), torch.randn(8, 2, 3, 3)
    with autotune.TUNER.record() as seen:
        y = functional.grouped_conv2d(x, w, None, 1, 1, 1, 2)
    torch.testing.assert_close(y, F.conv2d(x, w, None, 1, 1, 1, 2), atol=1e-5, rtol=1e-5)
    [((kernel, key), (cfg, source))] = seen.items()
    assert (kernel, source, cfg.kwargs["BLOCK_P"]) == ("grouped_conv2d_fwd_fma", autotune.TUNED, 64)
    assert key == "cin=4 L=2 M=4 k=3x3 s=1x1 d=1x1 float32 nchw P<=128"
    assert f"{kernel}|{key}" in json.loads(cache.read_text())["entries"]

    env = {**os.environ, "TRITON_INTERPRET": "1"}
    proc = subprocess.run([sys.executable, "-c", SECOND_PROCESS], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got == {"kernel": "grouped_conv2d_fwd_fma", "block_p": 64, "source": autotune.USER_CACHE, "ok": True}


# --- igc-lab tune -------------------------------------------------------------------------------

TINY = {"description": "tiny", "dtypes": ["fp32"], "layouts": ["nchw"],
        # C % 8 != 0: the generic fused form (NCHW blocks an nhwc form takes run it on a copy).
        "layer": [{"name": "igc-12-12-4px-L6M2", "batch": 1, "cin": 12, "cout": 12, "hw": 4, "L": 6}],
        "network": [{"name": "plain-d5", "batch": 2, "input": [3, 4, 4],
                     "igc": {"builder": "plain_cifar", "args": {"depth": 5, "L": 4, "M": 2}}}]}


def test_tune_suite_tunes_every_kernel_and_ships_the_choices(cache, tmp_path, monkeypatch):
    if not runtime.kernels_interpreted():
        pytest.skip("uses interpreter-sized configs")
    from igc_triton.lab import suites, tune
    from igc_triton.launch import configs

    def two(cfg, key):  # the interpreter config and a half-size variant of it
        return lambda *a, **k: [cfg, triton.Config({**cfg.kwargs, key: cfg.kwargs[key] // 2}, num_warps=4,
                                                   num_stages=1)]
    monkeypatch.setattr(tuning, "fma_candidates", two(configs.INTERPRET_FMA, "BLOCK_P"))
    monkeypatch.setattr(tuning, "fused_candidates", two(tuning.fused_tile(configs.INTERPRET_FUSED, 16), "BLOCK_P"))
    monkeypatch.setattr(autotune, "TUNER", Tuner(lambda fn: (fn(), 1.0)[1]))
    lines = []
    chosen = tune.tune_suite(suites.parse("tiny", TINY), CPU, training=True, progress=lines.append)
    kernels = {k for k, _ in chosen}
    assert {"grouped_conv2d_fwd_fma", "igc_secondary_fwd", "igc_block_fwd", "grouped_conv2d_dgrad_fma",
            "grouped_conv2d_wgrad_fma"} <= kernels, kernels
    assert chosen[next(k for k in chosen if k[0] == "igc_block_fwd")][1] == autotune.TUNED
    assert len(lines) == 2 and lines[0].startswith("[1/2] igc-12-12-4px-L6M2 fp32 nchw:") and "tuned" in lines[0]
    assert "| igc_block_fwd | cin=12 L=6 M=2 k=3x3" in tune.table(chosen)

    shipped = tmp_path / "tuned" / "cpu.json"
    tune.ship(chosen, "cpu", shipped)
    entries = json.loads(shipped.read_text())["entries"]
    assert set(entries) == {f"{k}|{key}" for k, key in chosen}
    # A fresh install (empty user cache) gets the shipped choices without benchmarking.
    cache.unlink()
    monkeypatch.setattr(autotune, "shipped_path", lambda gpu: shipped)

    def no_timer(fn):
        raise AssertionError("benchmarked")
    monkeypatch.setattr(autotune, "TUNER", Tuner(no_timer))
    with autotune.TUNER.record() as seen:
        tune._layer_work(suites.parse("tiny", TINY).layers[0], "fp32", "nchw", CPU, training=False)
    assert {source for _, source in seen.values()} <= {autotune.SHIPPED, autotune.DEFAULT}
    assert autotune.SHIPPED in {source for _, source in seen.values()}
    # Every tuned kernel's sources are recorded; once a kernel's source changes, its shipped
    # entries are no longer used (they were tuned on other code), the others' still are.
    data = json.loads(shipped.read_text())
    assert set(data["sources"]) == kernels
    data["sources"]["igc_block_fwd"]["hash"] = "0" * 16
    shipped.write_text(json.dumps(data))
    left = autotune.read_entries(shipped, "cpu", check_versions=False)
    assert left and not any(k.startswith("igc_block_fwd|") for k in left)
    assert {k.partition("|")[0] for k in left} == kernels - {"igc_block_fwd"}


def test_shipped_tuning_files_match_the_kernel_sources():
    """Configs shipped in the package for a GPU (igc-lab tune --ship) were tuned on the kernels
    as they are: each tuned kernel's recorded sources hash equals the current one (a kernel
    change must be tuned again, or its entries shipped again without it)."""
    root = importlib.resources.files("igc_triton.tuned")
    for f in root.iterdir():
        if not f.name.endswith(".json") or f.name == autotune.MODEL_RANKING:
            continue
        data = json.loads(f.read_text())
        tuned = {k.partition("|")[0] for k in data["entries"]}
        assert tuned <= set(data.get("sources", {})), (f.name, tuned - set(data.get("sources", {})))
        assert not autotune.stale_kernels(data), (f.name, autotune.stale_kernels(data))


def test_every_tuned_kernel_name_has_its_source_file(device):
    """The names the launchers tune under, from running every op (forward, backward, each fused
    form), are all in tuning.KERNEL_SOURCES, and each maps to a kernel file that exists."""
    import igc_triton as it
    with autotune.TUNER.record() as seen:
        # NCHW blocks the nhwc forms take run them on a channels_last copy: the generic forms get
        # blocks those do not take (C % 8 != 0), and the tc form one-pixel images (a larger image
        # of Cin = 36, L = 2 runs the nhwc_pair form: nhwc_gemm, then the nhwc_fma secondary).
        for cin, L, M, layout, hw in [(12, 6, 2, "nchw", 5), (36, 2, 18, "nchw", 5), (36, 2, 18, "nchw", 1),
                                      (16, 8, 2, "channels_last", 5), (34, 17, 2, "nchw", 5),
                                      (32, 4, 8, "channels_last", 5)]:
            x = to_layout(torch.randn(2, cin, hw, hw, device=device), layout).requires_grad_()
            wp = torch.randn(L * M, cin // L, 3, 3, device=device, requires_grad=True)
            ws = torch.randn(L * M, L, 1, 1, device=device, requires_grad=True)
            it.igc_conv2d(x, wp, ws, L).sum().backward()
            with torch.no_grad():
                it.igc_block(x.detach(), wp.detach(), ws.detach(), L)
        it.grouped_conv2d(torch.randn(1, 32, 5, 5, device=device, requires_grad=True),
                          torch.randn(32, 16, 3, 3, device=device, requires_grad=True), groups=2).sum().backward()
    names = {k for k, _ in seen}
    assert {"igc_block_nhwc", "igc_block_nhwc_fma", "igc_block_fwd_tc", "grouped_conv2d_fwd_gemm",
            "grouped_conv2d_wgrad_fma", "igc_secondary_fwd_nhwc_fma", "grouped_conv2d_fwd_nhwc_gemm"} <= names, names
    assert names <= set(tuning.KERNEL_SOURCES), names - set(tuning.KERNEL_SOURCES)
    root = importlib.resources.files("igc_triton.kernels")
    assert all((root / f).is_file() for f in tuning.KERNEL_SOURCES.values())


def test_tune_cli_needs_a_gpu(capsys):
    from igc_triton import cli
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert cli.main(["tune", "--suite", "smoke"]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err


# --- the cost model's ranking: default config and first-call candidates ------------------------

D = triton.Config({"BLOCK": 128}, num_warps=4, num_stages=1)
E = triton.Config({"BLOCK": 256}, num_warps=8, num_stages=1)
FIVE = (A, B, C, D, E)


def write_ranking(path, entries, gpu="cpu", stale=False):
    configs = [autotune.config_to_dict(c) for c in FIVE]
    files = ["kern.py"]  # not a kernel source: hashed as missing, which it stays
    sources = {"kern": {"files": files, "hash": "0123456789abcdef" if stale else autotune.sources_fingerprint(files)}}
    path.write_text(json.dumps({"format": autotune.RANKING_FORMAT, "sources": sources, "configs": configs,
                                "gpus": {"test": {"cuda_names": [gpu], "entries": {
                                    k: [configs.index(autotune.config_to_dict(c)) for c in v]
                                    for k, v in entries.items()}}}}))
    return path


@pytest.fixture
def ranking(tmp_path, monkeypatch, cache):
    path = tmp_path / "model-ranking.json"
    monkeypatch.setattr(autotune, "ranking_path", lambda: path)
    return path


def test_first_call_benchmarks_only_the_models_top_three_default_first(ranking):
    write_ranking(ranking, {"kern|k1": [D, C, E, A, B]})
    timer, compiled = StubTimer({16: 3.0, 32: 0.5, 64: 2.0, 128: 2.5, 256: 1.0}), []
    tuner = Tuner(timer, precompile=lambda cfgs, run, device: compiled.append(list(cfgs)))
    with tuner.record() as seen:
        cfg = tuner.choose("kern", "k1", lambda: list(FIVE), run_ok, CPU)
    # B (0.5 ms) is fastest but not in the model's top three: the best of D, C, E wins.
    assert cfg is E and seen[("kern", "k1")][1] == autotune.TUNED
    assert timer.calls == 3 and compiled == [[D, C, E]]
    entry = json.loads(autotune.cache_path("cpu").read_text())["entries"]["kern|k1"]
    assert entry["benchmarked"] == 3 and entry["candidates"] == 5


def test_off_runs_the_models_first_choice_and_benchmarks_nothing(ranking, monkeypatch):
    write_ranking(ranking, {"kern|k1": [D, C, E, A, B]})
    monkeypatch.setenv(autotune.ENV_MODE, OFF)
    timer = StubTimer({16: 3.0, 32: 0.5, 64: 2.0, 128: 2.5, 256: 1.0})
    assert choose(Tuner(timer), candidates=FIVE) == (D, autotune.DEFAULT) and timer.calls == 0


def test_full_benchmarks_every_candidate(ranking, monkeypatch):
    write_ranking(ranking, {"kern|k1": [D, C, E, A, B]})
    monkeypatch.setenv(autotune.ENV_MODE, FULL)
    timer = StubTimer({16: 3.0, 32: 0.5, 64: 2.0, 128: 2.5, 256: 1.0})
    assert choose(Tuner(timer), candidates=FIVE) == (B, autotune.TUNED) and timer.calls == 5


def test_a_ranking_read_from_one_file_never_stands_in_for_another(tmp_path, monkeypatch):
    """The tuner keeps the rankings it read per GPU and file: one a test pointed it to must not
    decide the defaults once the shipped file is back (it did, for later tests in the run)."""
    first = write_ranking(tmp_path / "first.json", {"kern|k1": [D, C]})
    second = write_ranking(tmp_path / "second.json", {"kern|k1": [E, A]})
    tuner = Tuner(StubTimer({}))
    for path, best in ((first, D), (second, E), (first, D)):
        monkeypatch.setattr(autotune, "ranking_path", lambda path=path: path)
        assert tuner.default_config("kern", "k1", list(FIVE), "cpu") is best


def test_without_a_ranking_the_heuristic_order_stands(ranking):
    timer = StubTimer({16: 3.0, 32: 0.5, 64: 2.0, 128: 2.5, 256: 1.0})
    assert choose(Tuner(timer), candidates=FIVE) == (B, autotune.TUNED) and timer.calls == 3  # A, B, C
    # A ranking made from other kernel sources, or for another GPU, is not used.
    for kwargs in ({"stale": True}, {"gpu": "NVIDIA H100"}):
        write_ranking(ranking, {"kern|k1": [D, C, E, A, B]}, **kwargs)
        assert Tuner(StubTimer()).default_config("kern", "k1", list(FIVE), "cpu") is A


def test_an_unranked_problem_takes_its_nearest_ranked_neighbour():
    entries = {"k|cin=48 L=24 M=2 k=3x3 s=1x1 d=1x1 bfloat16 nchw P<=131072": ["near"],
               "k|cin=64 L=8 M=8 k=3x3 s=1x1 d=1x1 bfloat16 nchw P<=131072": ["far"],
               "k|cin=48 L=24 M=2 k=3x3 s=1x1 d=1x1 float32 nchw P<=131072": ["other dtype"],
               "other|cin=48 L=24 M=2 k=3x3 s=1x1 d=1x1 bfloat16 nchw P<=65536": ["other kernel"]}
    key = "cin=48 L=24 M=2 k=3x3 s=1x1 d=1x1 bfloat16 nchw P<=65536"
    assert autotune.nearest_ranking(entries, "k", key) == ["near"]
    assert autotune.nearest_ranking(entries, "k", key.replace("nchw", "nhwc")) is None
    assert autotune.nearest_ranking(entries, "other", key) == ["other kernel"]
    # fp16 takes bf16's ranking (same element size) when it has none of its own.
    assert autotune.nearest_ranking(entries, "k", key.replace("bfloat16", "float16")) == ["near"]


def test_the_default_is_the_cost_models_first_choice(ranking, compiled_spaces):
    """The real model: every candidate of a fused-block problem compiled for sm_90 and traced
    (``igc-lab inspect --config all``), ranked and shipped; the tuner's default for that problem
    on an H100 is the model's fastest."""
    import igc_triton
    import igc_triton.lab.inspect as ii
    from igc_triton.lab.inspect import devices
    from igc_triton.lab.inspect import ranking as model_ranking
    # C % 8 != 0 and L < 16: the generic narrow form (not an nhwc form on a copy)
    x = torch.empty(2, 44, 8, 8)
    args = (x, torch.empty(44, 4, 3, 3), torch.empty(44, 11, 1, 1), 11)
    launches, floor = ii.capture_call(igc_triton.igc_block, *args, config=ii.ALL, gpu="h100")
    result = ii.analyze_calls([("block", launches, floor)], "h100")
    model_ranking.ship(result, ranking)
    h100 = devices.get("h100")
    [(problem, ranked)] = model_ranking.rank(result, h100).items()
    assert autotune.read_ranking(h100.cuda_names[0], ranking)[problem] == [r["config"] for r in ranked][
        :model_ranking.KEEP]
    assert len(ranked) == len(launches) > 1 and ranked == sorted(ranked, key=lambda r: r["us"])
    kernel, key = problem.split("|")
    default = Tuner().default_config(kernel, key, tuning.fused_candidates(64), h100.cuda_names[0])
    assert autotune.config_to_dict(default) == ranked[0]["config"]


def test_shipped_ranking_is_well_formed():
    """The package's ranking: readable, every config valid, every problem a ranked list (whether
    it is current for these kernel sources is checked where it is used: stale, it is ignored)."""
    path = autotune.ranking_path()
    if not path.is_file():
        pytest.skip("no ranking shipped")
    data = json.loads(path.read_text())
    assert data["format"] == autotune.RANKING_FORMAT and data["gpus"] and data["triton"]
    for cfg in data["configs"]:
        autotune.config_from_dict(cfg)
    for gpu in data["gpus"].values():
        assert gpu["cuda_names"] and gpu["entries"]
        for problem, ranked in gpu["entries"].items():
            assert problem.partition("|")[0] in data["sources"]
            assert "|" in problem and ranked and len(set(ranked)) == len(ranked)
            assert all(0 <= i < len(data["configs"]) for i in ranked)
    current = [k for k, src in data["sources"].items() if autotune.sources_fingerprint(src["files"]) == src["hash"]]
    h100 = data["gpus"]["h100"]["cuda_names"][0]
    assert {p.partition("|")[0] for p in autotune.read_ranking(h100)} == set(current)
    assert not autotune.read_ranking("cpu")


def test_a_kernel_file_change_drops_only_that_kernels_ranking(ranking, tmp_path, monkeypatch):
    """Each kernel's entries stand for its own sources (kernel_files: its file and the kernel
    files it imports): a new or edited kernel file elsewhere leaves them valid."""
    assert autotune.kernel_files("igc_block_fwd.py") == ["grouped_conv2d_fwd.py", "igc_block_fwd.py"]
    assert autotune.kernel_files("igc_secondary_fwd.py") == ["igc_secondary_fwd.py"]
    configs = [autotune.config_to_dict(c) for c in FIVE]
    fp = autotune.sources_fingerprint
    sources = {"a": {"files": ["igc_secondary_fwd.py"], "hash": fp(["igc_secondary_fwd.py"])},
               "b": {"files": ["grouped_conv2d_fwd.py"], "hash": "0123456789abcdef"}}
    ranking.write_text(json.dumps({"format": autotune.RANKING_FORMAT, "sources": sources, "configs": configs,
                                   "gpus": {"t": {"cuda_names": ["cpu"], "entries": {"a|k": [1], "b|k": [2]}}}}))
    assert autotune.read_ranking("cpu") == {"a|k": [configs[1]]}


def test_the_models_first_choice_is_scored_against_every_timed_candidate(ranking, tmp_path):
    """inspect --validate with a tuning cache whose candidates were all timed (igc-lab tune
    --force): the measured time of the model's first choice against the fastest."""
    from igc_triton.lab.inspect import validate
    write_ranking(ranking, {"kern|k1": [D, C, E, A, B], "kern|k2": [B, A]})

    def timed(*pairs):
        return [{"config": autotune.config_to_dict(c), "ms": ms} for c, ms in pairs]
    cache = tmp_path / validate.TIMED
    cache.write_text(json.dumps({"entries": {
        "kern|k1": {"config": autotune.config_to_dict(A), "ms": 1.0, "timed": timed((A, 1.0), (C, 3.0), (D, 2.0))},
        "kern|k2": {"config": autotune.config_to_dict(B), "ms": 0.5, "timed": timed((A, 0.9), (B, 0.5))},
        "kern|k3": {"config": autotune.config_to_dict(A), "ms": 1.0, "timed": timed((A, 1.0))},  # one: nothing to rank
        "other|k1": {"config": autotune.config_to_dict(A), "ms": 1.0, "timed": timed((A, 1.0), (B, 2.0))}}}))
    rows = validate.first_choice_regret(cache, "cpu", ranking)
    # k1: the model's first choice D is timed (2.0 ms, second of three); k2: B, the fastest.
    assert rows == [("kern|k1", 3, 2.0, 1.0, 2), ("kern|k2", 2, 0.5, 0.5, 1)]
    text = validate.render_regret(rows)
    assert "fastest chosen in 1 of 2; median x2.00 the fastest, worst x2.00" in text
