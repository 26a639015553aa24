"""What a run trains on joins its identity: another folder, copy or subset is another run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from poolbench.cli import main
from poolbench.data import datasets
from poolbench.train import Protocol, RunConfig
from poolbench.train import data as run_data
from poolbench.train.resolve import check_unchanged, resolve

from .folders import write_folder


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("POOLBENCH_CACHE", str(tmp_path / "cache"))
    datasets._MEMORY.clear()
    run_data._MEMORY.clear()
    yield
    datasets._MEMORY.clear()
    run_data._MEMORY.clear()


def folder_config(path, **kw) -> RunConfig:
    return RunConfig(model="resnet20", dataset="imagefolder", data_path=str(path), protocol=Protocol(epochs=1), **kw)


def test_two_image_folders_are_two_runs(tmp_path):
    a = write_folder(tmp_path / "big", ["a", "b", "c"])
    b = write_folder(tmp_path / "tiny", ["x", "y"], seed=1)
    assert resolve(folder_config(a)).run_id != resolve(folder_config(b)).run_id
    ca, cb = folder_config(a), folder_config(b)
    assert resolve(ca).data_fingerprint != resolve(cb).data_fingerprint


def test_same_content_elsewhere_is_the_same_run_and_a_subset_is_not(tmp_path):
    a = write_folder(tmp_path / "one", ["a", "b"])
    b = write_folder(tmp_path / "two", ["a", "b"])  # same seed: the same pixels
    assert resolve(folder_config(a)).run_id == resolve(folder_config(b)).run_id
    sub = RunConfig(
        model="resnet20", dataset="imagefolder", data_path=str(a), protocol=Protocol(epochs=1, train_subset=3)
    )
    assert resolve(sub).run_id != resolve(folder_config(a)).run_id


def test_fingerprint_is_cached_on_disk_and_follows_an_edit(tmp_path, monkeypatch):
    a = write_folder(tmp_path / "f", ["a", "b"])
    first = resolve(folder_config(a)).data_fingerprint
    assert list((tmp_path / "cache" / "fingerprints").glob("*.txt"))
    run_data._MEMORY.clear()
    monkeypatch.setattr(run_data, "select_data", lambda c: pytest.fail("recomputed despite the cache"))
    assert resolve(folder_config(a)).data_fingerprint == first
    monkeypatch.undo()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(a / "train" / "a" / "0.png")  # new size/mtime
    assert resolve(folder_config(a)).data_fingerprint != first


def test_replace_drops_the_fingerprint_when_the_selection_changes(tmp_path):
    a = write_folder(tmp_path / "f", ["a", "b"])
    c = resolve(folder_config(a))
    fewer = c.replace(protocol=Protocol(epochs=1, test_subset=1))
    assert fewer.data_fingerprint is None and c.replace(seed=1).data_fingerprint == c.data_fingerprint
    assert resolve(fewer).run_id != c.run_id


@pytest.mark.slow  # trains two runs: 4-12 s on 2 cores
def test_a_second_image_folder_is_its_own_run_not_reported_done_with_the_first_folders_result(tmp_path, capsys):
    """`run --dataset imagefolder --data-path tiny` after a run on another folder trains its own run:
    the two folders differ only in their images, which the run id must see through the data fingerprint."""
    big = write_folder(tmp_path / "big", ["a", "b", "c"])
    tiny = write_folder(tmp_path / "tiny", ["x", "y"], seed=3)
    common = [
        "run",
        "--seeds",
        "0",
        "--model",
        "resnet20",
        "--dataset",
        "imagefolder",
        "--epochs",
        "1",
        "--no-progress",
        "--device",
        "cpu",
        "--runs-dir",
        str(tmp_path / "runs"),
    ]
    assert main(common + ["--data-path", str(big)]) == 0
    assert main(common + ["--data-path", str(tiny)]) == 0
    results = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*/result.json")]
    assert len(results) == 2
    cfgs = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*/config.json")]
    assert {c["data_path"] for c in cfgs} == {str(big), str(tiny)}
    assert all(c["schema"] == 2 and len(c["data_fingerprint"]) == 16 for c in cfgs)


def test_sweep_dry_run_does_not_list_another_folders_runs_as_done(tmp_path, capsys):
    big = write_folder(tmp_path / "big", ["a", "b", "c"])
    tiny = write_folder(tmp_path / "tiny", ["x", "y"], seed=3)
    runs = str(tmp_path / "runs")
    base = [
        "--models",
        "resnet20",
        "--datasets",
        "imagefolder",
        "--pools",
        "avg",
        "--seeds",
        "0",
        "--epochs",
        "1",
        "--runs-dir",
        runs,
        "--no-progress",
    ]
    assert main(["sweep", *base, "--data-path", str(big)]) == 0
    capsys.readouterr()
    assert main(["sweep", *base, "--data-path", str(tiny), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "0 done" in out and "1 new" in out


def test_resuming_on_changed_data_is_refused(tmp_path):
    a = write_folder(tmp_path / "f", ["a", "b"])
    stored = RunConfig.from_dict(json.loads(json.dumps(resolve(folder_config(a)).to_dict())))
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(a / "train" / "a" / "0.png")
    with pytest.raises(ValueError, match="not what this run was configured with"):
        check_unchanged(stored)


def _mirror_one_image(root: Path, split: str) -> None:
    """``split``'s first image of class "a" mirrored left-right: the same pixel values, so the same
    per-channel mean and std (the dataset's normalisation), and the other split byte-identical; only
    that split's image tensor tells the two folders apart."""
    path = root / split / "a" / "0.png"
    Image.fromarray(np.asarray(Image.open(path))[:, ::-1].copy()).save(path)


@pytest.mark.parametrize("split", ["train", "test"])
def test_one_changed_image_in_either_split_is_another_run(tmp_path, split):
    same = resolve(folder_config(write_folder(tmp_path / "same", ["a", "b"])))
    edited_root = write_folder(tmp_path / "edited", ["a", "b"])  # same seed: the same pixels
    _mirror_one_image(edited_root, split)
    edited = resolve(folder_config(edited_root))
    assert same.data_fingerprint != edited.data_fingerprint, f"an edited {split} set"
    assert same.run_id != edited.run_id, f"an edited {split} set shares the run id"
