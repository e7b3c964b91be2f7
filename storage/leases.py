"""A queue of images to explain, shared by `inv precompute` workers on one PostgreSQL database.

Every worker scans its image folder and queues the images not yet explained (a row per image and
explanation setting; queuing the same image twice is a no-op). Workers then claim batches of
pending rows atomically: `SELECT … FOR UPDATE SKIP LOCKED` lets several transactions pick disjoint
rows without waiting on each other, and the claim stamps the rows with the worker's name and a
lease. While a worker holds rows it keeps pushing their lease forward (`renew`). A worker that dies
(killed, machine lost) stops renewing; once its lease has run out, any other worker claims the
rows again. A row is settled (done or failed) after the image's rows are stored, and the image
table's unique key (model, image hash, setting) keeps an image from being stored twice even when a
slow worker's lease was taken over. Times come from the database's clock, so machines with
different clocks agree on when a lease runs out.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.engine import Engine

from storage.db import session_scope
from storage.models import PrecomputeTask, utcnow

T_TASK = PrecomputeTask.__table__  # type: ignore[attr-defined]
PENDING, DONE, FAILED = "pending", "done", "failed"
MAX_ATTEMPTS = 3  # an image whose worker died this many times is given up (it may be the cause)
MAX_ERROR_LENGTH = 500


def worker_name() -> str:
    """A name unique to this process: host, process id and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Task:
    sha256: str
    source_path: str
    true_class: int | None


@dataclass(frozen=True)
class QueueState:
    pending: int  # not yet settled: being worked on, or claimable (attempts left)
    mine: int  # of those, held by this worker
    done: int
    failed: int
    abandoned: int  # pending rows whose workers died MAX_ATTEMPTS times

    @property
    def left_to_others(self) -> int:
        """Rows this worker does not hold that some worker still has to finish."""
        return self.pending - self.mine


