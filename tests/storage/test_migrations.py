"""Migrations are the only way the schema changes: they must round-trip and match the models."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables)
from alembic import command
from storage import migrate
from storage.db import make_engine


def _tables(engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_exactly_one_head() -> None:
    heads = ScriptDirectory.from_config(migrate.alembic_config()).get_heads()
    assert len(heads) == 1, heads
    assert migrate.head_revision() == heads[0]


def test_upgrade_downgrade_upgrade_round_trip(any_db_url: str) -> None:
    engine = make_engine(any_db_url)
    try:
        migrate.upgrade(engine)
        assert migrate.is_at_head(engine)
        assert _tables(engine) == set(SQLModel.metadata.tables)

        migrate.downgrade(engine, "base")
        assert _tables(engine) == set()
        assert migrate.current_revision(engine) is None

        migrate.upgrade(engine)
        assert migrate.is_at_head(engine)
        assert _tables(engine) == set(SQLModel.metadata.tables)
    finally:
        engine.dispose()


def test_models_and_migrations_do_not_drift(any_db_url: str) -> None:
    engine = make_engine(any_db_url)
    try:
        migrate.upgrade(engine)
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, SQLModel.metadata)
        assert diff == [], (
            f"models differ from migrations; run alembic revision --autogenerate: {diff}"
        )
    finally:
        engine.dispose()


def test_script_location_has_every_revision_file() -> None:
    location = migrate.script_location()
    assert (location / "env.py").is_file()
    assert (location / "script.py.mako").read_text().count("import sqlmodel") == 1
    assert list((location / "versions").glob("*.py"))


def test_sqlite_engine_pragmas(db_engine) -> None:
    with db_engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000


def test_plain_sqlite_engine_is_not_used_by_accident(tmp_path) -> None:
    # A bare SQLAlchemy engine has foreign keys off: that is exactly what make_engine must fix.
    bare = create_engine(f"sqlite:///{tmp_path / 'bare.db'}")
    with bare.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 0
    bare.dispose()


def test_the_caller_names_the_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """alembic/env.py reads no settings: the URL comes from the caller (config or `-x url=`)."""

    # A DATABASE_URL in the environment must not be what the migrations run on.
    decoy = tmp_path / "decoy.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{decoy}")
    target = tmp_path / "chosen.db"
    config = migrate.alembic_config()
    config.attributes["url"] = f"sqlite:///{target}"
    command.upgrade(config, "head")
    engine = make_engine(f"sqlite:///{target}")
    try:
        assert migrate.is_at_head(engine)
    finally:
        engine.dispose()
    assert not decoy.exists()

    repo = Path(__file__).resolve().parents[2]
    by_flag = tmp_path / "flag.db"
    ran = subprocess.run(
        [sys.executable, "-m", "alembic", "-x", f"url=sqlite:///{by_flag}", "upgrade", "head"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    assert by_flag.exists() and not decoy.exists()
    unnamed = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
    )
    assert unnamed.returncode != 0 and "-x url=" in unnamed.stderr
