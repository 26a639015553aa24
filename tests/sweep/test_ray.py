"""The Ray executor on a real (local) Ray cluster: a killed worker, crashes, nothing duplicated.

The cluster is started once for the module (2 CPUs, no dashboard) and shut down at the end.
"""

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the ray executor needs Ray: pip install 'poolbench[ray]'")

from poolbench.executors.ray import RayExecutor, init_cluster  # noqa: E402
from poolbench.runs import RunDir  # noqa: E402
from poolbench.sweep import expand_grid, run_sweep  # noqa: E402
from poolbench.train import Protocol  # noqa: E402
from poolbench.train.resolve import resolve  # noqa: E402
from tests.sweep import fakes  # noqa: E402

pytestmark = pytest.mark.slow
TINY = Protocol(epochs=2, train_subset=256, test_subset=128)


@pytest.fixture(scope="module")
def cluster():
    init_cluster(ray, num_cpus=2, log_to_driver=False, configure_logging=False)  # loopback only, as sweep
    # Workers import modules by name; the test's fake engine lives in tests/, so ship it by value.
    ray.cloudpickle.register_pickle_by_value(fakes)
    yield
    ray.shutdown()


def grid(pools=("avg", "max"), seeds=(0, 1), protocol=TINY):
    return expand_grid(list(pools), ["resnet20"], ["synthetic"], list(seeds), protocol)


def attempts(runs_dir, run_id):
    return [json.loads(line) for line in (RunDir(runs_dir, run_id).path / "attempts.jsonl").open()]


def test_crashes_are_recorded_per_run_on_ray(cluster, tmp_path):
    eng = fakes.FakeEngine(fail={"max"}, diverge={"avg"})
    s = run_sweep(grid(), tmp_path, RayExecutor(progress=False, worker=eng.worker))
    assert (s.total, s.finished, s.diverged, s.failed) == (4, 0, 2, 2)
    for cfg in grid(pools=("max",)):
        result = RunDir(tmp_path, resolve(cfg).run_id).read_result()
        assert result["status"] == "failed" and result["error"] == "RuntimeError: boom in max"
        pids = {a["pid"] for a in attempts(tmp_path, resolve(cfg).run_id)}
        assert os.getpid() not in pids and len(pids) == 1  # trained in a worker, once


class WorkerKiller(threading.Thread):
    """SIGKILLs the Ray worker of the first run seen mid-run: epoch 1 logged, no result yet.

    It remembers the epoch-1 line it saw: if the retried task resumes from the checkpoint, that
    line (with its measured ``epoch_time_s``) survives unchanged; a restart would rewrite it.
    """

    def __init__(self, runs_dir: Path):
        super().__init__(daemon=True)
        self.runs_dir, self.stop = runs_dir, threading.Event()
        self.killed = None  # (run_id, pid, epoch-1 metrics line)

    def run(self):
        while not self.stop.is_set():
            for d in self.runs_dir.glob("*/"):
                rd = RunDir(self.runs_dir, d.name)
                metrics = rd.read_metrics() if rd.metrics.exists() else []
                if len(metrics) == 1 and not rd.result.exists():
                    pid = attempts(self.runs_dir, d.name)[-1]["pid"]
                    os.kill(pid, signal.SIGKILL)
                    self.killed = (d.name, pid, metrics[0])
                    return
            time.sleep(0.01)


def test_real_sweep_survives_a_killed_worker(cluster, tmp_path):
    """Done-criterion on Ray: 2 pools x 2 seeds, one worker SIGKILLed mid-run, every result once."""
    from tests.sweep.checks import assert_complete_and_unduplicated

    cfgs = grid()
    killer = WorkerKiller(tmp_path)
    killer.start()
    try:
        s = run_sweep(cfgs, tmp_path, RayExecutor(progress=False))
    finally:
        killer.stop.set()
    assert killer.killed, "no worker was caught mid-run: the test did not test anything"
    assert (s.total, s.finished, s.failed, s.diverged) == (4, 4, 0, 0), s.problems()
    assert_complete_and_unduplicated(tmp_path, cfgs)

    run_id, pid, epoch1 = killer.killed
    tries = attempts(tmp_path, run_id)
    assert [t["pid"] for t in tries][0] == pid and len(tries) == 2 and tries[1]["pid"] != pid  # Ray retried
    assert RunDir(tmp_path, run_id).read_metrics()[0] == epoch1  # ... and the retry resumed
    assert all(len(attempts(tmp_path, resolve(c).run_id)) == 1 for c in cfgs if resolve(c).run_id != run_id)
    assert (tmp_path / "index.sqlite").exists()
