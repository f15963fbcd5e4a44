"""The backend choice's interpreter set-up: a runtime loop bound under Triton's interpreter."""

import warnings

import pytest
import torch

from igc_triton import runtime

pytestmark = pytest.mark.skipif(not runtime.kernels_interpreted(), reason="kernels compiled: no interpreter here")


def test_a_runtime_loop_bound_is_an_index_under_numpy_that_refuses_one_element_arrays():
    """NumPy 2.5 (the GPU image's) raises where 2.4 warns: turning the warning into an error here
    makes Triton 3.6's interpreter fail this kernel without ``runtime.fix_interpreter_index``."""
    import triton
    import triton.language as tl
    from triton.runtime import interpreter

    @triton.jit
    def row_sums(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
        acc = tl.zeros((BLOCK,), tl.float32)
        for i in range(0, n, BLOCK):
            acc += tl.load(x_ptr + i + tl.arange(0, BLOCK), mask=i + tl.arange(0, BLOCK) < n, other=0.0)
        tl.store(out_ptr + tl.arange(0, BLOCK), acc)

    assert getattr(interpreter._patch_lang_tensor, "igc_index_fix", False)
    x, out = torch.arange(40, dtype=torch.float32), torch.empty(8)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Conversion of an array")
        row_sums[(1,)](x, out, 40, BLOCK=8)
    torch.testing.assert_close(out, x.view(5, 8).sum(0))
