"""The research export: opened and checked (columns, pseudonyms, manifest counts = database)."""

from __future__ import annotations

import csv
import io
import json
import random
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import select

from bot import consent, labelling, play_flow, profile
from inv import cli
from inv.settings import get_settings
from storage.db import session_scope
from storage.export import write_export
from storage.migrate import head_revision
from storage.models import (
    Answer,
    AnswerConcept,
    Cluster,
    Concept,
    ConceptTest,
    ExplainedLayer,
    Export,
    Generation,
    GlobalExplanation,
    Image,
    Participant,
    Play,
    utcnow,
)
from storage.privacy import pseudonym
from testkit.collection import seed_collection

PLAYERS = {987_654_321: "Nick One", 987_654_322: None, 987_654_323: "Third"}
DECLINED = 987_654_399


def play_some(tmp_data: Path) -> None:
    settings = get_settings().bot_config()
    now = utcnow() - timedelta(minutes=30)
    rng = random.Random(5)
    for i, (telegram_id, nickname) in enumerate(PLAYERS.items()):
        consent.record_consent(telegram_id, True, key=settings.pseudonym_key, now=now)
        if nickname:
            profile.set_nickname(telegram_id, nickname)
        for j in range(3):
            started = play_flow.start_challenge(telegram_id, settings, now=now, rng=rng)
            play_id = started.challenge.play_id
            if j == 2:
                continue  # left open: skipped by nobody yet
            play_flow.open_guess(telegram_id, play_id, now=now)
            play_flow.make_guess(
                telegram_id, play_id, i % 4, settings, now=now + timedelta(seconds=5)
            )
            labelling.add_labels(
                telegram_id,
                f"label {i}, shared, {telegram_id}x",
                settings,
                now=now + timedelta(seconds=9),
            )
            labelling.finish_labels(telegram_id, play_id, now=now + timedelta(seconds=12))
    consent.record_consent(DECLINED, False, key=settings.pseudonym_key, now=now)
    # One rebuild generation with a concept, a link and a chart, as the rebuild would write them.
    with session_scope() as session:
        gen = Generation(status="done", is_current=True, classes=[0], finished_at=utcnow())
        old = Generation(status="done", is_current=False, classes=[0])
        session.add_all([gen, old])
        session.flush()
        concept = Concept(
            class_index=0,
            name="shared",
            phrases=["shared"],
            first_generation=gen.id,
            last_generation=gen.id,
        )
        session.add(concept)
        session.flush()
        answer = session.exec(select(Answer)).first()
        session.add(
            AnswerConcept(
                answer_id=answer.id, concept_id=concept.id, generation=gen.id, bonus_points=10
            )
        )
        session.add(
            AnswerConcept(
                answer_id=answer.id, concept_id=concept.id, generation=old.id, bonus_points=0
            )
        )
        chart = Path("charts") / f"gen{gen.id}-class0.png"
        (tmp_data / chart).parent.mkdir(parents=True, exist_ok=True)
        (tmp_data / chart).write_bytes(b"\x89PNG fake chart")
        session.add(
            GlobalExplanation(
                generation=gen.id,
                class_index=0,
                layer_name="features.11",
                depth=1,
                payload={"concepts": [{"name": "shared", "score": 1.5}]},
                chart_file=str(chart),
            )
        )


def read_csv(archive: zipfile.ZipFile, name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.TextIOWrapper(archive.open(name), encoding="utf-8")))


def db_count(model: type, *where: object) -> int:
    with session_scope() as session:
        return session.exec(select(func.count()).select_from(model).where(*where)).one()


@pytest.fixture
def played(any_db_engine: Engine, isolated_settings: Path) -> Path:
    with session_scope() as session:
        seed_collection(session, isolated_settings)
    play_some(isolated_settings)
    return isolated_settings


