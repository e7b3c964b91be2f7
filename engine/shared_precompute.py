"""Batches for one of several `inv precompute` workers sharing a PostgreSQL database.

A worker queues what its folder holds (`storage.leases.TaskQueue`), then claims batches until no
image is left to anyone: when only other workers' live leases remain it waits, because a worker
that died leaves rows that become claimable once its lease runs out, and someone must take them.
A background thread pushes this worker's leases forward while it runs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Protocol, TypeVar

from sqlalchemy.engine import Engine

from storage.leases import Task, TaskQueue

__all__ = ["DEFAULT_LEASE_SECONDS", "SharedBatches", "Task"]


class Found(Protocol):
    """An image file a worker found: where, and its true class when the folder says."""

    @property
    def path(self) -> Path: ...

    @property
    def true_class(self) -> int | None: ...


Source = TypeVar("Source", bound=Found)

log = logging.getLogger(__name__)

DEFAULT_LEASE_SECONDS = 300.0
MAX_POLL_SECONDS = 1.0  # how often a waiting worker looks whether the others have finished


class SharedBatches:
    """Claimed batches of one worker, with the lease renewal running beside them."""

    def __init__(
        self,
        engine: Engine,
        model_id: int,
        config_key: str,
        *,
        batch_size: int,
        lease_seconds: float | None = None,
        already_stored: Callable[[list[str]], set[str]],
    ) -> None:
        lease_seconds = DEFAULT_LEASE_SECONDS if lease_seconds is None else lease_seconds
        if lease_seconds <= 0:
            raise ValueError("the lease must last a positive number of seconds")
        self.queue = TaskQueue(engine, model_id, config_key, lease=timedelta(seconds=lease_seconds))
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        self.already_stored = already_stored
        self.found_stored = 0
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    @property
    def worker(self) -> str:
        return self.queue.worker

    def _renew_until_stopped(self) -> None:
        # A third of the lease: two renewals may fail (a slow database) before the lease runs out.
        while not self._stop.wait(self.lease_seconds / 3):
            try:
                self.queue.renew()
            except Exception:  # a transient database error must not end the run
                log.warning("could not renew the leases of %s", self.worker, exc_info=True)

    def start(self) -> None:
        if self._renewer is None:
            self._renewer = threading.Thread(
                target=self._renew_until_stopped, name="inv-lease", daemon=True
            )
            self._renewer.start()

    def close(self) -> None:
        """Stop renewing and hand back what this worker still holds (nothing after a full run)."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
            self._renewer = None
        try:
            released = self.queue.release()
        except Exception:  # the database is gone: the leases will run out by themselves
            log.warning("could not hand back the images of %s", self.worker, exc_info=True)
        else:
            if released:
                log.info("%s handed back %d unfinished images", self.worker, released)

    def batches(self) -> Iterator[list[Task]]:
        """Claimed batches until every queued image is settled by some worker."""
        self.start()
        while True:
            tasks = self.queue.claim(self.batch_size)
            if tasks:
                # A worker whose lease was taken over may still have stored the image.
                stored = self.already_stored([t.sha256 for t in tasks])
                if stored:
                    self.queue.settle(sorted(stored))
                    self.found_stored += len(stored)
                    tasks = [t for t in tasks if t.sha256 not in stored]
                if tasks:
                    yield tasks
                continue
            state = self.queue.state()
            if state.left_to_others == 0:
                if state.abandoned:
                    log.warning(
                        "%d images were given up after their workers died repeatedly",
                        state.abandoned,
                    )
                return
            expiry = self.queue.seconds_to_next_expiry()
            time.sleep(MAX_POLL_SECONDS if expiry is None else min(expiry + 0.05, MAX_POLL_SECONDS))

    def chunks(
        self, todo: Sequence[tuple[Source, str]], from_task: Callable[[Task], Source]
    ) -> Iterator[list[tuple[Source, str]]]:
        """Queue this worker's (source, hash) pairs, then yield claimed batches of them.

        A claimed image this worker did not find itself (another machine's folder) is read from
        where the queuing worker found it (`from_task`)."""
        self.queue.enqueue(Task(sha, str(src.path), src.true_class) for src, sha in todo)
        local = {sha: src for src, sha in todo}
        for tasks in self.batches():
            yield [
                (local[t.sha256] if t.sha256 in local else from_task(t), t.sha256) for t in tasks
            ]

    def settle_chunk(
        self, chunk: Sequence[tuple[Found, str]], prepared: set[str], reasons: dict[str, str]
    ) -> None:
        """After a batch is stored: its prepared images are done, the others failed; `reasons`
        maps a source path to why it failed."""
        self.queue.settle(
            [sha for _, sha in chunk if sha in prepared],
            {
                sha: reasons.get(str(src.path), "failed")
                for src, sha in chunk
                if sha not in prepared
            },
        )
