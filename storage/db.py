"""Database engines and transactions.

SQLite is opened with WAL (readers never block the writer), foreign keys on (cascades need them)
and a busy timeout. Write transactions start with `BEGIN IMMEDIATE`, so a read-then-write
transaction takes the write lock up front and never fails half-way with "database is locked" when
another process writes at the same time; read-only sessions use a plain deferred BEGIN.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool, QueuePool
from sqlmodel import Session, create_engine

SQLITE_BUSY_TIMEOUT_MS = 60_000
_BEGIN_OPTION = "inv_sqlite_begin"

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()
# The database of this process, chosen once by the application (`use_database`); library
# functions called without an engine use it.
_default_url: str | None = None


class NoDatabaseChosen(RuntimeError):
    """A database function ran without an engine before the application chose a database."""


def create_private_file(path: Path) -> None:
    """Create `path` readable by its owner only (0600) unless it exists. SQLite gives its WAL
    and shared-memory files the database file's permissions, so they stay private too."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _configure_sqlite(engine: Engine) -> None:
    database = engine.url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        create_private_file(Path(database))

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Hand transaction control to the "begin" listener below (pysqlite would BEGIN DEFERRED).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        mode = connection.get_execution_options().get(_BEGIN_OPTION, "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")


def _without_details(message: object) -> object:
    if not isinstance(message, str):
        return message
    return "\n".join(line for line in message.splitlines() if not line.startswith("DETAIL:"))


def hide_error_values(engine: Engine) -> None:
    """Keep the values a statement touched out of its errors' messages.

    hide_parameters leaves out the statement's parameters; PostgreSQL also quotes values in a
    DETAIL line (`Key (telegram_id)=(123456789) already exists.`), which is dropped here from
    the driver's exception and SQLAlchemy's wrapper alike (both are printed in a traceback).
    The full detail stays available to code as `exc.orig.diag.message_detail`.
    """

    @event.listens_for(engine, "handle_error")
    def _on_error(context) -> None:  # type: ignore[no-untyped-def]
        for exc in (context.original_exception, context.sqlalchemy_exception):
            if exc is not None and exc.args:
                exc.args = (_without_details(exc.args[0]), *exc.args[1:])


def make_engine(url: str, *, pool: int | None = None) -> Engine:
    """A new engine for `url`, configured for inv (no caching; see `get_engine`).

    hide_parameters: an error's message must not quote the statement's values (it would link a
    Telegram id to its pseudonym in a log or an alert).

    Without `pool`, SQLite opens a connection per transaction (no pool: threads and forked
    processes never share one) and other databases use a small shared pool. `pool=N` is for a
    few long-lived worker threads: N connections stay open (plus N more at peaks), which on
    SQLite saves a connect, four PRAGMAs and a WAL checkpoint per transaction, and on a server
    skips the ping before each checkout (a connection lost to a server restart fails one
    transaction, and SQLAlchemy then replaces the pool).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
        if pool is None:
            engine = create_engine(
                url, hide_parameters=True, connect_args=connect_args, poolclass=NullPool
            )
        else:
            engine = create_engine(
                url,
                hide_parameters=True,
                connect_args=connect_args,
                poolclass=QueuePool,
                pool_size=pool,
                max_overflow=pool,
            )
        _configure_sqlite(engine)
        return engine
    if pool is None:
        engine = create_engine(
            url, pool_pre_ping=True, pool_size=5, max_overflow=10, hide_parameters=True
        )
    else:
        engine = create_engine(
            url,
            pool_size=pool,
            max_overflow=pool,
            pool_pre_ping=False,
            pool_recycle=1800,
            hide_parameters=True,
        )
    hide_error_values(engine)
    return engine


def use_database(url: str | None) -> None:
    """Choose the database that functions called without an engine use (None: none)."""
    global _default_url
    _default_url = url


def chosen_url() -> str | None:
    """The database URL chosen with `use_database`, if any."""
    return _default_url


def get_engine(url: str | None = None) -> Engine:
    """The process-wide engine for `url` (default: the database chosen with `use_database`)."""
    url = url or _default_url
    if url is None:
        raise NoDatabaseChosen("no database chosen: pass an engine, or call use_database(url)")
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = make_engine(url)
        return engine


def dispose_engines() -> None:
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


@contextmanager
def session_scope(engine: Engine | None = None, *, readonly: bool = False) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error.

    `readonly=True` starts a deferred transaction on SQLite (no write lock); writing in it may
    then fail under contention, so use it only for reads.
    """
    engine = engine or get_engine()
    bind = engine
    if readonly and engine.dialect.name == "sqlite":
        bind = engine.execution_options(**{_BEGIN_OPTION: "DEFERRED"})
    session = Session(bind, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
