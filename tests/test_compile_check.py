"""Every kernel, in every config the launchers can pick, compiles for sm_90 (no GPU needed)."""

import os
import subprocess
import sys

import pytest

from igc_triton import compile_check


def test_every_kernel_config_compiles_for_sm90():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, "-m", "igc_triton.compile_check", "--jobs", "2"], env=env,
                          capture_output=True, text=True, timeout=900)
    n = len(compile_check.variants())
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert f"{n}/{n} kernel variants compiled for sm_90" in proc.stdout


def test_variants_cover_every_config_and_kernel():
    from igc_triton.kernels import configs
    vs = compile_check.variants()
    for kernel, space in [("grouped_conv2d_fwd_fma_kernel", configs.FMA_CONFIGS),
                          ("grouped_conv2d_fwd_gemm_kernel", configs.GEMM_CONFIGS),
                          ("igc_secondary_fwd_kernel", configs.FMA_CONFIGS)]:
        for cfg in space:
            dtypes = {v.dtype for v in vs if v.kernel == kernel and v.config == compile_check._cfg_name(cfg)}
            assert dtypes >= {"fp32", "fp16", "bf16"}, (kernel, cfg)


@pytest.mark.skipif(sys.platform != "linux", reason="Triton's bundled ptxas is Linux-only")
def test_compile_failure_is_reported():
    """A tl.dot with K = 8 is what the interpreter accepts and sm_90 must not: the check says so."""
    good = next(v for v in compile_check.variants() if v.kernel == "grouped_conv2d_fwd_gemm_kernel")
    bad = compile_check.Variant(good.kernel, "BLOCK_K=8", "fp16",
                                tuple((k, 8 if k == "BLOCK_K" else v) for k, v in good.constexprs),
                                good.num_warps, good.num_stages)
    _, err = compile_check.compile_variant(bad)
    assert err is not None and "BLOCK_K >= 16" in err, err
