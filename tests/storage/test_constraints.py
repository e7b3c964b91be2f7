"""Integrity rules the game relies on: one play per cluster, and /forget cascades."""

from __future__ import annotations

import pytest
from sqlalchemy import func
from sqlmodel import select

from storage import repo
from storage.db import session_scope
from storage.models import Answer, AnswerConcept, Cluster, Concept, Participant, Play

from .seed import seed_clusters

KEY = b"test-pseudonym-key"


def _count(session, model) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def test_second_play_of_same_cluster_is_refused_and_first_kept(any_db_engine) -> None:
    with session_scope() as session:
        cluster = seed_clusters(session, 1)[0]
        alice = repo.get_or_create_participant(session, 1001, key=KEY)
        first = repo.create_play(session, alice.id, cluster.id, hint_level=3)
        first_id = first.id

    with (
        session_scope() as session,
        pytest.raises(repo.AlreadyPlayedError, match="already played cluster"),
    ):
        repo.create_play(session, alice.id, cluster.id, hint_level=0)

    with session_scope(readonly=True) as session:
        plays = session.exec(select(Play)).all()
        assert [(p.id, p.hint_level) for p in plays] == [(first_id, 3)]


def test_refusal_keeps_the_rest_of_the_transaction(any_db_engine) -> None:
    with session_scope() as session:
        first, second = seed_clusters(session, 2)
        bob = repo.get_or_create_participant(session, 2002, key=KEY)
        repo.create_play(session, bob.id, first.id)
        with pytest.raises(repo.AlreadyPlayedError):
            repo.create_play(session, bob.id, first.id)
        # The savepoint rolled back only the refused insert.
        repo.create_play(session, bob.id, second.id)
    with session_scope(readonly=True) as session:
        assert _count(session, Play) == 2


def test_deleting_a_participant_removes_everything_they_gave_and_nothing_else(
    any_db_engine,
) -> None:
    with session_scope() as session:
        clusters = seed_clusters(session, 3)
        leaver = repo.get_or_create_participant(session, 3003, key=KEY)
        stayer = repo.get_or_create_participant(session, 4004, key=KEY)
        concept = Concept(
            class_index=0, name="ear", phrases=["ear"], first_generation=1, last_generation=1
        )
        session.add(concept)
        session.flush()
        for person in (leaver, stayer):
            for cluster in clusters[:2]:
                play = repo.create_play(session, person.id, cluster.id, stage="labelling")
                for answer in repo.add_answers(session, play, "ear, fur", ["ear", "fur"]):
                    session.add(
                        AnswerConcept(answer_id=answer.id, concept_id=concept.id, generation=1)
                    )
        leaver_id, stayer_id = leaver.id, stayer.id

    with session_scope(readonly=True) as session:
        assert (_count(session, Play), _count(session, Answer), _count(session, AnswerConcept)) == (
            4,
            8,
            8,
        )

    with session_scope() as session:
        assert repo.delete_participant(session, leaver_id)

    with session_scope(readonly=True) as session:
        assert session.get(Participant, leaver_id) is None
        assert session.get(Participant, stayer_id) is not None
        plays = session.exec(select(Play)).all()
        assert {p.participant_id for p in plays} == {stayer_id}
        assert len(plays) == 2
        assert _count(session, Answer) == 4
        assert _count(session, AnswerConcept) == 4
        # Shared rows stay: clusters and concepts belong to nobody.
        assert _count(session, Cluster) == 3
        assert _count(session, Concept) == 1


def test_pseudonym_is_keyed_and_never_the_raw_id(db_engine) -> None:
    with session_scope() as session:
        p = repo.get_or_create_participant(session, 123456789, key=KEY)
        assert "123456789" not in p.pseudonym
        assert len(p.pseudonym) == 16
    from storage.privacy import pseudonym

    assert pseudonym(123456789, key=b"other") != p.pseudonym