class TaskQueue:
    """The rows of one (model, explanation setting) in `precompute_task`, seen by one worker."""

    def __init__(
        self,
        engine: Engine,
        model_id: int,
        config_key: str,
        *,
        lease: timedelta = timedelta(minutes=5),
        worker: str | None = None,
    ) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("the shared precompute queue needs PostgreSQL")
        self.engine = engine
        self.model_id = model_id
        self.config_key = config_key
        self.lease = lease
        self.worker = worker or worker_name()

    def _mine(self):  # type: ignore[no-untyped-def]
        return (T_TASK.c.model_id == self.model_id) & (T_TASK.c.config_key == self.config_key)

    def enqueue(self, tasks: Iterable[Task]) -> int:
        """Queue images; how many were new.

        An image already queued stays as it is, except that one which failed, or whose workers
        all died, gets a fresh start: a new run tries again what an earlier run could not do
        (a file may have been fixed, a machine replaced).
        """
        rows = [
            {
                "model_id": self.model_id,
                "config_key": self.config_key,
                "sha256": t.sha256,
                "source_path": t.source_path,
                "true_class": t.true_class,
                "state": PENDING,
                "attempts": 0,
                "created_at": utcnow(),
            }
            for t in tasks
        ]
        if not rows:
            return 0
        statement = (
            postgres_insert(T_TASK)
            .values(rows)
            .on_conflict_do_nothing(constraint="uq_task_model_config_hash")
            # RETURNING, not rowcount: psycopg reports -1 for INSERT … ON CONFLICT.
            .returning(T_TASK.c.id)
        )
        hashes = [row["sha256"] for row in rows]
        with session_scope(self.engine) as session:
            added = len(session.execute(statement).all())
            given_up = (T_TASK.c.state == PENDING) & (T_TASK.c.attempts >= MAX_ATTEMPTS)
            dead = or_(T_TASK.c.lease_until.is_(None), T_TASK.c.lease_until < func.now())
            session.execute(
                update(T_TASK)
                .where(
                    self._mine(),
                    T_TASK.c.sha256.in_(hashes),
                    or_(T_TASK.c.state == FAILED, given_up & dead),
                )
                .values(state=PENDING, attempts=0, error=None, worker=None, lease_until=None)
            )
        return added

    def claim(self, limit: int) -> list[Task]:
        """Up to `limit` claimable rows (pending, not under a live lease), leased to this worker."""
        now = func.now()
        with session_scope(self.engine) as session:
            ids = (
                session.execute(
                    select(T_TASK.c.id)
                    .where(
                        self._mine(),
                        T_TASK.c.state == PENDING,
                        T_TASK.c.attempts < MAX_ATTEMPTS,
                        or_(T_TASK.c.lease_until.is_(None), T_TASK.c.lease_until < now),
                    )
                    .order_by(T_TASK.c.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
                .scalars()
                .all()
            )
            if not ids:
                return []
            rows = session.execute(
                update(T_TASK)
                .where(T_TASK.c.id.in_(ids))
                .values(
                    worker=self.worker,
                    lease_until=now + self.lease,
                    attempts=T_TASK.c.attempts + 1,
                )
                .returning(T_TASK.c.id, T_TASK.c.sha256, T_TASK.c.source_path, T_TASK.c.true_class)
            ).all()
        rows = sorted(rows, key=lambda row: row[0])
        return [Task(sha256=r[1], source_path=r[2], true_class=r[3]) for r in rows]

    def renew(self) -> int:
        """Push this worker's leases forward; how many rows it holds."""
        with session_scope(self.engine) as session:
            result = session.execute(
                update(T_TASK)
                .where(self._mine(), T_TASK.c.worker == self.worker, T_TASK.c.state == PENDING)
                .values(lease_until=func.now() + self.lease)
            )
            return int(result.rowcount or 0)

    def release(self) -> int:
        """Hand back the rows this worker holds (it is stopping early: an error, Ctrl+C), so that
        others need not wait for the lease to run out; the claim does not count as an attempt."""
        with session_scope(self.engine) as session:
            result = session.execute(
                update(T_TASK)
                .where(self._mine(), T_TASK.c.worker == self.worker, T_TASK.c.state == PENDING)
                .values(worker=None, lease_until=None, attempts=T_TASK.c.attempts - 1)
            )
            return int(result.rowcount or 0)

    def settle(self, done: Sequence[str], failed: dict[str, str] | None = None) -> None:
        """Mark images done (stored, or found stored) or failed (with the reason)."""
        failed = failed or {}
        with session_scope(self.engine) as session:
            for state, hashes in ((DONE, list(done)), (FAILED, list(failed))):
                if not hashes:
                    continue
                values: dict[str, object] = {
                    "state": state,
                    "worker": None,
                    "lease_until": None,
                    "finished_at": func.now(),
                }
                if state == FAILED:
                    # One statement per reason keeps it a plain UPDATE; reasons repeat little.
                    for sha in hashes:
                        session.execute(
                            update(T_TASK)
                            .where(self._mine(), T_TASK.c.sha256 == sha)
                            .values(**values, error=failed[sha][:MAX_ERROR_LENGTH])
                        )
                else:
                    session.execute(
                        update(T_TASK)
                        .where(self._mine(), T_TASK.c.sha256.in_(hashes))
                        .values(**values)
                    )

    def state(self) -> QueueState:
        live = T_TASK.c.lease_until >= func.now()
        dead = or_(T_TASK.c.lease_until.is_(None), T_TASK.c.lease_until < func.now())
        pending = T_TASK.c.state == PENDING
        given_up = T_TASK.c.attempts >= MAX_ATTEMPTS
        with session_scope(self.engine, readonly=True) as session:
            row = session.execute(
                select(
                    func.count().filter(pending, or_(~given_up, live)),
                    func.count().filter(pending, T_TASK.c.worker == self.worker, live),
                    func.count().filter(T_TASK.c.state == DONE),
                    func.count().filter(T_TASK.c.state == FAILED),
                    func.count().filter(pending, given_up, dead),
                ).where(self._mine())
            ).one()
        return QueueState(*(int(v) for v in row))

    def seconds_to_next_expiry(self) -> float | None:
        """Seconds until the first live lease of another worker runs out (None: there is none)."""
        with session_scope(self.engine, readonly=True) as session:
            value = session.execute(
                select(func.extract("epoch", func.min(T_TASK.c.lease_until) - func.now())).where(
                    self._mine(),
                    T_TASK.c.state == PENDING,
                    T_TASK.c.attempts < MAX_ATTEMPTS,
                    T_TASK.c.worker != self.worker,
                    T_TASK.c.lease_until >= func.now(),
                )
            ).scalar_one()
        return None if value is None else max(0.0, float(value))
