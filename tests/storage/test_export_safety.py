"""Exports are safe to open in a spreadsheet, name no operator path, never overwrite each other,
and, like the database file and the pseudonym key, are readable by their owner only."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import select

from bot import catalogue, consent, labelling, play_flow
from inv.settings import get_settings
from storage.db import session_scope
from storage.models import Image, utcnow
from storage.spreadsheet import FORMULA_STARTS, spreadsheet_safe
from testkit.collection import seed_collection
from tests.shell import write_export

HOSTILE = ["=1+2", "@SUM(A1)", "-2+3", "+cmd|' /C calc'!A0", "plain words"]


def read_csv(archive: zipfile.ZipFile, name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.TextIOWrapper(archive.open(name), encoding="utf-8")))


@pytest.fixture
def hostile_labels(db_engine: Engine, isolated_settings: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MIN_ANSWER_SECONDS", "0")
    get_settings.cache_clear()
    settings = get_settings()
    with session_scope() as session:
        seed_collection(session, isolated_settings)
        # An operator's absolute path, as precompute stores it.
        image = session.exec(select(Image)).first()
        assert image is not None
        image.source_path = "/home/operator/private/photos/cat-0001.jpg"
    catalogue.clear_catalogues()
    consent.record_consent(4242, True, key=get_settings().pseudonym_key())
    challenge = play_flow.start_challenge(4242, settings).challenge
    play_flow.open_guess(4242, challenge.play_id)
    play_flow.make_guess(4242, challenge.play_id, 0, settings)
    labelling.add_labels(4242, "; ".join(HOSTILE), settings)
    yield isolated_settings
    catalogue.clear_catalogues()


def test_text_cells_that_would_run_as_formulas_are_marked(
    hostile_labels: Path, tmp_path: Path
) -> None:
    result = write_export(tmp_path / "out.zip")
    with zipfile.ZipFile(result.path) as archive:
        answers = read_csv(archive, "answers.csv")
        images = read_csv(archive, "images.csv")
        manifest = json.loads(archive.read("manifest.json"))
        everything = "".join(archive.read(n).decode("utf-8", "replace") for n in archive.namelist())
    labels = [row["label"] for row in answers]
    assert labels == ["'=1+2", "'@SUM(A1)", "'-2+3", "'+cmd|' /C calc'!A0", "plain words"]
    assert all(row["raw_message"] == "'" + "; ".join(HOSTILE) for row in answers)
    # Numeric fields stay numbers.
    assert all(row["id"].isdigit() and row["hint_level"].lstrip("-").isdigit() for row in answers)
    assert "text_cells" in manifest and "'" in manifest["text_cells"]
    # Source images by file name only: no operator path.
    names = {row["source_path"] for row in images}
    assert "cat-0001.jpg" in names
    assert not any("/" in name or "\\" in name for name in names)
    assert "/home/operator" not in everything


@given(st.one_of(st.text(), st.integers(), st.floats(allow_nan=False), st.none()))
def test_spreadsheet_safe_marks_exactly_the_formula_starts(value: object) -> None:
    safe = spreadsheet_safe(value)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        assert safe == "'" + value
    else:
        assert safe is value  # numbers, None and harmless text are untouched
    assert not (isinstance(safe, str) and safe.startswith(FORMULA_STARTS))


def test_tab_and_carriage_return_starts_are_marked() -> None:
    assert spreadsheet_safe("\t=1") == "'\t=1" and spreadsheet_safe("\r@x") == "'\r@x"
    assert spreadsheet_safe(-3) == -3 and spreadsheet_safe(-0.5) == -0.5


def test_two_exports_in_one_second_keep_both(hostile_labels: Path) -> None:
    now = utcnow()
    first = write_export(now=now)
    second = write_export(now=now + timedelta(milliseconds=10))
    assert first.path != second.path
    assert first.path.is_file() and second.path.is_file()
    assert first.path.parent == hostile_labels / "exports"


def test_database_secret_and_exports_are_private(
    hostile_labels: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PSEUDONYM_SECRET")
    get_settings.cache_clear()
    get_settings().pseudonym_key()
    export = write_export()
    for path in (hostile_labels / "inv.db", hostile_labels / "pseudonym_secret", export.path):
        assert path.stat().st_mode & 0o777 == 0o600, path
    for sidecar in hostile_labels.glob("inv.db-*"):  # WAL and shared memory
        assert sidecar.stat().st_mode & 0o077 == 0, sidecar
