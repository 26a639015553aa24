"""Hostile run directories against the readers: the report writes only inside its folder, embeds
only regular PNG files inside a run directory, survives mathtext and enormous labels, and labels
reach terminals, Markdown and CSV without their escapes, HTML or formulas."""

import base64
import csv
import io
import json
import os
import stat

import pytest

from poolbench.results import table
from poolbench.results.index import build_index
from poolbench.results.report import write_report
from tests.results.fakeruns import fake_png, write_run


def _set_config(run_dir, **changes):
    cfg = json.loads((run_dir / "config.json").read_text())
    cfg.update(changes)
    (run_dir / "config.json").write_text(json.dumps(cfg))


def test_a_traversal_run_id_cannot_write_outside_the_report(tmp_path):
    runs = tmp_path / "runs"
    run = write_run(runs, pool="gem", images=("pool_weights.png",))
    _set_config(run, run_id="../../../escaped")
    out = tmp_path / "deep" / "er" / "report"
    write_report(runs, out)
    written = {p.resolve() for p in tmp_path.rglob("*") if p.is_file()} - {p.resolve() for p in runs.rglob("*")}
    assert written and all(str(p).startswith(str(out.resolve())) for p in written), written
    assert not list(tmp_path.rglob("*escaped*pool_weights.png")) or all(
        out.resolve() in p.resolve().parents for p in tmp_path.rglob("*escaped*pool_weights.png")
    )


def test_a_symlinked_picture_is_never_embedded(tmp_path):
    secret = tmp_path / "id_rsa"
    secret.write_bytes(b"-----BEGIN OPENSSH PRIVATE KEY----- secret")
    runs = tmp_path / "runs"
    run = write_run(runs, pool="gem")
    (run / "pool_weights.png").symlink_to(secret)
    (run / "curves.png").symlink_to(tmp_path / "elsewhere.png")
    (tmp_path / "elsewhere.png").write_bytes(fake_png())  # a real PNG, but outside the run directory
    (run / "fake.png").write_bytes(b"not a png at all")
    (run / "dir.png").mkdir()
    html_path, md_path = write_report(runs, tmp_path / "out")
    html = html_path.read_text()
    blobs = [base64.b64decode(b) for b in __import__("re").findall(r'base64,([A-Za-z0-9+/=]+)"', html)]
    assert not any(b"PRIVATE KEY" in b or b"not a png" in b for b in blobs)
    assert not any(fake_png() == b for b in blobs)
    copied = list((tmp_path / "out" / "img").rglob("*"))
    assert not any(p.is_file() and b"PRIVATE KEY" in p.read_bytes() for p in copied)


def test_a_regular_png_is_still_embedded(tmp_path):
    runs = tmp_path / "runs"
    write_run(runs, pool="gem", images=("pool_weights.png",))
    html_path, _ = write_report(runs, tmp_path / "out")
    assert base64.b64encode(fake_png()).decode() in html_path.read_text()


@pytest.mark.parametrize("label", ["$\\frac{1}{$", "x" * 200_000, "$a^{b$ and \\undefined{"])
def test_mathtext_and_huge_labels_do_not_crash_the_report(tmp_path, label):
    runs = tmp_path / "runs"
    write_run(runs, pool="avg", seed=0)
    write_run(runs, pool="gem", seed=0)
    _set_config(next(p for p in runs.iterdir() if "gem" in p.name), pool=label)
    html_path, md_path = write_report(runs, tmp_path / "out")
    assert (tmp_path / "out" / "img" / "bars-0.png").stat().st_size > 0
    assert len(md_path.read_text()) < 100_000  # the label is cut in the Markdown tables


def test_one_unreadable_run_costs_one_row(tmp_path):
    runs = tmp_path / "runs"
    write_run(runs, pool="avg", seed=0)
    bad = write_run(runs, pool="gem", seed=0)
    (bad / "result.json").write_text("{garbage")
    html_path, _ = write_report(runs, tmp_path / "out")
    html = html_path.read_text()
    assert "could not be read" in html and bad.name in html


HOSTILE = '=HYPERLINK("http://x")\x1b[31m<script>alert(1)</script>\nrow2|col'


