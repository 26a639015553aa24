"""The committed screens' analyses still give back their committed summaries from their run dirs."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = REPO / "experiments"
# The exponent table reads the runs' checkpoints, which stayed on the machine that trained them.
EXPONENTS = re.compile(r"Learned GeM exponents after the last epoch[^\n]*\n\n(\|[^\n]*\n)+\n")


def analyze(screen: str, tmp_path: Path, shared_data: Path | None = None) -> tuple[str, str]:
    """(committed summary.md, the summary analyze.py writes) for a copy of the screen's directory;
    ``shared_data`` is where a screen that rebuilds its run ids finds the data they name."""
    copy = tmp_path / "experiments"
    shutil.copytree(EXPERIMENTS / screen, copy / screen)
    shutil.copy(EXPERIMENTS / "common.py", copy / "common.py")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    if shared_data is not None:
        env["POOLBENCH_SHARED_DATA"] = str(shared_data)
    done = subprocess.run(
        [sys.executable, str(copy / screen / "analyze.py")], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return (EXPERIMENTS / screen / "summary.md").read_text(), (copy / screen / "summary.md").read_text()


@pytest.mark.slow
def test_first_screen_summary_is_rebuilt_byte_for_byte(tmp_path):
    committed, rebuilt = analyze("cpu-screen", tmp_path)
    assert rebuilt == committed


@pytest.mark.slow
@pytest.mark.realdata
def test_second_screen_summary_is_rebuilt_but_for_the_checkpoint_table(tmp_path, shared_cifar10, shared_fmnist):
    # its selection rebuilds the candidates' run ids, which fingerprint the data they train on
    committed, rebuilt = analyze("cpu-screen-v2", tmp_path, shared_data=shared_cifar10.parent)
    assert EXPONENTS.search(committed), "the committed summary has the exponent table"
    assert rebuilt == EXPONENTS.sub("", committed)


def test_committed_resnet_runs_say_they_were_made_with_the_older_initialisation_and_keep_their_ids():
    from poolbench.train.config import RESNET_MODELS, RunConfig

    configs = [json.loads(p.read_text()) for p in sorted(EXPERIMENTS.glob("*/*/config.json"))]
    resnets = [c for c in configs if c.get("model") in RESNET_MODELS]
    assert len(resnets) > 50
    for raw in resnets:
        config = RunConfig.from_dict(raw)
        assert config.init_version == 1, raw["run_id"]  # trained before the ResNets followed their reference
        assert config.run_id == raw["run_id"]


def test_every_committed_run_keeps_its_id_and_reads_back_from_todays_layout():
    from poolbench.train.config import RunConfig

    paths = sorted(EXPERIMENTS.rglob("config.json"))
    assert len(paths) > 150
    surgery = 0
    for path in paths:
        raw = json.loads(path.read_text())
        config = RunConfig.from_dict(raw)
        assert config.run_id == raw["run_id"], path
        again = RunConfig.from_dict(json.loads(json.dumps(config.to_dict())))  # as written today
        assert again == config and again.run_id == raw["run_id"], path
        surgery += bool(config.surgery)
    assert surgery >= 40  # the Birodkar runs' LDA and SGD downsampling read as declared surgery
