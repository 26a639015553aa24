"""Simple Auxiliary Classifiers: the loss formula, evaluation without aux heads, all models, CLI run."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from poolbench.models import create_model
from poolbench.models.aux import SACModel, with_aux_classifiers


def _model(name: str = "resnet20", pool: str = "flex", **kw):
    torch.manual_seed(0)
    return create_model(name, num_classes=10, in_chans=3, pool=pool, **kw)


def _by_hand(model, sac, x, y, lambdas):
    """The paper's Eq. 3 computed here: lambda_s CE(aux_s) in stage order, lambda_last CE(main)."""
    feats = model.forward_stages(x)
    heads = [h(feats[s - 1]) for s, h in zip(sac.aux_stages, sac.aux_heads, strict=True)] + [
        model.forward_head(feats[-1])
    ]
    return sum(lam * F.cross_entropy(h, y) for lam, h in zip(lambdas, heads, strict=True))


@pytest.mark.parametrize(
    "preset, lambdas", [(None, (0.1, 0.2, 0.7)), ("paper", (0.1, 0.2, 0.7)), ("code", (0.01, 0.11, 0.88))]
)
def test_resnet20_default_is_the_papers_eq3_on_stages_1_and_2(preset, lambdas):
    model = _model()
    sac = with_aux_classifiers(model, weights=preset)
    assert sac.aux_stages == [1, 2] and sac.weights == list(lambdas)
    # each auxiliary head: FlexPool + Linear on that stage's width (16, 32 channels)
    assert [h.fc.in_features for h in sac.aux_heads] == [16, 32]
    assert all(type(h.pool) is type(model.pool) for h in sac.aux_heads)
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    sac.eval()  # BN in eval mode: the separate forward passes below see identical activations
    loss, logits = sac.training_loss(x, y, F.cross_entropy)
    assert torch.allclose(loss, _by_hand(model, sac, x, y, lambdas), atol=1e-6)
    assert torch.equal(sac(x), model(x)) and torch.allclose(logits, model(x), atol=1e-6)


@pytest.mark.parametrize("name", ["resnet20", "vgg16_bn", "mobilenetv2"])
def test_any_model_takes_explicit_weights_and_eval_ignores_aux(name):
    model = _model(name)
    n = len(model.stage_channels)
    lambdas = [0.05 * (i + 1) for i in range(n - 1)] + [0.6]
    sac = with_aux_classifiers(model, weights=lambdas)
    assert sac.aux_stages == list(range(1, n)) and len(sac.aux_heads) == n - 1
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    sac.eval()
    loss, _ = sac.training_loss(x, y, F.cross_entropy)
    assert torch.allclose(loss, _by_hand(model, sac, x, y, lambdas), atol=1e-5)
    assert torch.equal(sac(x), model(x))
    if n - 1 != 2:  # the paper's three numbers do not fit this many heads: said, not guessed
        with pytest.raises(ValueError, match="pick 2 stages"):
            with_aux_classifiers(model)


def test_gradients_reach_aux_heads_and_early_stages():
    sac = with_aux_classifiers(_model(), stages=[1], weights=[0.3, 0.7])
    loss, _ = sac.training_loss(torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3]), F.cross_entropy)
    loss.backward()
    assert sac.aux_heads[0].fc.weight.grad.abs().sum() > 0
    assert sac.model.stages[0][0].conv1.weight.grad.abs().sum() > 0


def test_reported_model_excludes_aux_heads():
    model = _model()
    sac = with_aux_classifiers(model)
    main = sum(p.numel() for p in model.parameters())
    aux = sum(p.numel() for p in sac.aux_heads.parameters())
    assert aux > 0 and sac.num_params() == main and sac.num_params(main_only=False) == main + aux
    fresh = _model()
    fresh.load_state_dict(sac.main_state_dict())  # strict: no aux keys, nothing missing
    x = torch.randn(2, 3, 32, 32)
    sac.eval(), fresh.eval()
    assert torch.equal(fresh(x), sac(x))
    assert sac.stage_channels == model.stage_channels and sac.pool is model.pool  # delegated attributes


def test_pool_regulariser_adds_the_papers_r_over_main_and_aux_pools():
    model = _model(pool_args={"weighting": "raw"})
    sac = with_aux_classifiers(model, weights="paper", pool_args={"weighting": "raw"}, pool_reg=0.01)
    x, y = torch.randn(2, 3, 32, 32), torch.tensor([0, 1])
    sac.eval()
    base, _ = sac.training_loss(x, y, F.cross_entropy)  # raw weights start at 1/(H*W): R = 0
    assert torch.allclose(base, _by_hand(model, sac, x, y, (0.1, 0.2, 0.7)), atol=1e-6)
    with torch.no_grad():
        model.pool.logits.fill_(2 / 64)  # main 64x8x8: each channel sums to 2, R = 64 * (2-1)^2
        sac.aux_heads[0].pool.logits.fill_(0.0)  # aux 1, 16x32x32: each sums to 0, R = 16 * 1
    loss, _ = sac.training_loss(x, y, F.cross_entropy)
    want = _by_hand(model, sac, x, y, (0.1, 0.2, 0.7)) + 0.01 * (64 * 1.0 + 16 * 1.0)
    assert torch.allclose(loss, want, atol=1e-5)
    with pytest.raises(ValueError, match="weighting=raw"):
        with_aux_classifiers(_model(pool="avg"), stages=[], pool_reg=0.01)
    with pytest.raises(ValueError, match="weighting=raw"):  # softmax flex: R is identically 0, refused
        with_aux_classifiers(_model(), stages=[], pool_reg=0.01)


