"""Benchmark providers: named ways of computing a suite case, registered in ``PROVIDERS``.

A layer provider computes one 3x3 layer of a suite (an IGC block, or a regular convolution)
its own way; a network provider runs a whole network. Each declares the multiply-adds it
does (the paper's counting), the weights it reads (for the minimal bytes), and a float64
reference of what it computes, against which its output is checked before it is timed.
"""

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from igc_triton import functional, models, reference
from igc_triton.lab.suites import Layer, NetSpec
from igc_triton.nn import IGCConv2d, set_backend

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class Provider:
    name: str
    kind: str  # "layer" | "network"
    description: str
    triton: bool  # runs igc_triton's kernels
    make: Callable  # (case, tensors) -> zero-argument callable returning the output
    reference: Callable | None = None  # (case, float64 tensors) -> float64 output (layers)
    applies: Callable = lambda case: None  # case -> None, or why the provider does not apply
    macs: Callable | None = None  # case -> multiply-adds per batch (layers)
    weights: Callable | None = None  # case -> weight elements read (layers)
    cuda_only: bool = False
    graph: bool = False  # timed as a CUDA graph replay
    baseline: bool = False  # a cuDNN / PyTorch baseline (not ours)


PROVIDERS: dict[str, Provider] = {}


def register(p: Provider) -> Provider:
    PROVIDERS[p.name] = p
    return p


# --------------------------------------------------------------------------------------------
# Layer cases: tensors, counts


