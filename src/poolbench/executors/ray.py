"""The Ray executor: one Ray task per run (or per pack of runs) on a real Ray cluster.

    poolbench sweep ... --executor ray                      # starts a local Ray cluster, loopback only
    poolbench sweep ... --executor ray --ray-address auto   # joins a running one (`ray start --head`)

The local cluster listens on 127.0.0.1 only (GCS, raylet, object manager, workers, agents; no
dashboard): anyone who can reach a Ray port can submit code. Ray replaces a loopback
``_node_ip_address`` by the host's reachable address unless clusters are switched off for the
process, which is what a macOS/Windows Ray does by default (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``),
so the local cluster starts that way. Joining a cluster is explicit (``--ray-address``), and then
that cluster's own settings decide what listens where. Joining a cluster bound to loopback
(``ray start --head --node-ip-address 127.0.0.1``, or ``auto`` finding one) joins it the same way:
otherwise Ray rewrites 127.0.0.1 to the host's interface, where nothing answers, and waits forever.
Before ``ray.init`` the cluster's port is probed with a bounded connect, so an address where
nothing answers is one line (``ClusterError``) within ``PROBE_TIMEOUT_S``, not a hang.

Every node must have poolbench installed and must see ``runs_dir`` at the same absolute path:
on a multi-node cluster that means a shared filesystem (NFS, Lustre, ...). Workers write only
their run directories; the driver gathers the results and rebuilds the index.

A task asks for one GPU when the cluster has GPUs (then runs are packed, 8 per task by
default), else one CPU. A killed worker is not a failed run: Ray retries its task
(``max_retries``), and the retry resumes the run from its last atomic checkpoint, so nothing
is trained twice and no result is duplicated. A task that dies more often than that is
recorded as a failed run, like any other crash.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections import Counter
from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any

from tqdm.auto import tqdm

from ..train.callbacks import Callback
from ..train.config import RunConfig
from ..train.packing import plan_packs
from . import base, register_executor
from .local import auto_pack
from .protocol import Results, TaskWorker

LOOPBACK = "127.0.0.1"
# Read by Ray when it is imported (and by the processes it starts): False makes a local node's
# address the loopback one, as on macOS/Windows.
_CLUSTER_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"

#: seconds a cluster's port has to accept a connection before joining it is given up
PROBE_TIMEOUT_S = 5.0


class ClusterError(RuntimeError):
    """A Ray cluster that cannot be joined; the message names the address and what to do."""


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ImportError("the ray executor needs Ray: pip install 'poolbench[ray]'") from None
    return ray


def local_init_kwargs() -> dict[str, Any]:
    """``ray.init`` arguments for a private, loopback-only local cluster."""
    return dict(_node_ip_address=LOOPBACK, include_dashboard=False, dashboard_host=LOOPBACK)


@contextmanager
def loopback_only(ray):
    """While a local cluster starts, make Ray resolve this node's address to loopback (see above)."""
    from ray._private import ray_constants

    old_env, old_flag = os.environ.get(_CLUSTER_ENV), getattr(ray_constants, "ENABLE_RAY_CLUSTER", None)
    os.environ[_CLUSTER_ENV] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = old_flag
        if old_env is None:
            os.environ.pop(_CLUSTER_ENV, None)
        else:
            os.environ[_CLUSTER_ENV] = old_env


def resolve_address(address: str) -> str:
    """The cluster ``address`` names: ``auto`` is ``$RAY_ADDRESS``, else the cluster a ``ray start`` on
    this machine recorded; any other address as given."""
    if address != "auto":
        return address
    found = os.environ.get("RAY_ADDRESS") or _recorded_cluster()
    if not found:
        raise ClusterError(
            "--ray-address auto: no running Ray cluster found ($RAY_ADDRESS is unset and no `ray start` "
            "cluster is recorded on this machine); start one (ray start --head --node-ip-address 127.0.0.1) "
            "or give HOST:PORT"
        )
    return found


def _recorded_cluster() -> str | None:
    """The address a ``ray start`` on this machine recorded (Ray's own lookup for ``auto``), or None."""
    try:
        from ray._private.services import find_bootstrap_address

        return find_bootstrap_address(None)
    except Exception:  # noqa: BLE001 - Ray's private lookup changed or failed: nothing found
        return None


