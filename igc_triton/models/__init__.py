"""The paper's networks, parameterised, and the paper's parameter/FLOP counting.

Every IGC layer is an ``igc_triton.nn.IGCConv2d`` whose backend ("triton", the default, or "reference")
is chosen with ``backend=`` or ``igc_triton.nn.set_backend``; the state_dict is the same.
"""

from igc_triton.models.cifar import plain_cifar, resnet_cifar, xception_cifar
from igc_triton.models.counting import Counts, count
from igc_triton.models.imagenet import igc_resnet18_imagenet, resnet18_imagenet

__all__ = ["plain_cifar", "resnet_cifar", "xception_cifar", "resnet18_imagenet", "igc_resnet18_imagenet",
           "count", "Counts"]
