"""The tier table: which distribution ships which packages and names, declared once.

TinyTorch is six distributions sharing the ``tinytorch`` namespace. A lower tier never imports
a higher one, yet PyTorch's paths put higher-tier names in lower-tier namespaces:
``tinytorch.nn.Conv2d`` lives in tinytorch-arch, ``tinytorch.Linear`` in tinytorch-nn. Those
names are looked up lazily, by string, on first use, and the error for a missing tier names the
distribution to install.

Everything that needs to know the tiers reads this one table:

- ``tinytorch/__init__.py`` and ``tinytorch.nn`` / ``tinytorch.nn.functional`` build their lazy
  lookups from ``lazy_names`` and ``lazy_packages``;
- ``tools/check_deps.py`` checks that each distribution's pyproject declares the tiers listed
  here as ``requires`` and that its code imports nothing else, and ``tools/layers.py`` turns
  the table into the import-linter contracts that the lint env enforces;
- the tests of each tier check their lazy names against it.

Adding a layer to a tier means adding its name here, and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Tier:
    """One distribution: what it ships, what it may import, and the names it adds elsewhere."""

    distribution: str                        # e.g. "tinytorch-arch"
    packages: tuple[str, ...]                # the import packages it ships
    requires: tuple[str, ...] = ()           # the lower distributions it may import
    # public namespace -> ((module that defines the names, names), ...): names this tier
    # makes reachable from a lower tier's namespace (``tinytorch.nn`` -> ``Conv2d``)
    exports: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = field(default_factory=dict)


CORE = "tinytorch-core"
NN = "tinytorch-nn"
DATA = "tinytorch-data"
ARCH = "tinytorch-arch"
OPTIM = "tinytorch-optim"
OLYMPICS = "tinytorch-olympics"

TIERS: tuple[Tier, ...] = (
    Tier(CORE, ("tinytorch.core", "tinytorch.autograd", "tinytorch.cli")),
    Tier(NN, ("tinytorch.nn", "tinytorch.optim", "tinytorch.train"), (CORE,), {
        "tinytorch": (
            ("tinytorch.nn", (
                "Module", "Parameter", "Sequential", "ModuleList", "ModuleDict", "Linear",
                "Dropout", "LayerNorm", "RMSNorm", "ReLU", "GELU", "SiLU", "Sigmoid", "Tanh",
                "Softmax", "CrossEntropyLoss", "MSELoss")),
            ("tinytorch.optim", ("SGD", "Adam", "AdamW")),
        ),
    }),
    Tier(DATA, ("tinytorch.data", "tinytorch.utils.data"), (CORE,), {
        "tinytorch": (("tinytorch.data", ("Dataset", "TensorDataset", "DataLoader")),),
    }),
    Tier(ARCH, ("tinytorch.arch",), (CORE, NN), {
        "tinytorch": (("tinytorch.arch", (
            "Conv2d", "MaxPool2d", "AvgPool2d", "BatchNorm2d", "Embedding", "MultiheadAttention",
            "TransformerBlock", "GPT", "GPTConfig")),),
        "tinytorch.nn": (("tinytorch.arch", (
            "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "BatchNorm1d", "BatchNorm2d",
            "Dropout2d", "Embedding", "MultiheadAttention", "TransformerBlock",
            "ConvTranspose2d", "AdaptiveMaxPool2d", "GroupNorm", "InstanceNorm2d", "Upsample",
            "UpsamplingNearest2d", "UpsamplingBilinear2d", "Unfold", "Fold", "PixelShuffle",
            "PixelUnshuffle", "TransformerEncoderLayer", "TransformerEncoder")),),
        "tinytorch.nn.functional": (("tinytorch.arch.functional", (
            "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "batch_norm",
            "dropout2d", "embedding", "scaled_dot_product_attention",
            "conv_transpose2d", "adaptive_max_pool2d", "group_norm", "instance_norm",
            "interpolate", "unfold", "fold", "pixel_shuffle", "pixel_unshuffle")),),
    }),
    Tier(OPTIM, ("tinytorch.perf", "tinytorch.onnx"), (CORE, NN, ARCH)),
    Tier(OLYMPICS, ("tinytorch.olympics",), (CORE, NN, DATA, ARCH, OPTIM)),
)


def tier_of(distribution: str) -> Tier:
    for tier in TIERS:
        if tier.distribution == distribution:
            return tier
    raise KeyError(f"unknown distribution {distribution!r}; "
                   f"known: {', '.join(t.distribution for t in TIERS)}")


def provider(module: str) -> str | None:
    """The distribution that ships ``module`` (``tinytorch.nn.functional`` -> tinytorch-nn),
    or None for a module outside the tiers. The longest matching package wins."""
    best: tuple[int, str | None] = (0, None)
    for tier in TIERS:
        for package in tier.packages:
            if (module == package or module.startswith(package + ".")) and \
                    len(package) > best[0]:
                best = (len(package), tier.distribution)
    if best[1] is None and (module == "tinytorch" or module.startswith("tinytorch.")):
        return CORE  # the namespace itself and tinytorch.utils are core's
    return best[1]


def lazy_packages(namespace: str) -> dict[str, tuple[str, str]]:
    """Sub-packages of ``namespace`` shipped by other tiers: attribute -> (module, distribution).

    ``lazy_packages("tinytorch")["nn"] == ("tinytorch.nn", "tinytorch-nn")``.
    """
    found = {}
    for tier in TIERS:
        for package in tier.packages:
            parent, _, child = package.rpartition(".")
            if parent == namespace and tier.distribution != provider(namespace):
                found[child] = (package, tier.distribution)
    return found


def lazy_names(namespace: str) -> dict[str, tuple[str, str]]:
    """Names a higher tier adds to ``namespace``: name -> (defining module, distribution)."""
    found = {}
    for tier in TIERS:
        for module, names in tier.exports.get(namespace, ()):
            for name in names:
                found[name] = (module, tier.distribution)
    return found