def host_port(address: str) -> tuple[str, int]:
    """('host', port) of ``HOST:PORT`` or ``ray://HOST:PORT``; ClusterError for anything else."""
    rest = address.removeprefix("ray://")
    host, _, port = rest.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ClusterError(f"Ray address {address!r} is not HOST:PORT or ray://HOST:PORT; fix it (or $RAY_ADDRESS)")
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def probe(host: str, port: int, address: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """A TCP connect to the cluster's port within ``timeout`` s, or ClusterError naming the address."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as e:
        reason = f"no answer within {timeout:g} s" if isinstance(e, TimeoutError) else e.strerror or str(e)
        raise ClusterError(
            f"no Ray cluster answers at {host}:{port} (--ray-address {address}): {reason}; start it "
            f"(ray start --head --port {port}) or fix the address"
        ) from None


def init_cluster(ray, address: str | None = None, **kwargs: Any) -> None:
    """Join ``address``, or start a local cluster bound to loopback (``kwargs`` may override).

    A cluster is probed first (ClusterError within ``PROBE_TIMEOUT_S`` where nothing answers); a
    loopback one is joined from loopback, the address Ray would otherwise rewrite."""
    if address:
        target = resolve_address(address)
        host, port = host_port(target)
        probe(host, port, address)
        # "auto" goes to Ray as "auto": Ray then applies its own rules for it (token authentication)
        try:
            if not is_loopback(host) or target.startswith("ray://"):
                ray.init(address=address, **kwargs)
                return
            with loopback_only(ray):
                ray.init(address=address, **{"_node_ip_address": LOOPBACK, **kwargs})
        except ConnectionError as e:  # it answered, but not as a Ray cluster we may join
            raise ClusterError(
                f"the Ray cluster at {target} (--ray-address {address}) refused the connection "
                f"({' '.join(str(e).split())[:200]}); if it uses token authentication, set RAY_AUTH_MODE=token"
            ) from None
        return
    with loopback_only(ray):
        ray.init(address=None, **{**local_init_kwargs(), **kwargs})


def _call_worker(worker: TaskWorker, configs: list[RunConfig], runs_dir: str, **options: Any) -> Results:
    """A Ray task: the executor's worker on one task (Ray takes functions, not any callable)."""
    return worker(configs, runs_dir, **options)


@register_executor("ray")
class RayExecutor:
    """One Ray task per run or pack.

    ``address``: a running cluster to join (``auto``, ``HOST:PORT``, ``ray://HOST:PORT``); None
    starts a loopback-only local one. ``pack``: most runs per task (None: 8 where the cluster has
    GPUs, else 1); ``progress``: the driver's bar; ``max_retries``: tries of a task whose worker
    died; ``init_kwargs``: more ``ray.init`` arguments for a cluster this executor starts;
    ``callbacks``: told every run's hooks, pickled to the workers with each task (a CSV logger's
    folder must be seen by every node, as ``runs_dir`` is); ``worker``: the task body
    (``base.run_task``; shipped to the workers with the task).
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        pack: int | None = None,
        progress: bool = True,
        max_retries: int = 3,
        init_kwargs: dict[str, Any] | None = None,
        callbacks: Sequence[Callback] = (),
        worker: TaskWorker | None = None,
    ):
        self.address, self.pack, self.progress = address, pack, progress
        self.max_retries = max_retries
        self.init_kwargs = dict(init_kwargs or {})
        self.callbacks = list(callbacks)
        self.worker: TaskWorker = worker if worker is not None else base.run_task

    def run(self, configs: Sequence[RunConfig], runs_dir: str) -> Results:
        """Submit ``configs`` (none of them done yet) as tasks; return ``{run_id: result}``."""
        ray = _import_ray()
        # Join a cluster someone else started (a test, a notebook) and leave it running;
        # shut down only what we started.
        started = not ray.is_initialized()
        if started:
            init_cluster(ray, self.address, log_to_driver=False, **self.init_kwargs)
        try:
            return self._run(ray, configs, str(runs_dir))
        finally:
            if started:
                ray.shutdown()

    def _run(self, ray, configs: Sequence[RunConfig], runs_dir: str) -> Results:
        gpus = ray.cluster_resources().get("GPU", 0)
        pack = self.pack if self.pack is not None else auto_pack(gpus > 0)
        tasks = plan_packs(configs, pack)
        # Exceptions inside a run are caught by run_task, so Ray retries only system failures
        # (a dead worker or node): exactly the failures where resuming is the right answer.
        remote = ray.remote(_call_worker).options(
            num_gpus=1 if gpus else 0, num_cpus=1, max_retries=self.max_retries, retry_exceptions=False
        )
        pending = {
            remote.remote(self.worker, t, runs_dir, progress=False, executor=self.name, callbacks=self.callbacks): t
            for t in tasks
        }
        results: Results = {}
        with tqdm(total=len(configs), desc="sweep (ray)", unit="run", disable=not self.progress) as bar:
            try:
                while pending:
                    [ref], _ = ray.wait(list(pending), num_returns=1)
                    task = pending.pop(ref)
                    try:
                        results.update(ray.get(ref))
                    except Exception as e:  # noqa: BLE001 - retries exhausted: record, go on
                        err = f"ray task lost after {self.max_retries} retries: {type(e).__name__}: {e}"
                        for cfg in task:
                            results[cfg.run_id] = base.record_failure(
                                cfg, runs_dir, err, device="unknown (worker lost)"
                            )
                    bar.update(len(task))
                    bar.set_postfix(dict(Counter(r.get("status") for r in results.values())))
            except BaseException:
                # Ctrl-C (or any driver error): do not leave tasks training on a shared cluster.
                for ref in pending:
                    ray.cancel(ref, force=True)
                raise
        return results
