"""poolbench: global pooling for CNN classifiers — a library, a contract checker and a benchmark.

The library's face::

    import poolbench

    poolbench.list_pools("ge*")                          # ['gem', 'gem_channel', 'gemgate']
    pool = poolbench.create_pool("gem", p=3.0)
    poolbench.check_pool("gem").passed                   # the contract, before anything is trained
    model = poolbench.create_model("resnet20", num_classes=10, pool="catavgmax")
    poolbench.swap_pool(timm_or_torchvision_model, "gem")  # a pool into someone else's classifier
    run = poolbench.load_trained("runs/<run id>")        # a trained run: run.model, run.config, run.data

Each name is imported on first use (module ``__getattr__``), so ``import poolbench`` loads no
torch: the command line answers a usage error before torch loads.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .version import __version__

if TYPE_CHECKING:  # the names below, for readers and type checkers; at run time __getattr__ imports them
    from .models import create_model
    from .pools import check_pool, create_pool, list_pools, swap_pool
    from .trained import load_trained

#: Each public name and the module that defines it.
_FACE = {
    "create_pool": "poolbench.pools",
    "list_pools": "poolbench.pools",
    "check_pool": "poolbench.pools",
    "swap_pool": "poolbench.pools",
    "create_model": "poolbench.models",
    "load_trained": "poolbench.trained",
}

__all__ = ["__version__", "check_pool", "create_model", "create_pool", "list_pools", "load_trained", "swap_pool"]


def __getattr__(name: str) -> Any:
    if name not in _FACE:
        raise AttributeError(f"module 'poolbench' has no attribute {name!r}")
    value = getattr(importlib.import_module(_FACE[name]), name)
    globals()[name] = value  # imported once; later lookups do not come back here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_FACE})
