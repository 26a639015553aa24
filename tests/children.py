"""A forked child stopped at a point it chooses: the tests that SIGKILL a writer mid-write start one."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from typing import Any


def start_paused_child(target: Callable[..., Any], *args: Any, wait: float = 30.0) -> BaseProcess:
    """Fork a child running ``target(*args, ready)`` and return it, alive, once it has called
    ``ready.send(True)`` (the point to kill it at; ``target`` then sleeps). Fork, not spawn: the
    child inherits the test's monkeypatches and temporary folders as they are."""
    ctx = multiprocessing.get_context("fork")
    ours, theirs = ctx.Pipe()
    child = ctx.Process(target=target, args=(*args, theirs))
    child.start()
    assert ours.poll(wait), f"the child never reached the point {target.__name__} marks"
    return child
