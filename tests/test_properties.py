"""Property-based check: grouped_conv2d on random valid configurations vs the float64 reference.

Hypothesis draws shape, groups, kernel (not always square), stride, padding (ints, pairs,
"same", "valid"), dilation, layout, dtype and bias. At least 200 configurations per run on a
CPU (the kernels run under the interpreter, so sizes stay tiny); 1000 on a GPU.
"""

import zlib

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from igc_triton import grouped_conv2d
from igc_triton.testing import LAYOUTS, assert_close, to_layout

ON_GPU = torch.cuda.is_available()
# Compiled, each example with new compile-time values costs a compile (about a second): fewer there.
EXAMPLES = 150 if ON_GPU else 200
DTYPES = [torch.float32, torch.float16] + ([torch.bfloat16] if ON_GPU else [])  # the interpreter has no bf16


def _derandomized(examples):
    """Hypothesis settings drawing the same ``examples`` every run, so that the coverage a test
    asserts cannot flake."""
    return settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _recorded_kernels(monkeypatch) -> list:
    """The names of the tuned kernels launched from now on, in order."""
    from igc_triton.launch import tuning
    kernels = []
    real = tuning.choose
    monkeypatch.setattr(tuning, "choose", lambda kernel, *a: kernels.append(kernel) or real(kernel, *a))
    return kernels


def _epilogue(cfg, rnd, y64, residual_layout):
    """An IGC block's epilogue arguments as ``cfg`` draws them (folded BN if ``affine``, a residual
    in ``residual_layout`` unless None, ``relu``) and the float64 reference after it."""
    from igc_triton import ops
    C = y64.shape[1]
    extra = {"relu": cfg["relu"]}
    if cfg["affine"]:
        extra["scale"], extra["shift"] = rnd(C).abs() + 0.5, rnd(C)
    if residual_layout:
        extra["residual"] = to_layout(rnd(*y64.shape), residual_layout)
    ref = ops.reference_block_epilogue(y64, *(None if extra.get(k) is None else extra[k].double()
                                              for k in ("scale", "shift", "residual")), cfg["relu"])
    return extra, ref


@st.composite
def conv_configs(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3, 4, 8]))
    # Mostly small groups (FMA kernel); sometimes >= 16 channels per group (tensor-core GEMM).
    cin_g = draw(st.one_of(st.integers(1, 6), st.integers(1, 6), st.integers(16, 20)))
    cout_g = draw(st.integers(1, 4))
    big = cin_g >= 16
    kh = draw(st.integers(1, 3 if big else 5))
    kw = draw(st.sampled_from([kh, kh, draw(st.integers(1, 3 if big else 5))]))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = draw(st.one_of(st.integers(0, 2), st.tuples(st.integers(0, 2), st.integers(0, 2)),
                             st.just("valid"), st.just("same")))
    if padding == "same":
        stride = (1, 1)
    pad = (0, 0) if isinstance(padding, str) else (padding, padding) if isinstance(padding, int) else padding
    # Input at least as large as the dilated kernel minus padding, so the output is non-empty.
    h = draw(st.integers(max(1, dilation[0] * (kh - 1) + 1 - 2 * pad[0]), 10))
    w = draw(st.integers(max(1, dilation[1] * (kw - 1) + 1 - 2 * pad[1]), 10))
    return dict(n=draw(st.integers(1, 2)), cin=cin_g * groups, cout=cout_g * groups, h=h, w=w, k=(kh, kw),
                stride=stride, padding=padding, dilation=dilation, groups=groups,
                layout=draw(st.sampled_from(LAYOUTS)), bias=draw(st.booleans()),
                dtype=draw(st.sampled_from(DTYPES)))


