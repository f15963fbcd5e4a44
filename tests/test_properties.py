"""Property-based check: grouped_conv2d on random valid configurations vs the float64 reference.

Hypothesis draws shape, groups, kernel (not always square), stride, padding (ints, pairs,
"same", "valid"), dilation, layout, dtype and bias. At least 200 configurations per run on a
CPU (the kernels run under the interpreter, so sizes stay tiny); 1000 on a GPU.
"""

import zlib

import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from igc_triton import grouped_conv2d
from igc_triton.testing import LAYOUTS, assert_close, to_layout

ON_GPU = torch.cuda.is_available()
EXAMPLES = 1000 if ON_GPU else 200


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
                dtype=draw(st.sampled_from([torch.float32, torch.float16] + ([torch.bfloat16] if ON_GPU else []))))


def test_random_configurations_match_fp64_reference():
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
        assert_close(out, ref, dt)

    check()
    assert len(seen) >= EXAMPLES, f"only {len(seen)} configurations were drawn"
    # The draw really spans both kernels and all layouts.
    assert {c["cin"] // c["groups"] >= 16 for c in seen} == {True, False}
    assert {c["layout"] for c in seen} == set(LAYOUTS)
