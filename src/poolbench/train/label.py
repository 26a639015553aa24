"""What a run is called in a table: the row label of its pooling method, from its config.

Training names its contract check with it and ``results`` groups runs into rows by it, so it lives
beside the config it reads, not in either consumer.
"""

from __future__ import annotations

import json
from typing import Any

from .config import FLEX_SAC_VERSION
from .stored_layout import declared_layout, stored_model_args


def _fmt_arg(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, (int, float)):
        return f"{v:g}"  # 2 and 2.0 are the same pool: one label
    if isinstance(v, str):
        return v
    return json.dumps(v, separators=(",", ":"), sort_keys=True)


def _fmt_kwargs(d: dict[str, Any]) -> str:
    return ",".join(f"{k}={_fmt_arg(d[k])}" for k in sorted(d))


def pool_label(config: dict[str, Any], full_path: bool = False) -> str:
    """The row label of a run: what distinguishes one pooling method from another.

    ``gem``, ``gem(p=2)``, ``avgmax_gated`` (also for a run that names the pool's old name, ``gated``),
    ``custom_pool.py:CustomPool@3f2a`` (a file: its name, class and the
    first hex digits of its sha256, see ``pools.loader.pool_file_label``); model arguments, surgery
    (under the names runs recorded it by, ``train.stored_layout``), auxiliary classifiers and the
    pool regulariser change the method too, so they are appended (``flex [lda_layer=2]``,
    ``avg +sac(weights=[0.1,0.2,0.7])``, ``flex(weighting=raw) +pool_reg=0.0001``) rather than
    silently merged into the plain pool's cell; so is a flex/SAC run made under older defaults
    (``flex [flex/sac defaults v1]``, see ``train.config.FLEX_SAC_VERSION``). A config.json of either
    layout gets the same label.
    """
    config = declared_layout(config)
    if config.get("pool_file"):
        from ..pools.loader import pool_file_label

        label = pool_file_label(str(config["pool_file"]), config.get("pool_file_sha"), full_path)
    else:
        from ..pools import canonical_pool_name

        # a run made under a pool's old name is labelled by its name now (gated -> avgmax_gated)
        label = canonical_pool_name(str(config.get("pool", "avg")))
    if config.get("pool_args"):
        label += f"({_fmt_kwargs(config['pool_args'])})"
    model_args = stored_model_args(config.get("model_args") or {}, config.get("surgery") or [])
    if model_args:
        label += f" [{_fmt_kwargs(model_args)}]"
    if config.get("sac") is not None:  # {} is SAC with its defaults: still SAC
        label += " +sac" + (f"({_fmt_kwargs(config['sac'])})" if config["sac"] else "")
    if config.get("pool_reg") is not None:
        label += f" +pool_reg={_fmt_arg(config['pool_reg'])}"
    version = config.get("flex_sac_version")
    flex_or_sac = config.get("pool") == "flex" or config.get("sac") is not None or config.get("pool_reg") is not None
    if flex_or_sac and version != FLEX_SAC_VERSION:
        # made under other flex/SAC defaults (none recorded: version 1): never one cell with today's
        label += f" [flex/sac defaults v{version or 1}]"
    return label
