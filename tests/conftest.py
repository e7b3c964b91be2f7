"""Shared fixtures: an isolated settings environment and fresh migrated databases.

Every test runs with DATA_DIR in its own tmp_path and no `.env` file. `db_engine` is a migrated
SQLite database; `any_db_engine` runs a test on SQLite and, when INV_TEST_POSTGRES_URL points at a
server, on a fresh PostgreSQL database too. With INV_REQUIRE_POSTGRES=1 (CI) a missing or
unreachable server fails the PostgreSQL variant instead of skipping it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from inv.settings import Settings, get_settings
from storage import migrate
from storage.db import dispose_engines, get_engine, use_database

# A key of the accepted length (PSEUDONYM_SECRET refuses short and placeholder values).
TEST_PSEUDONYM_SECRET = "test-pseudonym-secret-9f4c2a7e1b3d5f60"

# Every setting, so that none leaks in from the developer's shell.
SETTING_NAMES = [name.upper() for name in Settings.model_fields]


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No setting leaks in from the developer's shell or .env; DATA_DIR is per test."""
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    data_dir = tmp_path / "data"
    monkeypatch.setenv("INV_ENV_FILE", "")
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    monkeypatch.setenv("PSEUDONYM_SECRET", TEST_PSEUDONYM_SECRET)
    get_settings.cache_clear()
    dispose_engines()
    # What the command line does after loading settings: their database is the default one.
    use_database(get_settings().sqlalchemy_url)
    get_settings.cache_clear()  # a test may still change the environment before reading them
    yield data_dir
    dispose_engines()
    use_database(None)
    get_settings.cache_clear()


def postgres_admin_url() -> str | None:
    url = os.environ.get("INV_TEST_POSTGRES_URL")
    if url and url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url or None


def postgres_required() -> bool:
    return os.environ.get("INV_REQUIRE_POSTGRES") == "1"


def _skip_or_fail(reason: str) -> None:
    if postgres_required():
        pytest.fail(f"PostgreSQL is required (INV_REQUIRE_POSTGRES=1) but {reason}")
    pytest.skip(reason)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    admin_url = postgres_admin_url()
    if admin_url is None:
        _skip_or_fail("INV_TEST_POSTGRES_URL is not set")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"inv_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        _skip_or_fail(
            f"PostgreSQL at INV_TEST_POSTGRES_URL is unreachable: {exc.__class__.__name__}"
        )
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _configure_database(url: str, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    dispose_engines()
    use_database(get_settings().sqlalchemy_url)
    get_settings.cache_clear()
    engine = get_engine()
    migrate.upgrade(engine)
    return engine


@pytest.fixture
def sqlite_url(isolated_settings: Path) -> str:
    isolated_settings.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{isolated_settings / 'inv.db'}"


@pytest.fixture
def db_engine(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """A migrated SQLite database; settings (DATABASE_URL, DATA_DIR) point at it."""
    return _configure_database(sqlite_url, monkeypatch)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request: pytest.FixtureRequest) -> str:
    """An empty database URL: SQLite, then PostgreSQL (skipped or failed as described above)."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def any_db_engine(any_db_url: str, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """A migrated database on each backend; settings point at it."""
    return _configure_database(any_db_url, monkeypatch)
