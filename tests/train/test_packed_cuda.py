"""Packed training on a CUDA GPU: K packed models equal K separate runs (fp32), and stay finite in bf16.

Why the tolerance differs from the CPU test's 1e-5 over 20 steps (tests/train/test_packed.py): there
the convolution backend is pinned to PyTorch's native kernels, which compute a grouped convolution
group by group exactly like a plain one. cuDNN cannot be pinned that way: it picks its own algorithm
for a grouped convolution (K*cin channels, K groups) and for a plain one, and they sum in different
orders, ~1e-7 relative per operation in fp32, and training at lr 0.1 amplifies the difference 10-20x
per SGD step. Measured with the same kind of mismatch on CPU (oneDNN, which also takes another
kernel for grouped convolutions; this file's comparison run on CPU, resnet20, batch 32): the first
step's losses agree to 2.4e-7, the second's to 1e-6, and weights after two steps to 1.1e-5 (avg, gem,
attn) and 2.2e-4 (with dropout), rising to 2.2e-3 after three; the momentum buffers (the second
step's gradients, where ReLU kinks make some of the difference discrete) to 2.1e-3. Hence two steps,
first-step losses within 1e-5, second-step losses within 1e-4, weights and BN statistics within 1e-3
and momentum within 1e-2 (of the tensor's largest entry, or absolute below 1) -- 5-40x above what
rounding gave.
A packing error (one member's weights, batches, momentum or random draws reaching another's, or a
wrong grouped convolution) moves a loss or a weight by 1e-2 or more. The multi-step exactness of the
packing mathematics is the CPU test's job; this one checks the CUDA kernels and random streams. TF32
is switched off (the ``cuda_fp32`` fixture): with it, convolutions round to ~1e-3.

Stochastic pooling is left out here: it samples a position from the activations, so a 1e-7 change in
an activation can change the sample and the loss by O(1) (seen on CPU with oneDNN: 0.19 after 3
steps). Its per-member random stream is exact on CPU (native kernels) in test_packed.py; dropout,
whose masks do not depend on the values, checks the CUDA random streams here.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from poolbench.data import load_dataset
from poolbench.data.augment import normalize
from poolbench.models import create_model
from poolbench.train import RunConfig
from poolbench.train.build import autocast, make_optimizer
from poolbench.train.packing import pack_models, unpack_optimizer_state, unpack_state
from tests.train.test_packed import _train_separately  # the same separate runs

pytestmark = pytest.mark.cuda

CFG = RunConfig(model="resnet20", dataset="synthetic")  # the protocol's SGD: lr 0.1, momentum 0.9, wd 5e-4
STEPS, BATCH = 2, 32
FIRST_STEP_TOL, SECOND_STEP_TOL, TOL, MOMENTUM_TOL = 1e-5, 1e-4, 1e-3, 1e-2


def _models(name, pools, device, **kw):
    out = []
    for seed, pool in enumerate(pools):
        torch.manual_seed(seed)
        out.append(create_model(name, num_classes=10, pool=pool, **kw).to(device))
    return out


def _batches(device, k, steps=STEPS):
    ds = load_dataset("synthetic")
    x, y = normalize(ds.train_x, ds.mean, ds.std), ds.train_y
    g = torch.Generator().manual_seed(0)
    idx = [[torch.randint(0, len(y), (BATCH,), generator=g) for _ in range(steps)] for _ in range(k)]
    return [[(x[i].to(device), y[i].to(device)) for i in member] for member in idx]


def _packed(packed, data, rng_seeds, device, amp="none"):
    opt, losses = make_optimizer(packed, CFG), []
    packed.rng.seed(rng_seeds, device)
    cfg = CFG.replace(amp=amp)
    for step in zip(*data, strict=True):
        x = torch.cat([x for x, _ in step], 1)
        y = torch.stack([y for _, y in step], 1)
        with autocast(cfg, device):
            logits = packed(x)
        per = torch.stack([F.cross_entropy(logits[:, k].float(), y[:, k]) for k in range(packed.k)])
        opt.zero_grad(set_to_none=True)
        per.sum().backward()
        opt.step()
        losses.append(per.tolist())
    return [list(col) for col in zip(*losses, strict=True)], opt


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest difference over the tensor's largest entry, or absolute where that is below 1 (as the
    CPU test): a bias still near its zero initialisation has no scale of its own."""
    return (a.float() - b.float()).abs().max().item() / max(1.0, b.float().abs().max().item())


@pytest.mark.parametrize(
    "name,pools,kw",
    [
        ("resnet20", ["avg", "gem", "attn"], {}),  # learnable, cross-channel
        ("resnet20", ["avgmax_gated", "gem", "avg"], {"drop_rate": 0.5}),  # dropout: each member's own CUDA RNG
        ("mobilenetv2", ["avg", "max", "avgmax"], {}),  # depthwise convs: groups = K * hidden
    ],
)
def test_packed_equals_separate_runs_on_cuda_fp32(cuda_fp32, name, pools, kw):
    device = cuda_fp32
    data = _batches(device, len(pools))
    packed = pack_models(_models(name, pools, device, **kw)).to(device)
    got, popt = _packed(packed, data, [7, 8, 9], device)
    separate = _models(name, pools, device, **kw)
    want, opts = _train_separately(separate, data, [7, 8, 9])
    assert all(math.isfinite(v) for w in want for v in w), "the reference runs must not diverge"
    for k in range(len(pools)):
        assert abs(got[k][0] - want[k][0]) <= FIRST_STEP_TOL * max(1.0, abs(want[k][0])), f"model {k} step 1"
        err = abs(got[k][1] - want[k][1])
        assert err <= SECOND_STEP_TOL * max(1.0, abs(want[k][1])), f"model {k} step 2: losses differ by {err:.3g}"
    for k, (state, opt_state) in enumerate(
        zip(unpack_state(packed), unpack_optimizer_state(packed, popt), strict=True)
    ):
        ref = separate[k].state_dict()
        for key, t in state.items():
            if t.is_floating_point():
                assert _rel(t, ref[key]) <= TOL, f"model {k} {key}: {_rel(t, ref[key]):.3g}"
            else:
                assert torch.equal(t.cpu(), ref[key].cpu()), f"model {k} {key}"
        moms = [st["momentum_buffer"] for _, st in sorted(opt_state["state"].items())]
        ref_moms = [st["momentum_buffer"] for _, st in sorted(opts[k].state_dict()["state"].items())]
        assert len(moms) == len(ref_moms)
        worst = max(_rel(a, b) for a, b in zip(moms, ref_moms, strict=True))
        assert worst <= MOMENTUM_TOL, f"model {k} momentum: {worst:.3g}"


def test_packed_bf16_training_stays_finite(cuda_fp32):
    """bf16 autocast (a labelled, non-standard option): 10 packed steps, every loss and logit finite."""
    device = cuda_fp32
    data = _batches(device, 2, steps=10)
    packed = pack_models(_models("resnet20", ["avg", "gem"], device)).to(memory_format=torch.channels_last)
    losses, _ = _packed(packed, data, [1, 2], device, amp="bf16")
    assert all(math.isfinite(v) for member in losses for v in member)
    assert all(member[-1] < member[0] + 1.0 for member in losses)  # trained, not drifting off
    packed.eval()
    with torch.no_grad(), autocast(CFG.replace(amp="bf16"), device):
        logits = packed(torch.cat([data[0][0][0], data[1][0][0]], 1).contiguous(memory_format=torch.channels_last))
    assert logits.shape == (BATCH, 2, 10) and torch.isfinite(logits.float()).all()
