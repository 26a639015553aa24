"""Simple Auxiliary Classifiers (SAC) and the pooling-weight regulariser, as a training wrapper.

Source: Ali, Alsuwaidi & Khan, "FlexPooling with Simple Auxiliary Classifiers in Deep Networks",
VISAPP 2023. SAC "takes feature maps from early stages and compresses them into a linear
representation via FlexPooling, where no convolutional processing is involved": after each chosen
stage, a global pool and one Linear layer, trained with the main head; their losses "boost the
gradient signal throughout the entire network". The paper's ablations add an L2 penalty on the
pooling weights ("regularised FlexPool") and dropout before the head.

Training loss (``SACModel.training_loss``):

    loss = CE(main) + weight * sum_s CE(aux_s) + pool_reg * sum_pools pool.weight_penalty()

where the last sum runs over every pool that has a ``weight_penalty`` (flex), main and auxiliary.

Defaults, and why:

* ``stages``: every stage but the last (1-based; the last stage already feeds the main head).
* ``weight`` = 0.3: the paper does not give its auxiliary weight in the text available to us; 0.3 is
  GoogLeNet's discount for its auxiliary classifiers (Szegedy et al., "Going Deeper with
  Convolutions", CVPR 2015). With two or more auxiliary heads a weight of 1 would let the shallow,
  weak classifiers outweigh the main loss and push early features towards linear separability
  too soon (the conflict described by Huang et al., "Multi-Scale Dense Networks", ICLR 2018);
  0.3 keeps the main loss dominant while still adding gradient to the early stages.
* ``pool`` = "same": each auxiliary head uses the main head's pool class (FlexPooling heads when
  the run uses ``--pool flex``, as the paper does), built with ``pool_args`` (default: the class
  defaults) for that stage's width. Any registered pool name may be given instead.
* ``pool_reg`` = 0: the regulariser is an ablation, off unless asked for.
* auxiliary heads get the main head's dropout rate (``model_args["drop_rate"]``).

Evaluation: ``forward`` returns the main logits only (in train and eval mode), so the engine's
evaluation, the robustness tools and the reported accuracy never see the auxiliary heads.
``main_state_dict()`` and ``num_params(main_only=True)`` describe the reported model without them
(the checkpoint keeps them, so a run can resume).

Packing: the packed trainer (``poolbench.train.packed``) supports plain cross-entropy only and
raises ``NotPackable`` for a model with ``training_loss``; SAC / ``--pool-reg`` runs therefore fall
back to training one seed after another. The heads themselves are plain pool + Dropout + Linear.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import torch
import torch.nn as nn

from .head import ClassifierHead

DEFAULT_WEIGHT = 0.3


class SACModel(nn.Module):
    """A model with ``forward_stages`` / ``forward_head`` plus auxiliary heads after some stages."""

    def __init__(self, model: nn.Module, stages: Optional[Sequence[int]] = None, weight: float = DEFAULT_WEIGHT,
                 pool: Any = "same", pool_args: Optional[Dict[str, Any]] = None, pool_reg: float = 0.0):
        super().__init__()
        for attr in ("forward_stages", "forward_head", "stage_channels"):
            if not hasattr(model, attr):
                raise ValueError(f"auxiliary classifiers need a model with {attr}; {type(model).__name__} has none")
        n = len(model.stage_channels)
        stages = list(range(1, n)) if stages is None else [int(s) for s in stages]
        bad = [s for s in stages if not 1 <= s <= n]
        if bad:
            raise ValueError(f"SAC stages must be in 1..{n} for {type(model).__name__} ({n} stages), got {bad}")
        if len(set(stages)) != len(stages):
            raise ValueError(f"SAC stages repeat: {stages}")
        self.model = model
        self.aux_stages: List[int] = sorted(stages)
        self.weight, self.pool_reg = float(weight), float(pool_reg)
        aux_pool = type(model.pool) if pool == "same" else pool
        drop = float(getattr(getattr(getattr(model, "head", None), "drop", None), "p", 0.0))
        num_classes = model.classifier.out_features
        self.aux_heads = nn.ModuleList(
            ClassifierHead(model.stage_channels[s - 1], num_classes, aux_pool, dict(pool_args or {}), drop)
            for s in self.aux_stages)
        if self.pool_reg and not any(hasattr(m, "weight_penalty") for m in self.modules()):
            raise ValueError(f"pool_reg={self.pool_reg} needs a pool with learned weights and a weight_penalty "
                             f"(e.g. --pool flex); {type(model.pool).__name__} has none")

    # --- what evaluation and the reports see ------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    @property
    def pool(self) -> nn.Module:
        return self.model.pool

    @property
    def classifier(self) -> nn.Module:
        return self.model.classifier

    def __getattr__(self, name: str) -> Any:
        # stage_channels, forward_stages, forward_head, num_features ...: the main model's
        try:
            return super().__getattr__(name)
        except AttributeError:
            inner = self.__dict__.get("_modules", {}).get("model")
            if inner is None:
                raise
            return getattr(inner, name)

    def main_state_dict(self) -> Dict[str, torch.Tensor]:
        """The reported model's state (no auxiliary heads), loadable into the unwrapped model."""
        return self.model.state_dict()

    def num_params(self, main_only: bool = True) -> int:
        params = self.model.parameters() if main_only else self.parameters()
        return sum(p.numel() for p in params)

    # --- training ---------------------------------------------------------------------------
    def pool_penalty(self) -> torch.Tensor:
        """Sum of ``weight_penalty()`` over every pool that defines one (main and auxiliary)."""
        terms = [m.weight_penalty() for m in self.modules() if hasattr(m, "weight_penalty")]
        return torch.stack([t.float() for t in terms]).sum() if terms else torch.zeros(())

    def training_loss(self, x: torch.Tensor, y: torch.Tensor, criterion) -> tuple:
        """(loss, main logits): main CE + weight * sum of auxiliary CEs + pool_reg * pool penalty."""
        feats = self.model.forward_stages(x)
        logits = self.model.forward_head(feats[-1])
        loss = criterion(logits.float(), y)
        for s, head in zip(self.aux_stages, self.aux_heads):
            loss = loss + self.weight * criterion(head(feats[s - 1]).float(), y)
        if self.pool_reg:
            loss = loss + self.pool_reg * self.pool_penalty().to(loss.device)
        return loss, logits

    def extra_repr(self) -> str:
        return f"aux_stages={self.aux_stages}, weight={self.weight}, pool_reg={self.pool_reg}"


def with_aux_classifiers(model: nn.Module, stages: Optional[Sequence[int]] = None, weight: float = DEFAULT_WEIGHT,
                         pool: Any = "same", pool_args: Optional[Dict[str, Any]] = None,
                         pool_reg: float = 0.0) -> SACModel:
    """Wrap ``model`` with SAC heads (``RunConfig.sac`` holds these keyword arguments)."""
    return SACModel(model, stages=stages, weight=weight, pool=pool, pool_args=pool_args, pool_reg=pool_reg)
