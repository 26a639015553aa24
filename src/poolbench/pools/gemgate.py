"""GeM-Gate: per-channel GeM with a zero-initialised residual channel gate and train-only regularisers.

    y = GeM_p(x)                          per-channel exponent p_c = 3 exp(delta_c), delta = 0 at init
    y = channel_dropout(y)                training only (``drop``)
    y = y * 2 sigmoid(W2 relu(W1 [y, s] + b1) + b2)     W2 = 0, b2 = 0 at init  ->  factor 1
    s = std_c / (mean_c + std_c)          per-channel spatial spread, a second-order cue (0 on 1x1)

At initialisation the pool *is* GeM with p = 3 (the ``gem`` / ``gem_channel`` baseline), so it starts
no worse than GeM; on a 1x1 map it is max(x, eps), i.e. the identity on the post-ReLU maps of
VGG-16-BN and MobileNetV2. Under the protocol's weight decay (on every parameter) every learned
component decays back towards that starting point: delta -> 0 means p -> 3, W2, b2 -> 0 means gate -> 1.

What each component is for (each has a constructor switch, so an ablation is this class with one
component off, e.g. ``--pool-arg gate=false``):

- ``per_channel_p``: GeM's exponent learned per channel rather than shared (Radenovic, Tolias &
  Chum, "Fine-tuning CNN Image Retrieval with No Human Annotation", TPAMI 2018, Sec. 3.1).
  ``learn_p=False`` freezes it at ``p``. Only acts when H*W > 1.
- ``gate``: a squeeze-excitation style channel recalibration of the *pooled* vector (Hu, Shen &
  Sun, "Squeeze-and-Excitation Networks", CVPR 2018), made residual and zero-initialised as the
  transform of GCNet's global context block (Cao et al., "GCNet: Non-local Networks Meet
  Squeeze-Excitation Networks and Beyond", ICCVW 2019) and as zero-init residual branches (Goyal
  et al. 2017). The factor 2 sigmoid(r) is 1 at r = 0 and lies in (0, 2). It is the one component
  that changes a 1x1-map model (VGG-16-BN, MobileNetV2): there it is a multiplicative channel
  interaction in front of the linear classifier.
- ``spread``: the gate also reads each channel's spatial spread std/(mean+std) in [0, 1)
  (second-order statistics, in the spirit of covariance / second-order pooling); exactly 0 and
  skipped on a 1x1 map, where it carries no information.
- ``drop``: channel dropout on the pooled vector during training (Srivastava et al., JMLR 2014);
  dropping a pooled channel is dropping its whole feature map, i.e. spatial dropout (Tompson et
  al., "Efficient Object Localization Using Convolutional Networks", CVPR 2015). Identity in eval.
- ``pos_drop``: stochastic spatial pooling during training: each sample pools over a random
  subset of positions (each kept with probability 1 - pos_drop, at least one kept), in the spirit
  of stochastic pooling (Zeiler & Fergus, ICLR 2013). Identity in eval and on 1x1 maps.

Numerics: fp32 with autocast disabled; GeM as m * GeM(x / m) with m the (kept) maximum, so x^p
never overflows or underflows to an all-zero mean; the spread uses sqrt(var + tiny).
Randomness comes from torch's global generator, which the engine reseeds from (seed, epoch).

Packing (K models side by side on the channel axis, ``poolbench.train.packing``) asks nothing of
the pool: the packer runs each model's own pool on its own channels. The gate's parameters keep the
leading axis of length 1 they were written with ([1, hidden, C_in], ...), so saved runs load as before.
"""

from __future__ import annotations

import hashlib
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import register_pool
from .base import GlobalPool

P_MIN, P_MAX = 1.0, 8.0  # the learned exponent is kept between average (1) and near-max pooling


def masked_gem(x: torch.Tensor, p: torch.Tensor, mask: torch.Tensor | None = None):
    """GeM over the last axis of fp32 ``x`` [B, C, N] (already clamped > 0); ``p`` [C] or [1].

    ``mask`` [B, 1, N] of 0/1 (at least one 1 per row) restricts the mean to the kept positions.
    Returns (GeM [B, C], x / m [B, C, N]) with m the (kept) maximum, so the caller can reuse the
    scale-free map.
    """
    p = p.reshape(1, -1, 1)
    if mask is None:
        m = x.amax(dim=2, keepdim=True)
        xn = x / m
        pooled = xn.pow(p).mean(dim=2)
    else:
        m = (x * mask).amax(dim=2, keepdim=True)  # the max over kept positions: one term is exactly 1
        # A dropped position may exceed the kept maximum by any factor (1e30 / 1e-6): its power would
        # overflow to inf and inf * 0 is NaN, in the output and the gradients. It is set to 1 instead
        # (then masked out), so x / m <= 1 wherever it is used, here and in the spread. It is replaced
        # *before* the division: x / m itself has an infinite derivative in m there (x / m^2 overflows).
        xn = torch.where(mask > 0, x, m) / m
        pooled = (xn.pow(p) * mask).sum(dim=2) / mask.sum(dim=2)
    return pooled.pow(1.0 / p.squeeze(2)) * m.squeeze(2), xn


