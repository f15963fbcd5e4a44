"""igc-triton: Triton kernels for Interleaved Group Convolutions (IGC, ICCV 2017).

Public API::

    from igc_triton import grouped_conv2d, igc_secondary, igc_conv2d, dense_equivalent_weight
    from igc_triton import GroupedConv2d, IGCConv2d, convert, set_backend

See ``igc_triton.functional`` for which backend runs where, ``igc_triton.reference`` for the
pure-PyTorch definitions the kernels are tested against, and ``igc_triton.models`` for the
paper's networks.
"""

from igc_triton.convert import Conversion, convert
from igc_triton.functional import dense_equivalent_weight, grouped_conv2d, igc_block, igc_conv2d, igc_secondary
from igc_triton.fuse import fuse_for_inference
from igc_triton.nn import GroupedConv2d, IGCConv2d, set_backend
from igc_triton.reference import IGCConv2dReference

__version__ = "0.1.0"

__all__ = ["grouped_conv2d", "igc_secondary", "igc_conv2d", "igc_block", "dense_equivalent_weight", "GroupedConv2d",
           "IGCConv2d",
           "IGCConv2dReference", "convert", "Conversion", "set_backend", "fuse_for_inference", "__version__"]
