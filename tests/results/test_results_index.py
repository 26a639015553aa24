"""The SQLite index: one row per run directory, epochs from metrics.jsonl, robust to bad files."""

import json
import os
import signal
import sqlite3
import time

import pytest

from poolbench.results.index import build_index
from tests.children import start_paused_child
from tests.results.fakeruns import write_run


def test_index_holds_every_field_of_a_finished_run(tmp_path):
    d = write_run(
        tmp_path,
        "resnet56",
        "cifar100",
        "gem",
        pool_args={"p": 2.0},
        seed=3,
        best=71.5,
        final=71.0,
        epochs=5,
        images=("pool_weights.png",),
    )
    conn = build_index(tmp_path)
    rows = conn.execute("SELECT * FROM runs").fetchall()
    assert len(rows) == 1
    r = rows[0]
    assert r["run_id"] == d.name
    assert (r["model"], r["dataset"], r["column_key"]) == ("resnet56", "cifar100", "resnet56-cifar100")
    assert (r["pool"], r["pool_name"], r["seed"]) == ("gem(p=2)", "gem", 3)
    assert (r["protocol_label"], r["standard"], r["status"]) == ("standard", 1, "finished")
    assert (r["best_test_acc"], r["final_test_acc"], r["test_acc_at_best_val"]) == (71.5, 71.0, None)
    assert (r["best_epoch"], r["epochs_completed"], r["epochs_planned"]) == (4, 5, 200)
    assert (r["git_commit"], r["torch_version"], r["device"], r["wall_time_s"]) == ("abc1234", "2.13.0", "cpu", 12.5)
    assert json.loads(r["images"]) == ["pool_weights.png"]
    epochs = conn.execute("SELECT epoch, test_acc FROM epochs ORDER BY epoch").fetchall()
    assert [e["epoch"] for e in epochs] == [1, 2, 3, 4, 5]
    assert max(e["test_acc"] for e in epochs) == 71.5 and epochs[-1]["test_acc"] == 71.0
    assert (tmp_path / "index.sqlite").exists()


def test_unfinished_and_diverged_runs_have_no_accuracy(tmp_path):
    write_run(tmp_path, seed=0, status="unfinished", epochs=3)
    write_run(tmp_path, seed=1, status="diverged", epochs=6)
    conn = build_index(tmp_path, tmp_path / "elsewhere" / "i.sqlite")
    rows = {r["seed"]: r for r in conn.execute("SELECT * FROM runs")}
    assert rows[0]["status"] == "unfinished" and rows[0]["epochs_completed"] == 3
    assert rows[1]["status"] == "diverged" and rows[1]["diverged_at_epoch"] == 3
    assert rows[0]["best_test_acc"] is None and rows[1]["best_test_acc"] is None
    assert (tmp_path / "elsewhere" / "i.sqlite").exists() and not (tmp_path / "index.sqlite").exists()


@pytest.mark.parametrize("damage", ["half_line", "garbage_result", "garbage_config", "list_config"])
def test_a_damaged_run_is_skipped_with_a_warning(tmp_path, damage):
    good = write_run(tmp_path, seed=0)
    bad = write_run(tmp_path, seed=1)
    if damage == "half_line":
        with open(bad / "metrics.jsonl", "a") as f:
            f.write('{"epoch": 7, "test_a')
    elif damage == "garbage_result":
        (bad / "result.json").write_bytes(b"\x00\xffnot json")
    elif damage == "garbage_config":
        (bad / "config.json").write_text("{")
    else:
        (bad / "config.json").write_text("[1, 2]")
    with pytest.warns(UserWarning, match="skipping unreadable run"):
        conn = build_index(tmp_path)
    assert [r[0] for r in conn.execute("SELECT run_id FROM runs")] == [good.name]
    assert [r[0] for r in conn.execute("SELECT path FROM skipped")] == [str(bad)]


def test_index_is_rebuilt_from_scratch(tmp_path):
    a = write_run(tmp_path, seed=0)
    build_index(tmp_path).close()
    write_run(tmp_path, seed=1)
    (a / "config.json").unlink()  # a run dir that is no longer a run
    conn = build_index(tmp_path)
    assert [r[0] for r in conn.execute("SELECT seed FROM runs")] == [1]
    assert not list(tmp_path.glob(".index.sqlite.*"))  # no temporary left behind


def test_missing_runs_dir_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="--runs-dir"):
        build_index(tmp_path / "nope")