def channel_spread(x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """std / (mean + std) per channel over the last axis, in [0, 1): scale-free, 0 for a constant map.

    Pass a map already divided by its maximum (``masked_gem`` returns one): squares cannot overflow.
    """
    if mask is None:
        mean = x.mean(dim=2)
        var = (x - mean.unsqueeze(2)).pow(2).mean(dim=2)
    else:
        n = mask.sum(dim=2)
        mean = (x * mask).sum(dim=2) / n
        var = ((x - mean.unsqueeze(2)).pow(2) * mask).sum(dim=2) / n
    std = torch.sqrt(var + 1e-12)
    return std / (mean + std + 1e-6)


@register_pool("gemgate")
class GeMGatePool(GlobalPool):
    """Per-channel GeM + zero-init residual channel gate (+ spread cue, channel / position dropout).

    Args:
        channels: C of the input map (models pass it); ``None`` sizes everything on the first input.
        p: GeM exponent at initialisation (3, as GeM; 1 starts as GAP).
        p_min: the exponent's lower bound (1 = never below average pooling). Started at ``p=1`` with
            the default bound the exponent cannot leave 1 when its gradient first points down (the
            clamp then blocks it; what the second CPU screen saw: docs/research.md); ``p_min < 1`` gives it room.
        per_channel_p: one exponent per channel (else one shared).
        learn_p: learn the exponent (else frozen at ``p``).
        gate: the residual channel gate (zero-initialised: factor 1 at init).
        reduction, min_hidden: gate hidden width = max(min_hidden, C // reduction).
        spread: the gate also reads the per-channel spatial spread (ignored on 1x1 maps).
        drop: channel dropout probability on the pooled vector (training only).
        pos_drop: probability of dropping each spatial position (training only, H*W > 1).
        eps: activations are clamped at eps (GeM's convention).
    """

    def __init__(
        self,
        channels: int | None = None,
        p: float = 3.0,
        per_channel_p: bool = True,
        learn_p: bool = True,
        gate: bool = True,
        reduction: int = 16,
        min_hidden: int = 8,
        spread: bool = True,
        drop: float = 0.0,
        pos_drop: float = 0.0,
        eps: float = 1e-6,
        p_min: float = P_MIN,
    ):
        super().__init__()
        if not 0.0 <= drop < 1.0 or not 0.0 <= pos_drop < 1.0:
            raise ValueError(f"gemgate: drop={drop} and pos_drop={pos_drop} must lie in [0, 1)")
        if not 0.0 < p_min <= P_MIN:
            raise ValueError(f"gemgate: p_min={p_min} must lie in (0, {P_MIN}]")
        if not p_min <= p <= P_MAX:
            raise ValueError(f"gemgate: p={p} must lie in [p_min={p_min}, {P_MAX}]")
        self.init_p, self.per_channel_p, self.learn_p = float(p), bool(per_channel_p), bool(learn_p)
        self.p_min = float(p_min)
        self.use_gate, self.reduction, self.min_hidden = bool(gate), int(reduction), int(min_hidden)
        self.use_spread = bool(spread) and self.use_gate  # the spread only feeds the gate
        self.drop, self.pos_drop, self.eps = float(drop), float(pos_drop), float(eps)
        # log-exponent offsets: p = init_p * exp(delta); weight decay pulls p back to init_p
        self.delta = nn.Parameter(torch.zeros(0), requires_grad=self.learn_p)
        if self.use_gate:
            # a leading axis of 1 on each: the layout saved runs have (see the module docstring)
            self.w1 = nn.Parameter(torch.zeros(0))  # [1, hidden, C_in]
            self.b1 = nn.Parameter(torch.zeros(0))  # [1, hidden]
            self.w2 = nn.Parameter(torch.zeros(0))  # [1, C, hidden], zero at init
            self.b2 = nn.Parameter(torch.zeros(0))  # [1, C], zero at init
        self.channels: int | None = None
        if channels is not None:
            self._build(int(channels))

    # ---------------------------------------------------------------- parameters
    def hidden(self, c: int) -> int:
        """Gate hidden width for a model with ``c`` channels."""
        return max(self.min_hidden, c // self.reduction)

    @torch.compiler.disable  # the one-time lazy sizing runs eagerly, as GlobalPool._fill does
    def _build(self, channels: int) -> None:
        """Size (and initialise) every parameter for ``channels`` = C; no-op when sized."""
        if self.channels is not None:
            return
        c = self.channels = channels
        self._materialize("delta", (c if self.per_channel_p else 1,), 0.0)
        if self.use_gate:
            h, c_in = self.hidden(c), c * (2 if self.use_spread else 1)
            self._materialize("w1", (1, h, c_in))
            self._materialize("b1", (1, h))
            self._materialize("w2", (1, c, h), 0.0)
            self._materialize("b2", (1, c), 0.0)
            # nn.Linear's default init for the first layer, drawn from a private generator seeded
            # from the global RNG *state* without advancing it: the rest of the model (classifier
            # init, dropout) sees the same random stream as with plain GeM, so a gemgate run and a
            # gem run of the same seed start from the same weights and the same function.
            state = torch.get_rng_state().numpy().tobytes()
            g = torch.Generator().manual_seed(
                int.from_bytes(hashlib.sha256(b"gemgate" + state).digest()[:8], "little") & ((1 << 63) - 1)
            )
            bound = 1.0 / math.sqrt(c_in)
            with torch.no_grad():
                self.w1.copy_(torch.empty(self.w1.shape).uniform_(-bound, bound, generator=g))
                self.b1.copy_(torch.empty(self.b1.shape).uniform_(-bound, bound, generator=g))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        src = state_dict.get(prefix + "delta")
        if self.channels is None and src is not None and src.numel() > 0:
            if self.per_channel_p:
                self.channels = int(src.numel())
            elif self.use_gate and state_dict.get(prefix + "b2") is not None:
                self.channels = int(state_dict[prefix + "b2"].numel())

    def p(self) -> torch.Tensor:
        """The GeM exponent per channel, [C] (or [1] when shared), in [p_min, P_MAX]."""
        return (self.init_p * torch.exp(self.delta.float())).clamp(self.p_min, P_MAX)

    # ---------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        self._build(c)
        if c != self.channels:
            raise ValueError(f"gemgate was built for {self.channels} channels, got an input with {c}")
        with torch.autocast(x.device.type, enabled=False):
            x = x.float().clamp(min=self.eps)
            spread = None
            if h * w == 1:  # every spatial aggregation is the identity: skip the power and the spread
                y = x.flatten(1)
            else:
                xf = x.flatten(2)  # [B, C, N]
                mask = None
                if self.training and self.pos_drop > 0:
                    mask = (torch.rand(b, 1, h * w, device=x.device) >= self.pos_drop).float()
                    empty = mask.sum(dim=2, keepdim=True) == 0
                    mask = torch.where(empty, torch.ones_like(mask), mask)  # never pool over nothing
                p = self.p()
                if not self.per_channel_p:
                    p = p.repeat_interleave(c)
                y, xn = masked_gem(xf, p, mask)
                if self.use_spread:
                    spread = channel_spread(xn, mask)
            if self.training and self.drop > 0:
                keep = (torch.rand(b, c, device=x.device) >= self.drop).float() / (1.0 - self.drop)
                y = y * keep
                if spread is not None:
                    spread = spread * (keep > 0)
            if self.use_gate:
                y = y * self.gate_factor(y, spread)
        return y

    def gate_factor(self, y: torch.Tensor, spread: torch.Tensor | None = None) -> torch.Tensor:
        """2 sigmoid(W2 relu(W1 [y, spread] + b1) + b2); [B, C], 1 at initialisation."""
        b, c = y.shape
        w1 = self.w1.float()
        yk = y.reshape(b, 1, c)  # k: the parameters' leading axis of 1
        hid = torch.einsum("bkc,khc->bkh", yk, w1[:, :, :c])
        if spread is not None:  # on a 1x1 map the spread columns are skipped, not fed zeros
            hid = hid + torch.einsum("bkc,khc->bkh", spread.reshape(b, 1, c), w1[:, :, c:])
        hid = F.relu(hid + self.b1.float())
        r = torch.einsum("bkh,kch->bkc", hid, self.w2.float()) + self.b2.float()
        return (2.0 * torch.sigmoid(r)).reshape(b, c)

    def extra_repr(self) -> str:
        return (
            f"channels={self.channels}, p={self.init_p}, p_min={self.p_min}, per_channel_p={self.per_channel_p}, "
            f"learn_p={self.learn_p}, gate={self.use_gate}, spread={self.use_spread}, drop={self.drop}, "
            f"pos_drop={self.pos_drop}"
        )
