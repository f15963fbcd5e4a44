"""Building blocks shared by the paper's networks.

Conventions from the official MXNet code (``hellozting/InterleavedGroupConvolutions``): no
conv has a bias; BN and ReLU follow the whole IGC block (never between primary and
secondary); BN eps 2e-5. A transition IGC block carries the stride and the channel change in
its primary conv, and its secondary conv uses the new width's M (= out_channels / L).
"""

import torch.nn as nn

from igc_triton.nn import IGCConv2d

BN_EPS = 2e-5


def bn(channels: int, momentum: float) -> nn.BatchNorm2d:
    # MXNet's momentum m keeps m of the running statistic; PyTorch's keeps 1 - m.
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=momentum)


def conv3x3(cin: int, cout: int, stride: int, L: int | None, backend: str) -> nn.Module:
    """The 3x3 layer X of a network: a regular conv (L is None) or an IGC block with L partitions."""
    if L is None:
        return nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
    return IGCConv2d(cin, cout, 3, L=L, stride=stride, padding=1, backend=backend)


class BasicBlock(nn.Module):
    """Post-activation residual block: ``relu(bn2(X2(relu(bn1(X1(x))))) + shortcut(x))``.

    The shortcut is the identity, or (when the shape changes) a 1x1 conv with
    ``projection_groups`` groups + BN, held in ``self.projection``; the paper's counts omit it
    (``igc_triton.models.count(..., include_projections=False)``).
    """

    def __init__(self, cin: int, cout: int, stride: int, L: int | None, backend: str, bn_momentum: float):
        super().__init__()
        self.conv1 = conv3x3(cin, cout, stride, L, backend)
        self.bn1 = bn(cout, bn_momentum)
        self.conv2 = conv3x3(cout, cout, 1, L, backend)
        self.bn2 = bn(cout, bn_momentum)
        self.relu = nn.ReLU(inplace=True)
        self.projection = None
        if stride != 1 or cin != cout:
            self.projection = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False, groups=L or 1),
                                            bn(cout, bn_momentum))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.projection is None else self.projection(x)))


class ResidualNet(nn.Module):
    """stem -> stages of ``blocks_per_stage`` basic blocks (stride 2 in the first block of every
    stage but the first; stage s has width ``widths[s]`` and 3x3 layers with ``Ls[s]``
    partitions, None for regular convolutions) -> global pool, FC."""

    def __init__(self, stem: nn.Module, stem_width: int, widths: list[int], Ls: list[int | None],
                 blocks_per_stage: int, num_classes: int, backend: str):
        super().__init__()
        self.stem = stem
        blocks, cin = [], stem_width
        for stage, (cout, L) in enumerate(zip(widths, Ls)):
            for i in range(blocks_per_stage):
                blocks.append(BasicBlock(cin, cout, 2 if stage > 0 and i == 0 else 1, L, backend, 0.1))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(*head(cin, num_classes))

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))


def head(channels: int, num_classes: int) -> list[nn.Module]:
    return [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes)]


def check_depth(depth: int, per_stage: int, what: str) -> int:
    """Blocks per stage n for ``depth = per_stage * n + 2``; ValueError naming the rule otherwise."""
    if not isinstance(depth, int) or depth < per_stage + 2 or (depth - 2) % per_stage:
        raise ValueError(f"{what} depth must be of the form {per_stage}n+2 with n >= 1 "
                         f"(e.g. {per_stage + 2}, {2 * per_stage + 2}), got {depth!r}")
    return (depth - 2) // per_stage


def check_LM(L, M):
    for name, v in (("L", L), ("M", M)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
