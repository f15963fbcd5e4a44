"""igc-triton: Triton kernels for Interleaved Group Convolutions (IGC, ICCV 2017).

Public API::

    from igc_triton import grouped_conv2d, igc_secondary, igc_conv2d, dense_equivalent_weight

See ``igc_triton.functional`` for which backend runs where, and ``igc_triton.reference``
for the pure-PyTorch definitions the kernels are tested against.
"""

from igc_triton.functional import dense_equivalent_weight, grouped_conv2d, igc_conv2d, igc_secondary
from igc_triton.reference import IGCConv2dReference

__version__ = "0.1.0"

__all__ = ["grouped_conv2d", "igc_secondary", "igc_conv2d", "dense_equivalent_weight", "IGCConv2dReference",
           "__version__"]
