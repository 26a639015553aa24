import math

from poolbench.train import STANDARD, Protocol, RunConfig


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
    a = RunConfig(model="resnet20", dataset="cifar10", pool="gem", seed=1)
    assert a.run_id == a.replace(data_dir="/elsewhere", channels_last=True).run_id
    assert a.run_id != a.replace(seed=2).run_id
    assert a.run_id != a.replace(pool_args={"p": 2.0}).run_id
    assert a.run_id != a.replace(protocol=Protocol(epochs=3)).run_id
    assert a.run_id.startswith("resnet20-cifar10-gem-s1-")
    assert RunConfig.from_dict(a.to_dict()) == a
    assert STANDARD == Protocol()
