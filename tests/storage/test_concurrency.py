"""Two processes writing one SQLite file at once: no "database is locked", nothing lost."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from sqlalchemy import func
from sqlmodel import select

from storage.db import make_engine, session_scope
from storage.models import GroupChat

TRANSACTIONS_PER_PROCESS = 500


def _worker(url: str, worker: int, barrier, errors) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(url)
    try:
        barrier.wait(timeout=60)
        for i in range(TRANSACTIONS_PER_PROCESS):
            # Read-then-write: the write depends on what was read, as in the game's handlers.
            with session_scope(engine) as session:
                seen = session.exec(select(func.count()).select_from(GroupChat)).one()
                session.add(GroupChat(chat_id=worker * 1_000_000 + i, title=f"seen {seen}"))
    except Exception as exc:
        errors.put(f"worker {worker}: {exc!r}")
    finally:
        engine.dispose()


def test_two_processes_read_then_write_without_locking_errors(db_engine, tmp_path: Path) -> None:
    url = db_engine.url.render_as_string(hide_password=False)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    errors = ctx.Queue()
    workers = [ctx.Process(target=_worker, args=(url, n, barrier, errors)) for n in (1, 2)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=240)
        assert process.exitcode == 0
    messages = []
    while not errors.empty():
        messages.append(errors.get())
    assert messages == []
    with session_scope(db_engine, readonly=True) as session:
        titles = session.exec(select(GroupChat.title)).all()
    assert len(titles) == 2 * TRANSACTIONS_PER_PROCESS
    # Each transaction saw every earlier commit: the counts read are all distinct.
    assert len(set(titles)) == 2 * TRANSACTIONS_PER_PROCESS
