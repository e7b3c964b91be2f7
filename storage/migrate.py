"""Bring a database to the newest schema with Alembic, from any working directory.

The migration scripts live in the repository's `alembic/` folder; a non-editable install ships the
same files as `storage/migrations` (see pyproject.toml), so both are looked up here.
"""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from alembic import command
from storage.db import get_engine

_PACKAGE_DIR = Path(__file__).resolve().parent


def script_location() -> Path:
    for candidate in (_PACKAGE_DIR / "migrations", _PACKAGE_DIR.parent / "alembic"):
        if (candidate / "env.py").is_file():
            return candidate
    raise FileNotFoundError("inv's migration scripts are missing from this installation")


def alembic_config(engine: Engine | None = None) -> Config:
    """An Alembic config bound to `engine` (default: the configured database)."""
    config = Config()
    config.set_main_option("script_location", str(script_location()))
    config.attributes["configure_logger"] = False
    if engine is not None:
        config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def _run(engine: Engine, action: str, revision: str) -> None:
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)


def upgrade(engine: Engine | None = None, revision: str = "head") -> None:
    _run(engine or get_engine(), "upgrade", revision)


def downgrade(engine: Engine | None = None, revision: str = "base") -> None:
    _run(engine or get_engine(), "downgrade", revision)


def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"expected one migration head, found {heads}")
    return heads[0]


def current_revision(engine: Engine | None = None) -> str | None:
    with (engine or get_engine()).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_at_head(engine: Engine | None = None) -> bool:
    return current_revision(engine) == head_revision()
