"""Packed training (K models as one network) equals K separate runs, in fp32, within 1e-5."""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from poolbench.data import load_dataset
from poolbench.data.augment import normalize
from poolbench.models import create_model
from poolbench.runs import RunDir
from poolbench.train import Protocol, RunConfig
from poolbench.train.build import make_optimizer
from poolbench.train.engine import train_run
from poolbench.train.packed import train_packed
from poolbench.train.packing import (
    NotPackable,
    can_pack,
    load_members,
    load_optimizer_members,
    pack_models,
    plan_packs,
    unpack_optimizer_state,
    unpack_state,
)
from poolbench.train.resolve import resolve

from .folders import write_folder

TOL = 1e-5
STEPS = 20
CFG = RunConfig(model="resnet20", dataset="synthetic")  # its protocol: lr 0.1, momentum 0.9, wd 5e-4
SIZE = 8  # small images keep the test fast on a busy CPU; every model here accepts them (stride 4: 2x2 maps)


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: the same reduction order on both sides, and no OpenMP barrier stalls
    (two threads on a loaded 2-core machine made these tests ~25x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def native_convs():
    with torch.backends.mkldnn.flags(enabled=False):  # see test_k3_packed_training_equals_...
        yield


def _models(name, pools, seeds, **kw):
    out = []
    for pool, seed in zip(pools, seeds, strict=True):
        torch.manual_seed(seed)
        out.append(create_model(name, num_classes=10, pool=pool, **kw))
    return out


@functools.lru_cache(maxsize=1)
def _images():
    ds = load_dataset("synthetic")  # learnable images: random ones make GeM's p blow up at lr 0.1
    x = normalize(ds.train_x[:, :, :: 32 // SIZE, :: 32 // SIZE], ds.mean, ds.std)
    return x, ds.train_y


def _batches(seed, steps=STEPS, b=16):
    x, y = _images()
    g = torch.Generator().manual_seed(seed)
    idx = [torch.randint(0, len(y), (b,), generator=g) for _ in range(steps)]
    return [(x[i], y[i]) for i in idx]


def _packed_step(packed, opt, step):
    x = torch.cat([x for x, _ in step], 1)
    y = torch.stack([y for _, y in step], 1)
    logits = packed(x)
    per = torch.stack([F.cross_entropy(logits[:, k], y[:, k]) for k in range(packed.k)])
    opt.zero_grad(set_to_none=True)
    per.sum().backward()
    opt.step()
    return per.tolist()


def _train_packed(packed, data, rng_seeds):
    opt, losses = make_optimizer(packed, CFG), []
    packed.rng.seed(rng_seeds, torch.device("cpu"))
    for step in zip(*data, strict=True):
        losses.append(_packed_step(packed, opt, step))
    return [list(col) for col in zip(*losses, strict=True)], opt


def _train_separately(models, data, rng_seeds):
    """Three separate runs, each with its own optimizer and global-RNG stream (seeded like the engine)."""
    losses, opts = [], []
    for m, batches, s in zip(models, data, rng_seeds, strict=True):
        opt, ls = make_optimizer(m, CFG), []
        torch.manual_seed(s)
        for x, y in batches:
            loss = F.cross_entropy(m(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            ls.append(loss.item())
        losses.append(ls)
        opts.append(opt)
    return losses, opts


def _assert_close(a, b, what, tol=TOL):
    assert a.keys() == b.keys(), what
    for key in a:
        if torch.is_tensor(a[key]) and a[key].is_floating_point():
            err = (a[key] - b[key]).abs().max().item()
            assert err <= tol * max(1.0, b[key].abs().max().item()), f"{what} {key}: {err:.3g}"
        else:
            assert torch.equal(torch.as_tensor(a[key]), torch.as_tensor(b[key])), f"{what} {key}"


def _compare(name, pools, kw, steps, tol, batch=16):
    seeds = list(range(len(pools)))
    data = [_batches(100 + s, steps, batch) for s in seeds]
    packed = pack_models(_models(name, pools, seeds, **kw))
    got, popt = _train_packed(packed, data, [7, 8, 9])
    separate = _models(name, pools, seeds, **kw)
    want, opts = _train_separately(separate, data, [7, 8, 9])
    assert all(math.isfinite(v) for w in want for v in w), "the reference runs must not diverge"
    for k in range(len(pools)):
        err = max(abs(a - b) for a, b in zip(got[k], want[k], strict=True))
        assert err <= tol, f"model {k}: losses differ by {err:.3g}"
    for k, (state, opt_state) in enumerate(
        zip(unpack_state(packed), unpack_optimizer_state(packed, popt), strict=True)
    ):
        _assert_close(state, separate[k].state_dict(), f"model {k}", tol)  # weights and BN statistics
        mom = {j: st["momentum_buffer"] for j, st in opt_state["state"].items()}
        ref = {j: st["momentum_buffer"] for j, st in opts[k].state_dict()["state"].items()}
        _assert_close(mom, ref, f"model {k} momentum", tol)


@pytest.mark.parametrize(
    "name,pools,kw",
    [
        ("resnet20", ["avg", "avg", "avg"], {}),  # K seeds of one config
        # GeM's two cases keep the small normal(0, 0.01) head (init="torchvision"): from the ResNets'
        # reference init (initial loss 4.7 instead of 2.3) GeM's loss is NaN by step 14 on these 8x8
        # images at lr 0.1, and the comparison needs finite reference runs
        (
            "resnet20",
            ["gem", "avgmax_gated", "attn"],
            {"init": "torchvision"},
        ),  # learnable, gated, cross-channel attention
        ("resnet20", ["stochastic", "gem", "avg"], {"drop_rate": 0.5, "init": "torchvision"}),  # each model's own RNG
        ("resnet20", ["mixed", "gem_channel", "lse"], {}),  # per-channel pool parameters
    ],
)
def test_k3_packed_training_equals_three_separate_runs(name, pools, kw):
    """K=3 packed models, 20 SGD steps (the protocol's lr 0.1, momentum, weight decay, fp32), against
    three separate runs: every step's loss, and the final weights, BN statistics and momentum buffers,
    within 1e-5.

    The convolution backend is pinned to PyTorch's native kernels for both sides. With oneDNN (the
    default on CPU) a grouped convolution with 3 input channels per group (the stem) takes another
    kernel than a plain one and rounds differently (~1e-7); early training at lr 0.1 amplifies any
    such difference ~3x per step and ReLU's kink makes some of it discrete, so after 20 steps two
    *separate* runs whose weights differ by 1e-7 are ~0.1 apart in loss. The native kernels compute
    a grouped convolution group by group like a plain one, which isolates what is being tested: the
    packing mathematics (the default backend is checked by the next test).
    """
    with torch.backends.mkldnn.flags(enabled=False):
        _compare(name, pools, kw, STEPS, TOL)


@pytest.mark.slow  # trains packed and separate runs: 3-12 s on 2 cores
def test_packed_depthwise_convs_equal_separate_runs():
    """MobileNetV2 (depthwise convs: groups = K * hidden); fewer, smaller steps because PyTorch's
    native depthwise kernels (pinned, see above) are slow on CPU."""
    with torch.backends.mkldnn.flags(enabled=False):
        _compare("mobilenetv2", ["avg", "gem", "attn"], {}, 5, TOL, batch=8)


def test_packed_training_on_the_default_backend_stays_within_rounding():
    _compare("resnet20", ["gem", "avgmax_gated", "avg"], {}, 3, 1e-3)


def test_unpack_pack_round_trip_of_weights_and_optimizer():
    models = _models("resnet20", ["avg", "gem", "avgmax_gated"], [0, 1, 2])
    packed = pack_models(models)
    _, opt = _train_packed(packed, [_batches(s, steps=2) for s in range(3)], [0, 1, 2])
    states, opt_states = unpack_state(packed), unpack_optimizer_state(packed, opt)
    # every member state loads into a freshly built member model (the checkpoint contract)
    for m, s, o in zip(models, states, opt_states, strict=True):
        m.load_state_dict(s)
        make_optimizer(m, CFG).load_state_dict(o)
    again = pack_models(_models("resnet20", ["avg", "gem", "avgmax_gated"], [5, 6, 7]))
    load_members(again, states)
    opt2 = make_optimizer(again, CFG)
    load_optimizer_members(again, opt2, opt_states)
    _assert_close(again.state_dict(), packed.state_dict(), "round trip")
    for (_, p), (_, q) in zip(packed.named_parameters(), again.named_parameters(), strict=True):
        assert torch.equal(opt.state[p]["momentum_buffer"], opt2.state[q]["momentum_buffer"])


def test_a_diverged_member_cannot_touch_the_others():
    models = _models("resnet20", ["avg"] * 3, [0, 1, 2])
    with torch.no_grad():
        models[1].stem[0].weight.fill_(float("nan"))
    packed = pack_models(models)
    losses, _ = _train_packed(packed, [_batches(s, steps=3) for s in range(3)], [0, 1, 2])
    states = unpack_state(packed)
    assert all(map(lambda v: v != v, losses[1]))  # NaN
    for k in (0, 2):
        assert all(torch.isfinite(t).all() for t in states[k].values())
        assert all(v == v for v in losses[k])


class Scale(nn.Module):
    def __init__(self):
        super().__init__()
        self.s = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return x * self.s


class ChannelShuffle(nn.Module):  # parameter-free but not per channel: must not be shared silently
    def forward(self, x):
        return x.flip(1)


def test_not_packable_names_the_module():
    models = _models("resnet20", ["avg"] * 2, [0, 1])
    for m in models:
        m.stages[1][0].extra = Scale()
    with pytest.raises(NotPackable, match=r"stages\.1\.0\.extra: Scale holds parameters"):
        pack_models(models)
    models = _models("resnet20", ["avg"] * 2, [0, 1])
    for m in models:
        m.stem[2] = ChannelShuffle()
    with pytest.raises(NotPackable, match=r"stem\.2: ChannelShuffle is not known to act per channel"):
        pack_models(models)
    with pytest.raises(NotPackable, match="differ"):
        pack_models(_models("resnet20", ["avg"], [0]) + _models("resnet32", ["avg"], [0]))
    with pytest.raises(NotPackable, match=r"head\.fc: the models differ in in_features \(128, 64\)"):  # catavgmax: 2C
        pack_models(_models("resnet20", ["avg", "catavgmax"], [0, 1]))


def test_can_pack_and_plan_packs():
    cfg = resolve(CFG)  # the planner compares resolved runs

    def changed(**kw):
        return resolve(cfg.replace(**kw))

    a = [changed(seed=s) for s in range(5)] + [changed(pool="gem", seed=0)]
    assert can_pack(a) == (True, "")
    ok, why = can_pack([cfg, changed(model="resnet32")])
    assert not ok and "model" in why
    ok, why = can_pack([cfg, changed(amp="bf16", seed=1)])
    assert not ok and "amp" in why
    mixed = a + [changed(model="vgg16_bn")]
    packs = plan_packs(mixed, 4)
    assert [len(p) for p in packs] == [4, 2, 1] and packs[2][0].model == "vgg16_bn"


# ----------------------------------------------------------------------------- train_packed end to end
TINY = Protocol(epochs=2, batch_size=32, train_subset=64, test_subset=64)  # 2 steps per epoch


def _metrics(path: Path):
    recs = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]
    for r in recs:
        r.pop("epoch_time_s")
    return recs


def _close(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], float):
            assert abs(a[key] - b[key]) <= 1e-4 * max(1.0, abs(b[key])), key
        else:
            assert a[key] == b[key], key


@pytest.fixture(scope="module")
def separate_runs(tmp_path_factory):
    runs = tmp_path_factory.mktemp("separate")
    cfgs = [
        RunConfig(model="resnet20", dataset="synthetic", pool=p, seed=s, protocol=TINY)
        for p, s in (("avg", 0), ("avg", 1), ("gem", 2))
    ]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with torch.backends.mkldnn.flags(enabled=False):
        results = [train_run(c, runs, device="cpu", progress=False) for c in cfgs]
    torch.set_num_threads(threads)
    return runs, cfgs, results


@pytest.mark.slow  # trains packed and separate runs: 3-12 s on 2 cores
def test_train_packed_writes_the_run_dirs_train_run_writes(separate_runs, tmp_path, native_convs):
    runs, cfgs, want = separate_runs
    got = train_packed(cfgs, tmp_path, device="cpu", progress=False)
    for c, g, w in zip(cfgs, got, want, strict=True):
        assert g["status"] == w["status"] == "finished"
        assert g["best_epoch"] == w["best_epoch"] and abs(g["best_test_acc"] - w["best_test_acc"]) < 1e-6
        for a, b in zip(_metrics(tmp_path / resolve(c).run_id), _metrics(runs / resolve(c).run_id), strict=True):
            _close(a, b)
        assert json.loads((tmp_path / resolve(c).run_id / "config.json").read_text()) == json.loads(
            (runs / resolve(c).run_id / "config.json").read_text()
        )
        assert json.loads((tmp_path / resolve(c).run_id / "pack.json").read_text())["k"] == 3
        # the checkpoint is a plain train_run checkpoint: train_run sees the run as done
        assert train_run(c, tmp_path, device="cpu", progress=False) == g


@pytest.mark.slow  # trains packed and separate runs: 3-12 s on 2 cores
def test_train_packed_resumes_and_skips_finished(separate_runs, tmp_path, native_convs):
    runs, cfgs, want = separate_runs

    def stop_after_first_epoch(msg):
        if msg.startswith(resolve(cfgs[2]).run_id) and "epoch   1/" in msg:
            raise RuntimeError("stop")  # a crash after every member's epoch-1 checkpoint

    train_run(cfgs[0], tmp_path, device="cpu", progress=False)  # member 0 done before the pack
    with pytest.raises(RuntimeError, match="stop"):
        train_packed(cfgs, tmp_path, device="cpu", progress=False, log=stop_after_first_epoch)
    assert RunDir(tmp_path, resolve(cfgs[1]).run_id).read_result()["status"] == "failed"
    assert len(RunDir(tmp_path, resolve(cfgs[2]).run_id).read_metrics()) == 1
    got = train_packed(cfgs, tmp_path, device="cpu", progress=False, log=lambda s: None)
    for c, g, _ in zip(cfgs, got, want, strict=True):
        assert g["status"] == "finished" and g["epochs_completed"] == 2
        for a, b in zip(_metrics(tmp_path / resolve(c).run_id), _metrics(runs / resolve(c).run_id), strict=True):
            _close(a, b)


def test_unpackable_runs_fall_back_to_separate_runs(tmp_path):
    cfgs = [
        RunConfig(model="resnet20", dataset="synthetic", seed=0, protocol=TINY),
        RunConfig(model="resnet20", dataset="synthetic", seed=1, protocol=TINY, pool="catavgmax"),
    ]
    said = []
    got = train_packed(cfgs, tmp_path, device="cpu", progress=False, log=said.append)
    assert [g["status"] for g in got] == ["finished", "finished"]
    assert any("not packing" in s and "in_features" in s for s in said)


NAN_POOL = '''
import torch
from poolbench.pools.base import GlobalPool


class NanAfterTwoSteps(GlobalPool):
    """Average pooling that turns NaN from its third training step on: a run that diverges."""

    def __init__(self):
        super().__init__()
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))

    def forward(self, x):
        if self.training:
            self.calls += 1
        out = x.mean((2, 3))
        return out * float("nan") if self.calls > 2 else out
'''


@pytest.mark.slow  # trains packed and separate runs: 3-12 s on 2 cores
def test_a_diverging_member_is_recorded_and_the_others_go_on(tmp_path, native_convs):
    (tmp_path / "nanpool.py").write_text(NAN_POOL)
    proto = Protocol(epochs=3, batch_size=32, train_subset=64, test_subset=64)
    cfgs = [
        RunConfig(model="resnet20", dataset="synthetic", seed=0, protocol=proto),
        RunConfig(
            model="resnet20",
            dataset="synthetic",
            seed=1,
            protocol=proto,
            pool_file=f"{tmp_path / 'nanpool.py'}:NanAfterTwoSteps",
        ),
        RunConfig(model="resnet20", dataset="synthetic", seed=2, protocol=proto, pool="gem"),
    ]
    said = []
    got = train_packed(cfgs, tmp_path / "packed", device="cpu", progress=False, log=said.append)
    assert [g["status"] for g in got] == ["finished", "diverged", "finished"]
    assert got[1]["diverged_at_epoch"] == 2 and got[1]["best_test_acc"] is None
    assert any("diverged" in s for s in said)
    # the survivors trained on, repacked, exactly as on their own
    for c in (cfgs[0], cfgs[2]):
        train_run(c, tmp_path / "separate", device="cpu", progress=False)
        for a, b in zip(
            _metrics(tmp_path / "packed" / resolve(c).run_id),
            _metrics(tmp_path / "separate" / resolve(c).run_id),
            strict=True,
        ):
            _close(a, b)


# ----------------------------------------------------------------------------- the production step, fast
def _production_pack_against_single_runs(tmp_path, monkeypatch, pools, epochs, model_args):
    """``PackedTrainer.train_epoch`` (the code ``train_packed`` runs) against ``SingleTrainer.train_epoch``
    (the code ``train_run`` runs), K = len(pools), ``epochs`` tiny epochs of two SGD steps each: the
    same losses every epoch and the same weights and momentum afterwards."""
    from poolbench.train.build import build_model
    from poolbench.train.engine import SingleTrainer
    from poolbench.train.inputs import prepare_data
    from poolbench.train.packed import PackedTrainer

    monkeypatch.setenv("POOLBENCH_CACHE", str(tmp_path / "cache"))
    folder = write_folder(tmp_path / "images", ["a", "b"], n_train=16, n_test=2)
    protocol = Protocol(epochs=epochs, batch_size=16)
    cfgs = [
        RunConfig(
            model="cnn4",
            dataset="imagefolder",
            data_path=str(folder),
            pool=p,
            seed=s,
            protocol=protocol,
            model_args={"width": 4, **model_args},
        )
        for s, p in enumerate(pools)
    ]
    device = torch.device("cpu")
    data = prepare_data(cfgs[0], device)
    pack = PackedTrainer(cfgs, [build_model(c, data) for c in cfgs], [None] * len(cfgs), data, device)
    got = [pack.train_epoch(epoch, protocol.lr_at(epoch), None) for epoch in range(epochs)]
    for k, c in enumerate(cfgs):
        single = SingleTrainer(c, data, device, None)
        for epoch in range(epochs):
            want = single.train_epoch(epoch, protocol.lr_at(epoch), None)[0]
            loss = got[epoch][k]["train_loss"]
            assert math.isfinite(want["train_loss"])
            assert abs(loss - want["train_loss"]) <= TOL * max(1.0, abs(want["train_loss"])), (k, epoch)
            assert got[epoch][k]["train_acc"] == want["train_acc"], (k, epoch)
        (model, opt), ((ref_model, ref_opt),) = pack.member_states()[k], single.member_states()
        _assert_close(model, ref_model, f"member {k} weights")
        for pid, ref in ref_opt["state"].items():
            _assert_close(opt["state"][pid], ref, f"member {k} momentum {pid}")


def test_the_production_packed_epoch_steps_each_member_as_its_own_run(tmp_path, monkeypatch, native_convs):
    """K = 2, one epoch: a loss averaged over the members instead of summed would halve every
    member's gradient and step."""
    _production_pack_against_single_runs(tmp_path, monkeypatch, ["avg", "gem"], epochs=1, model_args={})


def test_the_production_packed_epoch_reseeds_each_members_own_randomness_every_epoch(
    tmp_path, monkeypatch, native_convs
):
    """K = 2 random models (stochastic pool, dropout 0.5), two epochs: each member draws its own
    run's numbers in every epoch, so a pack seeded once, or seeded with one member's seed, drifts
    from the separate runs."""
    _production_pack_against_single_runs(
        tmp_path, monkeypatch, ["stochastic", "stochastic"], epochs=2, model_args={"drop_rate": 0.5}
    )