def test_index_is_plain_sqlite(tmp_path):
    write_run(tmp_path, seed=0)
    build_index(tmp_path).close()
    with sqlite3.connect(tmp_path / "index.sqlite") as conn:
        assert conn.execute("SELECT count(*) FROM epochs").fetchone()[0] == 6


def _pool_file(path, body="x = 1\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "import torch.nn as nn\n" + body + "class CustomPool(nn.Module):\n"
        "    def forward(self, x):\n        return x.mean((2, 3))\n"
    )
    return f"{path.resolve()}:CustomPool"


def test_two_pool_files_with_one_class_name_are_two_rows(tmp_path):
    """Two pool files with one class name are two rows: a label names the file as well as the class."""
    a = _pool_file(tmp_path / "custom_pool.py")
    b = _pool_file(tmp_path / "learn_pool.py", body="y = 2\n")
    for seed in (0, 1):
        write_run(tmp_path / "runs", pool="file", pool_file=a, seed=seed)
        write_run(tmp_path / "runs", pool="file", pool_file=b, seed=seed, best=60.0)
    rows = build_index(tmp_path / "runs").execute("SELECT pool, seed FROM runs").fetchall()
    labels = sorted({r["pool"] for r in rows})
    assert len(labels) == 2
    assert labels[0].startswith("custom_pool.py:CustomPool@") and labels[1].startswith("learn_pool.py:CustomPool@")


def test_an_edited_pool_file_is_another_row(tmp_path):
    spec = _pool_file(tmp_path / "custom_pool.py")
    write_run(tmp_path / "runs", pool="file", pool_file=spec, seed=0)
    _pool_file(tmp_path / "custom_pool.py", body="scale = 2.0\n")
    write_run(tmp_path / "runs", pool="file", pool_file=spec, seed=0, best=50.0)
    rows = build_index(tmp_path / "runs").execute("SELECT pool FROM runs").fetchall()
    assert len({r["pool"] for r in rows}) == 2


def test_the_same_file_name_and_content_in_two_folders_show_their_paths(tmp_path):
    a = _pool_file(tmp_path / "alice" / "custom_pool.py")
    b = _pool_file(tmp_path / "bob" / "custom_pool.py")
    write_run(tmp_path / "runs", pool="file", pool_file=a, seed=0)
    write_run(tmp_path / "runs", pool="file", pool_file=b, seed=0)
    labels = {r["pool"] for r in build_index(tmp_path / "runs").execute("SELECT pool FROM runs")}
    assert len(labels) == 2 and all("custom_pool.py:CustomPool@" in x and "/" in x for x in labels)


def test_two_datasets_under_one_column_name_get_their_fingerprints(tmp_path):
    write_run(tmp_path, dataset="imagefolder", seed=0, data_fingerprint="aaaa" + "0" * 12)
    write_run(tmp_path, dataset="imagefolder", seed=0, data_fingerprint="bbbb" + "0" * 12, best=40.0)
    cols = {r["column_key"] for r in build_index(tmp_path).execute("SELECT column_key FROM runs")}
    assert cols == {"resnet56-imagefolder@aaaa", "resnet56-imagefolder@bbbb"}


def test_resnet_runs_of_two_initialisations_are_two_columns_and_alone_keep_theirs(tmp_path):
    write_run(tmp_path / "mixed", seed=0)  # today's initialisation (resnet56: version 2)
    old = write_run(tmp_path / "mixed", seed=0, best=60.0, init_version=1)
    cols = {r["run_id"]: r["column_key"] for r in build_index(tmp_path / "mixed").execute("SELECT * FROM runs")}
    assert cols.pop(old.name) == "resnet56-cifar100@init-v1" and set(cols.values()) == {"resnet56-cifar100"}
    write_run(tmp_path / "old", seed=0, init_version=1)
    (col,) = {r["column_key"] for r in build_index(tmp_path / "old").execute("SELECT column_key FROM runs")}
    assert col == "resnet56-cifar100"


def _build_and_hang(runs, ready):
    """Child: rebuild the index and stop with the new database half built (as a SIGKILL finds it)."""
    from poolbench.results import index

    real = index._fill

    def fill(conn, runs_dir):
        real(conn, runs_dir)
        conn.commit()
        ready.send(True)
        time.sleep(60)

    index._fill = fill
    build_index(runs)


def _rebuild_in_child(runs):
    return start_paused_child(_build_and_hang, runs, wait=30)


