"""The one place that starts background tasks: each is kept until it ends (asyncio holds
only weak references to tasks), and a failure is logged when it happens rather than as
"exception was never retrieved" at garbage collection."""

import asyncio
import logging
from collections.abc import Coroutine

log = logging.getLogger("signaling.tasks")

_running: set[asyncio.Task] = set()


def spawn(coroutine: Coroutine, what: str) -> asyncio.Task:
    """Run `coroutine` beside the caller; `what` names it in the log if it fails."""
    task = asyncio.get_running_loop().create_task(coroutine, name=what)
    _running.add(task)
    task.add_done_callback(_finished)
    return task


def _finished(task: asyncio.Task) -> None:
    _running.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("background task %s failed", task.get_name(), exc_info=task.exception())


def later(delay: float, make_coroutine, what: str) -> asyncio.TimerHandle:
    """`spawn(make_coroutine(), what)` after `delay` seconds; cancel the handle to forget it."""
    return asyncio.get_running_loop().call_later(delay, lambda: spawn(make_coroutine(), what))