def test_bad_stages_and_weights():
    with pytest.raises(ValueError, match="1..3"):
        with_aux_classifiers(_model(), stages=[0])
    with pytest.raises(ValueError, match="repeat"):
        with_aux_classifiers(_model(), stages=[1, 1])
    with pytest.raises(ValueError, match="2 weights"):
        with_aux_classifiers(_model(), stages=[2], weights=[0.1, 0.2, 0.7])
    with pytest.raises(ValueError, match="unknown SAC weights"):
        with_aux_classifiers(_model(), weights="googlenet")
    assert with_aux_classifiers(_model(), stages=[]).weights == [1.0]  # the regulariser alone
    assert isinstance(with_aux_classifiers(_model()), SACModel)


@pytest.mark.slow  # three CLI runs: 5-8 s each on 2 cores
@pytest.mark.parametrize(
    "extra",
    [[], ["--sac-weights", "code"], ["--pool-arg", "weighting=raw", "--pool-reg", "1e-4", "--drop-rate", "0.25"]],
    ids=["sac", "sac-code", "sac+reg+drop"],
)
def test_cli_run_with_flex_and_sac(tmp_path, extra):
    from poolbench.cli import main
    from poolbench.runs import RunDir

    rc = main(
        [
            "run",
            "--seeds",
            "0",
            "--model",
            "resnet20",
            "--dataset",
            "synthetic",
            "--pool",
            "flex",
            "--sac",
            *extra,
            "--epochs",
            "1",
            "--train-subset",
            "128",
            "--test-subset",
            "64",
            "--runs-dir",
            str(tmp_path),
            "--device",
            "cpu",
            "--no-progress",
        ]
    )
    assert rc == 0
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    cfg = json.loads((run_dir / "config.json").read_text())
    # the numbers the run means are in its config (and so in its id), never only a preset's name
    assert cfg["sac"]["weights"] == ([0.01, 0.11, 0.88] if "code" in extra else [0.1, 0.2, 0.7])
    assert cfg["flex_sac_version"] == 2
    if "--pool-reg" in extra:
        assert cfg["pool_reg"] == 1e-4 and "pool_reg" not in cfg["sac"] and cfg["model_args"]["drop_rate"] == 0.25
    state = RunDir(tmp_path, run_dir.name).load_checkpoint()["model"]
    assert any(k.startswith("aux_heads.") for k in state), "the run trained without auxiliary heads"
    assert json.loads((run_dir / "result.json").read_text())["status"] == "finished"


def test_a_runs_auxiliary_pools_take_the_main_pools_arguments_but_not_its_map():
    from poolbench.train import Protocol, RunConfig
    from poolbench.train.build import build_model

    class Data:  # what build_model reads of the data
        num_classes, in_chans = 10, 3

    cfg = RunConfig(
        model="resnet20",
        dataset="synthetic",
        pool="flex",
        sac={"weights": "paper"},
        pool_args={"weighting": "raw", "size": [8, 8]},
        protocol=Protocol(epochs=1),
    )
    model = build_model(cfg, Data())
    assert [h.pool.weighting for h in model.aux_heads] == ["raw", "raw"]  # the raw variant throughout
    assert model.pool.logits.shape == (64, 8, 8) and all(h.pool.logits.numel() == 0 for h in model.aux_heads)


def test_sac_offers_exactly_the_main_models_trunk_and_head_it_lists():
    model = _model()
    sac = with_aux_classifiers(model, stages=[1], weights=[0.3, 0.7]).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        feats = sac.forward_features(x)
        assert torch.equal(feats, model.forward_features(x))
        assert [f.shape for f in sac.forward_stages(x)] == [f.shape for f in model.forward_stages(x)]
        assert torch.equal(sac.forward_head(feats, pre_logits=True), model.forward_head(feats, pre_logits=True))
    assert sac.num_features == model.num_features and sac.stages is model.stages
    assert sac.get_classifier() is model.classifier and sac.downsample_entry is model.downsample_entry
    for name in ("head", "entry_block", "reset_head", "no_such_attribute"):  # not forwarded any more
        with pytest.raises(AttributeError):
            getattr(sac, name)
    with pytest.raises(AttributeError, match="read-only"):
        sac.pool = torch.nn.Identity()