def _temps(runs):
    return sorted(p.name for p in runs.glob(".index.sqlite.*"))


@pytest.mark.timeout(60)
def test_sigkill_during_a_rebuild_keeps_the_old_index_and_the_next_command_removes_its_temp(tmp_path):
    runs = tmp_path / "runs"
    write_run(runs, pool="avg")
    write_run(runs, pool="gem")
    child = _rebuild_in_child(runs)
    assert len(_temps(runs)) == 1
    conn = build_index(runs)  # a concurrent rebuild: the live child's temporary file is not its to delete
    conn.close()
    assert len(_temps(runs)) == 1
    os.kill(child.pid, signal.SIGKILL)
    child.join(10)
    assert len(_temps(runs)) == 1  # what the kill left
    conn = build_index(runs)
    assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 2
    conn.close()
    assert _temps(runs) == []  # the killed rebuild's file is gone


def test_sigkill_during_a_rebuild_leaves_the_index_it_replaces_intact(tmp_path):
    runs = tmp_path / "runs"
    write_run(runs, pool="avg")
    build_index(runs).close()
    old = (runs / "index.sqlite").read_bytes()
    write_run(runs, pool="gem")
    child = _rebuild_in_child(runs)
    os.kill(child.pid, signal.SIGKILL)
    child.join(10)
    assert (runs / "index.sqlite").read_bytes() == old


@pytest.fixture
def full_disk(monkeypatch):
    """sqlite files of the index hold at most two pages: SQLITE_FULL, 'database or disk is full'."""
    from poolbench.results import index

    real = sqlite3.connect

    def connect(path, *a, **kw):
        conn = real(path, *a, **kw)
        conn.execute("PRAGMA max_page_count = 2")
        return conn

    monkeypatch.setattr(index.sqlite3, "connect", connect)


def test_a_full_disk_during_a_rebuild_is_one_error_and_loses_nothing(tmp_path, full_disk):
    from poolbench.results.index import IndexWriteError

    runs = tmp_path / "runs"
    write_run(runs, pool="avg")
    with pytest.raises(IndexWriteError, match="database or disk is full"):
        build_index(runs)
    assert _temps(runs) == [] and not (runs / "index.sqlite").exists()


