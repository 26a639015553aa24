"""resolve(config): the one step that reads the world fills every world-derived field, and nothing else."""

from __future__ import annotations

import hashlib
import json

import pytest

from poolbench.data import DataError
from poolbench.data import datasets as data_cache
from poolbench.train import Protocol, RunConfig
from poolbench.train import data as run_data
from poolbench.train.resolve import check_unchanged, resolve
from poolbench.train.surgery import entry

from .no_io import recording_io

TINY = Protocol(epochs=1, train_subset=32, test_subset=16)


@pytest.fixture(autouse=True, scope="module")
def isolated_cache(tmp_path_factory):
    """One temporary cache for the module: the synthetic set is made once."""
    with pytest.MonkeyPatch.context() as m:
        m.setenv("POOLBENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
        data_cache._MEMORY.clear()
        run_data._MEMORY.clear()
        yield
        data_cache._MEMORY.clear()
        run_data._MEMORY.clear()


def sha16(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


@pytest.fixture
def with_files(tmp_path) -> RunConfig:
    """A cold config that names a pool file and a weights file and uses SAC (a versioned default)."""
    pool, weights = tmp_path / "my_pool.py", tmp_path / "lda.pt"
    pool.write_text("import torch.nn as nn\n\nclass CustomPool(nn.AdaptiveAvgPool2d):\n    pass\n")
    weights.write_bytes(b"a fitted LDA map")
    return RunConfig(
        model="resnet20",
        dataset="synthetic",
        pool="file",
        pool_file=f"{pool}:CustomPool",
        surgery=(entry("lda_downsample", layer=2, weights=str(weights)),),
        sac={},
        protocol=TINY,
    )


def test_resolve_fills_every_field_the_world_decides(with_files, tmp_path):
    assert with_files.unresolved() == [
        "pool_file_sha",
        "weight_file_sha",
        "flex_sac_version",
        "init_version",
        "data_fingerprint",
    ]
    resolved = resolve(with_files)
    assert resolved.unresolved() == [] and resolved.is_resolved
    assert resolved.pool_file_sha == sha16(tmp_path / "my_pool.py")
    assert resolved.weight_file_sha == {"model_args.lda_weights": sha16(tmp_path / "lda.pt")}
    assert (resolved.flex_sac_version, resolved.init_version) == (2, 2)  # this code's FlexPool/SAC and init
    selected = run_data.select_data(with_files.data_selection())
    assert resolved.data_fingerprint == run_data.fingerprint_selected(selected)
    assert resolved.data_label == "synthetic"
    everything_else = {k: v for k, v in resolved.to_dict().items() if k not in with_files.unresolved() + ["data_label"]}
    assert everything_else == {k: v for k, v in with_files.to_dict().items() if k in everything_else}
    assert resolved.run_id.startswith("resnet20-synthetic-file-my_pool-CustomPool-s0-")


def test_resolving_a_resolved_config_reads_nothing_and_gives_it_back(with_files, monkeypatch):
    resolved = resolve(with_files)
    with recording_io(monkeypatch) as calls:
        again = resolve(resolved)
        run_id = again.run_id
    assert calls == [] and again == resolved and run_id == resolved.run_id


def test_a_resolved_run_id_survives_a_round_trip_through_config_json(with_files):
    resolved = resolve(with_files)
    stored = json.loads(json.dumps(resolved.to_dict()))
    back = RunConfig.from_dict(stored)
    assert back == resolved and back.run_id == resolved.run_id


def test_a_cold_config_on_missing_data_is_refused_without_a_download(monkeypatch):
    cold = RunConfig(model="resnet20", dataset="cifar10", data_dir="/nonexistent")
    downloads = []
    monkeypatch.setattr("poolbench.data.cifar.download", lambda *a, **k: downloads.append(a))
    with pytest.raises(DataError):
        resolve(cold, download=False)
    assert downloads == []


def test_a_missing_pool_or_weights_file_is_named(tmp_path):
    no_pool = RunConfig(model="cnn4", dataset="synthetic", pool="file", pool_file=f"{tmp_path}/gone.py:CustomPool")
    with pytest.raises(FileNotFoundError, match="pool file .*gone.py not found"):
        resolve(no_pool)
    no_weights = RunConfig(model="cnn4", dataset="synthetic", pool="lda", pool_args={"weights": f"{tmp_path}/w.pt"})
    with pytest.raises(FileNotFoundError, match="pool_args.weights=.*w.pt: no such file; run `poolbench fit-lda`"):
        resolve(no_weights)


def test_data_false_fills_all_but_the_data(with_files, monkeypatch):
    partial = resolve(with_files, data=False)
    assert partial.unresolved() == ["data_fingerprint"] and partial.unresolved(schema=1) == []


def test_an_edited_pool_file_is_refused_before_training(with_files, tmp_path):
    resolved = resolve(with_files)
    check_unchanged(resolved)  # as resolved: fine
    (tmp_path / "my_pool.py").write_text("import torch.nn as nn\n\nclass CustomPool(nn.AdaptiveMaxPool2d):\n    pass\n")
    with pytest.raises(ValueError, match="pool file .*my_pool.py changed since this run was configured"):
        check_unchanged(resolved)
    (tmp_path / "my_pool.py").unlink()
    with pytest.raises(FileNotFoundError, match="pool file .*my_pool.py not found"):
        check_unchanged(resolved)
