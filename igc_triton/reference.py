"""Pure-PyTorch definition of an Interleaved Group Convolution (DESIGN.md section 1).

This module is the oracle the Triton kernels are tested against and the eager baseline of
the benchmarks. It imports nothing else of igc_triton.

Notation: input ``x: (N, Cin, H, W)``, ``L`` primary partitions, ``M`` channels per primary
partition, ``C = L*M`` output channels. Channel ``l*M + m`` of the primary output is position
``m`` of partition ``l``.

1. primary:   ``t = conv2d(x, Wp, groups=L)``, ``Wp: (C, Cin/L, k, k)``
2. interleave: ``u[:, m*L + l] = t[:, l*M + m]``
3. secondary: ``v = conv2d(u, Ws, groups=M)``, ``Ws: (C, L, 1, 1)``
4. permute back: ``y[:, l*M + m] = v[:, m*L + l]``
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


def interleave(t: torch.Tensor, L: int) -> torch.Tensor:
    """IGC step 2 (``P^T``): ``u[:, m*L + l] = t[:, l*M + m]`` — a channel shuffle with L groups."""
    return t.unflatten(1, (L, -1)).transpose(1, 2).flatten(1, 2)


def deinterleave(v: torch.Tensor, L: int) -> torch.Tensor:
    """IGC step 4 (``P``), the inverse of :func:`interleave`: ``y[:, l*M + m] = v[:, m*L + l]``."""
    return v.unflatten(1, (-1, L)).transpose(1, 2).flatten(1, 2)


def igc_secondary(t: torch.Tensor, secondary_weight: torch.Tensor, L: int) -> torch.Tensor:
    """IGC steps 2-4 on a primary output ``t: (N, C, H, W)``; ``secondary_weight: (C, L, 1, 1)``."""
    M = t.shape[1] // L
    return deinterleave(F.conv2d(interleave(t, L), secondary_weight, groups=M), L)


def igc_conv2d(x: torch.Tensor, primary_weight: torch.Tensor, secondary_weight: torch.Tensor, L: int,
               stride=1, padding=1, dilation=1) -> torch.Tensor:
    """The whole IGC block, steps 1-4, as the composition of cuDNN/ATen convolutions and shuffles."""
    t = F.conv2d(x, primary_weight, None, stride, padding, dilation, groups=L)
    return igc_secondary(t, secondary_weight, L)


def folded_secondary_weight(secondary_weight: torch.Tensor, L: int) -> torch.Tensor:
    """Steps 2-4 as one dense 1x1 conv weight ``(C, C, 1, 1)``, block-sparse with density 1/M.

    ``W[l2*M + m, l*M + m] = Ws[m*L + l2, l]``, zero where the two channels' positions ``m``
    differ: the permutations are absorbed into the weight.
    """
    C = secondary_weight.shape[0]
    M = C // L
    ws = secondary_weight.reshape(M, L, L)  # [m, l2, l]
    eye = torch.eye(M, dtype=ws.dtype, device=ws.device)
    return torch.einsum("mab,mn->ambn", ws, eye).reshape(C, C, 1, 1)


def secondary_adjoint_weight(secondary_weight: torch.Tensor, L: int) -> torch.Tensor:
    """``w'[m*L + l, l2] = w[m*L + l2, l]``, each L x L block transposed: steps 2-4 with this
    weight, applied to the output gradient, give the gradient of their input."""
    C = secondary_weight.shape[0]
    return secondary_weight.reshape(C // L, L, L).transpose(1, 2).reshape(C, L, 1, 1)


def dense_equivalent_weight(primary_weight: torch.Tensor, secondary_weight: torch.Tensor, L: int) -> torch.Tensor:
    """The regular-convolution weight ``(C, Cin, k, k)`` that computes the whole IGC block.

    ``W_eq[l2*M + m, l*Cin_g + j] = Ws[m*L + l2, l] * Wp[l*M + m, j]`` with ``Cin_g = Cin/L``.
    """
    C, cin_g, kh, kw = primary_weight.shape
    M = C // L
    ws = secondary_weight.reshape(M, L, L)  # [m, l2, l]
    wp = primary_weight.reshape(L, M, cin_g, kh, kw)  # [l, m, j, kh, kw]
    return torch.einsum("mab,bmjhw->ambjhw", ws, wp).reshape(C, L * cin_g, kh, kw)


class IGCConv2dReference(nn.Module):
    """An IGC block from two ``nn.Conv2d``: ``primary`` (k x k, groups=L) and ``secondary`` (1x1, groups=M).

    The state_dict (``primary.weight``, ``secondary.weight``, and ``secondary.bias`` with
    ``bias=True``) is the layout shared by every IGC module of this package, so checkpoints
    move between the reference and Triton modules.

    Example::

        block = IGCConv2dReference(64, 64, kernel_size=3, L=8)   # M = 8
        y = block(torch.randn(2, 64, 32, 32))
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size=3, L: int = 1, stride=1, padding=1,
                 dilation=1, bias: bool = False, device=None, dtype=None):
        super().__init__()
        if L < 1 or in_channels % L or out_channels % L:
            raise ValueError(f"in_channels ({in_channels}) and out_channels ({out_channels}) must be "
                             f"divisible by L ({L})")
        self.L = L
        self.M = out_channels // L
        factory = {"device": device, "dtype": dtype}
        self.primary = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation,
                                 groups=L, bias=False, **factory)
        # A bias belongs to the block's output; on the secondary conv it is applied before the
        # permutation back, so output channel l*M + m gets secondary.bias[m*L + l].
        self.secondary = nn.Conv2d(out_channels, out_channels, 1, groups=self.M, bias=bias, **factory)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return deinterleave(self.secondary(interleave(self.primary(x), self.L)), self.L)

    def extra_repr(self) -> str:
        p = self.primary
        return (f"{p.in_channels}, {p.out_channels}, kernel_size={p.kernel_size}, L={self.L}, M={self.M}, "
                f"stride={p.stride}, padding={p.padding}, dilation={p.dilation}, "
                f"bias={self.secondary.bias is not None}")
