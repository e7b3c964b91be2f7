"""Setting up the bot load benchmark: a fresh database, the seeded collection, the fake Bot API
server and the warm-up of every challenge photo.

The project's modules are imported inside the functions: `prepare_environment` sets the
environment the settings are read from, and nothing of the project loads before it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

TOKEN = "123456789:BENCH-fake-token-0000000000000000000"
FIRST_ID = 2_000_000
ADMIN_ID = 1_999_999
WARM_CHAT = 1_999_998
GROUP_ID = -1_000_000_000_001


def prepare_environment(args: argparse.Namespace, tmp: Path) -> tuple[str | None, str | None]:
    """Point settings at a fresh database; returns (admin URL, database name) for PostgreSQL."""
    os.environ.update(
        INV_ENV_FILE="",
        DATA_DIR=str(tmp / "data"),
        PSEUDONYM_SECRET="bench-pseudonym-key-4c1f9e27a8d3b605",
        ADMIN_USER_IDS=str(ADMIN_ID),
        TELEGRAM_BOT_TOKEN=TOKEN,
        PLAYS_PER_CHALLENGE="5",
        DAILY_CAP="1000",
        LOG_LEVEL="WARNING",
    )
    if not args.database_url:
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp / 'data' / 'inv.db'}"
        return None, None
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin_url = args.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    name = f"inv_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    os.environ["DATABASE_URL"] = (
        make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    )
    return admin_url, name


def drop_database(admin_url: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    from storage.db import dispose_engines

    dispose_engines()
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def seed(images: int) -> int:
    """A collection like precompute writes: crops, 16-bit map files, clusters (gold included)."""
    from inv.settings import get_settings
    from storage.db import session_scope
    from testkit.collection import seed_collection

    with session_scope() as session:
        collection = seed_collection(
            session,
            get_settings().data_dir,
            images=images,
            layers=2,
            clusters_per_layer=2,
            classes=[f"class {i}" for i in range(1000)],
            size=224,
            layer_sides=(28, 14),
            model_name="benchnet",
        )
    return len(collection.cluster_ids)


def start_fake_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "testkit.fake_telegram", "--token", TOKEN],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    return proc, info["url"]


async def control(url: str, actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from testkit.fake_telegram.client import FakeTelegramClient

    async with FakeTelegramClient(url) as fake:
        return await fake.actions(actions)


async def server_get(url: str, what: str, **params: Any) -> Any:
    from testkit.fake_telegram.client import FakeTelegramClient

    async with FakeTelegramClient(url) as fake:
        return await fake._get(f"/_fake/{what}", **params)


async def warm_photos(app: Any) -> int:
    """Render and upload every challenge photo of hint levels 0 and 1 once (file_ids stored)."""
    from sqlmodel import select

    from bot import photo_file_ids, photos
    from inv.settings import get_settings
    from storage.db import session_scope
    from storage.models import Cluster, Image

    data_dir = get_settings().data_dir
    with session_scope(readonly=True) as session:
        rows = session.exec(select(Cluster.id, Image.crop_file, Cluster.map_file).join(Image)).all()
    semaphore = asyncio.Semaphore(4)

    async def one(cluster_id: int, crop: str, map_file: str, level: int) -> None:
        async with semaphore:
            data = await photos.render(data_dir, crop, map_file, level)
            message = await app.bot.send_photo(WARM_CHAT, data)
            await asyncio.to_thread(
                photo_file_ids.remember_photo, cluster_id, level, photos.uploaded_file_id(message)
            )

    await asyncio.gather(*(one(c, crop, m, level) for c, crop, m in rows for level in (0, 1)))
    return 2 * len(rows)
