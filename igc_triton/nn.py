"""Modules: the IGC block with a selectable backend.

``IGCConv2d`` has the reference block's parameters (``primary.weight``, ``secondary.weight``)
and its state_dict, so checkpoints move freely between backends:

- ``backend="reference"``: two ``nn.Conv2d`` and two channel shuffles (cuDNN/ATen), with autograd;
- ``backend="triton"``: ``igc_triton.igc_conv2d`` (the Triton kernels; forward-only for now,
  so use it under ``torch.no_grad()``).
"""

import torch

from igc_triton import functional
from igc_triton.reference import IGCConv2dReference

BACKENDS = ("reference", "triton")


class IGCConv2d(IGCConv2dReference):
    """An IGC block (primary k x k group conv with L partitions, interleave, secondary 1x1 group
    conv with M = out_channels / L partitions, permute back) whose backend can be switched.

    Example::

        block = IGCConv2d(64, 64, 3, L=8, backend="triton").cuda()
        with torch.no_grad():
            y = block(x)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size=3, *, L: int, stride=1, padding=1,
                 dilation=1, backend: str = "reference", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, L=L, stride=stride, padding=padding,
                         dilation=dilation, device=device, dtype=dtype)
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
        p = self.primary
        return functional.igc_conv2d(x, p.weight, self.secondary.weight, self.L, p.stride, p.padding, p.dilation)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, backend={self._backend}"


def set_backend(model: torch.nn.Module, backend: str) -> torch.nn.Module:
    """Switch every ``IGCConv2d`` in ``model`` to ``backend``; returns the model."""
    for m in model.modules():
        if isinstance(m, IGCConv2d):
            m.backend = backend
    return model
