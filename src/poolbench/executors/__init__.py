"""Sweep executors: where the runs of a sweep are trained.

- ``local`` (default): in-process, one run (or pack) after another, no server.
- ``ray``: one Ray task per run or per pack on a real cluster (``pip install poolbench[ray]``).

Both call the same worker body (``base.run_task``), so a run is trained, skipped, resumed and
recorded identically whichever executor runs it.
"""

from __future__ import annotations

EXECUTORS = ("local", "ray")


def get_executor(name: str, ray_address: str | None = None):
    """An executor by name: ``"local"`` or ``"ray"`` (``ray_address`` only matters for ray)."""
    if name == "local":
        from .local import LocalExecutor

        return LocalExecutor()
    if name == "ray":
        from .ray import RayExecutor

        return RayExecutor(address=ray_address)
    raise ValueError(f"unknown executor {name!r}; valid executors: {', '.join(EXECUTORS)}")


__all__ = ["EXECUTORS", "get_executor"]
