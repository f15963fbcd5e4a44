"""Which backend runs an op on a given tensor: compiled Triton, the Triton interpreter, or PyTorch.

- CUDA tensor: the compiled Triton kernels.
- CPU tensor with ``TRITON_INTERPRET=1`` set before the kernels were first used: the same
  kernels under Triton's interpreter (slow; meant for tests on machines without a GPU).
- CPU tensor otherwise, or Triton not installed: the pure-PyTorch reference.

Triton decides interpreter-or-compiler when a kernel is decorated, i.e. when its module is
imported, and (Triton 3.9) for its own ``@jit`` library functions (``tl.zeros``, ``tl.cdiv``)
when triton itself is imported. The launchers import the kernel modules lazily, on first use,
and ``import igc_triton`` does not import triton, so the variable has to be set before the
first op runs (and before anything else imports triton), not before ``import igc_triton``.
"""

import functools

import torch

TRITON = "triton"
INTERPRETER = "interpreter"
REFERENCE = "reference"


@functools.cache
def triton_available() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


@functools.cache
def kernels_interpreted() -> bool:
    """True when our kernels were built for Triton's interpreter (``TRITON_INTERPRET=1``).

    Fixed by the first call, which imports (and so decorates) the kernels.
    """
    if not triton_available():
        return False
    from triton.runtime.interpreter import InterpretedFunction

    from igc_triton.kernels.grouped_conv2d_fwd import grouped_conv2d_fwd_fma_kernel
    interpreted = isinstance(grouped_conv2d_fwd_fma_kernel, InterpretedFunction)
    if interpreted:
        fix_interpreter_index()
    return interpreted


def fix_interpreter_index() -> None:
    """Make Triton's interpreter take a scalar's index the way Triton 3.9 does.

    Triton 3.6 (the GPU image's) turns a runtime loop bound (``range(n)``) into an int with
    ``int()`` of a one-element 1-D array, which NumPy 2.5 (also the GPU image's) refuses
    ("only 0-dimensional arrays can be converted"); 3.9 squeezes the array first. The
    interpreter patches ``tl.tensor`` at each launch through ``_patch_lang_tensor``, so this
    wraps that function once and sets ``__index__`` after it (restored with the rest)."""
    from triton.runtime import interpreter
    patch = getattr(interpreter, "_patch_lang_tensor", None)
    if patch is None or getattr(patch, "igc_index_fix", False):
        return

    def patched(tensor, scope):
        patch(tensor, scope)
        scope.set_attr(tensor, "__index__", lambda self: int(self.handle.data.squeeze()))
    patched.igc_index_fix = True
    interpreter._patch_lang_tensor = patched


def backend_for(t: torch.Tensor) -> str:
    """The backend that runs an op whose inputs live on ``t.device``."""
    if not triton_available():
        return REFERENCE
    if kernels_interpreted():
        return INTERPRETER
    if t.is_cuda:
        return TRITON
    return REFERENCE


def is_channels_last(x: torch.Tensor) -> bool:
    """Dense channels_last (NHWC) and not also NCHW-contiguous: outputs follow this layout."""
    return x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
