import math

import pytest

from poolbench.train import STANDARD, Protocol, RunConfig
from poolbench.train.resolve import resolve


def test_standard_protocol_values():
    p = Protocol()
    assert (p.epochs, p.batch_size, p.lr, p.momentum, p.weight_decay) == (200, 128, 0.1, 0.9, 5e-4)
    assert p.is_standard and p.label() == "standard"


def test_cosine_schedule_matches_torch_cosine_annealing():
    import torch

    p = Protocol(epochs=10)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=p.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=p.epochs)
    for e in range(p.epochs):
        assert math.isclose(opt.param_groups[0]["lr"], p.lr_at(e), rel_tol=1e-9, abs_tol=1e-12)
        opt.step()
        sched.step()


def test_any_override_is_non_standard_and_labelled():
    p = Protocol(epochs=30, train_subset=5000)
    assert not p.is_standard
    assert p.label() == "non-standard (epochs=30, train_subset=5000)"
    cfg = RunConfig(model="resnet20", dataset="cifar10", val_split=5000)
    assert not cfg.is_standard and "val_split=5000" in cfg.protocol_label()


def test_run_id_depends_on_identity_not_location():
    a = resolve(RunConfig(model="resnet20", dataset="synthetic", pool="gem", seed=1))
    assert a.run_id == resolve(a.replace(data_dir="/elsewhere", channels_last=True)).run_id
    assert a.run_id != a.replace(seed=2).run_id
    assert a.run_id != a.replace(pool_args={"p": 2.0}).run_id
    assert a.run_id != a.replace(protocol=Protocol(epochs=3)).run_id
    assert a.run_id.startswith("resnet20-synthetic-gem-s1-")
    assert RunConfig.from_dict(a.to_dict()) == a
    assert Protocol() == STANDARD


def test_presets_are_named_non_standard_and_leave_the_benchmark_ids_alone():
    from poolbench.train import RunConfig
    from poolbench.train.presets import PRESETS, preset

    std = Protocol()
    assert set(std.to_dict()) == {
        "epochs",
        "batch_size",
        "lr",
        "momentum",
        "weight_decay",
        "train_subset",
        "test_subset",
        "version",
    }  # the extended fields are absent at defaults
    assert (
        resolve(RunConfig("resnet20", "synthetic")).run_id
        == resolve(RunConfig("resnet20", "synthetic", protocol=Protocol.from_dict(std.to_dict()))).run_id
    )  # (synthetic: a run id fingerprints its data, which must be present)
    r = PRESETS["birodkar2019-resnet-cifar"]
    assert r.label().startswith("non-standard (preset=birodkar2019-resnet-cifar")
    assert [r.lr_at(e) for e in (0, 149, 150, 249, 250, 349)] == pytest.approx([0.1, 0.1, 0.01, 0.01, 1e-3, 1e-3])
    s = PRESETS["birodkar2019-resnet-svhn"]
    assert (s.epochs, s.milestones, s.augment, s.input_norm) == (150, (50, 100), "none", "image")
    c = preset("birodkar2019-cnn-svhn", epochs=3)
    assert (c.optimizer, c.lr, c.schedule, c.epochs, c.lr_at(2)) == ("adam", 1e-3, "constant", 3, 1e-3)
    assert Protocol.from_dict(c.to_dict()) == c
    with pytest.raises(ValueError, match="valid names"):
        preset("nope")
    with pytest.raises(ValueError, match="optimizer"):
        Protocol(optimizer="lion")
