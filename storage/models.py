"""The whole data model of inv as SQLModel tables.

Rules that hold across the schema:
- The raw Telegram user id lives only in `participant.telegram_id`. Everything else refers to the
  participant row; exports use `participant.pseudonym`.
- Deleting a participant cascades (database-level ON DELETE CASCADE) to plays, answers and the
  answers' concept links, and to nothing else.
- Rows derived by a rebuild (concept links, merged clusters, global explanations) carry a
  `generation`; readers use the generation marked current in `generation`.
- Times are timezone-aware UTC (`utcnow()`); SQLModel stores and returns them as UTC on
  SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Now, timezone-aware UTC: SQLModel's datetime columns refuse naive values."""
    return datetime.now(UTC)


def _fk(
    target: str, *, nullable: bool = False, ondelete: str = "CASCADE", index: bool = True
) -> Any:
    """An integer foreign key column with a database-level ON DELETE rule."""
    return Field(
        default=None if nullable else ...,
        sa_column=Column(
            Integer, ForeignKey(target, ondelete=ondelete), nullable=nullable, index=index
        ),
    )


# ---------------------------------------------------------------------------------------------
# Local explanations (written by engine.precompute)
# ---------------------------------------------------------------------------------------------


class Model(SQLModel, table=True):
    """A classifier and the explanation settings its images were explained with."""

    __tablename__ = "model"
    __table_args__ = (UniqueConstraint("name", "weights_hash", name="uq_model_name_weights"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    weights_hash: str = Field(max_length=64)
    num_classes: int
    classes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    input_size: int = 224
    created_at: datetime = Field(default_factory=utcnow)


class Image(SQLModel, table=True):
    """One explained image: the crop the model saw, its prediction and the explained class."""

    __tablename__ = "image"
    __table_args__ = (
        UniqueConstraint("model_id", "sha256", "config_key", name="uq_image_model_hash_config"),
        Index("ix_image_explained_class", "explained_class"),
    )

    id: int | None = Field(default=None, primary_key=True)
    model_id: int = _fk("model.id")
    sha256: str = Field(max_length=64)
    config_key: str = Field(max_length=64, description="hash of layers + explanation parameters")
    source_path: str
    crop_file: str = Field(description="the crop the model saw, relative to DATA_DIR")
    display_file: str | None = Field(
        default=None,
        description="the same region from the original image at 512-1024 px, shown to players",
    )
    width: int
    height: int
    true_class: int | None = None
    predicted_class: int
    predicted_prob: float
    explained_class: int
    # The network's most probable classes, best first (the classes it confuses the photo with).
    top_classes: list[int] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)


class ExplainedLayer(SQLModel, table=True):
    __tablename__ = "explained_layer"
    __table_args__ = (UniqueConstraint("image_id", "layer_name", name="uq_layer_image_name"),)

    id: int | None = Field(default=None, primary_key=True)
    image_id: int = _fk("image.id")
    layer_name: str = Field(max_length=200)
    depth: int = Field(description="0-based position among the explained layers, shallow to deep")
    channels: int
    kept_channels: int
    height: int
    width: int
    kept_weight: float = Field(description="percent of the layer's importance kept after pruning")
    gradcam_file: str | None = None


class Cluster(SQLModel, table=True):
    """One challenge: a cluster of feature maps of one layer of one image."""

    __tablename__ = "cluster"
    __table_args__ = (
        UniqueConstraint("layer_id", "rank", name="uq_cluster_layer_rank"),
        Index("ix_cluster_class_layer", "class_index", "layer_name"),
    )

    id: int | None = Field(default=None, primary_key=True)
    layer_id: int = _fk("explained_layer.id")
    image_id: int = _fk("image.id")
    # Denormalised from image/layer: the assignment and per-class queries are the hot paths.
    class_index: int = Field(description="the explained class of the image")
    layer_name: str = Field(max_length=200)
    depth: int
    rank: int = Field(description="0 = heaviest cluster of its layer")
    weight: float = Field(description="percent of the layer's importance")
    n_maps: int
    channels: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    map_file: str = Field(description="native-resolution map, relative to DATA_DIR")
    is_gold: bool = Field(default=False, index=True)
    active: bool = Field(default=True, description="served to players")


class ClusterStatus(SQLModel, table=True):
    """How settled a cluster's top concept was at the last rebuild that looked at its class.

    Written by the rebuild (the cluster row itself is never changed by it); read by the
    assignment, which serves unsettled clusters first and retires settled ones.
    """

    __tablename__ = "cluster_status"

    cluster_id: int = Field(
        sa_column=Column(Integer, ForeignKey("cluster.id", ondelete="CASCADE"), primary_key=True)
    )
    generation: int
    settled: bool = Field(default=False, index=True)
    top_share: float = 0.0  # reliability-weighted share of labellers giving the top concept
    margin: float = 0.0  # top share minus the runner-up's
    labellers: int = 0  # independent sources that labelled the cluster


class RenderedPhoto(SQLModel, table=True):
    """Telegram's file_id for a challenge photo at one hint level, reused after the first upload."""

    __tablename__ = "rendered_photo"
    __table_args__ = (UniqueConstraint("cluster_id", "hint_level", name="uq_photo_cluster_level"),)

    id: int | None = Field(default=None, primary_key=True)
    cluster_id: int = _fk("cluster.id")
    hint_level: int
    telegram_file_id: str = Field(max_length=255)
    created_at: datetime = Field(default_factory=utcnow)


# ---------------------------------------------------------------------------------------------
# The game (written by the bot)
# ---------------------------------------------------------------------------------------------


class Participant(SQLModel, table=True):
    __tablename__ = "participant"

    id: int | None = Field(default=None, primary_key=True)
    telegram_id: int = Field(sa_column=Column(BigInteger, nullable=False, unique=True))
    pseudonym: str = Field(max_length=32, unique=True)
    nickname: str | None = Field(default=None, max_length=32, unique=True)
    consent_at: datetime | None = None
    consent_declined_at: datetime | None = None
    active: bool = True
    trust: float = 0.5
    # Ability (logit scale) estimated by the last rebuild from every graded play; None until
    # then, when trust is the smoothed gold accuracy.
    ability: float | None = None
    gold_seen: int = 0
    gold_correct: int = 0
    # Guess and streak points plus, per answer, the reconciled agreement bonus of the current
    # generation where one exists, else the provisional one. The bot adds to it as challenges
    # end; the rebuild corrects it when it reconciles bonuses, in the generation-switch transaction.
    points: int = Field(default=0, index=True)
    streak: int = 0
    best_streak: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)


