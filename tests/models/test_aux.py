"""Simple Auxiliary Classifiers: the loss formula, evaluation without aux heads, all models, CLI run."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from poolbench.models import create_model
from poolbench.models.aux import DEFAULT_WEIGHT, SACModel, with_aux_classifiers


def _model(name: str = "resnet20", pool: str = "flex", **kw):
    torch.manual_seed(0)
    return create_model(name, num_classes=10, in_chans=3, pool=pool, **kw)


@pytest.mark.parametrize("name", ["resnet20", "vgg16_bn", "mobilenetv2"])
def test_loss_is_main_plus_weighted_aux_and_eval_ignores_aux(name):
    model = _model(name)
    sac = with_aux_classifiers(model, weight=0.5)
    n = len(model.stage_channels)
    assert sac.aux_stages == list(range(1, n)) and len(sac.aux_heads) == n - 1
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    sac.eval()  # BN in eval mode: the separate forward passes below see identical activations
    loss, logits = sac.training_loss(x, y, F.cross_entropy)
    feats = model.forward_stages(x)
    want = F.cross_entropy(model.forward_head(feats[-1]), y)
    want = want + 0.5 * sum(F.cross_entropy(h(feats[s - 1]), y) for s, h in zip(sac.aux_stages, sac.aux_heads))
    assert torch.allclose(loss, want, atol=1e-5)
    assert torch.equal(sac(x), model(x)) and torch.allclose(logits, model(x), atol=1e-6)
    # the aux heads use the main pool's class (FlexPooling heads, as in the paper)
    assert all(type(h.pool) is type(model.pool) for h in sac.aux_heads)


def test_gradients_reach_aux_heads_and_early_stages():
    sac = with_aux_classifiers(_model(), stages=[1])
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


def test_pool_regulariser_adds_the_flex_penalty():
    sac = with_aux_classifiers(_model(), stages=[], pool_reg=0.01)
    x, y = torch.randn(2, 3, 32, 32), torch.tensor([0, 1])
    sac.eval()
    base, _ = sac.training_loss(x, y, F.cross_entropy)  # logits are zero at init: no penalty yet
    with torch.no_grad():
        sac.model.pool.logits.fill_(2.0)  # 8x8 map: penalty 64 * 4 = 256
    loss, logits = sac.training_loss(x, y, F.cross_entropy)
    assert torch.allclose(loss - F.cross_entropy(logits, y), torch.tensor(0.01 * 256.0), atol=1e-5)
    assert torch.allclose(base, F.cross_entropy(sac(x), y), atol=1e-6)  # zero logits: zero penalty
    with pytest.raises(ValueError, match="weight_penalty"):
        with_aux_classifiers(_model(pool="avg"), stages=[], pool_reg=0.01)


def test_bad_stages_and_default_weight():
    with pytest.raises(ValueError, match="1..3"):
        with_aux_classifiers(_model(), stages=[0])
    with pytest.raises(ValueError, match="repeat"):
        with_aux_classifiers(_model(), stages=[1, 1])
    assert isinstance(with_aux_classifiers(_model()), SACModel) and DEFAULT_WEIGHT == 0.3


@pytest.mark.parametrize("extra", [[], ["--pool-reg", "1e-4", "--drop-rate", "0.25"]], ids=["sac", "sac+reg+drop"])
def test_cli_run_with_flex_and_sac(tmp_path, extra):
    from poolbench.cli import main
    from poolbench.results.store import RunDir

    rc = main(["run", "--model", "resnet20", "--dataset", "synthetic", "--pool", "flex", "--sac", *extra,
               "--epochs", "1", "--train-subset", "128", "--test-subset", "64", "--runs-dir", str(tmp_path),
               "--device", "cpu", "--no-progress"])
    assert rc == 0
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    cfg = json.loads((run_dir / "config.json").read_text())
    assert cfg["sac"] is not None
    if extra:
        assert cfg["sac"]["pool_reg"] == 1e-4 and cfg["model_args"]["drop_rate"] == 0.25
    state = RunDir(tmp_path, run_dir.name).load_checkpoint()["model"]
    assert any(k.startswith("aux_heads.") for k in state), "the run trained without auxiliary heads"
    assert json.loads((run_dir / "result.json").read_text())["status"] == "finished"
