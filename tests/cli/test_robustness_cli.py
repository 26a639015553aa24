"""poolbench robustness: tables, JSON with CE / flip rate against a baseline, the baseline cache."""
from __future__ import annotations

import json

from seed_runs import tiny_run

from poolbench.cli import main

FAST = ["--n", "32", "--severities", "1,5", "--corruptions", "gaussian_noise,fog", "--perturbations",
        "translate,brightness"]


def test_robustness_against_a_baseline(tmp_path_factory, capsys):
    run, base = tiny_run(tmp_path_factory, "flex"), tiny_run(tmp_path_factory, "avg")
    assert main(["robustness", str(run), "--baseline", str(base), *FAST]) == 0
    printed = capsys.readouterr().out
    assert "gaussian_noise" in printed and "mCE" in printed and "mFR" in printed
    res = json.loads((run / "robustness.json").read_text())
    assert set(res["errors"]) == {"gaussian_noise", "fog"} and set(res["errors"]["fog"]) == {"1", "5"}
    assert set(res["flip_probability"]) == {"translate", "brightness"}
    assert all(0 <= v <= 100 for v in res["flip_probability"].values())
    cmp = res["comparison"]
    assert cmp["baseline"] == base.name and set(cmp["corruption"]["per_corruption"]) == {"gaussian_noise", "fog"}
    b = json.loads((base / "robustness.json").read_text())  # the baseline's measurement, cached beside it
    assert b["settings"] == res["settings"] and "comparison" not in b
    ce = cmp["corruption"]["per_corruption"]["fog"]["ce"]
    assert ce is None or abs(ce - 100 * sum(res["errors"]["fog"].values()) / sum(b["errors"]["fog"].values())) < 1e-6


def test_robustness_rejects_bad_arguments(tmp_path_factory, capsys):
    run = tiny_run(tmp_path_factory, "flex")
    assert main(["robustness", str(run), "--corruptions", "snow"]) == 2
    assert "unknown corruption snow" in capsys.readouterr().err
    assert main(["robustness", str(run), "--severities", "0-2"]) == 2
