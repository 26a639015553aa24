"""``import poolbench``: the library's face, each name imported on first use (no torch before)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import poolbench

FACE = ["create_pool", "list_pools", "check_pool", "swap_pool", "create_model", "load_trained"]


def test_import_poolbench_loads_no_torch():
    code = "import sys, poolbench\nassert 'torch' not in sys.modules, 'torch loaded by import poolbench'\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    "name, module",
    [(n, "poolbench.pools") for n in FACE[:4]]
    + [("create_model", "poolbench.models"), ("load_trained", "poolbench.trained")],
)
def test_each_name_is_the_function_of_its_module(name, module):
    import importlib

    assert getattr(poolbench, name) is getattr(importlib.import_module(module), name)
    assert name in poolbench.__all__ and name in dir(poolbench)


def test_the_face_works_end_to_end_on_a_poolbench_model():
    assert "gem" in poolbench.list_pools("ge*")
    assert poolbench.create_pool("gem", p=2.0)(torch.rand(2, 3, 4, 4)).shape == (2, 3)
    assert poolbench.check_pool("avg", channels=(8,), compile=False, onnx=False).passed
    model = poolbench.create_model("cnn4", num_classes=5, width=4)
    poolbench.swap_pool(model, "catavgmax")
    assert model.classifier.in_features == 2 * model.num_features
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 5)
    # poolbench.load_trained on a real run: tests/test_trained.py


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'create_pools'"):
        poolbench.create_pools  # noqa: B018
