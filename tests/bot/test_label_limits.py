"""Label messages: limits refuse the whole message and store nothing; the work per message is
bounded by the limits, never by the player's history; no pattern backtracks on user text."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot import catalogue, consent, play_flow, quality, refusals
from bot.labelling import add_labels
from engine.labels.agreement import normalize_label
from inv.settings import Settings, get_settings
from storage.db import session_scope
from storage.models import Answer, Cluster
from storage.repo import get_participant
from testkit.collection import seed_collection
from testkit.label_history import EarlierMessage, add_label_history


@pytest.fixture
def settings(db_engine: Engine, isolated_settings: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MIN_ANSWER_SECONDS", "0")
    get_settings.cache_clear()
    with session_scope() as session:
        seed_collection(session, isolated_settings, images=6, layers=2, clusters_per_layer=2)
    catalogue.clear_catalogues()
    yield get_settings()
    catalogue.clear_catalogues()


def labelling(telegram_id: int, settings: Settings) -> int:
    """Consent, serve a challenge, guess: the play waits for labels. Returns its id."""
    consent.record_consent(telegram_id, True, key=get_settings().pseudonym_key())
    challenge = play_flow.start_challenge(telegram_id, settings).challenge
    play_flow.open_guess(telegram_id, challenge.play_id)
    play_flow.make_guess(telegram_id, challenge.play_id, 0, settings)
    return challenge.play_id


def answers() -> int:
    with session_scope() as session:
        return session.exec(select(func.count()).select_from(Answer)).one()


def refused(telegram_id: int, text: str, settings: Settings) -> refusals.GameError:
    with pytest.raises(refusals.GameError) as caught:
        add_labels(telegram_id, text, settings)
    return caught.value


def test_default_label_length_is_64(settings: Settings) -> None:
    assert settings.max_label_length == 64
    labelling(1, settings)
    assert refused(1, "x" * 65, settings).info == {"limit": 64}
    assert add_labels(1, "y" * 64, settings).labels == ("y" * 64,)


def test_message_limits_refuse_and_store_nothing(settings: Settings) -> None:
    labelling(1, settings)
    error = refused(1, "ab, " * 251, settings)  # 1,004 characters of short labels
    assert (error.code, error.info) == ("message_too_long", {"limit": 1000})
    assert refused(1, ",".join(f"w{i}" for i in range(11)), settings).code == "too_many"
    # Eleven copies of one label are eleven labels: counted before any normalising.
    assert refused(1, ", ".join(["fur"] * 11), settings).code == "too_many"
    assert answers() == 0


def test_a_play_takes_at_most_max_labels_per_play(settings: Settings) -> None:
    play_id = labelling(1, settings)
    for i in range(3):
        add_labels(1, ", ".join(f"thing{i}{j}" for j in range(5)), settings)
    assert answers() == quality.MAX_LABELS_PER_PLAY == 15
    error = refused(1, "one more", settings)
    assert (error.code, error.info) == ("play_full", {"limit": 15})
    with session_scope() as session:
        in_play = session.exec(
            select(func.count()).select_from(Answer).where(Answer.play_id == play_id)
        ).one()
    assert in_play == 15  # nothing stored from the refused message


def test_control_characters_are_not_stored(settings: Settings) -> None:
    labelling(1, settings)
    added = add_labels(1, "fur\x00coat, whis\x07kers", settings)
    assert added.labels == ("fur coat", "whis kers")


def test_the_work_per_label_message_does_not_grow_with_history(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    normalised: list[int] = []  # characters normalised per call
    original = normalize_label

    def counting(text: str) -> str:
        normalised.append(len(text))
        return original(text)

    monkeypatch.setattr(quality, "normalize_label", counting)
    message = "a" + "!" * 60 + ", " + "?" * 60 + "b"

    def work_for_one_message(telegram_id: int) -> int:
        labelling(telegram_id, settings)
        normalised.clear()
        add_labels(telegram_id, message, settings)
        return sum(normalised)

    fresh = work_for_one_message(1)
    # Another player with twenty long messages in their history, on earlier challenges.
    consent.record_consent(2, True, key=get_settings().pseudonym_key())
    with session_scope() as session:
        participant = get_participant(session, 2)
        assert participant is not None
        clusters = seed_clusters(session)
        long_message = ", ".join(["z" + "!" * 60] * 10)[:1000]
        history = [EarlierMessage(f"{n} {long_message}", f"z{n}", f"{n} z") for n in range(20)]
        add_label_history(
            session, participant.id or 0, clusters[:20], history, age=timedelta(hours=1)
        )
    with_history = work_for_one_message(2)
    assert with_history == fresh > 0


def seed_clusters(session: Session) -> list[int]:
    return list(session.exec(select(Cluster.id).order_by(Cluster.id)).all())


@pytest.mark.parametrize("length", [1000, 4000])
def test_no_quadratic_time_on_long_punctuation_runs(length: int) -> None:
    """`[\\W_]+$` retried from every position of a run took quadratic time; measured against a
    10-character label in the same run, the longest message costs a bounded multiple."""
    worst = "a" + "!" * (length - 2) + "b"
    typical = "car wheels"

    def cost(text: str, repeat: int = 20) -> float:
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(repeat):
                normalize_label(text)
            best = min(best, time.perf_counter() - started)
        return best / repeat

    # Linear work on 400 times the characters, in C: far below the quadratic blow-up (which
    # took tens of milliseconds, thousands of times a short label, at these lengths).
    assert cost(worst) < 60 * cost(typical)
