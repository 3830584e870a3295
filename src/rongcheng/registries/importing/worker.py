"""The worker process that reads, validates and encrypts a large PostgreSQL import ahead of the store."""

from __future__ import annotations

import multiprocessing
import multiprocessing.queues
import os
import queue
from collections.abc import Generator
from typing import IO, Any, Final

from django.db import connection

from rongcheng.registries.importing.common import PIPELINE_MIN_ROWS
from rongcheng.registries.importing.reading import _Survey
from rongcheng.registries.importing.validating import _Batch, _batches


def _parallel_by_default(survey: _Survey) -> bool:
    return (
        connection.vendor == "postgresql"
        and (survey.rows or 0) >= PIPELINE_MIN_ROWS
        and (os.cpu_count() or 1) > 1
        and "fork" in multiprocessing.get_all_start_methods()
    )


_END: Final = "end"
_IN_FLIGHT: Final = 2  # batches made ahead of the store: bounds the memory


def _worker(stream: IO[bytes], survey: _Survey, vendor: str, out: multiprocessing.queues.Queue[Any]) -> None:
    """The forked child: reads, validates, protects. It never touches the database: the connection it inherited is
    the parent's, in use."""
    try:
        for batch in _batches(stream, survey, vendor=vendor, protect=True):
            out.put(batch)
        out.put(_END)
    except BaseException as exc:  # handed to the parent, which raises it
        try:
            out.put(exc)
        except Exception:  # one that does not pickle is described instead
            out.put(RuntimeError(f"the import worker failed: {exc!r}"))


def _worker_batches(stream: IO[bytes], survey: _Survey) -> Generator[_Batch]:
    """Batches made by a forked worker process while this one stores the previous ones.

    Validation and SM4 encryption cost about as much time as the database does. A thread would not overlap them:
    both hold the interpreter lock for most of their time. Fork, not spawn: the child shares the open file, the
    settings and the key ring, and needs no setup. It is forked with the database connection open (a strict import is
    inside its transaction); that is safe because the child never uses it and leaves through os._exit, which sends
    nothing on the socket.
    """
    context = multiprocessing.get_context("fork")
    out: multiprocessing.queues.Queue[Any] = context.Queue(maxsize=_IN_FLIGHT)
    stream.seek(0)
    worker = context.Process(target=_worker, args=(stream, survey, connection.vendor, out), daemon=True)
    worker.start()
    try:
        while True:
            try:
                item = out.get(timeout=1)
            except queue.Empty:
                if not worker.is_alive():
                    raise RuntimeError(f"the import worker stopped (exit code {worker.exitcode})") from None
                continue
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, str):
                return
            yield item
    finally:
        if worker.is_alive():
            worker.terminate()
        worker.join()
        out.close()
        out.join_thread()
