"""Every kernel, in every config the launchers can pick, compiles for sm_90 (no GPU needed)."""

import os
import subprocess
import sys

import pytest

from igc_triton.lab import compile_check


@pytest.mark.slow
def test_every_kernel_config_compiles_for_sm90(request):
    # Started in the background when collection ended (conftest.py); this test runs last.
    # Under pytest-xdist it starts here, on half the cores.
    proc = getattr(request.config, "compile_check", None)
    if proc is None:
        # conftest is not importable by name under --import-mode=importlib: take its plugin.
        conftest = next(p for p in request.config.pluginmanager.get_plugins() if hasattr(p, "start_compile_check"))
        proc = conftest.start_compile_check(jobs=max(1, os.cpu_count() // 2))
    out, _ = proc.communicate(timeout=1200)
    n = len(compile_check.variants())
    assert proc.returncode == 0, out[-8000:]
    assert f"{n}/{n} kernel variants compiled for sm_90" in out


def test_variants_cover_every_config_and_kernel():
    from igc_triton.launch import configs, tuning
    vs = compile_check.variants()
    spaces = [("grouped_conv2d_fwd_fma_kernel", configs.FMA_CONFIGS, False),
              ("grouped_conv2d_fwd_gemm_kernel", configs.GEMM_CONFIGS, True),
              ("igc_secondary_fwd_kernel", configs.FMA_CONFIGS, False),
              ("grouped_conv2d_dgrad_fma_kernel", configs.DGRAD_FMA_CONFIGS, False),
              ("grouped_conv2d_dgrad_gemm_kernel", configs.DGRAD_GEMM_CONFIGS, True),
              ("grouped_conv2d_wgrad_fma_kernel", configs.WGRAD_FMA_CONFIGS, False),
              ("grouped_conv2d_wgrad_gemm_kernel", configs.WGRAD_GEMM_CONFIGS, True),
              ("channel_sum_kernel", configs.REDUCE_FMA_CONFIGS, False),
              ("igc_secondary_wgrad_kernel", configs.REDUCE_FMA_CONFIGS, False),
              ("igc_block_fwd_kernel", configs.FUSED_CONFIGS, True),
              ("igc_block_fwd_wide_kernel", configs.FUSED_WIDE_CONFIGS, True),
              ("igc_block_fwd_tc_kernel", configs.FUSED_TC_CONFIGS, True),
              ("igc_block_nhwc_kernel", configs.NHWC_CONFIGS, True),
              ("igc_block_nhwc_fma_kernel", configs.NHWC_FMA_CONFIGS, True),
              ("grouped_conv2d_nhwc_kernel", configs.NHWC_CONV_CONFIGS, False),
              ("igc_secondary_nhwc_kernel", configs.NHWC_SECONDARY_CONFIGS, True),
              ("grouped_conv2d_nhwc_gemm_kernel", configs.NHWC_GEMM_CONFIGS, True),
              ("igc_secondary_nhwc_fma_kernel", configs.NHWC_FMA_SECONDARY_CONFIGS, True)]
    for kernel, space, _ in spaces:
        if kernel == "grouped_conv2d_nhwc_kernel":  # compiled as the launcher adapts it, C = 48 first
            space = tuning.nhwc_conv_space(48, 32)
        if kernel == "igc_secondary_nhwc_kernel":  # in the kernel's per-position tiles, at M = 2, L = 200
            space = [tuning.nhwc_secondary_tile(c, 200, 2) for c in space]
        if kernel == "igc_secondary_nhwc_fma_kernel":  # as the launcher adapts it at M = 64
            space = [tuning.nhwc_fma_secondary_tile(c, 64) for c in space]
        for i, cfg in enumerate(space):
            dtypes = {v.dtype for v in vs if v.kernel == kernel and v.config == compile_check._cfg_name(cfg)}
            # Every config in fp16 (bf16 lowers the same way), the default in every dtype.
            assert dtypes >= ({"fp32", "fp16", "bf16"} if i == 0 else {"fp16"}), (kernel, cfg)
    assert {v.kernel for v in vs} == {k for k, _, _ in spaces} | {"igc_block_nhwc_fma_weights_kernel",
                                                                   "grouped_conv2d_nhwc_weights_kernel",
                                                                   "grouped_conv2d_nhwc_gemm_weights_kernel",
                                                                   "igc_secondary_nhwc_weights_kernel",
                                                                   "l2_read_kernel"}
    # Its primary weights are fp32 whatever the activations' dtype: compiled so.
    assert all(dict(v.pointer_dtypes).get("wt_ptr") == "fp32" for v in vs
               if v.kernel in ("igc_block_nhwc_fma_kernel", "grouped_conv2d_nhwc_kernel"))


BAD_VARIANT = """
from igc_triton.lab import compile_check
good = next(v for v in compile_check.variants() if v.kernel == "grouped_conv2d_fwd_gemm_kernel")
bad = compile_check.Variant(good.kernel, "BLOCK_K=8", "fp16",
                            tuple((k, 8 if k == "BLOCK_K" else v) for k, v in good.constexprs),
                            good.num_warps, good.num_stages)
print(compile_check.compile_variant(bad)[1])
"""


@pytest.mark.skipif(sys.platform != "linux", reason="Triton's bundled ptxas is Linux-only")
def test_compile_failure_is_reported():
    """A tl.dot with K = 8 is what the interpreter accepts and sm_90 must not: the check says so.
    (In a process without TRITON_INTERPRET, as the check itself runs: the kernels' @triton.jit
    helpers are interpreter objects in this one.)"""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, "-c", BAD_VARIANT], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "BLOCK_K >= 16" in proc.stdout, proc.stdout
