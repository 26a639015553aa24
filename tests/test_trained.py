"""poolbench.trained.load_trained: a trained run's config, data and model, and the pool file it
imports only when the caller asks (keyword arguments here; the command line's flags in
tests/cli/test_trained_pool_file.py)."""

from __future__ import annotations

import pytest
import torch

from poolbench.train import Protocol, RunConfig
from poolbench.train.config import pool_fields
from poolbench.train.engine import train_run
from poolbench.train.resolve import resolve
from poolbench.trained import load_trained

POOL = """
from poolbench.pools.base import GlobalPool


class MyPool(GlobalPool):
    def forward(self, x):
        return x.amax((2, 3))
"""
TINY = Protocol(epochs=1, batch_size=16, train_subset=32, test_subset=16)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("trained")
    (root / "mypool.py").write_text(POOL)
    cfg = RunConfig(
        model="cnn4",
        dataset="synthetic",
        seed=0,
        protocol=TINY,
        model_args={"width": 4},
        **pool_fields(f"{root / 'mypool.py'}:MyPool"),
    )
    assert train_run(cfg, root / "runs", device="cpu", progress=False)["status"] == "finished"
    return root / "runs", cfg


def test_a_run_with_a_pool_file_is_refused_until_the_caller_asks_naming_the_keywords(run):
    runs, cfg = run
    with pytest.raises(ValueError, match=r"pass trust_pool_file=True .* or pool_file=PATH to name the file"):
        load_trained(runs / resolve(cfg).run_id)
    loaded = load_trained(
        resolve(cfg).run_id, runs_dir=runs, device="cpu", trust_pool_file=True
    )  # a run id under runs_dir
    assert loaded.config.run_id == resolve(cfg).run_id and type(loaded.model.pool).__name__ == "MyPool"
    assert not loaded.model.training
    checkpoint = torch.load(runs / resolve(cfg).run_id / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(v, checkpoint[k]) for k, v in loaded.model.state_dict().items())
    assert loaded.data.num_classes == 10 and loaded.data.test_x.shape[0] == 16


def test_a_named_pool_file_that_is_not_the_one_trained_with_is_refused(run, tmp_path):
    runs, cfg = run
    other = tmp_path / "other.py"
    other.write_text(POOL.replace("amax", "mean"))
    with pytest.raises(
        ValueError, match=r"^pool_file=.*other\.py:MyPool, but that file is not the one the run trained with"
    ):
        load_trained(runs / resolve(cfg).run_id, pool_file=f"{other}:MyPool")
    assert load_trained(runs / resolve(cfg).run_id, pool_file=cfg.pool_file).model is not None


def test_no_run_directory_is_one_line(tmp_path):
    with pytest.raises(ValueError, match=r"^no run directory 'nope'"):
        load_trained("nope", runs_dir=tmp_path)