@pytest.mark.parametrize("command", ["table", "compare"])
def test_a_full_disk_during_table_or_compare_is_one_line_exit_2(tmp_path, full_disk, capsys, command):
    from poolbench.cli import main

    runs = tmp_path / "runs"
    write_run(runs, pool="avg")
    write_run(runs, pool="gem")
    rc = main([command, *(["gem", "avg"] if command == "compare" else []), "--runs-dir", str(runs)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "database or disk is full" in err and "free some space" in err
    assert _temps(runs) == []


@pytest.mark.timeout(20)
def test_a_fifo_or_a_link_to_dev_zero_in_a_run_is_one_skipped_row_not_a_hang(tmp_path):
    runs = tmp_path / "runs"
    fifo_run = write_run(runs, pool="avg", seed=0)
    zero_run = write_run(runs, pool="avg", seed=1)
    write_run(runs, pool="avg", seed=2)
    (fifo_run / "config.json").unlink()
    os.mkfifo(fifo_run / "config.json")
    (zero_run / "result.json").unlink()
    (zero_run / "result.json").symlink_to("/dev/zero")
    with pytest.warns(UserWarning, match="skipping unreadable run"):
        conn = build_index(runs)
    skipped = {row["path"]: row["reason"] for row in conn.execute("SELECT * FROM skipped")}
    assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 1
    conn.close()
    assert "FIFO" in skipped[str(fifo_run)] and "symbolic link" in skipped[str(zero_run)]


def _edit_json(path, **changes):
    d = json.loads(path.read_text())
    d.update(changes)
    path.write_text(json.dumps(d))


# result.json values no trainer writes: each makes its run unreadable, never a number in a table
INVALID = {
    "acc-150": {"best_test_acc": 150.0},
    "acc-negative": {"best_test_acc": -5.0},
    "acc-1e308": {"best_test_acc": 1e308},
    "acc-nan": {"best_test_acc": float("nan")},
    "acc-string": {"best_test_acc": "99.9"},
    "finished-without-acc": {"best_test_acc": None},
    "epochs-negative": {"epochs_completed": -3},
}


@pytest.mark.parametrize("change", INVALID.values(), ids=INVALID.keys())
def test_an_invalid_result_is_unreadable_never_counted_or_starred(tmp_path, change):
    from poolbench.results.table import load_leaderboard, render

    for seed in (0, 1):
        write_run(tmp_path, pool="avg", seed=seed, best=70.0 + seed)
    bad = write_run(tmp_path, pool="gem", seed=0, best=72.0)
    write_run(tmp_path, pool="gem", seed=1, best=60.0)
    _edit_json(bad / "result.json", **change)
    with pytest.warns(UserWarning, match=f"skipping unreadable run {bad}"):
        conn = build_index(tmp_path)
    assert [r["path"] for r in conn.execute("SELECT path FROM skipped")] == [str(bad)]
    assert bad.name not in {r["run_id"] for r in conn.execute("SELECT run_id FROM runs")}
    with pytest.warns(UserWarning):
        lb = load_leaderboard(tmp_path)
    (sec,) = lb.sections
    gem = next(c for (pool, _), c in sec.cells.items() if pool == "gem")
    assert gem.values == [60.0] and not gem.best  # only the valid gem run; avg (70.5) is the best
    assert "150" not in render(lb, "text") and "1e+308" not in render(lb, "text")


def test_a_second_directory_claiming_a_run_id_is_unreadable(tmp_path):
    import shutil

    good = write_run(tmp_path, pool="avg", seed=0, best=70.0)
    shutil.copytree(good, tmp_path / "aaa-copy")  # sorts first: once it won the id
    _edit_json(tmp_path / "aaa-copy" / "result.json", best_test_acc=99.0)
    with pytest.warns(UserWarning, match="aaa-copy"):
        conn = build_index(tmp_path)
    assert [(r["run_id"], r["best_test_acc"]) for r in conn.execute("SELECT * FROM runs")] == [(good.name, 70.0)]


# One hostile run directory each: what once gave a traceback and no table at all
HOSTILE = {
    "deep-config": ("config.json", "[" * 100_000 + "]" * 100_000),
    "deep-result": ("result.json", '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"),
    "deep-metrics": ("metrics.jsonl", '{"epoch": 1, "x": ' + "[" * 100_000 + "]" * 100_000 + "}\n"),
    "int-2^63-config": ("config.json", {"seed": 2**63}),
    "int-2^64-provenance": ("result.json", {"provenance": {"hostname": 2**64, "date": "x"}}),
    "int-negative-2^63-metrics": ("metrics.jsonl", '{"epoch": -9223372036854775809, "test_acc": 1.0}\n'),
    "surrogate-config": ("config.json", {"data_label": "\ud800"}),
    "surrogate-result": ("result.json", {"error": "\udc80x"}),
    "surrogate-metrics": ("metrics.jsonl", '{"epoch": 1, "lr": "\\udfff"}\n'),
}


def _make_hostile(run_dir, name, content):
    path = run_dir / name
    if isinstance(content, dict):
        d = json.loads(path.read_text())
        for k, v in content.items():
            d[k] = {**d[k], **v} if isinstance(v, dict) else v
        path.write_text(json.dumps(d))  # ensure_ascii: a lone surrogate is written as its \\u escape
    else:
        path.write_text(content)


@pytest.mark.parametrize("name, content", HOSTILE.values(), ids=HOSTILE.keys())
def test_one_hostile_run_is_unreadable_and_the_others_are_indexed(tmp_path, name, content):
    good = write_run(tmp_path, pool="avg", seed=0, best=70.0)
    bad = write_run(tmp_path, pool="gem", seed=0, best=72.0)
    _make_hostile(bad, name, content)
    with pytest.warns(UserWarning, match="skipping unreadable run"):
        conn = build_index(tmp_path)
    assert [r["run_id"] for r in conn.execute("SELECT run_id FROM runs")] == [good.name]
    assert [r["path"] for r in conn.execute("SELECT path FROM skipped")] == [str(bad)]


def test_a_run_directory_named_in_bytes_that_are_not_utf8_is_listed_escaped(tmp_path):
    import os
    import shutil

    good = write_run(tmp_path, pool="avg", seed=0, best=70.0)
    odd = tmp_path / os.fsdecode(b"run-\xff")
    shutil.copytree(good, odd)
    with pytest.warns(UserWarning):
        conn = build_index(tmp_path)
    assert [r["run_id"] for r in conn.execute("SELECT run_id FROM runs")] == [good.name]
    (skipped,) = conn.execute("SELECT path FROM skipped").fetchall()
    assert skipped["path"].endswith("run-\\udcff")
