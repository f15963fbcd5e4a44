"""The paper's ImageNet pair: ResNet-18 and IGC ResNet-18 ("+Ident."), 224x224 inputs.

Layout (from the released MXNet symbol files): stem 7x7/2 conv, BN, ReLU, 3x3/2 max pool;
four stages of two basic blocks (stride 2 in the first block of stages 2-4); global pool, FC.
"""

import torch.nn as nn

from igc_triton.models.blocks import ResidualNet, bn, check_LM


def _resnet18(stem_width: int, widths: list[int], Ls: list[int | None], num_classes: int, backend: str) -> ResidualNet:
    stem = nn.Sequential(nn.Conv2d(3, stem_width, 7, 2, 3, bias=False), bn(stem_width, 0.1), nn.ReLU(inplace=True),
                         nn.MaxPool2d(3, 2, 1))
    return ResidualNet(stem, stem_width, widths, Ls, 2, num_classes, backend)


def resnet18_imagenet(width: int = 64, num_classes: int = 1000) -> ResidualNet:
    """ResNet-18 with stage widths width/2w/4w/8w (the paper compares width 69 with IGC-L100M2)."""
    if not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a positive int, got {width!r}")
    return _resnet18(width, [width << s for s in range(4)], [None] * 4, num_classes, "reference")


def igc_resnet18_imagenet(L: int, M: int, widen: str = "M", num_classes: int = 1000,
                          backend: str = "triton") -> ResidualNet:
    """IGC-L<L>M<M>+Ident.: ResNet-18 with every 3x3 conv replaced by an IGC block.

    Stage widths are L*M * 1/2/4/8. ``widen="M"`` (IGC-L4M32, IGC-L16M16): L fixed, M doubles
    per stage, stem width L*M. ``widen="L"`` (IGC-L100M2): M fixed, L doubles per stage, stem
    width L, so the first block widens L -> L*M (with a projection). Projection shortcuts are
    1x1 group convs with the stage's L groups.
    """
    check_LM(L, M)
    if widen == "M":
        stem, Ls = L * M, [L] * 4
    elif widen == "L":
        stem, Ls = L, [L << s for s in range(4)]
    else:
        raise ValueError(f"widen must be 'M' or 'L', got {widen!r}")
    return _resnet18(stem, [(L * M) << s for s in range(4)], Ls, num_classes, backend)
