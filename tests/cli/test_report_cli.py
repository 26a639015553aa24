"""``poolbench report`` end to end on fake run directories."""

from poolbench.cli import main
from tests.results.fakeruns import write_benchmark


def test_report_writes_html_and_md(tmp_path, capsys):
    runs = write_benchmark(tmp_path / "runs")
    out = tmp_path / "out"
    assert main(["report", "--runs-dir", str(runs), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out / 'report.html'}" in printed and f"wrote {out / 'report.md'}" in printed
    assert 'id="leaderboard"' in (out / "report.html").read_text()
    assert (out / "img" / "bars-0.png").is_file()


def test_report_missing_runs_dir(tmp_path, capsys):
    assert main(["report", "--runs-dir", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 2
    assert "not found" in capsys.readouterr().err
