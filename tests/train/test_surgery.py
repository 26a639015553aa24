"""Paper surgery is declared: registered by name, applied after the model is built, its weights
files hashed, and a value it cannot use named by its field."""

from __future__ import annotations

import pytest
import torch

from poolbench.build_error import BuildError
from poolbench.lda.learned import SGDDownsample
from poolbench.models import create_model
from poolbench.train.surgery import (
    apply_surgery,
    entry,
    get_surgery,
    list_surgeries,
    surgery_problems,
    weight_files,
)


@pytest.mark.parametrize(
    "name, args, weight_args",
    [("lda_downsample", {"layer", "weights"}, {"weights"}), ("sgd_downsample", {"layer"}, set())],
)
def test_each_papers_surgery_is_registered_with_its_arguments(name, args, weight_args):
    s = get_surgery(name)
    assert s.name == name and name in list_surgeries()
    assert {a.name for a in s.args} == args
    assert {a.name for a in s.args if a.weight_file} == weight_args
    assert "Birodkar" in s.source


def test_an_unknown_surgery_lists_the_valid_ones():
    with pytest.raises(ValueError, match="lda_downsample, sgd_downsample"):
        get_surgery("nosuch")
    (problem,) = surgery_problems([entry("nosuch", layer=1)])
    assert problem.field == "surgery.nosuch" and "lda_downsample, sgd_downsample" in problem.fix


def test_an_argument_a_surgery_does_not_take_or_lacks_is_named_by_its_field():
    fields = {p.field for p in surgery_problems([entry("sgd_downsample", layer=1, size=3)])}
    assert fields == {"surgery.sgd_downsample.size"}
    assert [p.field for p in surgery_problems([entry("sgd_downsample")])] == ["surgery.sgd_downsample.layer"]
    assert surgery_problems([entry("sgd_downsample", layer=1), entry("sgd_downsample", layer=2)])  # twice
    assert surgery_problems([entry("sgd_downsample", layer=2)]) == []


def test_surgery_is_applied_to_the_built_model_in_place_of_its_downsampling():
    model = create_model("resnet20", num_classes=10)
    out = apply_surgery(model, [entry("sgd_downsample", layer=2)])
    assert out is model and isinstance(model.stages[2][0][0], SGDDownsample)
    assert model.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_a_layer_the_model_lacks_is_a_build_error_naming_the_field():
    with pytest.raises(BuildError) as err:
        apply_surgery(create_model("resnet20", num_classes=10), [entry("sgd_downsample", layer=9)])
    assert err.value.field == "surgery.sgd_downsample.layer" and err.value.problem.value == 9
    with pytest.raises(BuildError) as err:  # the layer given, its weights file not: the layer is named
        apply_surgery(create_model("resnet20", num_classes=10), [entry("lda_downsample", layer=2)])
    assert err.value.field == "surgery.lda_downsample.layer" and "lda_weights" in err.value.problem.problem


def test_weights_files_are_keyed_where_the_identity_holds_them():
    one = [entry("lda_downsample", layer=2, weights="a.pt")]
    assert weight_files(one) == {"model_args.lda_weights": "a.pt"}
    two = [entry("lda_downsample", layer=[3, 1], weights=["a.pt", "b.pt"]), entry("sgd_downsample", layer=2)]
    assert weight_files(two) == {"model_args.lda_weights[0]": "a.pt", "model_args.lda_weights[1]": "b.pt"}