class Play(SQLModel, table=True):
    """One participant's play of one cluster, from serving to the end of labelling.

    `stage` is the state machine that replaces any in-memory conversation state:
    reveal → guessing → labelling → done, or reveal → resigned / skipped.
    """

    __tablename__ = "play"
    __table_args__ = (
        UniqueConstraint("participant_id", "cluster_id", name="uq_play_participant_cluster"),
        Index("ix_play_participant_stage", "participant_id", "stage"),
        Index("ix_play_participant_served", "participant_id", "served_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    participant_id: int = _fk("participant.id")
    cluster_id: int = _fk("cluster.id")
    stage: str = Field(default="reveal", max_length=16)
    outcome: str | None = Field(default=None, max_length=16, description="win, lose, resign, skip")
    is_gold: bool = False
    hint_level: int = 0
    options: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    guessed_class: int | None = None
    correct: bool | None = None
    chat_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    message_id: int | None = None
    poll_id: str | None = Field(default=None, max_length=64, index=True)
    guess_points: int = 0
    streak_points: int = 0
    bonus_points: int = Field(default=0, description="label agreement, provisional until a rebuild")
    served_at: datetime = Field(default_factory=utcnow)
    guessed_at: datetime | None = None
    finished_at: datetime | None = None


class Answer(SQLModel, table=True):
    """One label ("what made you guess") given after a guess; one row per label."""

    __tablename__ = "answer"

    id: int | None = Field(default=None, primary_key=True)
    play_id: int = _fk("play.id")
    raw_message: str = Field(description="the whole message the label came from, untouched")
    label: str = Field(description="this label as typed")
    normalized: str = Field(default="", description="lower-cased, whitespace-collapsed label")
    message_key: str | None = Field(
        default=None,
        description="the whole message normalised once when stored (copy-paste check); "
        "NULL for rows stored before it existed",
    )
    cleaned: str | None = Field(default=None, description="spaCy-cleaned phrase, set by a rebuild")
    hint_level: int = 0
    flags: str = Field(
        default="", max_length=64, description="comma-separated: fast, duplicate, flood"
    )
    accepted: bool = True
    bonus_points: int = 0
    created_at: datetime = Field(default_factory=utcnow)


# ---------------------------------------------------------------------------------------------
# Labels and global explanations (written by the rebuild)
# ---------------------------------------------------------------------------------------------


class Generation(SQLModel, table=True):
    """One rebuild. Exactly one row has is_current; it is switched in one transaction."""

    __tablename__ = "generation"

    id: int | None = Field(default=None, primary_key=True)
    status: str = Field(default="building", max_length=16, description="building, done, failed")
    is_current: bool = Field(default=False, index=True)
    classes: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    answers_seen: int = Field(default=0, description="highest answer id included")
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    error: str | None = None
    # Classes this rebuild could not recompute (class index → exception class); their previous
    # rows were carried over, and the next rebuild tries them again.
    failed_classes: dict[str, str] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}")
    )


class Concept(SQLModel, table=True):
    """A group of synonymous cleaned phrases for one class; keeps its id across rebuilds."""

    __tablename__ = "concept"
    __table_args__ = (Index("ix_concept_class", "class_index"),)

    id: int | None = Field(default=None, primary_key=True)
    class_index: int
    name: str = Field(max_length=200)
    phrases: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    first_generation: int
    last_generation: int
    created_at: datetime = Field(default_factory=utcnow)


