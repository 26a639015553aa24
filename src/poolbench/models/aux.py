"""Simple Auxiliary Classifiers (SAC) and the pooling-weight regulariser, as a training wrapper.

A run asks for them with two fields of its config: ``RunConfig.sac`` (the auxiliary heads: their
stages, loss weights and pool) and ``RunConfig.pool_reg`` (the regulariser's coefficient); either
alone builds this wrapper (the regulariser alone: no auxiliary heads, main weight 1), so its
training loss carries the regulariser whether or not there are auxiliary heads.

Source: Ali, Alsuwaidi & Khan, "FlexPooling with Simple Auxiliary Classifiers in Deep Networks",
VISAPP 2023 (paper and code: github.com/aliman80/FlexPoolU). SAC "takes feature maps from early
stages and compresses them into a linear representation via FlexPooling, where no convolutional
processing is involved": after each chosen stage, a global pool and one Linear layer, trained with
the main head, used in training only. The paper's Eq. 3 weighs the classifiers' losses:

    loss = lambda_1 CE(h_1) + lambda_2 CE(h_2) + lambda_3 CE(h_3)   with lambda_1 < lambda_2 < lambda_3

(h_1, h_2 the auxiliary heads on ResNet-20's stage-1 and stage-2 outputs, h_3 the main head).
``SACModel.training_loss`` computes

    loss = sum_s weights[s] * CE(aux_s) + weights[-1] * CE(main) + pool_reg * sum_pools R(pool)

where the last sum runs over every pool with a regulariser (raw-weight flex: the paper's Eq. 2).

Defaults, and where they come from:

* ``stages``: every stage but the last (1-based; the last stage already feeds the main head) —
  for ResNet-20, stages 1 and 2, as the paper's Fig. 3 and the code's ``resnet_mscale.py``.
* ``weights`` = "paper": (0.1, 0.2, 0.7), the paper's Sec. 3.2 and 4.1 ("lambda_1 = 0.1,
  lambda_2 = 0.2 and lambda_3 = 0.7", chosen by cross-validation). "code": (0.01, 0.11, 0.88), the
  authors' ``train_softflexpool_mscale.py``. Both name three numbers: two auxiliary heads + main;
  any other number of heads needs an explicit list (one weight per auxiliary stage, main last).
  With no auxiliary stage (the regulariser alone) the main weight is 1.
* ``pool`` = "same": each auxiliary head uses the main head's pool class (FlexPooling heads when
  the run uses ``--pool flex``, as the paper does), built with ``pool_args`` for that stage's
  width (here: the class defaults; a run's config passes the main pool's arguments, so a
  raw-weight main pool gets raw-weight heads — ``train.build.build_model``).
* ``pool_reg`` = 0: the regulariser is the paper's "+Reg" ablation, off unless asked for. It
  needs a pool that has one (flex with ``weighting="raw"``); softmax weights make R identically
  0, so asking for it there is refused rather than silently doing nothing.

A value that cannot be built raises ``BuildError`` naming the argument (``stages``, ``weights``,
``pool_reg``); the builder that passed a config field renames it to the field.
* auxiliary heads get the main head's dropout rate (``model_args["drop_rate"]``; the paper's
  "+Dropout" arm uses 0.25 and does not say where; the authors' code has no dropout).

Evaluation: ``forward`` returns the main logits only (in train and eval mode), so the engine's
evaluation, the robustness tools and the reported accuracy never see the auxiliary heads.
``main_state_dict()`` and ``num_params(main_only=True)`` describe the reported model without them
(the checkpoint keeps them, so a run can resume).

Packing: the packed trainer (``poolbench.train.packing``) supports plain cross-entropy only, so
the pack planner trains SAC runs and regularised runs one seed after another (``can_pack`` names
which of the two a run has). The heads themselves are plain pool + Dropout + Linear.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeGuard, cast, runtime_checkable

import torch
import torch.nn as nn

from ..build_error import BuildError
from .head import ClassifierHead, PooledClassifier, ReadOnlyViews

#: Named loss weights (auxiliary heads in stage order, main last) and their sources.
WEIGHT_PRESETS: dict[str, tuple[float, ...]] = {
    "paper": (0.1, 0.2, 0.7),  # the paper's Eq. 3 with the values of its Sec. 4.1
    "code": (0.01, 0.11, 0.88),  # the authors' train_softflexpool_mscale.py
}
DEFAULT_WEIGHTS = "paper"


def resolve_weights(weights: str | Sequence[float] | None, n_aux: int) -> list[float]:
    """The loss weights as a list of n_aux + 1 floats (main last); ``BuildError`` naming ``weights``."""
    if weights is None:
        weights = DEFAULT_WEIGHTS if n_aux else [1.0]
    if isinstance(weights, str):
        if weights not in WEIGHT_PRESETS:
            raise BuildError(
                "weights",
                weights,
                "unknown SAC weights",
                f"use one of {', '.join(WEIGHT_PRESETS)} or a list of {n_aux + 1} numbers "
                f"(auxiliary heads in stage order, main last)",
            )
        preset = WEIGHT_PRESETS[weights]
        if len(preset) != n_aux + 1:
            raise BuildError(
                "weights",
                weights,
                f"{preset} are for {len(preset) - 1} auxiliary heads + main, but {n_aux} auxiliary stage(s) "
                f"were asked for",
                f"pick {len(preset) - 1} stages or give {n_aux + 1} weights (auxiliary heads, main last)",
            )
        return list(preset)
    try:
        out = [float(w) for w in weights]
    except (TypeError, ValueError):
        raise BuildError("weights", weights, "not a list of numbers", f"give {n_aux + 1} numbers") from None
    if len(out) != n_aux + 1:
        raise BuildError(
            "weights",
            out,
            f"SAC needs {n_aux + 1} weights ({n_aux} auxiliary heads + main, main last)",
            f"give {n_aux + 1} numbers",
        )
    return out


@runtime_checkable
class _Regularised(Protocol):
    """A pool with a weight regulariser (raw-weight flex: the paper's Eq. 2)."""

    def weight_penalty(self) -> torch.Tensor: ...


def _has_penalty(m: nn.Module) -> TypeGuard[_Regularised]:
    return isinstance(m, _Regularised) and getattr(m, "has_weight_penalty", True)


class SACModel(ReadOnlyViews):
    """A model with ``forward_stages`` / ``forward_head`` plus auxiliary heads after some stages."""

    def __init__(
        self,
        model: nn.Module,
        stages: Sequence[int] | None = None,
        weights: str | Sequence[float] | None = None,
        pool: Any = "same",
        pool_args: dict[str, Any] | None = None,
        pool_reg: float = 0.0,
    ):
        super().__init__()
        for attr in ("forward_stages", "forward_head", "stage_channels"):
            if not hasattr(model, attr):
                raise BuildError(
                    "stages",
                    stages,
                    f"auxiliary classifiers need a model with {attr}; {type(model).__name__} has none",
                    "use a zoo model (models/) or train without auxiliary classifiers",
                )
        # Checked above: it has the PooledClassifier interface SAC uses (a zoo model, or one like it).
        main = cast(PooledClassifier, model)
        n = len(main.stage_channels)
        try:
            stages = list(range(1, n)) if stages is None else [int(s) for s in stages]
        except (TypeError, ValueError):
            raise BuildError("stages", stages, "not a list of stage numbers", "e.g. [1, 2]") from None
        bad = [s for s in stages if not 1 <= s <= n]
        if bad:
            raise BuildError(
                "stages",
                stages,
                f"{type(model).__name__} has stages 1..{n}, not {bad}",
                f"pick stages in 1..{n} (1-based; the last feeds the main head already)",
            )
        if len(set(stages)) != len(stages):
            raise BuildError("stages", stages, "a stage repeats", "name each stage once")
        self.model = main
        self.aux_stages: list[int] = sorted(stages)
        self.weights = resolve_weights(weights, len(self.aux_stages))
        self.pool_reg = float(pool_reg)
        aux_pool = type(main.pool) if pool == "same" else pool
        drop = float(getattr(getattr(getattr(model, "head", None), "drop", None), "p", 0.0))
        num_classes = main.classifier.out_features
        self.aux_heads = nn.ModuleList(
            ClassifierHead(
                main.stage_channels[s - 1],
                num_classes,
                aux_pool,
                dict(pool_args or {}),
                drop,
                init=getattr(main, "init_scheme", "torchvision"),
            )
            for s in self.aux_stages
        )
        if self.pool_reg and not any(_has_penalty(m) for m in self.modules()):
            weighting = getattr(main.pool, "weighting", None)
            raise BuildError(
                "pool_reg",
                self.pool_reg,
                f"{type(main.pool).__name__}{f' (weighting={weighting})' if weighting else ''} has no regulariser "
                f"to weigh",
                "use a pool with one (flex with weighting=raw: --pool flex --pool-arg weighting=raw) or drop it",
            )

    # --- what evaluation and the reports see ------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    # --- the main model's trunk and head, for the analyses (viz, fit-lda) --------------------
    # Spelled out rather than forwarded by __getattr__: a name the main model has but SAC does
    # not list here raises AttributeError instead of silently reading the wrapped model.
    @property
    def pool(self) -> nn.Module:
        return self.model.pool

    @property
    def classifier(self) -> nn.Linear:
        return self.model.classifier

    def get_classifier(self) -> nn.Linear:
        return self.model.classifier

    @property
    def stage_channels(self) -> list[int]:
        return self.model.stage_channels

    @property
    def num_features(self) -> int:
        return self.model.num_features

    @property
    def stages(self) -> nn.ModuleList:
        return self.model.stages

    @property
    def downsample_entry(self) -> Callable[[int, int, int], nn.Module] | None:
        return getattr(self.model, "downsample_entry", None)

    def forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.model.forward_stages(x)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(x)

    def forward_head(self, feats: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """The main head (auxiliary heads are training-only: ``training_loss``)."""
        return self.model.forward_head(feats, pre_logits=pre_logits)

    def main_state_dict(self) -> dict[str, torch.Tensor]:
        """The reported model's state (no auxiliary heads), loadable into the unwrapped model."""
        return self.model.state_dict()

    def num_params(self, main_only: bool = True) -> int:
        params = self.model.parameters() if main_only else self.parameters()
        return sum(p.numel() for p in params)

    # --- training ---------------------------------------------------------------------------
    def pool_penalty(self) -> torch.Tensor:
        """Sum of ``weight_penalty()`` over every pool that has one (main and auxiliary)."""
        terms = [m.weight_penalty() for m in self.modules() if _has_penalty(m)]
        return torch.stack([t.float() for t in terms]).sum() if terms else torch.zeros(())

    def training_loss(self, x: torch.Tensor, y: torch.Tensor, criterion) -> tuple:
        """(loss, main logits): the paper's Eq. 3 (weighted CEs, main last) + pool_reg * R."""
        feats = self.model.forward_stages(x)
        logits = self.model.forward_head(feats[-1])
        loss = self.weights[-1] * criterion(logits.float(), y)
        for w, s, head in zip(self.weights[:-1], self.aux_stages, self.aux_heads, strict=True):
            loss = loss + w * criterion(head(feats[s - 1]).float(), y)
        if self.pool_reg:
            loss = loss + self.pool_reg * self.pool_penalty().to(loss.device)
        return loss, logits

    def extra_repr(self) -> str:
        return f"aux_stages={self.aux_stages}, weights={self.weights}, pool_reg={self.pool_reg}"


def with_aux_classifiers(
    model: nn.Module,
    stages: Sequence[int] | None = None,
    weights: str | Sequence[float] | None = None,
    pool: Any = "same",
    pool_args: dict[str, Any] | None = None,
    pool_reg: float = 0.0,
) -> SACModel:
    """Wrap ``model`` with SAC heads (``RunConfig.sac`` holds the keyword arguments but ``pool_reg``,
    which is ``RunConfig.pool_reg``; ``stages=[]``: no heads, the regulariser alone)."""
    return SACModel(model, stages=stages, weights=weights, pool=pool, pool_args=pool_args, pool_reg=pool_reg)
