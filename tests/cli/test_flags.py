"""Every field a builder or ``preflight`` names maps to the flag that sets it, and the command line
prints ``preflight``'s own first problem, named by that flag."""

from __future__ import annotations

import pytest
import torch

from poolbench.build_error import BuildError
from poolbench.cli import build_parser, main
from poolbench.cli._args import config_from_args
from poolbench.cli._flags import FLAGS, flag_of
from poolbench.cli._validate import one_line_error, usage_error
from poolbench.train.preflight import preflight

RUN = ["run", "--model", "resnet20", "--dataset", "synthetic", "--seeds", "0", "--device", "cpu", "--no-check"]


@pytest.mark.parametrize(
    "field, flag",
    [
        ("sac.stages", "--sac-stages"),
        ("sac.weights", "--sac-weights"),
        ("sac.pool", "--sac"),
        ("pool_reg", "--pool-reg"),
        ("surgery.lda_downsample.layer", "--lda-layer"),
        ("surgery.lda_downsample.weights", "--lda-weights"),
        ("surgery.sgd_downsample.layer", "--surgery"),
        ("model_args.width", "--model-arg"),
        ("model_args.drop_rate", "--drop-rate"),
        ("pool_args.p", "--pool-arg"),
        ("pool_args", "--pool-arg"),
        ("pool", "--pool"),
        ("pool_file", "--pool-file"),
        ("model", "--model"),
        ("dataset", "--dataset"),
    ],
)
def test_each_field_maps_to_the_flag_that_sets_it(field, flag):
    assert flag_of(field)[0] == flag


def test_a_field_no_flag_sets_is_a_hole_in_the_table_not_a_guess():
    with pytest.raises(KeyError, match="cli/_flags.FLAGS"):
        flag_of("protocol.lr")
    assert all(flag.startswith("--") for flag in FLAGS.values())


def test_a_build_errors_field_maps_to_its_flag():
    from poolbench.models import create_model
    from poolbench.models.aux import with_aux_classifiers

    with pytest.raises(BuildError) as err:
        with_aux_classifiers(create_model("resnet20", num_classes=10), pool_reg=1.0)  # avg has no regulariser
    assert flag_of(err.value.field)[0] == "--pool-reg"
    assert str(usage_error(err.value.problem)).startswith("--pool-reg 1.0: ")


@pytest.mark.parametrize(
    "extra, flag",
    [
        (["--sac", "--sac-stages", "7"], "--sac-stages 7"),
        (["--pool-reg", "1"], "--pool-reg 1.0"),
        (["--model-arg", "nosuch=1"], "--model-arg nosuch=1"),
        (["--pool", "gem", "--pool-arg", "nosuch=1"], "--pool-arg nosuch=1"),
        (["--lda-layer", "9", "--lda-weights", "{weights}"], "--lda-layer 9"),
        (["--surgery", "sgd_downsample:layer=7"], "--surgery sgd_downsample:layer=7"),
        (["--surgery", "nosuch:layer=1"], "--surgery nosuch:layer=1"),
    ],
)
def test_the_command_line_prints_preflights_first_problem_named_by_its_flag(tmp_path, capsys, extra, flag):
    weights = tmp_path / "w.pt"
    torch.save({"p": torch.ones(16, 16), "meta": {}}, weights)
    argv = RUN + ["--runs-dir", str(tmp_path / "runs")] + [a.replace("{weights}", str(weights)) for a in extra]
    assert main(argv) == 2
    printed = capsys.readouterr().err.strip()
    args = build_parser().parse_args(argv)
    problems = preflight(config_from_args(args, args.pool, 0))
    assert problems, "preflight finds nothing the command line refuses"
    assert printed == one_line_error("poolbench run", usage_error(problems[0]))
    assert printed.startswith(f"poolbench run: error: {flag}: ")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
