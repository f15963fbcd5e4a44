"""The paper's CIFAR networks (32x32 inputs).

See ``igc_triton.models`` for the counting conventions. Widths and layouts follow
``shared/anchors/igc_architectures.md`` (sections 2, 4, 5).
"""

import torch.nn as nn

from igc_triton.models.blocks import ResidualNet, bn, check_depth, check_LM, conv3x3, head


def plain_cifar(depth: int, width: int | None = None, L: int | None = None, M: int | None = None,
                num_classes: int = 10, backend: str = "triton") -> nn.Sequential:
    """Plain (no skip connection) CIFAR net of depth ``3n+2``.

    Either ``width`` (RegConv-W<width>: regular 3x3 convs, widths w/2w/4w) or ``L`` and ``M``
    (IGC-L<L>M<M>: IGC blocks of width G = L*M, then 2G and 4G with L fixed and M doubling).
    Stem: 3x3 conv 3 -> first width (always regular), BN, ReLU; then n layers per stage, the
    first of stages 2 and 3 with stride 2; each layer X, BN, ReLU; global pool, FC.
    """
    n = check_depth(depth, 3, "plain CIFAR")
    if (width is None) == (L is None and M is None):
        raise ValueError("give either width (regular convolutions) or both L and M (IGC blocks)")
    if width is None:
        if L is None or M is None:
            raise ValueError("an IGC plain net needs both L and M")
        check_LM(L, M)
        base = L * M
    else:
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive int, got {width!r}")
        base = width
    layers = [nn.Conv2d(3, base, 3, 1, 1, bias=False), bn(base, 0.01), nn.ReLU(inplace=True)]
    cin = base
    for stage in range(3):
        cout = base << stage
        for i in range(n):
            stride = 2 if stage > 0 and i == 0 else 1
            layers += [conv3x3(cin, cout, stride, L, backend), bn(cout, 0.01), nn.ReLU(inplace=True)]
            cin = cout
    return nn.Sequential(*layers, *head(cin, num_classes))


def resnet_cifar(depth: int, L: int, M: int, num_classes: int = 100, backend: str = "triton") -> ResidualNet:
    """IGC-L<L>M<M> residual net of depth ``6n+2`` (the paper's state-of-the-art table, depth 20).

    Widths G/2G/4G with G = L*M, L fixed and M doubling; n basic blocks per stage of two IGC
    blocks each; stride 2 in the first block of stages 2 and 3, whose secondary conv uses the
    new M (cout/L: the paper's counts, not the released code's cin/L); 1x1 group-conv
    projection shortcuts (L groups) where the shape changes.
    """
    n = check_depth(depth, 6, "residual CIFAR")
    check_LM(L, M)
    G = L * M
    stem = nn.Sequential(nn.Conv2d(3, G, 3, 1, 1, bias=False), bn(G, 0.1), nn.ReLU(inplace=True))
    return ResidualNet(stem, G, [G, 2 * G, 4 * G], [L] * 3, n, num_classes, backend)


def xception_cifar(L: int, M: int, blocks: int = 6, num_classes: int = 100,
                   backend: str = "triton") -> nn.Sequential:
    """The Xception-comparison net: stem 3x3 conv 3 -> G (G = L*M), ``blocks`` IGC blocks at
    constant width G with no down-sampling (each IGC, BN, ReLU), global pool, FC.

    ``M = 1`` is Xception (depthwise 3x3 + dense 1x1). The structure is inferred from the
    paper's counts (igc_architectures.md section 4); it is the unique one that fits them.
    """
    check_LM(L, M)
    if not isinstance(blocks, int) or blocks < 1:
        raise ValueError(f"blocks must be a positive int, got {blocks!r}")
    G = L * M
    layers = [nn.Conv2d(3, G, 3, 1, 1, bias=False), bn(G, 0.01), nn.ReLU(inplace=True)]
    for _ in range(blocks):
        layers += [conv3x3(G, G, 1, L, backend), bn(G, 0.01), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, *head(G, num_classes))
