"""``fuse_for_inference``: an eval-mode copy of a model whose IGC blocks run the fused kernel
with the following BatchNorm folded in (and the ReLU and residual add, where the model has
them), so each block reads its input once and writes its output once.

Patterns recognised: ``IGCConv2d -> BatchNorm2d [-> ReLU]`` inside an ``nn.Sequential`` (the
plain and Xception-comparison nets), and the residual ``BasicBlock`` of
``igc_triton.models`` (both of its IGC blocks, the second with the shortcut and the final
ReLU in its epilogue). Anything else is left as it is.
"""

import copy

import torch
from torch import nn

from igc_triton import functional, runtime
from igc_triton.models.blocks import BasicBlock
from igc_triton.nn import IGCConv2d


class FusedIGCBlock(nn.Module):
    """An IGC block with its BatchNorm folded into a per-channel scale and shift, and an
    optional ReLU; ``forward(x, residual=None)`` runs ``igc_triton.igc_block``. Like the folded
    BatchNorm, its weights are a snapshot: the kernels may keep them laid out between calls
    (``launchers.snapshot_weights``) while they keep their storage and version, so an in-place
    update, ``load_state_dict`` or ``.to()`` is seen, a write through ``.data`` is not (fuse
    again after one)."""

    def __init__(self, igc: IGCConv2d, bn: nn.BatchNorm2d | None, relu: bool):
        super().__init__()
        if igc.secondary.bias is not None:
            raise ValueError("fusing an IGCConv2d with a bias is not supported")
        self.igc = igc
        self.relu = relu
        if bn is not None:
            scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
            self.register_buffer("scale", scale)
            self.register_buffer("shift", bn.bias.detach() - bn.running_mean * scale)
        else:
            self.scale = self.shift = None

    def forward(self, x, residual=None):
        p = self.igc.primary
        scale = None if self.scale is None else self.scale.to(x.dtype)
        shift = None if self.shift is None else self.shift.to(x.dtype)
        # Not while torch.compile traces (weak references break the graph): compiled, every
        # call lays the weights out.
        if not torch.compiler.is_compiling() and runtime.backend_for(x) != runtime.REFERENCE:
            from igc_triton.launch import launchers  # imports Triton: only where its kernels run
            launchers.snapshot_weights(p.weight, self.igc.secondary.weight, self.igc.L)
        return functional.igc_block(x, p.weight, self.igc.secondary.weight, self.igc.L, p.stride, p.padding,
                                    p.dilation, scale, shift, residual, self.relu)

    def extra_repr(self) -> str:
        return f"bn_folded={self.scale is not None}, relu={self.relu}"


class FusedBasicBlock(nn.Module):
    """``BasicBlock`` with both IGC blocks fused: the second one adds the shortcut and applies
    the final ReLU in its epilogue."""

    def __init__(self, block: BasicBlock):
        super().__init__()
        self.first = FusedIGCBlock(block.conv1, block.bn1, relu=True)
        self.second = FusedIGCBlock(block.conv2, block.bn2, relu=True)
        self.projection = block.projection

    def forward(self, x):
        shortcut = x if self.projection is None else self.projection(x)
        return self.second(self.first(x), residual=shortcut)


def fuse_for_inference(model: nn.Module) -> tuple[nn.Module, int]:
    """An eval-mode copy of ``model`` with its IGC blocks fused (see the module docstring),
    and the number of IGC blocks fused. The original model is left untouched. The copy is a
    snapshot for inference: its BatchNorms are folded, its parameters do not require grad, and
    its IGC weights may be kept laid out for the kernels (see ``FusedIGCBlock``)."""
    # Frozen: a weight that requires grad sends every call (outside torch.no_grad) to the
    # differentiable two-kernel path; the H200 lease timed that, not the fused kernel. Gradients
    # with respect to an input that requires them still flow.
    fused = copy.deepcopy(model).eval().requires_grad_(False)
    count = 0
    for parent in list(fused.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, BasicBlock) and isinstance(child.conv1, IGCConv2d) \
                    and isinstance(child.conv2, IGCConv2d):
                setattr(parent, name, FusedBasicBlock(child))
                count += 2
        if isinstance(parent, nn.Sequential):
            items = list(parent)
            for i, m in enumerate(items[:-1]):
                if isinstance(m, IGCConv2d) and isinstance(items[i + 1], nn.BatchNorm2d):
                    relu = i + 2 < len(items) and isinstance(items[i + 2], nn.ReLU)
                    parent[i] = FusedIGCBlock(m, items[i + 1], relu)
                    parent[i + 1] = nn.Identity()
                    if relu:
                        parent[i + 2] = nn.Identity()
                    count += 1
    return fused, count