def test_export_contents(played: Path, tmp_path: Path) -> None:
    settings = get_settings()
    result = write_export(
        tmp_path / "out.zip",
        data_dir=settings.data_dir,
        parameters=settings.export_parameters(),
        requested_by="cli",
    )
    assert result.path == tmp_path / "out.zip" and result.fits_telegram
    archive = zipfile.ZipFile(result.path)
    names = set(archive.namelist())
    assert {
        "manifest.json",
        "participants.csv",
        "plays.csv",
        "answers.csv",
        "clusters.csv",
        "images.csv",
        "layers.csv",
        "concepts.csv",
        "answer_concepts.csv",
        "merged_clusters.csv",
        "global_explanations.json",
    } <= names
    assert any(n.startswith("charts/") and n.endswith(".png") for n in names)
    manifest = json.loads(archive.read("manifest.json"))

    participants = read_csv(archive, "participants.csv")
    key = settings.pseudonym_key()
    assert list(participants[0]) == [
        "pseudonym",
        "consent_at",
        "consent_declined_at",
        "active",
        "trust",
        "gold_seen",
        "gold_correct",
        "points",
        "streak",
        "best_streak",
        "created_at",
        "last_seen_at",
    ]
    # Someone who declined is not a participant: only those who agreed are listed.
    assert {p["pseudonym"] for p in participants} == {pseudonym(t, key) for t in PLAYERS}
    plays = read_csv(archive, "plays.csv")
    assert "chat_id" not in plays[0] and "message_id" not in plays[0] and "poll_id" not in plays[0]
    assert {p["participant"] for p in plays} == {pseudonym(t, key) for t in PLAYERS}
    answers = read_csv(archive, "answers.csv")
    assert list(answers[0])[:5] == ["id", "play_id", "participant", "cluster_id", "raw_message"]
    assert {a["label"] for a in answers} >= {"shared", "label 0"}

    # Raw Telegram ids and names never appear anywhere in the archive.
    blob = b"".join(archive.read(n) for n in names)
    for telegram_id in [*PLAYERS, DECLINED]:
        assert str(telegram_id).encode() not in blob.replace(f"{telegram_id}x".encode(), b"")
    for nickname in filter(None, PLAYERS.values()):
        assert nickname.encode() not in blob
    assert b"User98765" not in blob

    # Manifest: provenance, and counts equal to the database and to the files.
    assert manifest["schema_version"] == head_revision() == manifest["schema_head"]
    assert manifest["models"][0]["name"] == "testnet" and manifest["models"][0]["classes"]
    assert [layer["layer_name"] for layer in manifest["layers"]] == ["features.10", "features.11"]
    assert manifest["parameters"]["plays_per_challenge"] == get_settings().plays_per_challenge
    assert manifest["parameters"]["config_keys"] == ["cfg"]
    counts = manifest["counts"]
    with session_scope() as session:
        current = session.exec(select(Generation.id).where(Generation.is_current.is_(True))).one()
    assert manifest["generation"] == current
    expected = {
        "participants": db_count(Participant, Participant.consent_at.is_not(None)),
        "plays": db_count(Play),
        "answers": db_count(Answer),
        "clusters": db_count(Cluster),
        "images": db_count(Image),
        "layers": db_count(ExplainedLayer),
        "concepts": 1,
        "answer_concepts": db_count(AnswerConcept, AnswerConcept.generation == current),
        "merged_clusters": 0,
        "concept_tests": db_count(ConceptTest, ConceptTest.generation == current),
        "global_explanations": db_count(GlobalExplanation, GlobalExplanation.generation == current),
        "charts": 1,
        "global_concepts": 1,
        "files": 1,  # the chart; crops and maps only with_images
    }
    assert counts == expected
    assert (
        counts["answers"] == 18 and counts["plays"] == 9 and counts["participants"] == 3
    )  # the decliner is not one
    for name, meta in manifest["files"].items():
        if name.endswith(".csv"):
            rows = read_csv(archive, name)
            assert len(rows) == meta["rows"], name
            with archive.open(name) as fh:
                header = fh.readline().decode().strip().split(",")
            assert header == meta["columns"], name
    explanations = json.loads(archive.read("global_explanations.json"))
    assert explanations["explanations"][0]["chart"].startswith("charts/")
    with session_scope() as session:
        (row,) = session.exec(select(Export)).all()
    assert (
        row.counts == counts and row.size_bytes == result.size_bytes and row.sha256 == result.sha256
    )


def test_inv_export_cli(played: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "exports" / "mine.zip"
    assert cli.main(["export", "--out", str(out)]) == 0
    assert out.is_file() and zipfile.is_zipfile(out)
    assert "plays 9" in capsys.readouterr().out
    assert cli.main(["export", "--out", str(tmp_path)]) == 2  # a directory is not a file name


def test_inv_export_on_an_uninitialised_database(
    isolated_settings: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["export", "--out", str(tmp_path / "x.zip")]) == 2
    assert "inv init" in capsys.readouterr().err
    assert not (tmp_path / "x.zip").exists()
