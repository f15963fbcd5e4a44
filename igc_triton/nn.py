"""Drop-in modules running the Triton kernels.

- ``GroupedConv2d``: an ``nn.Conv2d`` (same constructor, same state_dict) whose convolution
  runs ``igc_triton.grouped_conv2d``.
- ``IGCConv2d``: an IGC block with the reference block's parameters (``primary.weight``,
  ``secondary.weight``, optional ``secondary.bias``), so checkpoints move freely between
  backends: ``backend="triton"`` (default) runs ``igc_triton.igc_conv2d``;
  ``backend="reference"`` runs two ``nn.Conv2d`` and two channel shuffles (cuDNN/ATen).

Both are differentiable, ``torch.compile``-able, honour channels_last and fp32/fp16/bf16,
and can be built on the ``meta`` device.
"""

import torch
import torch.nn.functional as F
from torch import nn

from igc_triton import functional
from igc_triton.reference import IGCConv2dReference, deinterleave

BACKENDS = ("triton", "reference")


class GroupedConv2d(nn.Conv2d):
    """``nn.Conv2d`` on the Triton kernels: same constructor, attributes and state_dict.

    Example::

        conv = GroupedConv2d(64, 64, 3, padding=1, groups=8).cuda()
        conv.load_state_dict(nn.Conv2d(64, 64, 3, padding=1, groups=8).state_dict())
    """

    def _conv_forward(self, input, weight, bias):
        if self.padding_mode != "zeros":
            input = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return functional.grouped_conv2d(input, weight, bias, self.stride, 0, self.dilation, self.groups)
        return functional.grouped_conv2d(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)


class IGCConv2d(IGCConv2dReference):
    """An IGC block: primary k x k group conv with L partitions, interleave, secondary 1x1 group
    conv with M = out_channels / L partitions, permute back (DESIGN.md section 1).

    Args:
        in_channels, out_channels: both divisible by L; they may differ (transition blocks).
        kernel_size, stride, padding, dilation: of the primary convolution.
        L: number of primary partitions.
        bias: add a learnable per-channel bias to the block's output.
        backend: ``"triton"`` (default) or ``"reference"``; switch later with ``.backend = ...``
            or ``igc_triton.nn.set_backend(model, ...)``.

    Example::

        block = IGCConv2d(64, 64, 3, L=8).cuda().to(memory_format=torch.channels_last)
        y = block(x)                       # Triton forward; y.sum().backward() runs Triton too
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size=3, L: int = 1, stride=1, padding=1,
                 dilation=1, bias: bool = False, device=None, dtype=None, *, backend: str = "triton"):
        super().__init__(in_channels, out_channels, kernel_size, L=L, stride=stride, padding=padding,
                         dilation=dilation, bias=bias, device=device, dtype=dtype)
        self.backend = backend

    @property
    def backend(self) -> str:
        return self._backend

    @backend.setter
    def backend(self, value: str):
        if value not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {value!r}")
        self._backend = value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._backend == "reference":
            return super().forward(x)
        p, s = self.primary, self.secondary
        # igc_block runs the fused kernel when no gradient is needed (inference) and the block is
        # in its range, and the two-kernel path (with Triton backward kernels) otherwise.
        y = functional.igc_block(x, p.weight, s.weight, self.L, p.stride, p.padding, p.dilation)
        if s.bias is not None:
            y = y + deinterleave(s.bias.view(1, -1, 1, 1), self.L).to(y.dtype)
        return y

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, backend={self._backend}"


def set_backend(model: nn.Module, backend: str) -> nn.Module:
    """Switch every ``IGCConv2d`` in ``model`` to ``backend``; returns the model."""
    for m in model.modules():
        if isinstance(m, IGCConv2d):
            m.backend = backend
    return model
