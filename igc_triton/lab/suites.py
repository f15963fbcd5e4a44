"""Benchmark suites: TOML data files in ``bench/suites`` (installed as ``igc_triton.suite_data``
package data), loaded and validated into ``Suite`` objects with clear errors.

A suite holds ``[[layer]]`` cases (one 3x3 convolution layer: an IGC block when ``L`` is
given, else a regular convolution) and ``[[network]]`` cases (an IGC network and the
``baseline`` network the paper compares it with, built by ``igc_triton.models``), plus the
default ``dtypes``, ``layouts`` and ``modes`` to run them in.
"""

import fnmatch
import importlib.resources
import pathlib
import tomllib
from dataclasses import dataclass, field, replace

from igc_triton import models

DTYPES = ("fp32", "fp16", "bf16")
LAYOUTS = ("nchw", "channels_last")
LAYER_MODES = ("fwd",)
NETWORK_MODES = ("inference", "train")
BUILDERS = ("plain_cifar", "resnet_cifar", "xception_cifar", "resnet18_imagenet", "igc_resnet18_imagenet")


class SuiteError(ValueError):
    """A suite file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Layer:
    name: str
    source: str
    batch: int
    cin: int
    cout: int
    hw: int
    L: int | None  # None: a regular convolution
    stride: int

    @property
    def M(self):
        return None if self.L is None else self.cout // self.L

    @property
    def out_hw(self) -> int:
        return (self.hw - 1) // self.stride + 1


@dataclass(frozen=True)
class NetSpec:
    builder: str
    args: tuple  # sorted (key, value) pairs

    def build(self):
        return getattr(models, self.builder)(**dict(self.args))


@dataclass(frozen=True)
class Network:
    name: str
    source: str
    batch: int
    input: tuple[int, int, int]
    igc: NetSpec
    baseline: NetSpec | None
    paper: tuple = ()  # ((side, network name in igc_triton.lab.paper_tables.NETWORKS), ...)


@dataclass
class Suite:
    name: str
    description: str
    dtypes: list[str]
    layouts: list[str]
    modes: list[str]
    network_modes: list[str]
    layers: list[Layer] = field(default_factory=list)
    networks: list[Network] = field(default_factory=list)


def available() -> list[str]:
    """Names of the suites shipped with the package."""
    return sorted(p.name[:-5] for p in importlib.resources.files("igc_triton.suite_data").iterdir()
                  if p.name.endswith(".toml"))


def load(name_or_path: str) -> Suite:
    """A shipped suite by name (``smoke``, ``paper-layers``, ...) or a suite file by path."""
    path = pathlib.Path(name_or_path)
    if path.suffix == ".toml" or "/" in name_or_path or "\\" in name_or_path:
        if not path.is_file():
            raise SuiteError(f"suite file {name_or_path} does not exist")
        text, name = path.read_text(), path.stem
    else:
        res = importlib.resources.files("igc_triton.suite_data") / f"{name_or_path}.toml"
        if not res.is_file():
            raise SuiteError(f"unknown suite {name_or_path!r}; available: {', '.join(available())} "
                             "(or give a path to a .toml file)")
        text, name = res.read_text(), name_or_path
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SuiteError(f"suite {name}: not valid TOML: {e}") from None
    return parse(name, data)


def select(suite: Suite, patterns: list[str]) -> Suite:
    """The cases of ``suite`` whose names match any of the shell-style ``patterns`` (``igc-*``),
    in the suite's order; a SuiteError when none does."""
    def keep(case) -> bool:
        return any(fnmatch.fnmatchcase(case.name, p) for p in patterns)
    out = replace(suite, layers=[c for c in suite.layers if keep(c)], networks=[c for c in suite.networks if keep(c)])
    if not out.layers and not out.networks:
        raise SuiteError(f"suite {suite.name}: no case matches {', '.join(patterns)}")
    return out


