"""clip_attn against CLIP's attention pooling written out per sample (Radford et al. 2021, Sec. 2.4),
its positional embedding resized by bicubic convolution (Keys 1981, a = -0.75) written from the formula."""

import math

import pytest
import torch

from poolbench.pools import build_pool

from .reference import assert_matches_reference, attention, linear, map_positions, perturb


def cubic_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """[n_out, n_in]: half-pixel centres (align_corners=False), Keys' kernel with a = -0.75, edges clamped."""
    a = -0.75

    def kernel(s):
        s = abs(s)
        if s <= 1:
            return ((a + 2) * s - (a + 3)) * s * s + 1
        if s < 2:
            return ((a * s - 5 * a) * s + 8 * a) * s - 4 * a
        return 0.0

    m = torch.zeros(n_out, n_in, dtype=torch.float64)
    for o in range(n_out):
        src = (o + 0.5) * n_in / n_out - 0.5
        base = math.floor(src)
        for j in range(base - 1, base + 3):
            m[o, min(max(j, 0), n_in - 1)] += kernel(src - j)
    return m


def clip_reference(x, w, heads, size):
    h, wd = x.shape[2:]
    pos = w["positional_embedding"]
    if (h, wd) != (size, size):
        grid = pos[1:].reshape(size, size, -1)  # rows in row-major position order
        resized = torch.einsum("ij,jkc,lk->ilc", cubic_matrix(size, h), grid, cubic_matrix(size, wd))
        pos = torch.cat([pos[:1], resized.reshape(h * wd, -1)])
    out = []
    for i in range(x.shape[0]):
        z = map_positions(x, i)
        tokens = torch.cat([z.mean(0, keepdim=True), z]) + pos
        q = linear(tokens[:1], w, "q_proj")
        o = attention(q, linear(tokens, w, "k_proj"), linear(tokens, w, "v_proj"), heads)
        out.append(linear(o, w, "c_proj")[0])
    return torch.stack(out)


@pytest.mark.parametrize("hw", [(4, 4), (3, 5), (6, 7), (1, 1)])
@pytest.mark.parametrize("heads", [1, 2])
def test_clip_attn_equals_clips_attention_pooling(hw, heads):
    torch.manual_seed(0)
    pool = perturb(build_pool("clip_attn", channels=8, num_heads=heads, size=4))
    x = torch.randn(2, 8, *hw)
    assert_matches_reference(pool, lambda x, w: clip_reference(x, w, heads, 4), x)
