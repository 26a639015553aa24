"""The pool base class: the contract every global pooling satisfies.

A pool maps a feature map [B, C, H, W] to [B, feat_mult * C] for any B >= 1 and H, W >= 1.
``feat_mult`` tells the model head how wide the pooled vector is (timm's convention).
"""

from __future__ import annotations

import torch
import torch.nn as nn


class GlobalPool(nn.Module):
    """Base class for global pools. Subclasses set ``feat_mult`` if they widen the output.

    Lazily sized tensors: a pool that learns per-channel or per-position weights but was not told
    ``channels`` / ``size`` keeps an *empty* parameter or buffer and fills it on the first input
    (``_materialize``). Filling assigns ``.data``, so the Parameter object an optimizer already holds
    stays the same one. An empty tensor also takes a checkpoint's shape on ``load_state_dict``, so
    a freshly built pool loads a trained one without a dummy forward.
    """

    feat_mult: int = 1

    def _materialize(self, name: str, shape, value: float = 0.0) -> None:
        if getattr(self, name).numel() == 0:
            self._fill(name, tuple(shape), value)

    @torch.compiler.disable  # runs eagerly once, so a pool compiled before its first input still works
    def _fill(self, name: str, shape, value: float) -> None:
        t = getattr(self, name)
        t.data = torch.full(shape, value, dtype=t.dtype, device=t.device)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name, t in list(self._parameters.items()) + list(self._buffers.items()):
            src = state_dict.get(prefix + name)
            if t is not None and src is not None and t.numel() == 0 and src.numel() > 0:
                t.data = torch.empty(src.shape, dtype=t.dtype, device=t.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:  # pragma: no cover - cosmetic
        return ""
