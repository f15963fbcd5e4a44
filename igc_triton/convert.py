"""Put the kernels into an existing model: ``igc_triton.convert``.

1. Every plain ``nn.Conv2d`` (grouped or regular) becomes a ``GroupedConv2d`` that shares its
   parameters: same weights, same Parameter objects (an optimizer keeps working), same outputs.
2. With ``igc_L=L``, regular k x k convolutions (groups 1, k > 1) become ``IGCConv2d`` blocks
   with L primary partitions (M = out_channels / L): the seed's "drop-in replacement of regular
   convolutions". These are new layers with freshly initialised weights, to be trained.

The returned ``Conversion`` lists every swap with its parameter (and, given ``input_size``,
multiply-add) change, and ``undo()`` puts the original modules back.
"""

from dataclasses import dataclass, field

from torch import nn

from igc_triton.nn import GroupedConv2d, IGCConv2d


@dataclass
class Swap:
    name: str
    before: str
    after: str
    params_before: int
    params_after: int


@dataclass
class Conversion:
    model: nn.Module
    swaps: list[Swap] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, why it stayed)
    macs_before: int | None = None
    macs_after: int | None = None
    _undo: list = field(default_factory=list, repr=False)

    @property
    def params_before(self) -> int:
        return sum(s.params_before for s in self.swaps)

    @property
    def params_after(self) -> int:
        return sum(s.params_after for s in self.swaps)

    def undo(self) -> nn.Module:
        """Put back every original module (trained further in place, for the GroupedConv2d swaps,
        since the parameters are shared); returns the model."""
        for parent, name, original in reversed(self._undo):
            setattr(parent, name, original)
        self._undo.clear()
        self.swaps.clear()
        return self.model

    def __str__(self) -> str:
        lines = [f"{len(self.swaps)} layer(s) swapped:"]
        width = max((len(s.name) for s in self.swaps), default=4)
        for s in self.swaps:
            lines.append(f"  {s.name:<{width}}  {s.before} -> {s.after}  "
                         f"params {s.params_before:,} -> {s.params_after:,}")
        for name, why in self.skipped:
            lines.append(f"  {name:<{width}}  kept: {why}")
        lines.append(f"swapped layers' params: {self.params_before:,} -> {self.params_after:,}"
                     + (f" ({self.params_after / self.params_before - 1:+.1%})" if self.params_before else ""))
        if self.macs_before is not None:
            lines.append(f"model multiply-adds per image: {self.macs_before:,} -> {self.macs_after:,} "
                         f"({self.macs_after / self.macs_before - 1:+.1%})")
        return "\n".join(lines)


def _describe(conv: nn.Conv2d) -> str:
    k = "x".join(map(str, conv.kernel_size))
    return f"{type(conv).__name__}({conv.in_channels}->{conv.out_channels}, {k}, groups={conv.groups})"


def _n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _grouped(conv: nn.Conv2d) -> GroupedConv2d:
    new = GroupedConv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                        conv.dilation, conv.groups, conv.bias is not None, conv.padding_mode, device="meta")
    new.weight, new.bias = conv.weight, conv.bias
    return new.train(conv.training)


def _igc_reason(conv: nn.Conv2d, L: int) -> str | None:
    """Why ``conv`` cannot become an IGC block with L partitions (None if it can)."""
    kh, kw = conv.kernel_size
    if conv.groups != 1 or kh == 1 and kw == 1:
        return "not a regular k x k convolution"
    if conv.in_channels % L or conv.out_channels % L:
        return f"channels {conv.in_channels}->{conv.out_channels} not divisible by L={L}"
    if conv.padding_mode != "zeros":
        return f"padding_mode={conv.padding_mode!r}"
    return None


def convert(model: nn.Module, igc_L: int | None = None, input_size=None, verbose: bool = False) -> Conversion:
    """Swap the convolutions of ``model`` in place (see the module docstring); returns the record.

    Args:
        model: any ``nn.Module``; only modules of type exactly ``nn.Conv2d`` are touched.
        igc_L: if given, replace regular k x k convolutions by ``IGCConv2d(..., L=igc_L)``.
        input_size: ``(C, H, W)``; if given, the record includes the model's multiply-adds
            before and after (``igc_triton.models.count`` conventions, all layers).
        verbose: print the record.
    """
    from igc_triton.models import count

    if igc_L is not None and (not isinstance(igc_L, int) or igc_L < 1):
        raise ValueError(f"igc_L must be a positive int, got {igc_L!r}")
    record = Conversion(model)
    if input_size is not None:
        record.macs_before = count(model, input_size, include_projections=True).macs
    for parent_name, parent in list(model.named_modules()):
        for name, child in list(parent.named_children()):
            if type(child) is not nn.Conv2d:
                continue
            full = f"{parent_name}.{name}" if parent_name else name
            new = None
            if igc_L is not None:
                why = _igc_reason(child, igc_L)
                if why is None:
                    new = IGCConv2d(child.in_channels, child.out_channels, child.kernel_size, igc_L, child.stride,
                                    child.padding, child.dilation, child.bias is not None,
                                    device=child.weight.device, dtype=child.weight.dtype).train(child.training)
                else:
                    record.skipped.append((full, f"{why}; runs as GroupedConv2d"))
            if new is None:
                new = _grouped(child)
            setattr(parent, name, new)
            record._undo.append((parent, name, child))
            after = (f"IGCConv2d(L={igc_L}, M={child.out_channels // igc_L})" if isinstance(new, IGCConv2d)
                     else _describe(new))
            record.swaps.append(Swap(full, _describe(child), after, _n_params(child), _n_params(new)))
    if input_size is not None:
        record.macs_after = count(model, input_size, include_projections=True).macs
    if verbose:
        print(record)
    return record
