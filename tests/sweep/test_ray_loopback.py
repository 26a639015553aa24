"""The Ray executor's local cluster listens on loopback only; joining a cluster is explicit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from poolbench.executors import ray as ray_executor

REPO = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter: start the executor's own local cluster (RayExecutor.run), start a
# worker, then list every listening TCP socket of this process and its descendants (/proc).
PROBE = r"""
import json, os, sys
from pathlib import Path
import ray
from poolbench.executors.ray import RayExecutor

def descendants(root):
    kids = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                kids.setdefault(int((p / "stat").read_text().rsplit(")", 1)[1].split()[1]), []).append(int(p.name))
            except (OSError, IndexError, ValueError):
                pass
    out, todo = [], [root]
    while todo:
        x = todo.pop()
        out.append(x)
        todo += kids.get(x, [])
    return out

def listening():
    inodes = set()
    for pid in descendants(os.getpid()):
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                try:
                    target = os.readlink(fd)
                except OSError:
                    continue
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            pass
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            f = line.split()
            if f[3] == "0A" and f[9] in inodes:  # 0A = LISTEN
                found.append(f[1])
    return found

def pid():
    return os.getpid()

class Probe(RayExecutor):
    def _run(self, ray, configs, *args):
        ray.get(ray.remote(pid).remote())  # a worker process exists now
        print(json.dumps(listening()))
        return {}

Probe(init_kwargs=dict(num_cpus=1, configure_logging=False), progress=False).run([], "/tmp")
"""

# /proc/net/tcp addresses: hex, little-endian per 32-bit word
LOOPBACK = {"0100007F", "00000000000000000000000001000000", "0000000000000000FFFF00000100007F"}


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc to list sockets")
def test_the_local_cluster_listens_on_loopback_only():
    pytest.importorskip("ray")
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "PYTHONPATH": str(REPO / "src")},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    addresses = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(addresses) >= 3, "found too few listening sockets: the probe did not see Ray's processes"
    exposed = [a for a in addresses if a.split(":")[0] not in LOOPBACK]
    assert not exposed, f"Ray listens beyond loopback: {exposed}"


class FakeRay:
    def __init__(self):
        self.calls = []

    def init(self, **kwargs):
        from ray._private import ray_constants

        self.calls.append((kwargs, ray_constants.ENABLE_RAY_CLUSTER))


def test_a_local_cluster_is_started_on_loopback_and_an_address_is_joined_as_given(monkeypatch):
    pytest.importorskip("ray")
    from ray._private import ray_constants

    probed = []
    monkeypatch.setattr(ray_executor, "probe", lambda host, port, address: probed.append((host, port)))
    before = ray_constants.ENABLE_RAY_CLUSTER
    fake = FakeRay()
    ray_executor.init_cluster(fake, None, num_cpus=1)
    ray_executor.init_cluster(fake, "ray://head:10001")
    (local, flag), (joined, _) = fake.calls
    assert local["_node_ip_address"] == "127.0.0.1" and local["include_dashboard"] is False
    assert local["address"] is None and local["num_cpus"] == 1
    assert flag is False and before == ray_constants.ENABLE_RAY_CLUSTER  # only while starting
    assert joined == {"address": "ray://head:10001"}
    assert probed == [("head", 10001)]  # the cluster's port is probed before ray.init


@pytest.mark.parametrize(
    "address, env", [("127.0.0.1:6390", None), ("localhost:6390", None), ("auto", "127.0.0.1:6390")]
)
def test_a_loopback_cluster_is_joined_from_loopback(monkeypatch, address, env):
    """Ray rewrites a loopback address to the host's interface, where a cluster bound to 127.0.0.1 does
    not answer (the driver waited forever): the node joins as 127.0.0.1, with the rewrite off."""
    pytest.importorskip("ray")
    monkeypatch.setattr(ray_executor, "probe", lambda host, port, address: None)
    if env is None:
        monkeypatch.delenv("RAY_ADDRESS", raising=False)
    else:
        monkeypatch.setenv("RAY_ADDRESS", env)
    fake = FakeRay()
    ray_executor.init_cluster(fake, address)
    [(joined, flag)] = fake.calls
    assert joined["_node_ip_address"] == "127.0.0.1" and joined["address"] == address
    assert flag is False


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_address_where_nothing_answers_is_one_error_not_a_hang():
    pytest.importorskip("ray")
    fake = FakeRay()
    port = _free_port()
    with pytest.raises(ray_executor.ClusterError, match=f"no Ray cluster answers at 127.0.0.1:{port}"):
        ray_executor.init_cluster(fake, f"127.0.0.1:{port}")
    assert fake.calls == []  # ray.init was never reached


def test_auto_without_a_cluster_is_one_error(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(ray_executor, "_recorded_cluster", lambda: None)
    with pytest.raises(ray_executor.ClusterError, match="no running Ray cluster found"):
        ray_executor.resolve_address("auto")


def test_the_sweep_says_in_one_line_that_no_cluster_answers(tmp_path, capsys):
    pytest.importorskip("ray")
    from poolbench.cli import main

    argv = ["sweep", "--pools", "avg", "--models", "cnn4", "--datasets", "synthetic", "--seeds", "0", "--epochs", "1"]
    argv += [
        "--executor",
        "ray",
        "--ray-address",
        f"127.0.0.1:{_free_port()}",
        "--runs-dir",
        str(tmp_path),
        "--no-check",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no Ray cluster answers" in err and "Traceback" not in err


# A head bound to loopback (what `ray start --head --node-ip-address 127.0.0.1` makes), in its own
# interpreter: prints its address, lives until its stdin closes.
HEAD = """
import sys, ray
from poolbench.executors.ray import init_cluster
init_cluster(ray, None, num_cpus=1, configure_logging=False)
print(ray.get_runtime_context().gcs_address, flush=True)
sys.stdin.read()
ray.shutdown()
"""
JOIN = """
import sys, ray
from poolbench.executors.ray import init_cluster
init_cluster(ray, sys.argv[1], configure_logging=False)
print("answer", ray.get(ray.remote(lambda: 42).remote()), flush=True)
ray.shutdown()
"""


@pytest.mark.slow  # starts a Ray head and joins it twice: 10-40 s on 2 shared cores
def test_a_cluster_bound_to_loopback_is_joined(tmp_path):
    pytest.importorskip("ray")
    import os

    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    env.pop("RAY_ADDRESS", None)
    head = subprocess.Popen(
        [sys.executable, "-c", HEAD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        address = head.stdout.readline().strip()
        assert address.startswith("127.0.0.1:"), address
        # Ray's local head turns token authentication on; a driver joining it by address needs the mode set
        token = {"RAY_AUTH_MODE": "token"}
        for given, extra in ((address, token), ("auto", {"RAY_ADDRESS": address, **token})):
            out = subprocess.run(
                [sys.executable, "-c", JOIN, given], capture_output=True, text=True, timeout=180, env={**env, **extra}
            )
            assert "answer 42" in out.stdout, (given, out.stderr[-3000:])
    finally:
        head.stdin.close()
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()