class AnswerConcept(SQLModel, table=True):
    __tablename__ = "answer_concept"
    __table_args__ = (UniqueConstraint("answer_id", "generation", name="uq_answer_concept_gen"),)

    id: int | None = Field(default=None, primary_key=True)
    answer_id: int = _fk("answer.id")
    concept_id: int = _fk("concept.id")
    generation: int = Field(index=True)
    bonus_points: int = Field(default=0, description="agreement bonus reconciled at concept level")


class MergedCluster(SQLModel, table=True):
    """Clusters of one image and layer that share a best concept, merged into one."""

    __tablename__ = "merged_cluster"
    __table_args__ = (
        Index("ix_merged_gen_class_layer", "generation", "class_index", "layer_name"),
    )

    id: int | None = Field(default=None, primary_key=True)
    generation: int
    image_id: int = _fk("image.id")
    class_index: int
    layer_name: str = Field(max_length=200)
    depth: int
    member_cluster_ids: list[int] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    weight: float
    n_maps: int
    best_concept_id: int | None = _fk("concept.id", nullable=True, ondelete="SET NULL")
    best_score: float = 0.0
    label_scores: dict[str, float] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    map_file: str | None = None


class GlobalExplanation(SQLModel, table=True):
    """Top concepts of one class at one layer: a global explanation."""

    __tablename__ = "global_explanation"
    __table_args__ = (
        UniqueConstraint(
            "generation", "class_index", "layer_name", name="uq_global_gen_class_layer"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    generation: int = Field(index=True)
    class_index: int
    layer_name: str = Field(max_length=200)
    depth: int
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    chart_file: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class ConceptTest(SQLModel, table=True):
    """TCAV test of one top concept for one class at one layer, written by the rebuild.

    verdict: "validated", "not significant" or "too few examples" (then score and p_value are
    null: the concept had fewer examples than MIN_CONCEPT_EXAMPLES, or its class fewer images
    than MIN_TCAV_IMAGES, and was not tested; the global explanation's JSON says which).
    """

    __tablename__ = "concept_test"
    __table_args__ = (
        Index("ix_concept_test_gen_class_layer", "generation", "class_index", "layer_name"),
    )

    id: int | None = Field(default=None, primary_key=True)
    generation: int
    class_index: int
    layer_name: str = Field(max_length=200)
    concept_id: int | None = _fk("concept.id", nullable=True, ondelete="SET NULL")
    concept_name: str = Field(max_length=200)
    examples: int
    random_sets: int
    score: float | None = None
    p_value: float | None = None
    verdict: str = Field(max_length=20)


class PhraseEmbedding(SQLModel, table=True):
    """Sentence-BERT vectors, cached so that no phrase is embedded twice with one model."""

    __tablename__ = "phrase_embedding"
    __table_args__ = (UniqueConstraint("model_name", "phrase", name="uq_embedding_model_phrase"),)

    id: int | None = Field(default=None, primary_key=True)
    model_name: str = Field(max_length=200)
    phrase: str
    dim: int
    vector: bytes = Field(sa_column=Column(LargeBinary, nullable=False), description="float32")
    created_at: datetime = Field(default_factory=utcnow)


# ---------------------------------------------------------------------------------------------
# Operations
# ---------------------------------------------------------------------------------------------


class GroupChat(SQLModel, table=True):
    """A group that subscribed to leaderboard announcements."""

    __tablename__ = "group_chat"

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False, unique=True))
    title: str = Field(default="", max_length=255)
    subscribed: bool = True
    subscribed_at: datetime = Field(default_factory=utcnow)
    last_announced_at: datetime | None = None
    announce_message_id: int | None = None


class Export(SQLModel, table=True):
    __tablename__ = "export"

    id: int | None = Field(default=None, primary_key=True)
    path: str
    size_bytes: int
    sha256: str = Field(max_length=64)
    counts: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    requested_by: str = Field(default="cli", max_length=64, description="'cli' or a pseudonym")
    created_at: datetime = Field(default_factory=utcnow)


class JobLock(SQLModel, table=True):
    """A named lock shared by every process on the database (one rebuild at a time)."""

    __tablename__ = "job_lock"

    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=128)
    acquired_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime


class PrecomputeTask(SQLModel, table=True):
    """One image to explain with one model and setting, claimed by `inv precompute` workers.

    Workers sharing a PostgreSQL database claim batches of pending rows with
    `SELECT … FOR UPDATE SKIP LOCKED` and hold them under a lease that they keep pushing forward;
    a worker that dies stops doing so, and its rows are claimed again once the lease has run out.
    """

    __tablename__ = "precompute_task"
    __table_args__ = (
        UniqueConstraint("model_id", "config_key", "sha256", name="uq_task_model_config_hash"),
        Index("ix_task_queue", "model_id", "config_key", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    model_id: int = _fk("model.id", index=False)
    config_key: str = Field(max_length=64)
    sha256: str = Field(max_length=64)
    source_path: str = Field(description="where the worker that queued it found the file")
    true_class: int | None = None
    state: str = Field(default="pending", max_length=16, description="pending, done or failed")
    worker: str | None = Field(default=None, max_length=128, description="lease holder")
    lease_until: datetime | None = None
    attempts: int = Field(default=0, description="times claimed")
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