def layer_tensors(case: Layer, dtype: torch.dtype, layout: str, device: torch.device, seed: int = 0) -> dict:
    """The inputs and every provider's weights for ``case``, seeded, in ``dtype`` and ``layout``."""
    g = torch.Generator(device=device).manual_seed(seed)
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format

    def rnd(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g, device=device, dtype=torch.float32) * scale).to(dtype)

    cin, cout = case.cin, case.cout
    t = {"x": rnd(case.batch, cin, case.hw, case.hw).contiguous(memory_format=fmt),
         # He-scaled weights keep activations O(1) in half precision.
         "w_regular": rnd(cout, cin, 3, 3, scale=(2 / (9 * cin)) ** 0.5).contiguous(memory_format=fmt),
         "w_dw": rnd(cin, 1, 3, 3, scale=(2 / 9) ** 0.5).contiguous(memory_format=fmt),
         "w_pw": rnd(cout, cin, 1, 1, scale=(2 / cin) ** 0.5).contiguous(memory_format=fmt)}
    if case.L is not None:
        t["wp"] = rnd(cout, cin // case.L, 3, 3, scale=(2 / (9 * cin / case.L)) ** 0.5).contiguous(memory_format=fmt)
        t["ws"] = rnd(cout, case.L, 1, 1, scale=(2 / case.L) ** 0.5)
        t["w_folded"] = reference.folded_secondary_weight(t["ws"], case.L).contiguous(memory_format=fmt)
    return t


def _pixels(c: Layer) -> int:
    return c.batch * c.out_hw ** 2


def igc_macs(c: Layer) -> int:
    return _pixels(c) * c.cout * (9 * c.cin // c.L + c.L)


def regular_macs(c: Layer) -> int:
    return _pixels(c) * c.cout * 9 * c.cin


def primary_macs(c: Layer) -> int:
    return _pixels(c) * c.cout * 9 * c.cin // c.L


def xception_macs(c: Layer) -> int:
    return _pixels(c) * (9 * c.cin + c.cin * c.cout)


def _igc_only(c: Layer):
    return None if c.L is not None else "regular layer: no IGC block"


def _regular_only(c: Layer):
    return None if c.L is None else "IGC layer (see cudnn-regular for the regular conv of the same width)"


def _ref_igc(c, t):
    return reference.igc_conv2d(t["x"], t["wp"], t["ws"], c.L, c.stride, 1)


def _ref_regular(c, t):
    return F.conv2d(t["x"], t["w_regular"], None, c.stride, 1)


def _ref_grouped(c, t):
    return F.conv2d(t["x"], t["wp"], None, c.stride, 1, 1, c.L)


def _ref_xception(c, t):
    return F.conv2d(F.conv2d(t["x"], t["w_dw"], None, c.stride, 1, 1, c.cin), t["w_pw"])


def _folded(c, t):
    return F.conv2d(F.conv2d(t["x"], t["wp"], None, c.stride, 1, 1, c.L), t["w_folded"])


_IGC_WEIGHTS = {"weights": lambda c: c.cout * (9 * c.cin // c.L + c.L)}

register(Provider("cudnn-regular", "layer", "cuDNN regular 3x3 convolution of the same width (groups=1)", False,
                  lambda c, t: lambda: F.conv2d(t["x"], t["w_regular"], None, c.stride, 1), _ref_regular,
                  macs=regular_macs, weights=lambda c: 9 * c.cin * c.cout, baseline=True))
register(Provider("triton-regular", "layer", "igc_triton.grouped_conv2d with groups=1 (implicit GEMM)", True,
                  lambda c, t: lambda: functional.grouped_conv2d(t["x"], t["w_regular"], None, c.stride, 1),
                  _ref_regular, _regular_only, regular_macs, lambda c: 9 * c.cin * c.cout))
register(Provider("cudnn-grouped", "layer", "cuDNN grouped 3x3 convolution, the primary step alone (groups=L)",
                  False, lambda c, t: lambda: F.conv2d(t["x"], t["wp"], None, c.stride, 1, 1, c.L), _ref_grouped,
                  _igc_only, primary_macs, lambda c: 9 * c.cin // c.L * c.cout, baseline=True))
register(Provider("triton-grouped", "layer", "igc_triton.grouped_conv2d, the primary step alone (groups=L)", True,
                  lambda c, t: lambda: functional.grouped_conv2d(t["x"], t["wp"], None, c.stride, 1, 1, c.L),
                  _ref_grouped, _igc_only, primary_macs, lambda c: 9 * c.cin // c.L * c.cout))
for _graph in (False, True):
    _sfx = "+graph" if _graph else ""
    register(Provider("cudnn-igc-eager" + _sfx, "layer",
                      "cuDNN IGC as in the paper's code: grouped conv, channel shuffle, grouped 1x1, shuffle"
                      + (", replayed as a CUDA graph" if _graph else ""), False,
                      lambda c, t: lambda: reference.igc_conv2d(t["x"], t["wp"], t["ws"], c.L, c.stride, 1), _ref_igc,
                      _igc_only, igc_macs, cuda_only=_graph, graph=_graph, baseline=True, **_IGC_WEIGHTS))
    register(Provider("cudnn-igc-folded" + _sfx, "layer",
                      "cuDNN IGC without shuffles: grouped conv, then a dense 1x1 with the folded block-sparse weight"
                      + (", replayed as a CUDA graph" if _graph else ""), False,
                      lambda c, t: lambda: _folded(c, t), _ref_igc, _igc_only, igc_macs, cuda_only=_graph,
                      graph=_graph, baseline=True, **_IGC_WEIGHTS))


def _compiled_igc(c, t):
    fn = torch.compile(reference.igc_conv2d, mode="max-autotune", dynamic=False)
    return lambda: fn(t["x"], t["wp"], t["ws"], c.L, c.stride, 1)


register(Provider("compile-igc", "layer", 'torch.compile(mode="max-autotune") of the eager cuDNN IGC', False,
                  _compiled_igc, _ref_igc, _igc_only, igc_macs, cuda_only=True, baseline=True, **_IGC_WEIGHTS))
register(Provider("cudnn-xception", "layer", "Xception-style depthwise 3x3 + dense pointwise 1x1 (cuDNN / ATen)",
                  False, lambda c, t: lambda: _ref_xception(c, t), _ref_xception, _igc_only, xception_macs,
                  lambda c: 9 * c.cin + c.cin * c.cout, baseline=True))
def _fused_only(c: Layer):
    from igc_triton.launch import launchers
    if c.L is None:
        return "regular layer: no IGC block"
    if not launchers.fused_block_supported(c.cin, c.cout, c.L, torch.float32):
        return "outside the fused kernels' range (Cin/L < 16, and C <= 256 or L >= 16)"
    return None


def _fused_module(c: Layer, t: dict):
    """The block as ``fuse_for_inference`` makes it (no BatchNorm): a snapshot whose nhwc forms
    keep the weights laid out between calls."""
    from igc_triton import fuse
    from igc_triton.nn import IGCConv2d
    igc = IGCConv2d(c.cin, c.cout, 3, L=c.L, stride=c.stride, padding=1, device=t["x"].device, dtype=t["x"].dtype)
    with torch.no_grad():
        igc.primary.weight.copy_(t["wp"])
        igc.secondary.weight.copy_(t["ws"])
    block = fuse.FusedIGCBlock(igc.eval().requires_grad_(False), None, relu=False)  # frozen, as fuse_for_inference
    return lambda: block(t["x"])


# Each Triton layer provider also as a CUDA graph replay: small layers take tens of
# microseconds, and the difference is the host's share (launches, Python).
for _graph in (False, True):
    _sfx, _how = ("+graph", ", replayed as a CUDA graph") if _graph else ("", "")
    register(Provider("triton-igc-module" + _sfx, "layer",
                      "fuse_for_inference's block module (its weights a snapshot, laid out once)" + _how, True,
                      _fused_module, _ref_igc, _fused_only, igc_macs, cuda_only=_graph, graph=_graph,
                      **_IGC_WEIGHTS))
    register(Provider("triton-igc-fused" + _sfx, "layer",
                      "igc_triton.igc_block: the whole block in one fused Triton kernel" + _how, True,
                      lambda c, t: lambda: functional.igc_block(t["x"], t["wp"], t["ws"], c.L, c.stride, 1),
                      _ref_igc, _fused_only, igc_macs, cuda_only=_graph, graph=_graph, **_IGC_WEIGHTS))
    register(Provider("triton-igc" + _sfx, "layer", "igc_triton.igc_conv2d: Triton primary kernel, then the fused "
                      "interleave-secondary kernel" + _how, True,
                      lambda c, t: lambda: functional.igc_conv2d(t["x"], t["wp"], t["ws"], c.L, c.stride, 1), _ref_igc,
                      _igc_only, igc_macs, cuda_only=_graph, graph=_graph, **_IGC_WEIGHTS))


# --------------------------------------------------------------------------------------------
# Network cases


def has_igc(net: torch.nn.Module) -> bool:
    return any(isinstance(m, IGCConv2d) for m in net.modules())


def build_network(spec: NetSpec, dtype: torch.dtype, layout: str, device: torch.device, backend: str,
                  seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    return set_backend(spec.build(), backend).to(device=device, dtype=dtype, memory_format=fmt)


def network_step(net: torch.nn.Module, x: torch.Tensor, mode: str):
    """A zero-argument callable: inference (eval, no grad) or a training step (forward + backward)."""
    if mode == "inference":
        net.eval()

        def infer():
            with torch.no_grad():
                return net(x)
        return infer
    net.train()
    labels = torch.arange(x.shape[0], device=x.device) % 10

    def train_step():
        net.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x).float(), labels)
        loss.backward()
        return loss
    return train_step


def _net_make(backend, compile_mode=None):
    def make(net_factory, x, mode):
        net = net_factory(backend)
        if compile_mode:
            net = torch.compile(net, mode=compile_mode)
        return network_step(net, x, mode)
    return make


register(Provider("net-cudnn", "network", "the network on cuDNN: IGC layers as grouped convs + channel shuffles",
                  False, _net_make("reference"), baseline=True))
register(Provider("net-triton", "network", "the network with every IGC layer on the Triton kernels", True,
                  _net_make("triton"),
                  applies=lambda spec: None if has_igc(_meta(spec)) else "no IGC layer in this network"))
register(Provider("net-compile", "network", 'torch.compile(mode="max-autotune") of the cuDNN network', False,
                  _net_make("reference", "max-autotune"), cuda_only=True, baseline=True))


def _meta(spec: NetSpec):
    with torch.device("meta"):
        return spec.build()


def network_counts(spec: NetSpec, input_size) -> models.Counts:
    """The paper's counts (per image) for a network spec."""
    return models.count(_meta(spec), input_size)


def parse_providers(names) -> list[Provider]:
    """Providers by name; a ValueError names any unknown one."""
    unknown = [n for n in names if n not in PROVIDERS]
    if unknown:
        raise ValueError(f"unknown provider(s) {', '.join(unknown)}; known: {', '.join(PROVIDERS)}")
    return [PROVIDERS[n] for n in names]
