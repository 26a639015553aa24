"""fileio: atomic replacement that survives SIGKILL and a full disk, never writes through a link,
and reads that refuse links, FIFOs, devices and oversized files without blocking."""

from __future__ import annotations

import errno
import os
import signal
import time

import pytest

from poolbench import fileio
from poolbench.fileio import FileTooLargeError, UnsafeFileError
from tests.children import start_paused_child

pytestmark = pytest.mark.timeout(20)  # a read that blocks on a FIFO fails here instead of hanging


def temps(folder):
    return sorted(p.name for p in folder.glob(".*.tmp"))


# ----------------------------------------------------------------------------- writes
def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "report.html"
    target.write_text("old")
    fileio.atomic_write_text(target, "new")
    assert target.read_text() == "new" and temps(tmp_path) == []


@pytest.mark.parametrize("kind", ["symlink", "fifo", "directory"])
def test_a_planted_link_or_special_file_is_refused_and_what_it_points_to_is_untouched(tmp_path, kind):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    target = tmp_path / "out" / "report.html"
    target.parent.mkdir()
    {"symlink": lambda: target.symlink_to(victim), "fifo": lambda: os.mkfifo(target), "directory": target.mkdir}[kind]()
    with pytest.raises(UnsafeFileError, match="not a regular file"):
        fileio.atomic_write_text(target, "overwritten")
    assert victim.read_text() == "precious" and os.path.lexists(target) and temps(target.parent) == []
    if kind == "symlink":
        assert target.is_symlink()


def test_a_link_planted_at_the_temporary_name_is_not_written_through(tmp_path, monkeypatch):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    names = iter(["guessed", "fresh"])
    monkeypatch.setattr(fileio.secrets, "token_hex", lambda n: next(names))
    (tmp_path / ".result.json.guessed.tmp").symlink_to(victim)
    fileio.atomic_write_text(tmp_path / "result.json", "{}")
    assert victim.read_text() == "precious" and (tmp_path / "result.json").read_text() == "{}"


def test_a_full_disk_keeps_the_old_file_and_removes_the_temporary(tmp_path, disk_with_room):
    target = tmp_path / "checkpoint.pt"
    target.write_bytes(b"old checkpoint")
    disk_with_room(1000)
    with pytest.raises(OSError) as err:
        fileio.atomic_write_bytes(target, b"x" * 100_000)
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(target)
    assert target.read_bytes() == b"old checkpoint" and temps(tmp_path) == []


def test_appends_refuse_links_and_fifos_without_blocking(tmp_path):
    log = tmp_path / "attempts.jsonl"
    fileio.append_line(log, '{"a": 1}')
    fileio.append_line(log, '{"a": 2}')
    assert log.read_text() == '{"a": 1}\n{"a": 2}\n'
    victim = tmp_path / "victim"
    victim.write_text("precious")
    link = tmp_path / "linked.jsonl"
    link.symlink_to(victim)
    with pytest.raises(UnsafeFileError, match="symbolic link"):
        fileio.append_line(link, "{}")
    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(UnsafeFileError, match="FIFO"):
        fileio.append_line(fifo, "{}")
    assert victim.read_text() == "precious"


# ----------------------------------------------------------------------------- reads
def test_reads_take_regular_files_only_and_never_block(tmp_path):
    fifo = tmp_path / "config.json"
    os.mkfifo(fifo)
    zero = tmp_path / "result.json"
    zero.symlink_to("/dev/zero")
    t0 = time.monotonic()
    with pytest.raises(UnsafeFileError, match="FIFO"):
        fileio.read_bytes(fifo)
    with pytest.raises(UnsafeFileError, match="symbolic link"):
        fileio.read_bytes(zero)
    with pytest.raises(UnsafeFileError, match="symbolic link"):
        fileio.sha256_file(zero, 1 << 20)
    with pytest.raises(UnsafeFileError, match="device"):
        fileio.read_bytes("/dev/zero")
    big = tmp_path / "metrics.jsonl"
    big.write_bytes(b"x" * 2000)
    with pytest.raises(FileTooLargeError, match="more than the 1,000"):
        fileio.read_bytes(big, cap=1000)
    assert fileio.read_bytes(big, cap=2000) == b"x" * 2000
    assert time.monotonic() - t0 < 5
    with pytest.raises(FileNotFoundError):
        fileio.read_bytes(tmp_path / "absent")


# ----------------------------------------------------------------------------- SIGKILL
def _write_and_hang(path, ready):
    """Child: write ``path`` through fileio, stopping mid-write (as a SIGKILL would find it)."""

    def write(f):
        f.write(b"half of the new ")
        f.flush()
        ready.send(True)
        time.sleep(60)

    fileio.atomic_write(path, write)


def _kill_mid_write(path):
    return start_paused_child(_write_and_hang, path, wait=15)


def test_sigkill_mid_write_leaves_the_old_file_and_the_next_writer_removes_the_temporary(tmp_path):
    target = tmp_path / "report.md"
    target.write_text("the previous complete report")
    child = _kill_mid_write(target)
    live = temps(tmp_path)
    assert len(live) == 1
    assert fileio.remove_stale_temps(tmp_path) == []  # its writer is alive: kept
    assert temps(tmp_path) == live
    os.kill(child.pid, signal.SIGKILL)
    child.join(10)
    assert target.read_text() == "the previous complete report"
    assert [p.name for p in fileio.remove_stale_temps(tmp_path)] == live  # its writer is dead: removed
    assert temps(tmp_path) == []


def test_a_folder_replaced_by_a_link_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "img").symlink_to(elsewhere)
    with pytest.raises(UnsafeFileError, match="not a folder"):
        fileio.make_folder(tmp_path / "img")
    assert fileio.make_folder(tmp_path / "a" / "b").is_dir()
