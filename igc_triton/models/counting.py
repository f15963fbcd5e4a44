"""Parameter and multiply-add counts under the paper's conventions.

- "FLOPs" in the paper are multiply-accumulates (MACs, counted once) of conv and FC layers;
  BN, ReLU, pooling, residual adds and the channel permutations are not counted.
- Parameters are conv and FC weights. BN's gamma/beta are not counted, nor is the FC bias
  (with it, the Xception comparison's numbers no longer round to the printed ones).
- 1x1 projection shortcuts are not counted (``include_projections=False``): only then do
  the ImageNet and CIFAR state-of-the-art numbers match.

Counts are per image, taken from a forward pass on the ``meta`` device (shapes only), so
even the largest networks are counted instantly.
"""

import copy
from dataclasses import dataclass

import torch
import torch.nn as nn

from igc_triton.nn import set_backend


@dataclass(frozen=True)
class Counts:
    params: int
    macs: int


def _is_projection(name: str) -> bool:
    return "projection" in name.split(".")


def count(model: nn.Module, input_size, include_projections: bool = False) -> Counts:
    """Parameters and MACs of ``model`` for one image of ``input_size`` = (C, H, W).

    Every executed ``nn.Conv2d`` and ``nn.Linear`` is counted once; modules under a submodule
    named ``projection`` (the 1x1 shortcut convs and their BN) only with
    ``include_projections=True``.
    """
    size = tuple(input_size)
    if len(size) == 4 and size[0] == 1:
        size = size[1:]
    if len(size) != 3 or not all(isinstance(s, int) and s > 0 for s in size):
        raise ValueError(f"input_size must be (C, H, W) of positive ints, got {input_size!r}")
    meta = set_backend(copy.deepcopy(model), "reference").to("meta")
    totals = {"params": 0, "macs": 0}
    counted = set()

    def hook(module, inputs, output):
        if id(module) in counted:
            return
        counted.add(id(module))
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            per_output = module.in_channels // module.groups * kh * kw
            totals["params"] += module.weight.numel() + (module.bias.numel() if module.bias is not None else 0)
            totals["macs"] += output.numel() * per_output
        else:  # nn.Linear; bias not counted (paper convention)
            totals["params"] += module.weight.numel()
            totals["macs"] += output.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for name, m in meta.named_modules()
               if isinstance(m, (nn.Conv2d, nn.Linear)) and (include_projections or not _is_projection(name))]
    try:
        with torch.no_grad():
            meta.eval()(torch.empty(1, *size, device="meta"))
    finally:
        for h in handles:
            h.remove()
    return Counts(totals["params"], totals["macs"])
