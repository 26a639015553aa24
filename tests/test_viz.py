"""viz's pictures ask the module (``pools.base.DrawsWeightMaps``), never its class name."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from poolbench import viz
from poolbench.lda.downsample import LDADownsample
from poolbench.lda.learned import SGDDownsample
from poolbench.models import create_model
from poolbench.pools import create_pool
from poolbench.pools.base import GlobalPool, WeightMap

X = torch.randn(5, 4, 6, 6)  # [B, C, H, W] map a pool sees
IMAGES = np.random.default_rng(0).random((5, 32, 32, 3))


def _kinds(panels):
    return [kind for _, _, kind in panels]


@pytest.mark.parametrize(
    ("module", "kinds", "labels"),
    [
        (create_pool("flex", channels=4, size=(6, 6)), ["weights"] * 4, ["mean over 4 channels", "channel 2"]),
        (create_pool("flex", per_channel=False, size=(6, 6)), ["weights"], ["shared by all channels"]),
        (create_pool("lda", weights=torch.rand(3, 36)), ["signed"] * 3, ["map 0", "map 2"]),
        (create_pool("attn", channels=4), ["weights"] + ["overlay"] * 3, ["mean over 5 images", "image 2"]),
        (LDADownsample(torch.rand(2, 9, 36), (6, 6), (3, 3)), ["signed"] * 4, ["copy 0, output (1, 1)"]),
        (SGDDownsample((6, 6), (3, 3)), ["signed"] * 4, ["copy 1, output (1, 1)"]),
    ],
    ids=["flex-per-channel", "flex-shared", "lda", "attn", "lda-downsample", "sgd-downsample"],
)
def test_every_pool_with_a_picture_answers_weight_maps_and_viz_draws_what_it_says(module, kinds, labels):
    maps = module.weight_maps(X)
    assert all(isinstance(m, WeightMap) and m.weights.shape == (6, 6) for m in maps)
    panels = viz.pool_panels("head.pool", module, X, IMAGES)
    assert _kinds(panels) == kinds
    titles = " | ".join(title for title, _, _ in panels)
    assert all(label in titles for label in labels), titles
    for (_, arr, kind), m in zip(panels, maps, strict=True):
        want = (32, 32, 3) if kind == "overlay" else (6, 6)  # an overlay is drawn on the image
        assert arr.shape == want
        if kind != "overlay":
            assert np.allclose(arr, m.weights.numpy())


def test_weight_maps_are_the_modules_own_weights():
    flex = create_pool("flex", channels=4, size=(6, 6))
    with torch.no_grad():
        flex.logits.normal_()
    w = flex.spatial_weights(X)  # [C, H, W], each map sums to 1
    maps = flex.weight_maps(X)
    assert torch.allclose(maps[0].weights, w.mean(0)) and torch.equal(maps[1].weights, w[0])
    attn = create_pool("attn", channels=4)
    with torch.no_grad():
        attn.query.normal_()
    a = attn.spatial_weights(X)  # [B, H, W]
    amaps = attn.weight_maps(X)
    assert torch.allclose(amaps[0].weights, a.mean(0)) and [m.image for m in amaps] == [None, 0, 1, 2]
    p = torch.rand(2, 9, 36)
    down = LDADownsample(p, (6, 6), (3, 3)).weight_maps()
    # copy 0: outputs 0, 4 (the centre of 3x3) and 8; then the last copy's centre
    assert [
        torch.equal(m.weights, p[k, j].reshape(6, 6))
        for m, (k, j) in zip(down, [(0, 0), (0, 4), (0, 8), (1, 4)], strict=True)
    ] == [True] * 4


def test_image_maps_without_images_are_left_out():
    assert _kinds(viz.pool_panels("p", create_pool("attn", channels=4), X, None)) == ["weights"]


class _CornerPool(GlobalPool):
    """A pool viz has never heard of: it reads the top-left position and says so."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, 0, 0]

    def weight_maps(self, x: torch.Tensor | None = None) -> list[WeightMap]:
        w = torch.zeros(x.shape[2:])
        w[0, 0] = 1.0
        return [WeightMap("top-left corner", w)]


def test_a_new_pool_gets_its_picture_by_answering_the_protocol(tmp_path):
    model = create_model("resnet20", num_classes=10, pool=_CornerPool)
    assert [(name, type(m)) for name, m in viz.spatial_modules(model)] == [("head.pool", _CornerPool)]
    assert viz.plot_pool_weights(model, torch.randn(2, 3, 32, 32), tmp_path / "w.png")
    assert (tmp_path / "w.png").stat().st_size > 0
    plain = create_model("resnet20", num_classes=10, pool="gem")  # no weights over positions
    assert viz.spatial_modules(plain) == [] and not viz.plot_pool_weights(
        plain, torch.randn(2, 3, 32, 32), tmp_path / "n.png"
    )
    with pytest.raises(TypeError, match="weight_maps"):
        viz.pool_panels("x", nn.Identity(), None, None)


def test_pooled_features_are_forward_head_pre_logits():
    model = create_model("resnet20", num_classes=10, pool="catavgmax").eval()
    x = torch.randn(7, 3, 32, 32)
    feats = viz.pooled_features(model, x, batch=3)
    with torch.no_grad():
        want = model.pool(model.forward_features(x)).flatten(1)
    assert feats.shape == (7, 2 * model.num_features) and torch.allclose(feats, want, atol=1e-6)


def test_a_picture_whose_name_is_a_planted_link_is_refused_and_its_target_untouched(tmp_path):
    from poolbench.fileio import UnsafeFileError

    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "w.png").symlink_to(victim)
    model = create_model("resnet20", num_classes=10, pool=_CornerPool)
    with pytest.raises(UnsafeFileError, match="symbolic link"):
        viz.plot_pool_weights(model, torch.randn(2, 3, 32, 32), tmp_path / "w.png")
    assert victim.read_text() == "precious"
