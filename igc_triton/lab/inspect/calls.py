"""What ``igc-lab inspect`` runs: one op of the public API on given shapes, or the Triton cases of
a suite (layer providers and IGC networks), each as a labelled zero-argument call."""

from dataclasses import dataclass

OPS = ("grouped_conv2d", "igc_secondary", "igc_conv2d", "igc_block")
DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
LAYOUTS = ("nchw", "channels_last")


@dataclass
class Shape:
    batch: int = 32
    cin: int = 64
    cout: int | None = None  # default: cin
    hw: int = 32
    L: int | None = None  # primary partitions (groups of grouped_conv2d)
    stride: int = 1
    kernel: int = 3


def op_call(op: str, shape: Shape, dtype: str = "bf16", layout: str = "nchw"):
    """(label, fn, args, kwargs) of one op on empty tensors of the given shapes; ValueError for an
    unknown op, dtype or layout, or shapes the op refuses (its own message)."""
    import torch

    import igc_triton
    if op not in OPS:
        raise ValueError(f"unknown op {op!r}; choose from {', '.join(OPS)}")
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose from {', '.join(DTYPES)}")
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose from {', '.join(LAYOUTS)}")
    if shape.L is None:
        raise ValueError(f"{op} needs --L (the primary partitions{', i.e. groups' if op == 'grouped_conv2d' else ''})")
    dt = getattr(torch, DTYPES[dtype])
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    cout = shape.cout or shape.cin
    L, k = shape.L, shape.kernel
    for name, v in (("batch", shape.batch), ("cin", shape.cin), ("cout", cout), ("hw", shape.hw), ("L", L),
                    ("stride", shape.stride), ("kernel", k)):
        if v < 1:
            raise ValueError(f"--{name} must be >= 1, got {v}")
    if shape.cin % L or cout % L:
        raise ValueError(f"--cin ({shape.cin}) and --cout ({cout}) must be divisible by --L ({L})")

    def act(c):
        return torch.empty(shape.batch, c, shape.hw, shape.hw, dtype=dt).contiguous(memory_format=fmt)
    label = f"{op} N={shape.batch} C={shape.cin}->{cout} {shape.hw}x{shape.hw} L={L} M={cout // L}" \
            f"{f' s{shape.stride}' if shape.stride != 1 else ''} {dtype} {layout}"
    # The weights as a model in the layout holds them (Module.to(memory_format=...) converts its
    # 4-D parameters), as the bench's layer tensors are.
    wp = torch.empty(cout, shape.cin // L, k, k, dtype=dt).contiguous(memory_format=fmt)
    ws = torch.empty(cout, L, 1, 1, dtype=dt)
    pad = k // 2
    if op == "grouped_conv2d":
        return label, igc_triton.grouped_conv2d, (act(shape.cin), wp), dict(stride=shape.stride, padding=pad, groups=L)
    if op == "igc_secondary":
        if shape.cin != cout:
            raise ValueError("igc_secondary maps C channels to C: give --cout equal to --cin (or leave it out)")
        return label, igc_triton.igc_secondary, (act(cout), ws, L), {}
    fn = igc_triton.igc_conv2d if op == "igc_conv2d" else igc_triton.igc_block
    return label, fn, (act(shape.cin), wp, ws, L), dict(stride=shape.stride, padding=pad)


def op_macs(op: str, shape: Shape) -> int:
    """The useful multiply-adds of ``op`` on ``shape`` (as ``op_call`` builds it): the primary's
    k*k*cin/L per output, the secondary's L."""
    cout = shape.cout or shape.cin
    if op == "igc_secondary":
        return shape.batch * shape.hw * shape.hw * cout * shape.L
    out_hw = (shape.hw + 2 * (shape.kernel // 2) - shape.kernel) // shape.stride + 1
    per_output = shape.kernel ** 2 * shape.cin // shape.L + (shape.L if op in ("igc_conv2d", "igc_block") else 0)
    return shape.batch * out_hw * out_hw * cout * per_output


TRITON_LAYER_PROVIDERS = ("triton-igc-fused", "triton-igc", "triton-grouped", "triton-regular")


def suite_calls(suite, cases=None, provider_names=None, dtypes=None, layouts=None):
    """``[(label, meta, thunk)]`` for every Triton measurement of ``suite`` (inference for networks;
    ``meta``: case, provider, dtype, layout, mode as ``igc-lab bench`` names them);
    a thunk runs the call and returns its memory floor in bytes (a layer: input and weights read
    once, output written once; a network: None). ``cases`` restricts to case names (ValueError
    naming an unknown one)."""
    import torch

    from igc_triton.lab import providers
    names = {c.name for c in suite.layers} | {n.name for n in suite.networks}
    unknown = [c for c in cases or [] if c not in names]
    if unknown:
        raise ValueError(f"suite {suite.name} has no case {', '.join(unknown)}; its cases: {', '.join(sorted(names))}")
    chosen = providers.parse_providers(provider_names) if provider_names else \
        [providers.PROVIDERS[n] for n in (*TRITON_LAYER_PROVIDERS, "net-triton")]
    chosen = [p for p in chosen if p.triton]
    dtypes = dtypes or suite.dtypes
    layouts = layouts or suite.layouts
    cpu = torch.device("cpu")
    out = []
    for case in suite.layers:
        if cases and case.name not in cases:
            continue
        for p in chosen:
            if p.kind != "layer" or p.applies(case) is not None:
                continue
            for dt in dtypes:
                for lay in layouts:
                    def thunk(case=case, p=p, dt=dt, lay=lay):
                        t = providers.layer_tensors(case, providers.DTYPES[dt], lay, cpu)
                        y = p.make(case, t)()
                        return (t["x"].numel() + y.numel() + p.weights(case)) * y.element_size()
                    out.append((f"{case.name} {p.name} {dt} {lay}",
                                dict(case=case.name, provider=p.name, dtype=dt, layout=lay, mode="fwd",
                                     macs=p.macs(case) if p.macs else 0), thunk))
    for case in suite.networks:
        if cases and case.name not in cases:
            continue
        for p in chosen:
            if p.kind != "network" or p.applies(case.igc) is not None:
                continue
            for dt in dtypes:
                for lay in layouts:
                    def thunk(case=case, dt=dt, lay=lay):
                        net = providers.build_network(case.igc, providers.DTYPES[dt], lay, cpu, "triton")
                        fmt = torch.channels_last if lay == "channels_last" else torch.contiguous_format
                        x = torch.empty(case.batch, *case.input, dtype=providers.DTYPES[dt]).contiguous(
                            memory_format=fmt)
                        providers.network_step(net, x, "inference")()
                        return None  # the floor of a network: the sum of its kernels' own
                    out.append((f"{case.name} {p.name} {dt} {lay} inference",
                                dict(case=case.name, provider=p.name, dtype=dt, layout=lay, mode="inference"), thunk))
    return out
