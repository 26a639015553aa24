"""poolbench show: the PNGs exist, are images, and pool_weights.png only where weights are learned."""

from __future__ import annotations

import pytest
from PIL import Image

from poolbench.cli import main
from tests.cli.seed_runs import tiny_run


def _is_png(path) -> bool:
    with Image.open(path) as im:
        return im.format == "PNG" and im.size[0] > 100 and im.size[1] > 100


@pytest.mark.slow  # trains: 6-70 s on 2 cores shared with other jobs (pytest --durations)
def test_show_writes_the_pictures_of_a_flex_sac_run(tmp_path_factory):
    run = tiny_run(tmp_path_factory, "flex", sac={"stages": [1], "weights": [0.3, 0.7]})
    assert main(["show", str(run), "--n", "64"]) == 0
    for name in ("pool_weights.png", "curves.png", "class_features.png"):
        assert _is_png(run / name), name


@pytest.mark.slow  # trains: 6-70 s on 2 cores shared with other jobs (pytest --durations)
def test_show_without_learned_weights_skips_that_picture(tmp_path_factory, tmp_path, capsys):
    run = tiny_run(tmp_path_factory, "avg")
    assert main(["show", str(run), "--out", str(tmp_path), "--n", "64"]) == 0
    assert not (tmp_path / "pool_weights.png").exists() and _is_png(tmp_path / "curves.png")
    assert "no learned spatial weights" in capsys.readouterr().out


def test_pictures_of_attention_and_an_lda_downsampling(tmp_path):
    import torch

    from poolbench import viz
    from poolbench.lda.downsample import LDADownsample
    from poolbench.models import create_model

    model = create_model("resnet20", num_classes=10, pool="attn")
    # stage 2's entry becomes a (random, untrained) LDA downsampling 16x32x32 -> 32x16x16
    model.stages[1][0] = LDADownsample(torch.rand(2, 256, 1024), (32, 32), (16, 16))
    assert [type(m).__name__ for _, m in viz.spatial_modules(model)] == ["LDADownsample", "AttnPool"]
    images = torch.rand(4, 32, 32, 3).numpy()
    assert viz.plot_pool_weights(model, torch.randn(4, 3, 32, 32), tmp_path / "w.png", images)
    assert _is_png(tmp_path / "w.png")
