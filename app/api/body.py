"""Read a request body with a size limit, refusing before reading more than the limit."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from typing import IO

from fastapi import HTTPException, Request
from fastapi.concurrency import run_in_threadpool

SPOOL_IN_MEMORY = 8 * 1024 * 1024


async def read_limited(request: Request, limit: int) -> bytes:
    """The raw body, or 413 as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(status_code=413, detail=f"body larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(status_code=413, detail=f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def spool_body(request: Request, limit: int) -> IO[bytes]:
    """The whole body in a temporary file (memory up to 8 MB, then disk), rewound; 413 past `limit`.

    An upload is received in full before any database work starts, so a client sending slowly never
    keeps a transaction (or SQLite's write lock) open."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(status_code=413, detail=f"body larger than {limit} bytes")
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - returned to the caller
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HTTPException(status_code=413, detail=f"body larger than {limit} bytes")
            if size > SPOOL_IN_MEMORY:
                await run_in_threadpool(spool.write, chunk)
            else:
                spool.write(chunk)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool  # type: ignore[return-value]


async def chunks_of(file: IO[bytes], size: int = 1024 * 1024) -> AsyncIterator[bytes]:
    """A spooled body read back in chunks (off the event loop)."""
    while chunk := await run_in_threadpool(file.read, size):
        yield chunk
