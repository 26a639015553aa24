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

Probe(init_kwargs=dict(num_cpus=1, configure_logging=False)).run([], "/tmp", progress=False)
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


def test_a_local_cluster_is_started_on_loopback_and_an_address_is_joined_as_given():
    pytest.importorskip("ray")
    from ray._private import ray_constants

    before = ray_constants.ENABLE_RAY_CLUSTER
    fake = FakeRay()
    ray_executor.init_cluster(fake, None, num_cpus=1)
    ray_executor.init_cluster(fake, "ray://head:10001")
    (local, flag), (joined, _) = fake.calls
    assert local["_node_ip_address"] == "127.0.0.1" and local["include_dashboard"] is False
    assert local["address"] is None and local["num_cpus"] == 1
    assert flag is False and before == ray_constants.ENABLE_RAY_CLUSTER  # only while starting
    assert joined == {"address": "ray://head:10001"}