def parse(name: str, data: dict) -> Suite:
    where = f"suite {name}"
    _keys(where, data, required={"description"},
          optional={"dtypes", "layouts", "modes", "network_modes", "layer", "network"})
    suite = Suite(name, _str(where, data, "description"),
                  _choices(where, data, "dtypes", DTYPES, ["fp32"]),
                  _choices(where, data, "layouts", LAYOUTS, ["nchw"]),
                  _choices(where, data, "modes", LAYER_MODES, ["fwd"]),
                  _choices(where, data, "network_modes", NETWORK_MODES, ["inference"]))
    seen = set()
    for i, d in enumerate(data.get("layer", [])):
        w = f"{where}, layer {d.get('name', i + 1)!r}" if isinstance(d, dict) else f"{where}, layer {i + 1}"
        if not isinstance(d, dict):
            raise SuiteError(f"{w}: must be a table")
        _keys(w, d, required={"name", "batch", "cin", "cout", "hw"}, optional={"source", "L", "stride"})
        layer = Layer(_str(w, d, "name"), d.get("source", ""), _pos(w, d, "batch"), _pos(w, d, "cin"),
                      _pos(w, d, "cout"), _pos(w, d, "hw"), _pos(w, d, "L") if "L" in d else None,
                      _pos(w, d, "stride") if "stride" in d else 1)
        if layer.L is not None and (layer.cin % layer.L or layer.cout % layer.L):
            raise SuiteError(f"{w}: cin ({layer.cin}) and cout ({layer.cout}) must be divisible by L ({layer.L})")
        _unique(w, layer.name, seen)
        suite.layers.append(layer)
    for i, d in enumerate(data.get("network", [])):
        w = f"{where}, network {d.get('name', i + 1)!r}" if isinstance(d, dict) else f"{where}, network {i + 1}"
        if not isinstance(d, dict):
            raise SuiteError(f"{w}: must be a table")
        _keys(w, d, required={"name", "batch", "input", "igc"}, optional={"source", "baseline", "paper"})
        inp = d["input"]
        if not (isinstance(inp, list) and len(inp) == 3 and all(isinstance(v, int) and v > 0 for v in inp)):
            raise SuiteError(f"{w}: input must be [C, H, W] of positive ints, got {inp!r}")
        net = Network(_str(w, d, "name"), d.get("source", ""), _pos(w, d, "batch"), tuple(inp),
                      _netspec(w, d["igc"]), _netspec(w, d["baseline"]) if "baseline" in d else None,
                      _paper(w, d.get("paper", {})))
        _unique(w, net.name, seen)
        suite.networks.append(net)
    if not suite.layers and not suite.networks:
        raise SuiteError(f"{where}: has no [[layer]] and no [[network]] cases")
    return suite


def _netspec(where, d) -> NetSpec:
    if not isinstance(d, dict) or "builder" not in d:
        raise SuiteError(f"{where}: a network is {{ builder = ..., args = {{...}} }}, got {d!r}")
    if d["builder"] not in BUILDERS:
        raise SuiteError(f"{where}: unknown builder {d['builder']!r}; known: {', '.join(BUILDERS)}")
    spec = NetSpec(d["builder"], tuple(sorted(d.get("args", {}).items())))
    try:
        with __import__("torch").device("meta"):
            spec.build()
    except (TypeError, ValueError) as e:
        raise SuiteError(f"{where}: {d['builder']}({dict(spec.args)}) is not a valid network: {e}") from None
    return spec


def _paper(where, d) -> tuple:
    """The networks of the paper's tables these sides are (names of ``paper_tables.NETWORKS``)."""
    from igc_triton.lab import paper_tables
    if not isinstance(d, dict) or not set(d) <= {"igc", "baseline"}:
        raise SuiteError(f"{where}: paper must be {{ igc = NAME, baseline = NAME }}, got {d!r}")
    for side, name in d.items():
        if name not in paper_tables.NETWORKS:
            raise SuiteError(f"{where}: paper.{side} = {name!r} is not a network of the paper's tables; known: "
                             f"{', '.join(paper_tables.NETWORKS)}")
    return tuple(sorted(d.items()))


def _keys(where, d, required, optional):
    missing = required - d.keys()
    if missing:
        raise SuiteError(f"{where}: missing {', '.join(sorted(missing))}")
    unknown = d.keys() - required - optional
    if unknown:
        raise SuiteError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")


def _str(where, d, key):
    if not isinstance(d[key], str) or not d[key]:
        raise SuiteError(f"{where}: {key} must be a non-empty string")
    return d[key]


def _pos(where, d, key):
    v = d[key]
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise SuiteError(f"{where}: {key} must be a positive integer, got {v!r}")
    return v


def _choices(where, d, key, allowed, default):
    v = d.get(key, default)
    if not isinstance(v, list) or not v or any(x not in allowed for x in v):
        raise SuiteError(f"{where}: {key} must be a non-empty list from {list(allowed)}, got {v!r}")
    return v


def _unique(where, name, seen):
    if name in seen:
        raise SuiteError(f"{where}: duplicate case name {name!r}")
    seen.add(name)
