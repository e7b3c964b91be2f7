"""Job locks across processes: one row of `job_lock` per running job, with an expiry.

A lock is taken by an atomic insert (two processes racing both try; one row wins), pushed forward
while its holder works, and deleted when it is done. A holder that dies leaves a row that expires,
and the next taker clears it first.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from datetime import timedelta

from sqlalchemy import delete, update
from sqlalchemy.engine import Connection, Engine

from storage.db import session_scope
from storage.models import utcnow
from storage.tables import T_LOCK

# A holder refreshes its expiry at most this often.
REFRESH_SECONDS = 30.0


class LockLost(RuntimeError):
    """Another process took the lock over (its holder ran past the expiry unrefreshed)."""


class DatabaseLock:
    """The `name` row of job_lock: taken by an atomic insert, pushed forward while held."""

    def __init__(self, engine: Engine, name: str, ttl: timedelta) -> None:
        self.engine = engine
        self.name = name
        self.ttl = ttl
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._refreshed = 0.0

    def _insert(self):  # type: ignore[no-untyped-def]
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        return dialect_insert(T_LOCK)

    def acquire(self) -> bool:
        now = utcnow()
        with session_scope(self.engine) as session:
            # An expired row belongs to a holder that died: clear it, then race to insert ours.
            session.execute(
                delete(T_LOCK).where(T_LOCK.c.name == self.name, T_LOCK.c.expires_at <= now)
            )
            result = session.execute(
                self._insert()
                .values(
                    name=self.name, holder=self.holder, acquired_at=now, expires_at=now + self.ttl
                )
                .on_conflict_do_nothing(index_elements=["name"])
                # RETURNING, not rowcount: psycopg reports -1 for INSERT … ON CONFLICT.
                .returning(T_LOCK.c.name)
            )
            acquired = result.first() is not None
        if acquired:
            self._refreshed = time.monotonic()
        return acquired

    def refresh(self, conn: Connection | None = None, *, force: bool = False) -> None:
        """Push the expiry forward; raises LockLost if the row is no longer ours."""
        if not force and time.monotonic() - self._refreshed < REFRESH_SECONDS:
            return
        statement = (
            update(T_LOCK)
            .where(T_LOCK.c.name == self.name, T_LOCK.c.holder == self.holder)
            .values(expires_at=utcnow() + self.ttl)
        )
        if conn is not None:
            rowcount = conn.execute(statement).rowcount
        else:
            with session_scope(self.engine) as session:
                rowcount = session.execute(statement).rowcount
        if rowcount != 1:
            raise LockLost(f"the {self.name} lock was taken over by another process")
        self._refreshed = time.monotonic()

    def release(self) -> None:
        with session_scope(self.engine) as session:
            session.execute(
                delete(T_LOCK).where(T_LOCK.c.name == self.name, T_LOCK.c.holder == self.holder)
            )
