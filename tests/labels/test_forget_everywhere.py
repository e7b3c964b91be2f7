"""/forget forgets everywhere: a phrase only the forgotten person gave is in no table, no file
under DATA_DIR and no export made afterwards, before and after the next rebuild."""

from __future__ import annotations

import zipfile
from pathlib import Path

from sqlalchemy import select, text
from sqlmodel import SQLModel

from bot import profile
from engine.report import build_report
from storage.db import session_scope
from storage.forget import FORGOTTEN_REQUESTER
from storage.models import Export, GlobalExplanation, Participant
from tests.labels.world import World
from tests.shell import rebuild, write_export

L1 = "features.29"
DOG, CAT = 0, 1
UNIQUE = "zorblaxian"


def tables_holding(world: World, needle: str) -> list[str]:
    found = []
    with world.engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            rows = conn.execute(text(f'SELECT * FROM "{table.name}"')).all()
            if any(needle in repr(tuple(row)) for row in rows):
                found.append(table.name)
    return found


def files_holding(root: Path, needle: str) -> list[str]:
    found = []
    raw = needle.encode()
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                data = b"".join(archive.read(name) for name in archive.namelist())
        if raw in data:
            found.append(path.relative_to(root).as_posix())
    return found


def export_holds(path: Path, needle: str) -> bool:
    with zipfile.ZipFile(path) as archive:
        return any(needle.encode() in archive.read(name) for name in archive.namelist())


def test_a_forgotten_phrase_is_in_no_table_no_file_and_no_later_export(
    world: World, tmp_path: Path
) -> None:
    leaving = world.participant()
    others = [world.participant() for _ in range(2)]
    world.play(leaving, world.cluster(DOG, 0, L1, 0), [UNIQUE, "ear"])
    world.play(leaving, world.cluster(DOG, 1, L1, 0), [f"{UNIQUE} tail"])
    world.play(others[0], world.cluster(DOG, 0, L1, 0), ["ear"])
    world.play(others[1], world.cluster(DOG, 1, L1, 0), ["tail"])
    world.play(others[0], world.cluster(CAT, 0, L1, 0), ["whiskers"])
    assert rebuild().ok
    with session_scope(world.engine) as s:
        person = s.get(Participant, leaving)
        assert person is not None
        telegram_id, their_pseudonym = person.telegram_id, person.pseudonym
        dog_charts = {
            c
            for (c, payload) in s.exec(
                select(GlobalExplanation.chart_file, GlobalExplanation.payload).where(
                    GlobalExplanation.class_index == DOG
                )
            ).all()
            for c in (c, payload.get("trend_chart_file"))
            if c
        }
    kept_export = write_export(requested_by=their_pseudonym)  # a researcher who also played
    outside = write_export(tmp_path / "delivered.zip")  # a copy already outside DATA_DIR
    build_report(world.data_dir / "reports" / "report.html", data_dir=world.data_dir)
    assert {"concept", "phrase_embedding", "answer"} <= set(tables_holding(world, UNIQUE))
    assert any(name.startswith("exports/") for name in files_holding(world.data_dir, UNIQUE))
    assert dog_charts and all((world.data_dir / c).is_file() for c in dog_charts)

    assert profile.forget(telegram_id, world.data_dir)

    assert tables_holding(world, UNIQUE) == []
    assert files_holding(world.data_dir, UNIQUE) == []
    assert not kept_export.path.exists() and outside.path.exists()
    assert not any((world.data_dir / c).exists() for c in dog_charts)  # pictures of the words
    with session_scope(world.engine, readonly=True) as s:
        audit = {row.path: row.requested_by for (row,) in s.exec(select(Export)).all()}
    assert audit[str(kept_export.path)] == FORGOTTEN_REQUESTER  # the audit row stays
    assert their_pseudonym not in audit.values()
    assert not export_holds(write_export().path, UNIQUE)  # before the next rebuild

    report = rebuild()
    assert report.ok and report.classes_rebuilt == [DOG]  # the affected class is recomputed
    assert tables_holding(world, UNIQUE) == []
    assert files_holding(world.data_dir, UNIQUE) == []
    assert not export_holds(write_export().path, UNIQUE)
    assert export_holds(write_export().path, "whiskers")  # everyone else's words stay
