"""One daemon thread that runs a driver's blocking calls in order, awaited from asyncio.

Not the default executor: a card that never answers holds its call until it is taken away, and that must neither
take a thread other drivers need nor keep the process from exiting (executor threads are joined at exit; this one is
a daemon). A call's exception is raised to the awaiting task, so the driver sees every failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
Jobs = queue.SimpleQueue[Callable[[], None] | None]


class BlockingWorker:
    def __init__(self, name: str) -> None:
        self.name = name
        self._jobs: Jobs = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    async def call(self, function: Callable[[], T]) -> T:
        """Run `function` on the worker thread and return its result. Cancelling the await does not stop the call:
        the thread finishes it, and the next call waits behind it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def job() -> None:
            try:
                result = function()
            except BaseException as exc:  # handed to the awaiting task, which decides what it means
                _deliver(loop, future, None, exc)
            else:
                _deliver(loop, future, result, None)

        self._put(job)
        return await future

    def stop(self, last: Callable[[], None] | None = None) -> None:
        """Run `last` (say, release a handle) after the call in progress, then let the thread end."""
        if self._thread is None:
            return
        if last is not None:
            self._jobs.put(last)
        self._jobs.put(None)
        self._thread = None

    def _put(self, job: Callable[[], None]) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._jobs = queue.SimpleQueue()  # a thread of its own: one that is ending drains only its own queue
            self._thread = threading.Thread(target=_run, args=(self._jobs,), name=self.name, daemon=True)
            self._thread.start()
        self._jobs.put(job)


def _run(jobs: Jobs) -> None:
    while True:
        job = jobs.get()
        if job is None:
            return
        with contextlib.suppress(Exception):  # only a `last` can raise here, and nobody awaits it
            job()


def _deliver(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], result: Any,
             error: BaseException | None) -> None:
    def settle() -> None:
        if future.done():  # the awaiting task was cancelled
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits for this result any more
        loop.call_soon_threadsafe(settle)