@pytest.mark.slow
def test_random_configurations_match_fp64_reference(monkeypatch):
    device = torch.device("cuda" if ON_GPU else "cpu")
    seen = []

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(conv_configs())
    def check(cfg):
        seen.append(cfg)
        # Inputs drawn from a generator seeded by the configuration, so that Hypothesis replays
        # an example with the same numbers; rounded to the tested dtype before the float64
        # reference is computed from them, so that the comparison measures the kernel's error,
        # not the inputs' rounding (which a small, cancelling output would magnify).
        dt = cfg["dtype"]
        g = torch.Generator(device=device).manual_seed(zlib.crc32(repr(sorted(cfg.items())).encode()))

        def rnd(*shape):
            return torch.randn(*shape, generator=g, dtype=torch.float64, device=device).to(dt)
        x = rnd(cfg["n"], cfg["cin"], cfg["h"], cfg["w"])
        wt = rnd(cfg["cout"], cfg["cin"] // cfg["groups"], *cfg["k"])
        b = rnd(cfg["cout"]) if cfg["bias"] else None
        geometry = dict(stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"], groups=cfg["groups"])
        ref = F.conv2d(x.double(), wt.double(), None if b is None else b.double(), **geometry)
        out = grouped_conv2d(to_layout(x, cfg["layout"]), wt, b, **geometry)
        assert_close(out, ref, dt, k=cfg["cin"] // cfg["groups"] * cfg["k"][0] * cfg["k"][1])

    kernels = _recorded_kernels(monkeypatch)
    check()
    assert len(seen) >= EXAMPLES, f"only {len(seen)} configurations were drawn"
    # The draw really spans both generic kernels, the channels_last ones and all layouts.
    assert {c["cin"] // c["groups"] >= 16 for c in seen} == {True, False}
    assert {c["layout"] for c in seen} == set(LAYOUTS)
    assert {"grouped_conv2d_fwd_fma", "grouped_conv2d_fwd_gemm", "grouped_conv2d_fwd_nhwc_gemm"} <= set(kernels)


@st.composite
def nhwc_conv_configs(draw):
    """Grouped convs the nhwc regime takes: channels_last, groups of M = 1 or 2 channels in and
    out, C a multiple of 8 (up to 64 here), any kernel, stride, padding, dilation, bias."""
    M = draw(st.sampled_from([1, 2]))
    C = draw(st.sampled_from([8, 16, 24, 48, 64]))
    kh = draw(st.integers(1, 5))
    kw = draw(st.sampled_from([kh, kh, draw(st.integers(1, 5))]))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pad = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    h = draw(st.integers(max(1, dilation[0] * (kh - 1) + 1 - 2 * pad[0]), 9))
    w = draw(st.integers(max(1, dilation[1] * (kw - 1) + 1 - 2 * pad[1]), 9))
    return dict(n=draw(st.integers(1, 2)), C=C, M=M, h=h, w=w, k=(kh, kw), stride=stride, padding=pad,
                dilation=dilation, bias=draw(st.booleans()),
                dtype=draw(st.sampled_from(DTYPES)))


NHWC_CONV_EXAMPLES = 60 if ON_GPU else 40


@pytest.mark.slow
def test_random_nhwc_convs_match_fp64_reference(monkeypatch):
    device = torch.device("cuda" if ON_GPU else "cpu")
    kernels, seen = _recorded_kernels(monkeypatch), []

    @_derandomized(NHWC_CONV_EXAMPLES)
    @given(nhwc_conv_configs())
    def check(cfg):
        seen.append(cfg)
        dt, C = cfg["dtype"], cfg["C"]
        g = torch.Generator(device=device).manual_seed(zlib.crc32(repr(sorted(cfg.items())).encode()))

        def rnd(*shape):
            return torch.randn(*shape, generator=g, dtype=torch.float64, device=device).to(dt)
        x, wt = rnd(cfg["n"], C, cfg["h"], cfg["w"]), rnd(C, cfg["M"], *cfg["k"])
        b = rnd(C) if cfg["bias"] else None
        geometry = dict(stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"], groups=C // cfg["M"])
        ref = F.conv2d(x.double(), wt.double(), None if b is None else b.double(), **geometry)
        kernels.clear()
        out = grouped_conv2d(x.contiguous(memory_format=torch.channels_last), wt, b, **geometry)
        # A 1x1 image is NCHW-contiguous as well: the generic kernel takes it.
        assert kernels == (["grouped_conv2d_fwd_nhwc"] if cfg["h"] * cfg["w"] > 1 else ["grouped_conv2d_fwd_fma"])
        assert_close(out, ref, dt, k=cfg["M"] * cfg["k"][0] * cfg["k"][1])

    check()
    assert len(seen) >= NHWC_CONV_EXAMPLES
    assert {c["M"] for c in seen} == {1, 2} and {c["stride"] != (1, 1) for c in seen} == {True, False}
    assert any(c["k"][0] != c["k"][1] for c in seen) and any(c["C"] >= 48 for c in seen)


@st.composite
def block_configs(draw):
    """IGC blocks the nhwc fused kernels take: channels_last, C -> C, 64 % M == 0, C % 8 == 0,
    C <= 64 here (M = 1, 2 with C >= 16: the nhwc_fma kernel; else the nhwc kernel)."""
    M = draw(st.sampled_from([1, 2, 2, 4, 8, 16, 32, 64]))
    step = 16 if M == 1 else max(1, 8 // M)  # C = L * M a multiple of 8 (M = 1: at least 16)
    L = step * draw(st.integers(1, 64 // M // step))
    k = draw(st.sampled_from([1, 3, 3, 5]))
    dilation = draw(st.integers(1, 2))
    padding = draw(st.integers(0, 2))
    span = dilation * (k - 1) + 1
    h = draw(st.integers(max(1, span - 2 * padding), 9))
    w = draw(st.integers(max(1, span - 2 * padding), 9))
    return dict(n=draw(st.integers(1, 2)), L=L, M=M, h=h, w=w, k=k, stride=draw(st.integers(1, 2)),
                padding=padding, dilation=dilation, affine=draw(st.booleans()), residual=draw(st.booleans()),
                relu=draw(st.booleans()),
                dtype=draw(st.sampled_from(DTYPES)))


BLOCK_EXAMPLES = 60 if ON_GPU else 40


@pytest.mark.slow
def test_random_nhwc_blocks_match_fp64_reference(monkeypatch):
    from igc_triton import igc_block, reference
    from igc_triton.launch import launchers
    device = torch.device("cuda" if ON_GPU else "cpu")
    kernels, seen = _recorded_kernels(monkeypatch), []

    @_derandomized(BLOCK_EXAMPLES)
    @given(block_configs())
    def check(cfg):
        seen.append(cfg)
        dt, C = cfg["dtype"], cfg["L"] * cfg["M"]
        g = torch.Generator(device=device).manual_seed(zlib.crc32(repr(sorted(cfg.items())).encode()))

        def rnd(*shape):
            return torch.randn(*shape, generator=g, dtype=torch.float64, device=device).to(dt)
        x, wp, ws = rnd(cfg["n"], C, cfg["h"], cfg["w"]), rnd(C, cfg["M"], cfg["k"], cfg["k"]), rnd(C, cfg["L"], 1, 1)
        geometry = (cfg["stride"], cfg["padding"], cfg["dilation"])
        y64 = reference.igc_conv2d(x.double(), wp.double(), ws.double(), cfg["L"], *geometry)
        extra, ref = _epilogue(cfg, rnd, y64, "channels_last" if cfg["residual"] else None)
        kernels.clear()
        out = igc_block(x.contiguous(memory_format=torch.channels_last), wp, ws, cfg["L"], *geometry, **extra)
        # A 1x1 image is NCHW-contiguous as well: the layout-free fused form for its partitions takes it.
        form = launchers.fused_block_form(C, C, cfg["L"], dt, channels_last=cfg["h"] * cfg["w"] > 1)
        assert form in (launchers.NHWC, launchers.NHWC_FMA) or cfg["h"] * cfg["w"] == 1, cfg
        assert kernels == ["igc_block_fwd" + ("" if form == launchers.NARROW else f"_{form}")
                           if form not in (launchers.NHWC, launchers.NHWC_FMA) else f"igc_block_{form}"], kernels
        forms.append(form)
        assert_close(out, ref, dt, k=cfg["M"] * cfg["k"] ** 2 + cfg["L"])

    forms = []
    check()
    assert len(seen) >= BLOCK_EXAMPLES
    # M = 32 and 64 may be drawn too; test_fused.NHWC_CASES keeps them in any case.
    assert {c["M"] for c in seen} >= {1, 2, 4, 8, 16} and {c["k"] for c in seen} == {1, 3, 5}
    assert {launchers.NHWC, launchers.NHWC_FMA} <= set(forms)


@st.composite
def pair_block_configs(draw):
    """IGC blocks the nhwc_pair form takes: channels_last, L >= 16, M any (the secondary's
    positions in pieces of 1-8 channels), groups of 1 to 32 input channels (the primary's nhwc
    regime, or the nhwc_gemm one with block-diagonal super-groups), transition blocks (Cin != C,
    stride 2) included, C past the one-kernel nhwc forms (over 256, or not a multiple of 8); and
    L < 16 with groups of 16 or 24 input channels (the nhwc_gemm primary, the CUDA-core secondary)."""
    L = draw(st.sampled_from([136, 16, 17, 24, 3, 4, 8]))
    M = 2 if L == 136 else draw(st.sampled_from([1, 2, 3, 4, 8, 12, 16]))
    # C = 272 with groups of 2 channels in and out: the primary in the nhwc regime's channel pairs.
    if L < 16:
        cin_g = draw(st.sampled_from([16, 24]))
    else:
        cin_g = 2 if L == 136 else draw(st.sampled_from([1, 2, 3, 4, 16, M]))
    k = draw(st.sampled_from([1, 3, 3]))
    padding = draw(st.integers(0, 1))
    h = draw(st.integers(max(1, k - 2 * padding), 6))
    w = draw(st.integers(max(1, k - 2 * padding), 6))
    return dict(n=draw(st.integers(1, 2)), L=L, M=M, cin=L * cin_g, h=h, w=w, k=k, stride=draw(st.integers(1, 2)),
                padding=padding, affine=draw(st.booleans()), residual=draw(st.sampled_from([None, "nchw",
                                                                                           "channels_last"])),
                relu=draw(st.booleans()),
                dtype=draw(st.sampled_from(DTYPES)))


PAIR_EXAMPLES = 40 if ON_GPU else 30


@pytest.mark.slow
def test_random_nhwc_pair_blocks_match_fp64_reference(monkeypatch):
    from igc_triton import igc_block, reference
    from igc_triton.launch import launchers
    device = torch.device("cuda" if ON_GPU else "cpu")
    kernels, seen = _recorded_kernels(monkeypatch), []

    @_derandomized(PAIR_EXAMPLES)
    @given(pair_block_configs())
    def check(cfg):
        dt, L, C, cin = cfg["dtype"], cfg["L"], cfg["L"] * cfg["M"], cfg["cin"]
        form = launchers.fused_block_form(cin, C, L, dt, channels_last=cfg["h"] * cfg["w"] > 1)
        if form != launchers.NHWC_PAIR:  # a one-kernel nhwc form's block, or a 1x1 image
            return
        seen.append(cfg)
        g = torch.Generator(device=device).manual_seed(zlib.crc32(repr(sorted(cfg.items())).encode()))

        def rnd(*shape):
            return torch.randn(*shape, generator=g, dtype=torch.float64, device=device).to(dt)
        x, wp, ws = rnd(cfg["n"], cin, cfg["h"], cfg["w"]), rnd(C, cin // L, cfg["k"], cfg["k"]), rnd(C, L, 1, 1)
        geometry = (cfg["stride"], cfg["padding"])
        y64 = reference.igc_conv2d(x.double(), wp.double(), ws.double(), L, *geometry)
        extra, ref = _epilogue(cfg, rnd, y64, cfg["residual"])
        kernels.clear()
        out = igc_block(x.contiguous(memory_format=torch.channels_last), wp, ws, L, *geometry, **extra)
        secondary = "igc_secondary_fwd_nhwc" if L >= 16 else "igc_secondary_fwd_nhwc_fma"
        assert len(kernels) == 2 and kernels[0] in ("grouped_conv2d_fwd_nhwc", "grouped_conv2d_fwd_nhwc_gemm") \
            and kernels[1] == secondary, kernels
        primaries.append(kernels[0])
        secondaries.append(secondary)
        assert out.is_contiguous(memory_format=torch.channels_last)
        assert_close(out, ref, dt, k=cin // L * cfg["k"] ** 2 + L)

    primaries, secondaries = [], []
    check()
    assert len(seen) >= PAIR_EXAMPLES // 2, len(seen)
    assert set(primaries) == {"grouped_conv2d_fwd_nhwc", "grouped_conv2d_fwd_nhwc_gemm"}
    assert set(secondaries) == {"igc_secondary_fwd_nhwc", "igc_secondary_fwd_nhwc_fma"}
    assert {c["M"] & (c["M"] - 1) == 0 for c in seen} == {True, False} and {c["stride"] for c in seen} == {1, 2}
    assert any(c["cin"] != c["L"] * c["M"] for c in seen)
