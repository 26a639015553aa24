"""``poolbench harness`` (and ``python custom_pool.py``): where it finds the data when no
--data-dir / --data-path is given, and that it says so."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from poolbench.cli import harness, main
from tests.data.test_idx_reader import write_idx_set

POOL_FILE = str(Path(__file__).resolve().parents[2] / "examples" / "custom_pool.py")


@pytest.fixture
def project(tmp_path, monkeypatch):
    """tmp/proj (the folder the command runs in) beside tmp/shared/data, as on these machines."""
    monkeypatch.delenv(harness.DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("POOLBENCH_CACHE", str(tmp_path / "cache"))
    (tmp_path / "proj").mkdir()
    monkeypatch.chdir(tmp_path / "proj")
    return tmp_path


def cifar10_copy(path: Path) -> None:
    """A tar in the image-folder layout (enough for the copy to be found, not read)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("train/airplane/0.jpg")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"jpg"))


def test_the_shared_copy_is_found_and_a_local_data_folder_or_the_variable_comes_first(project, monkeypatch, capsys):
    cifar10_copy(project / "shared" / "data" / "cifar10-jpg.tar.gz")
    assert harness.default_data_dir("cifar10") == "../shared/data"
    cifar10_copy(project / "proj" / "data" / "cifar10-jpg.tar.gz")
    assert harness.default_data_dir("cifar10") == "data"
    monkeypatch.setenv(harness.DATA_DIR_ENV, str(project / "elsewhere"))
    assert harness.default_data_dir("cifar10") == str(project / "elsewhere")
    assert capsys.readouterr().err == ""  # found: nothing to say


def test_a_dataset_found_nowhere_is_one_line_saying_where_it_looked_and_how_to_point_elsewhere(project, capsys):
    assert harness.default_data_dir("fashion_mnist") is None
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "not in data or ../shared/data" in err and "--data-dir" in err and harness.DATA_DIR_ENV in err
    assert harness.default_data_dir("synthetic") is None and capsys.readouterr().err == ""  # generated


def test_help_says_where_it_looks(capsys):
    with pytest.raises(SystemExit):
        main(["harness", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "../shared/data" in out and f"${harness.DATA_DIR_ENV}" in out


def test_the_harness_trains_on_the_copy_it_found(project, monkeypatch, capsys):
    write_idx_set(project / "shared" / "data" / "fashion-mnist", n_train=20, n_test=10)
    import poolbench.train.engine as engine

    seen = []

    def trained(config, runs_dir, **kw):
        seen.append(config)
        return {"status": "finished", "best_test_acc": 50.0, "best_epoch": 1, "final_test_acc": 50.0}

    monkeypatch.setattr(engine, "train_run", trained)
    argv = ["harness", POOL_FILE, "--arch", "cnn4", "--dataset", "fmnist", "--epochs", "1", "--no-check"]
    assert main([*argv, "--runs-dir", str(project / "runs")]) == 0
    assert seen[0].data_dir == str((project / "shared" / "data").resolve())
    assert f"data={(project / 'shared' / 'data').resolve()}" in capsys.readouterr().out
