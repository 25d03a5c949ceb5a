"""A streamed request body handed to blocking code in a worker thread, through a bounded queue."""

from __future__ import annotations

import asyncio
import queue
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any


async def run_with_body(stream: AsyncIterator[bytes], run: Callable[..., Any],
                        work: Callable[[Iterator[bytes]], Any]) -> Any:
    """`work(chunks)` executed by `run` (off the event loop) while the body is read: the body is never
    held whole. Whatever `work` raises is raised here."""
    q: queue.Queue[bytes | None] = queue.Queue(maxsize=64)
    job = asyncio.ensure_future(run(work, iter(q.get, None)))
    try:
        async for chunk in stream:
            if not await _put(q, chunk, job):
                break
    finally:
        await _put(q, None, job)
    return await job


async def _put(q: queue.Queue[bytes | None], item: bytes | None, job: asyncio.Future[Any]) -> bool:
    """Put without blocking the event loop; False once the work has stopped (it returned or raised)."""
    while True:
        if job.done():
            return False
        try:
            q.put_nowait(item)
            return True
        except queue.Full:
            await asyncio.sleep(0.002)
