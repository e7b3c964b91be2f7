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
from sqlmodel import Session

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
