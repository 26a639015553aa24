"""K identically shaped models trained as one wider network (horizontal fusion), exactly.

After HFTA (Wang, Yang, Pekhimenko et al., "Horizontally Fused Training Array: An Effective Hardware
Utilization Squeezer for Training Novel Deep Learning Models", MLSys 2021; UofT-EcoSystem/hfta,
``hfta/ops/conv.py``, ``batchnorm.py``): small CNNs leave a GPU idle, so K of them run side by side,
their channels concatenated, as one network whose every layer is K independent layers (the layer
table is in ``packer.py``; the head's pool stays each model's own, so every pool packs exactly).

The input is the K models' batches concatenated along channels ([B, K*3, H, W]); the logits come
back as [B, K, n]. The loss is sum_k CE_k, so model k's gradient is exactly its separate-run
gradient, and since SGD (momentum, weight decay on every parameter) is elementwise, one optimizer
over the packed tensors is K optimizers (``state.py`` maps model and optimizer state both ways).
Dropout and stochastic pools draw from each member's own RNG stream (``rng.py``). With PyTorch's
native CPU kernels packed training is bitwise the K separate runs (tests/train/test_packed.py);
oneDNN and cuDNN may pick another kernel for a grouped convolution than for a plain one, which
rounds differently (fp32, ~1e-7 relative).

Member k's parameters only ever meet member k's activations (grouped convs, per-channel BN,
per-model heads), so a diverged (NaN) member cannot touch the others.

  * ``rng.py``      -- ``MemberRNG``: one random stream per member;
  * ``modules.py``  -- the packed layers and ``PackedModel``;
  * ``packer.py``   -- ``pack_models`` (the per-type packer table), ``verify_pack``, ``NotPackable``;
  * ``state.py``    -- member <-> packed model and optimizer state;
  * ``plan.py``     -- which runs pack together (``can_pack``, ``plan_packs``): the one pack planner.

Training a pack (the epoch loop, divergence, run directories) is ``poolbench.train.packed``.
"""

from .modules import PackedLinear, PackedModel, PackedPool, PerModel, Slot, pack_inputs
from .packer import PACKERS, NotPackable, pack_models, verify_pack
from .plan import FREE_FIELDS, MUST_AGREE, can_pack, plan_packs
from .rng import MemberRNG
from .state import load_members, load_optimizer_members, unpack_optimizer_state, unpack_state

__all__ = [
    "FREE_FIELDS",
    "MUST_AGREE",
    "PACKERS",
    "MemberRNG",
    "NotPackable",
    "PackedLinear",
    "PackedModel",
    "PackedPool",
    "PerModel",
    "Slot",
    "can_pack",
    "load_members",
    "load_optimizer_members",
    "pack_inputs",
    "pack_models",
    "plan_packs",
    "unpack_optimizer_state",
    "unpack_state",
    "verify_pack",
]
