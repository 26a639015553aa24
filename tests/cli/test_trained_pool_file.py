"""show / robustness / fit-lda import the pool file a config.json names only when the user asks
(--trust-pool-file, or --pool-file naming it) and only if it is the file the run trained with
(pool_file_sha): a config.json is data, the file it names is code."""

from __future__ import annotations

import json

import pytest

from poolbench.cli import main

POOL = """
from poolbench.pools.base import GlobalPool


class MyPool(GlobalPool):
    def forward(self, x):
        return x.mean((2, 3))
"""
TINY = [
    "--epochs",
    "1",
    "--batch-size",
    "32",
    "--train-subset",
    "32",
    "--test-subset",
    "32",
    "--no-progress",
    "--device",
    "cpu",
]


pytestmark = pytest.mark.slow  # every test uses the module fixture, which trains a run: 6-8 s on 2 cores


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("pf")
    pool = root / "mypool.py"
    pool.write_text(POOL)
    assert (
        main(
            [
                "run",
                "--seeds",
                "0",
                "--model",
                "resnet20",
                "--dataset",
                "synthetic",
                "--pool-file",
                f"{pool}:MyPool",
                "--runs-dir",
                str(root / "runs"),
                *TINY,
            ]
        )
        == 0
    )
    (run_dir,) = (root / "runs").iterdir()
    return root, pool, run_dir


COMMANDS = [
    ["show", "{run}", "--n", "16", "--out", "{out}", "--device", "cpu"],
    [
        "robustness",
        "{run}",
        "--n",
        "16",
        "--severities",
        "1",
        "--corruptions",
        "fog",
        "--perturbations",
        "none",
        "--device",
        "cpu",
        "--out",
        "{out}/r.json",
    ],
    ["fit-lda", "{run}", "--layer", "final", "--alpha", "1", "--out", "{out}/w.pt", "--device", "cpu"],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_a_changed_pool_file_is_never_imported(trained, tmp_path, capsys, argv):
    root, pool, run_dir = trained
    marker = tmp_path / "IMPORTED"
    original = pool.read_text()
    pool.write_text(f"open({str(marker)!r}, 'w').close()\n" + original)
    try:
        rc = main(
            [a.replace("{run}", str(run_dir)).replace("{out}", str(tmp_path)) for a in argv] + ["--trust-pool-file"]
        )
    finally:
        pool.write_text(original)
    err = capsys.readouterr().err
    assert rc == 2 and not marker.exists()
    assert "changed since the run trained" in err and str(pool) in err


def test_a_config_whose_sha_was_removed_is_refused(trained, tmp_path, capsys):
    root, pool, run_dir = trained
    cfg_path = run_dir / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg_path.write_text(json.dumps(dict(cfg, pool_file_sha=None)))
    try:
        rc = main(["show", str(run_dir), "--n", "16", "--out", str(tmp_path), "--device", "cpu", "--trust-pool-file"])
    finally:
        cfg_path.write_text(json.dumps(cfg))
    assert rc == 2 and "without its sha256" in capsys.readouterr().err


def test_the_unchanged_pool_file_loads_when_the_user_trusts_or_names_it(trained, tmp_path, capsys):
    root, pool, run_dir = trained
    show = ["show", str(run_dir), "--n", "16", "--out", str(tmp_path), "--device", "cpu"]
    assert main(show) == 2 and "--trust-pool-file" in capsys.readouterr().err
    assert main([*show, "--trust-pool-file"]) == 0
    copy = tmp_path / "copy.py"
    copy.write_text(pool.read_text())
    assert main([*show, "--pool-file", str(copy)]) == 0
