"""Every registered pool on a CUDA GPU: forward and backward on channels_last input, in fp32 and in
bf16 (bf16 input under autocast, as a pool meets it after a bf16 convolution), against the same
module on the CPU in fp32.

Tolerances: fp32 on the GPU with TF32 off (``cuda_fp32``) reorders a reduction over at most 64
positions, ~1e-6 relative, so 1e-4; bf16 keeps 8 mantissa bits (2^-8 ~ 4e-3 relative per rounding)
and a pool rounds its input, its reduction and its output, so 3e-2. A pool that mishandles the
channels_last layout (mixes channels and positions) is off by O(1).
"""

from __future__ import annotations

import copy

import pytest
import torch

from poolbench.pools import build_pool, list_pools

pytestmark = pytest.mark.cuda

C, HW = 16, 8


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.float().cpu() - b.float()).norm() / b.float().norm().clamp(min=1e-12)).item()


@pytest.mark.parametrize("name", list_pools())
def test_pool_forward_backward_on_cuda_channels_last_fp32_and_bf16(cuda_fp32, name):
    torch.manual_seed(0)
    cpu_pool = build_pool(name, C)
    # Every map holds 64 distinct multiples of 1/16 in [-2, 2): exact in bf16, so both precisions see
    # the same input, and no ties, so max-like pools pick the same position on both devices.
    x = ((torch.stack([torch.randperm(HW * HW) for _ in range(4 * C)]).float() - 32) / 16).view(4, C, HW, HW)
    cpu_pool.eval()
    with torch.no_grad():
        cpu_pool(x)  # lazily sized pools take their shapes here, before the copy
    for precision, tol in (("fp32", 1e-4), ("bf16", 3e-2)):
        ref_in = x.clone().requires_grad_(True)
        cpu_pool.zero_grad(set_to_none=True)
        ref = cpu_pool(ref_in)
        ref.sum().backward()
        gpu_pool = copy.deepcopy(cpu_pool).to(cuda_fp32)
        gpu_pool.zero_grad(set_to_none=True)
        dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        gpu_in = x.to(cuda_fp32, dtype).contiguous(memory_format=torch.channels_last).requires_grad_(True)
        with torch.autocast(cuda_fp32.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            out = gpu_pool(gpu_in)
        out.float().sum().backward()
        assert out.shape == ref.shape, f"{name} {precision}: shape {tuple(out.shape)} vs {tuple(ref.shape)}"
        assert torch.isfinite(out.float()).all() and torch.isfinite(gpu_in.grad).all(), f"{name} {precision}"
        assert _rel(out, ref.detach()) <= tol, f"{name} {precision} output: {_rel(out, ref.detach()):.3g}"
        assert _rel(gpu_in.grad, ref_in.grad) <= tol, f"{name} {precision} input grad"
        for (pname, p), (_, q) in zip(gpu_pool.named_parameters(), cpu_pool.named_parameters(), strict=True):
            if q.grad is not None:
                assert p.grad is not None and _rel(p.grad, q.grad) <= tol, f"{name} {precision} grad of {pname}"
    gpu_pool.train()  # training mode (random draws, dropout) runs and stays finite in bf16 too
    with torch.autocast(cuda_fp32.type, dtype=torch.bfloat16):
        y = gpu_pool(x.to(cuda_fp32, torch.bfloat16).contiguous(memory_format=torch.channels_last).requires_grad_(True))
    y.float().sum().backward()
    assert torch.isfinite(y.float()).all()