def test_labels_are_neutralised_in_text_markdown_and_csv(tmp_path):
    runs = tmp_path / "runs"
    write_run(runs, pool="avg", seed=0)
    _set_config(next(runs.iterdir()), pool=HOSTILE)
    lb = table.load_leaderboard(runs)
    text, md, csv_text = table.render(lb, "text"), table.render(lb, "md"), table.render(lb, "csv")
    for out in (text, md, csv_text):
        assert "\x1b" not in out
    assert "<script>" not in md  # Markdown renders raw HTML; a terminal and a CSV do not
    assert "row2" in text and not any(line.startswith("row2") for line in text.splitlines())
    assert not any(line.startswith("row2") for line in md.splitlines())
    assert "&lt;script&gt;" in md and "\\|col" in md
    cells = [c for row in csv.reader(io.StringIO(csv_text)) for c in row]
    assert not any(c[:1] in "=+-@" and c for c in cells if "HYPERLINK" in c)
    assert any(c.startswith("'=HYPERLINK") for c in cells)


def test_safe_text_functions():
    from poolbench.results.safe_text import csv_cell, figure, markdown, plain

    assert plain("a\x1b[1;31mb\r\nc\x00d") == "a b c d"
    assert plain("y" * 500).endswith("…") and len(plain("y" * 500)) == 200
    assert markdown("<b>|</b>") == "&lt;b&gt;\\|&lt;/b&gt;"
    assert csv_cell("-1+2") == "'-1+2" and csv_cell("@SUM(A1)") == "'@SUM(A1)" and csv_cell(3) == 3
    assert figure("$x$") == "\\$x\\$" and len(figure("z" * 1000)) == 60


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else False, reason="root writes into read-only folders")
def test_a_read_only_runs_dir_is_indexed_in_a_temp_dir(tmp_path):
    runs = tmp_path / "runs"
    write_run(runs, pool="avg")
    runs.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        conn = build_index(runs)
        assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 1
        conn.close()
        assert not (runs / "index.sqlite").exists()
    finally:
        runs.chmod(stat.S_IRWXU)


def test_an_unwritable_runs_dir_falls_back_to_a_temp_index(tmp_path, monkeypatch):
    """The same on any user (root ignores permissions): mkstemp in the runs dir fails."""
    import tempfile

    from poolbench.results import index

    runs = tmp_path / "runs"
    write_run(runs, pool="avg")
    real = tempfile.mkstemp

    def mkstemp(*a, dir=None, **kw):
        if dir is not None and os.path.samefile(dir, runs):
            raise PermissionError(13, "Permission denied", str(dir))
        return real(*a, dir=dir, **kw)

    monkeypatch.setattr(index.tempfile, "mkstemp", mkstemp)
    conn = build_index(runs)
    assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 1
    conn.close()
    assert not (runs / "index.sqlite").exists()


@pytest.mark.parametrize("name", ["report.html", "report.md"])
def test_a_report_file_replaced_by_a_link_is_refused_and_its_target_untouched(tmp_path, capsys, name):
    from poolbench.cli import main

    runs = tmp_path / "runs"
    write_run(runs, pool="avg")
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (out / name).symlink_to(victim)
    rc = main(["report", "--runs-dir", str(runs), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "symbolic link" in err and name in err
    assert victim.read_text() == "precious" and (out / name).is_symlink()


def test_a_picture_folder_replaced_by_a_link_is_refused_and_nothing_lands_where_it_points(tmp_path, capsys):
    from poolbench.cli import main

    runs = tmp_path / "runs"
    write_run(runs, pool="avg")
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "img").symlink_to(elsewhere)
    rc = main(["report", "--runs-dir", str(runs), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "not a folder" in err
    assert list(elsewhere.iterdir()) == []


def test_a_full_disk_while_the_report_is_written_is_one_line_and_keeps_the_previous_report(
    tmp_path, capsys, disk_with_room
):
    from poolbench.cli import main

    runs, out = tmp_path / "runs", tmp_path / "out"
    write_run(runs, pool="avg")
    html, _ = write_report(runs, out)
    before = html.read_bytes()
    write_run(runs, pool="gem")
    disk_with_room(100)
    rc = main(["report", "--runs-dir", str(runs), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "No space left on device" in err
    assert html.read_bytes() == before and list(out.rglob(".*.tmp")) == []
