"""`inv init`: create the database if needed and migrate it to the newest schema."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inv.settings import Settings

HELP = "create the database or bring it to the newest schema"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        help="migrate this database instead of the configured one (default: DATABASE_URL, "
        "else DATA_DIR/inv.db)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from storage import migrate
    from storage.db import get_engine

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = get_engine(args.database_url) if args.database_url else get_engine()
    before = migrate.current_revision(engine)
    migrate.upgrade(engine)
    after = migrate.current_revision(engine)
    where = engine.url.render_as_string(hide_password=True)
    if before == after:
        print(f"Database {where} is already at the newest schema ({after}).")
    else:
        print(f"Database {where} migrated from {before or 'empty'} to {after} (head).")
    return 0
