"""The fit of ``poolbench fit-lda`` as a library: the map a layer takes, the features it fits on,
the written weights; on an untrained cnn4 (the fit needs features, not a trained model)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from poolbench.lda.fit_layer import LayerShape, feature_batches, fit_layer, layer_shape, save_layer_fit
from poolbench.models import create_model
from poolbench.pools.lda import load_lda_weights


@pytest.fixture
def model_and_data():
    torch.manual_seed(0)
    model = create_model("cnn4", num_classes=3, in_chans=3, width=4).eval()
    x = torch.randint(0, 256, (30, 3, 32, 32), dtype=torch.uint8)
    y = torch.arange(30) % 3
    data = SimpleNamespace(train_x=x, train_y=y, num_classes=3, inputs=lambda b: b.float() / 255)
    return model, data


def test_the_map_entering_a_layer_and_the_copies_the_next_stage_takes(model_and_data):
    model, data = model_and_data
    shape = layer_shape(model, data, 2)
    assert shape == LayerShape(2, 8, 16, 16, 2) and shape.out_size == (8, 8)
    assert shape.describe() == "8x16x16 -> 16x8x8"
    final = layer_shape(model, data, "final")
    assert (final.channels, final.height, final.width, final.n_out, final.out_size) == (32, 4, 4, 1, None)
    with pytest.raises(ValueError, match="layer 1 must keep 2 eigenvectors"):
        layer_shape(model, data, 1, n_out=3)
    with pytest.raises(ValueError, match="must be 1..3"):
        layer_shape(model, data, 4)


def test_features_are_the_first_images_of_each_class_through_the_model(model_and_data):
    model, data = model_and_data
    batches = list(feature_batches(model, data, 2, batch=4, max_per_class=2)())
    feats, labels = torch.cat([f for f, _ in batches]), torch.cat([lab for _, lab in batches])
    keep = torch.tensor([0, 1, 2, 3, 4, 5])  # labels cycle 0,1,2: the first two of each class
    assert labels.tolist() == data.train_y[keep].tolist()
    with torch.no_grad():
        expected = model.forward_stages(data.train_x[keep].float() / 255)[1]
    torch.testing.assert_close(feats, expected)


def test_a_fitted_downsampling_is_written_as_one(model_and_data, tmp_path):
    model, data = model_and_data
    shape = layer_shape(model, data, 2)
    p, meta = fit_layer(model, data, shape, alpha=5.0, norm="l1", max_per_class=10)
    path = save_layer_fit(tmp_path / "w.pt", shape, p, meta)
    written, read_meta = load_lda_weights(path)
    assert written.shape == (2, 64, 256) and read_meta["kind"] == "downsample" and read_meta["out_size"] == [8, 8]
    torch.testing.assert_close(written.abs().sum(-1), torch.ones(2, 64), atol=1e-5, rtol=0)  # l1 (Sec. 3.6)
    assert read_meta["images_per_class"] == [10, 10, 10]
