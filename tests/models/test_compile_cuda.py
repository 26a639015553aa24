"""torch.compile of each benchmark model on a CUDA GPU: one training step (forward, backward, BN
statistics) equals eager's.

Tolerance: with TF32 off (``cuda_fp32``) the compiled graph computes the same fp32 operations, but
inductor fuses and reorders the elementwise and reduction work (BatchNorm statistics over B*H*W
values), ~1e-6 relative per layer; through 20-56 layers forward and back that stays under 1e-4, so
logits within 1e-3 and gradients within 5e-3 (relative L2 norm). A graph that computes something
else (BN in the wrong mode, a dropped op, a wrong layout) is off by O(1).
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from poolbench.models import create_model

pytestmark = pytest.mark.cuda


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm().clamp(min=1e-12)).item()


@pytest.mark.parametrize("name", ["resnet56", "vgg16_bn", "mobilenetv2"])
def test_compiled_training_step_equals_eager(cuda_fp32, name):
    torch._dynamo.reset()  # the models share PooledClassifier.forward: a fresh recompile budget each
    torch.manual_seed(0)
    eager = create_model(name, num_classes=10).to(cuda_fp32).to(memory_format=torch.channels_last)
    compiled_model = copy.deepcopy(eager)
    step = torch.compile(compiled_model)
    # the protocol's batch and layout, as the bench's compiled path: inductor's cache may then serve it
    x = torch.randn(128, 3, 32, 32, device=cuda_fp32).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (128,), device=cuda_fp32)
    outs = []
    for model in (eager, step):
        model.train()
        logits = model(x)
        F.cross_entropy(logits, y).backward()
        outs.append(logits.detach())
    assert _rel(outs[1], outs[0]) <= 1e-3, f"{name} logits: {_rel(outs[1], outs[0]):.3g}"
    grads = [torch.cat([p.grad.flatten() for p in m.parameters()]) for m in (eager, compiled_model)]
    assert _rel(grads[1], grads[0]) <= 5e-3, f"{name} gradients: {_rel(grads[1], grads[0]):.3g}"
    for (bname, b), (_, c) in zip(eager.named_buffers(), compiled_model.named_buffers(), strict=True):
        if b.is_floating_point():
            assert _rel(c, b) <= 1e-3, f"{name} {bname}"
