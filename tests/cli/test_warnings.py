"""table, compare and report list each unreadable run directory on one line of stderr and show the rest."""

import json

import pytest

from poolbench.cli import main
from tests.results.fakeruns import write_benchmark, write_run


@pytest.mark.parametrize(
    "argv",
    [["table"], ["table", "--format", "md"], ["compare", "gem", "avg"], ["report", "--out", "OUT"]],
    ids=["table", "table-md", "compare", "report"],
)
def test_each_unreadable_run_is_one_line_and_the_rest_is_shown(tmp_path, capsys, argv):
    runs = write_benchmark(tmp_path / "runs", images=False)
    hostile = write_run(runs, pool="gem", seed=7)
    config = json.loads((hostile / "config.json").read_text())
    (hostile / "config.json").write_text(json.dumps(config | {"seed": 2**64, "data_label": "\ud800"}))
    garbage = write_run(runs, pool="avg", seed=7)
    (garbage / "result.json").write_text('{"status": "finished", "best_test_acc": 150}')
    argv = [str(tmp_path / "out") if a == "OUT" else a for a in argv]
    assert main(argv + ["--runs-dir", str(runs)]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert sorted(line.split(": ", 1)[0] for line in lines) == [f"poolbench {argv[0]}"] * 2
    assert any(hostile.name in line for line in lines) and any(garbage.name in line for line in lines)
    assert all("unreadable run" in line for line in lines)
    assert out  # the table, comparison or report of the other runs
