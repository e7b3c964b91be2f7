"""The tables of the research export: which columns each CSV carries and the query for its rows.

Anything identifying is left out here, on purpose: participant.id, telegram_id and nickname,
play.chat_id / message_id / poll_id (a private chat id IS the user id). Each table also says what
the export adds to a row: class names next to class indices, the files a row refers to (packed
with the images), and images.csv's source path reduced to the file name. `storage.export` writes
the tables, in the order `export_tables` gives, into the zip.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import Column, Select, select

from storage.export_parts import ClassNames
from storage.models import (
    Answer,
    AnswerConcept,
    Cluster,
    Concept,
    ConceptTest,
    ExplainedLayer,
    Image,
    MergedCluster,
    Participant,
    Play,
)

P = Participant.__table__.c
PL = Play.__table__.c
A = Answer.__table__.c
C = Cluster.__table__.c
I = Image.__table__.c  # noqa: E741  (table alias)
L = ExplainedLayer.__table__.c
CO = Concept.__table__.c
AC = AnswerConcept.__table__.c
MC = MergedCluster.__table__.c
CT = ConceptTest.__table__.c

# Exported columns per table (see the module docstring for what is left out).
PARTICIPANT_COLUMNS: tuple[Column[Any], ...] = (
    P.pseudonym,
    P.consent_at,
    P.consent_declined_at,
    P.active,
    P.trust,
    P.gold_seen,
    P.gold_correct,
    P.points,
    P.streak,
    P.best_streak,
    P.created_at,
    P.last_seen_at,
)
PLAY_COLUMNS = (
    PL.id,
    P.pseudonym.label("participant"),
    PL.cluster_id,
    PL.stage,
    PL.outcome,
    PL.is_gold,
    PL.hint_level,
    PL.options,
    PL.guessed_class,
    PL.correct,
    PL.guess_points,
    PL.streak_points,
    PL.bonus_points,
    PL.served_at,
    PL.guessed_at,
    PL.finished_at,
)
ANSWER_COLUMNS = (
    A.id,
    A.play_id,
    P.pseudonym.label("participant"),
    PL.cluster_id,
    A.raw_message,
    A.label,
    A.normalized,
    A.cleaned,
    A.hint_level,
    # "flags" and "rank" would shadow pandas' DataFrame.flags and DataFrame.rank.
    A.flags.label("quality_flags"),
    A.accepted,
    A.bonus_points,
    A.created_at,
)
CLUSTER_COLUMNS = (
    C.id,
    C.image_id,
    C.layer_id,
    C.class_index,
    C.layer_name,
    C.depth,
    C.rank.label("cluster_rank"),
    C.weight,
    C.n_maps,
    C.channels,
    C.map_file,
    C.is_gold,
    C.active,
)
IMAGE_COLUMNS = (
    I.id,
    I.model_id,
    I.sha256,
    I.config_key,
    I.source_path,
    I.crop_file,
    I.width,
    I.height,
    I.true_class,
    I.predicted_class,
    I.predicted_prob,
    I.explained_class,
)
LAYER_COLUMNS = (
    L.id,
    L.image_id,
    L.layer_name,
    L.depth,
    L.channels,
    L.kept_channels,
    L.height,
    L.width,
    L.kept_weight,
    L.gradcam_file,
)
CONCEPT_COLUMNS = (
    CO.id,
    CO.class_index,
    CO.name,
    CO.phrases,
    CO.first_generation,
    CO.last_generation,
)
ANSWER_CONCEPT_COLUMNS = (AC.answer_id, AC.concept_id, AC.generation, AC.bonus_points)
CONCEPT_TEST_COLUMNS = (
    CT.generation,
    CT.class_index,
    CT.layer_name,
    CT.concept_id,
    CT.concept_name,
    CT.examples,
    CT.random_sets,
    CT.score,
    CT.p_value,
    CT.verdict,
)
MERGED_COLUMNS = (
    MC.id,
    MC.generation,
    MC.image_id,
    MC.class_index,
    MC.layer_name,
    MC.depth,
    MC.member_cluster_ids,
    MC.weight,
    MC.n_maps,
    MC.best_concept_id,
    MC.best_score,
    MC.label_scores,
    MC.map_file,
)


@dataclass(frozen=True)
class ExportTable:
    """One CSV of the export: the query for its rows and what the export adds to each row."""

    key: str  # its name in the manifest's counts and in datapackage.json; the file is KEY.csv
    columns: Sequence[Any]
    query: Select[Any]
    extra: Sequence[str] = ()  # names of the columns `derive` adds
    derive: Callable[[Any], Sequence[Any]] | None = None
    packed: Sequence[str] = ()  # columns naming a file under DATA_DIR, packed with the images
    transform: Callable[[Sequence[Any]], Sequence[Any]] | None = None

    @property
    def file_name(self) -> str:
        return f"{self.key}.csv"

    @property
    def every_column(self) -> list[Any]:
        return [*self.columns, *self.extra]


def export_tables(names: ClassNames, generation: int) -> list[ExportTable]:
    """Every CSV table in the order it is written; `generation` is -1 when there is none yet."""
    return [
        ExportTable(
            "participants",
            PARTICIPANT_COLUMNS,
            # Only people who agreed: someone who declined is not a participant.
            select(*PARTICIPANT_COLUMNS).where(P.consent_at.is_not(None)).order_by(P.pseudonym),
        ),
        ExportTable(
            "plays",
            PLAY_COLUMNS,
            select(*PLAY_COLUMNS)
            .join_from(Play.__table__, Participant.__table__, PL.participant_id == P.id)
            .order_by(PL.id),
            ("options_names", "guessed_class_name"),
            lambda r: (names.names(r.options), names.name(r.guessed_class)),
        ),
        ExportTable(
            "answers",
            ANSWER_COLUMNS,
            select(*ANSWER_COLUMNS)
            .join_from(Answer.__table__, Play.__table__, A.play_id == PL.id)
            .join(Participant.__table__, PL.participant_id == P.id)
            .order_by(A.id),
        ),
        ExportTable(
            "clusters",
            CLUSTER_COLUMNS,
            select(*CLUSTER_COLUMNS).order_by(C.id),
            ("class_name",),
            lambda r: (names.name(r.class_index, r.image_id),),
            ("map_file",),
        ),
        ExportTable(
            "images",
            IMAGE_COLUMNS,
            select(*IMAGE_COLUMNS).order_by(I.id),
            ("true_class_name", "predicted_class_name", "explained_class_name"),
            lambda r: (
                names.name(r.true_class, r.id),
                names.name(r.predicted_class, r.id),
                names.name(r.explained_class, r.id),
            ),
            ("crop_file",),
            transform=source_file_name,
        ),
        ExportTable(
            "layers",
            LAYER_COLUMNS,
            select(*LAYER_COLUMNS).order_by(L.id),
            packed=("gradcam_file",),
        ),
        ExportTable(
            "concepts",
            CONCEPT_COLUMNS,
            select(*CONCEPT_COLUMNS)
            .where(CO.first_generation <= generation, CO.last_generation >= generation)
            .order_by(CO.id),
            ("class_name",),
            lambda r: (names.name(r.class_index),),
        ),
        ExportTable(
            "answer_concepts",
            ANSWER_CONCEPT_COLUMNS,
            select(*ANSWER_CONCEPT_COLUMNS)
            .where(AC.generation == generation)
            .order_by(AC.answer_id),
        ),
        ExportTable(
            "merged_clusters",
            MERGED_COLUMNS,
            select(*MERGED_COLUMNS).where(MC.generation == generation).order_by(MC.id),
            ("class_name",),
            lambda r: (names.name(r.class_index, r.image_id),),
            ("map_file",),
        ),
        ExportTable(
            "concept_tests",
            CONCEPT_TEST_COLUMNS,
            select(*CONCEPT_TEST_COLUMNS)
            .where(CT.generation == generation)
            .order_by(CT.class_index, CT.layer_name, CT.id),
            ("class_name",),
            lambda r: (names.name(r.class_index),),
        ),
    ]


_SOURCE_PATH = [c.key for c in IMAGE_COLUMNS].index("source_path")


def source_file_name(row: Sequence[Any]) -> list[Any]:
    """An images.csv row with the source image's file name in place of the operator's path."""
    values = list(row)
    path = values[_SOURCE_PATH]
    if path:
        values[_SOURCE_PATH] = PurePosixPath(str(path).replace("\\", "/")).name
    return values
