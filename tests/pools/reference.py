"""Compare a pool with its paper's equation written out independently (plain float64 torch ops,
one sample at a time), forward and gradient, with the pool's weights copied into the reference."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn

Reference = Callable[[torch.Tensor, dict[str, torch.Tensor]], torch.Tensor]


def perturb(pool: nn.Module, seed: int = 0, scale: float = 0.3) -> nn.Module:
    """Move every parameter away from its initial value (zero-initialised ones included)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in pool.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g))
    return pool


def assert_matches_reference(pool: nn.Module, reference: Reference, x: torch.Tensor, rtol=1e-4, atol=1e-5) -> None:
    """``reference(x, weights)`` gets x and every parameter and buffer of ``pool`` (by name) as
    float64 leaves; outputs and the gradients of <y, g> w.r.t. x and every parameter must agree."""
    weights = {n: t.detach().double().clone().requires_grad_(t.requires_grad) for n, t in pool.named_parameters()}
    weights.update({n: t.detach().double().clone() for n, t in pool.named_buffers()})
    xr = x.detach().double().clone().requires_grad_(True)
    xm = x.detach().clone().requires_grad_(True)
    y_ref, y = reference(xr, weights), pool(xm)
    assert y.shape == y_ref.shape, (y.shape, y_ref.shape)
    torch.testing.assert_close(y.double(), y_ref.detach(), rtol=rtol, atol=atol)
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(1))
    (y * g).sum().backward()
    (y_ref * g.double()).sum().backward()
    assert xm.grad is not None and xr.grad is not None
    torch.testing.assert_close(xm.grad.double(), xr.grad, rtol=rtol, atol=atol, msg="input gradient")
    for name, p in pool.named_parameters():
        if p.requires_grad:
            ref_grad = weights[name].grad
            assert p.grad is not None and ref_grad is not None, name
            torch.testing.assert_close(p.grad.double(), ref_grad, rtol=rtol, atol=atol, msg=f"gradient of {name}")


def layer_norm(v: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float) -> torch.Tensor:
    """Ba, Kiros & Hinton 2016: (v - mean) / sqrt(var + eps) * weight + bias over the last axis."""
    mean = v.sum(-1, keepdim=True) / v.shape[-1]
    var = ((v - mean) ** 2).sum(-1, keepdim=True) / v.shape[-1]
    return (v - mean) / torch.sqrt(var + eps) * weight + bias


def softmax(s: torch.Tensor) -> torch.Tensor:
    e = torch.exp(s - s.max(-1, keepdim=True).values)
    return e / e.sum(-1, keepdim=True)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int) -> torch.Tensor:
    """One sample: q [L, C], k and v [N, C]; per head h: softmax(q_h k_h^T / sqrt(d)) v_h, concatenated."""
    d = q.shape[1] // heads
    parts = []
    for h in range(heads):
        cols = slice(h * d, (h + 1) * d)
        a = softmax(q[:, cols] @ k[:, cols].T / d**0.5)
        parts.append(a @ v[:, cols])
    return torch.cat(parts, dim=1)


def linear(x: torch.Tensor, w: dict[str, torch.Tensor], name: str) -> torch.Tensor:
    """x W^T + b for the weights ``name.weight`` (and ``name.bias`` when there is one)."""
    y = x @ w[f"{name}.weight"].T
    return y + w[f"{name}.bias"] if f"{name}.bias" in w else y


def map_positions(x: torch.Tensor, i: int) -> torch.Tensor:
    """Sample i of [B, C, H, W] as its N = H*W position vectors, [N, C], row-major."""
    c = x.shape[1]
    return x[i].reshape(c, -1).T
