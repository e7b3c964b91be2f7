"""Which database engine the game's functions use in the current thread.

The bot's database worker threads bind a pooled engine (see `bot.runtime.DbRunner`); everywhere
else (tests, the CLI, other processes) the game functions use the process-wide engine of
`storage.db.get_engine()`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine
from sqlalchemy.pool import QueuePool
from sqlmodel import Session, create_engine

from storage import db

_local = threading.local()


def bind(engine: Engine | None) -> None:
    """Use `engine` for the game's transactions in this thread (None: the default engine)."""
    _local.engine = engine


def current() -> Engine:
    return getattr(_local, "engine", None) or db.get_engine()


@contextmanager
def scope(*, readonly: bool = False) -> Iterator[Session]:
    """storage.db.session_scope on this thread's engine."""
    with db.session_scope(current(), readonly=readonly) as session:
        yield session


def pooled_engine(url: str, size: int) -> Engine:
    """An engine for `url` whose SQLite connections stay open between transactions.

    storage.db opens SQLite without a pool (a connection per transaction); opening one costs a
    connect and four PRAGMAs, and closing the last one checkpoints the WAL, which together made
    up most of the bot's database time per update. The bot's few long-lived worker threads keep
    their connections instead; the SQLite settings (WAL, foreign keys, busy timeout, BEGIN
    IMMEDIATE for writers) are storage.db's own. Other databases use storage.db's engine as is.
    """
    # hide_parameters: errors never quote the statement's values (Telegram ids, players' words).
    if not url.startswith("sqlite"):
        # No ping before each checkout: the workers use their connections all the time, and the
        # ping was one more round trip per update. A connection lost to a server restart fails
        # one transaction (the user gets the apology), and SQLAlchemy then replaces the pool.
        engine = create_engine(
            url,
            pool_size=size,
            max_overflow=size,
            pool_pre_ping=False,
            pool_recycle=1800,
            hide_parameters=True,
        )
        db.hide_error_values(engine)
        return engine
    engine = create_engine(
        url,
        hide_parameters=True,
        connect_args={"timeout": db.SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        poolclass=QueuePool,
        pool_size=size,
        max_overflow=size,
    )
    db._configure_sqlite(engine)  # the same connection setup as storage.db's engines
    return engine
