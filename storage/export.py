"""The research export: one zip of pseudonymised CSV/JSON tables, charts and a manifest.

`write_export()` is what `inv export --out FILE` and the bot's /export both call. It reads one
consistent snapshot of the database (a read transaction; REPEATABLE READ on PostgreSQL) and writes

    manifest.json              model(s), layers, parameters, schema version, counts, columns
    datapackage.json           Frictionless Data Package: every table's fields, types, units, keys
    participants.csv           pseudonym, consent, trust, points ... (no Telegram id, no nickname)
    plays.csv                  every play, the participant as pseudonym (no chat or message ids)
    answers.csv                one row per label, with the raw message it came from
    clusters.csv, images.csv, layers.csv
    concepts.csv, answer_concepts.csv, merged_clusters.csv    the current generation, if any
    global_explanations.json   the current generation's explanations
    global_concepts.csv        the same, one row per class, layer and top concept
    concept_tests.csv          TCAV test of each top concept: score, p-value, examples, verdict
    charts/...                 the current generation's charts that exist under DATA_DIR
    crops/, maps/, ...         with `with_images`: every other file a row refers to

Every file path in a row is relative to the zip root and is the path under DATA_DIR, so a path
means the same file whether or not the files were packed. Rows that carry a class index carry its
name next to it (`class_name`, `predicted_class_name`, ...).

Text cells that a spreadsheet would run as a formula (starting with =, +, -, @, tab or carriage
return) get a leading apostrophe (storage.spreadsheet); numbers are never changed. images.csv
gives each source image by its file name, never the operator's path. The zip is readable by its
owner only (0600) and its name is unique.

Raw Telegram ids, Telegram names and nicknames never appear: a participant is
HMAC-SHA256(PSEUDONYM_SECRET, Telegram id) truncated (storage.privacy). The module imports neither
telegram nor torch.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import secrets
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import Column, Select, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage import generations
from storage.crowd_quality import crowd_quality
from storage.datapackage import datapackage, table_resource
from storage.db import get_engine, session_scope
from storage.export_parts import (
    GLOBAL_CONCEPT_COLUMNS,
    ClassNames,
    FilePacker,
    model_rows,
    write_globals,
)
from storage.migrate import current_revision, head_revision
from storage.models import (
    Answer,
    AnswerConcept,
    Cluster,
    Concept,
    ConceptTest,
    ExplainedLayer,
    Export,
    GlobalExplanation,
    Image,
    MergedCluster,
    Participant,
    Play,
    utcnow,
)
from storage.privacy import PSEUDONYM_LENGTH
from storage.spreadsheet import FORMULA_STARTS, TEXT_MARK, spreadsheet_safe

EXPORT_FORMAT = 1
EXPORTS_DIR = "exports"
TELEGRAM_DOCUMENT_LIMIT = 50 * 1024 * 1024  # sendDocument's limit through the cloud Bot API

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
GE = GlobalExplanation.__table__.c

# Exported columns per table. Anything identifying is left out on purpose: participant.id and
# telegram_id and nickname, play.chat_id / message_id / poll_id (a private chat id IS the user id).
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
class ExportResult:
    path: Path
    size_bytes: int
    sha256: str
    counts: dict[str, int]
    manifest: dict[str, Any]

    @property
    def fits_telegram(self) -> bool:
        return self.size_bytes <= TELEGRAM_DOCUMENT_LIMIT


def default_path(data_dir: Path, now: datetime | None = None) -> Path:
    """DATA_DIR/exports/inv-export-<time>-<random>.zip: two exports in one second differ."""
    now = now or utcnow()
    name = f"inv-export-{now:%Y%m%dT%H%M%S}Z-{secrets.token_hex(4)}.zip"
    return data_dir / EXPORTS_DIR / name


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return value


def _column_names(columns: Sequence[Any]) -> list[str]:
    return [c.key if hasattr(c, "key") else str(c) for c in columns]


def _write_csv(
    zf: zipfile.ZipFile, name: str, columns: Sequence[Any], rows: Iterable[Sequence[Any]]
) -> int:
    count = 0
    with zf.open(name, "w") as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
        writer = csv.writer(text)
        writer.writerow(_column_names(columns))
        for row in rows:
            writer.writerow([spreadsheet_safe(_cell(v)) for v in row])
            count += 1
    return count


def _rows(session: Session, query: Select[Any]) -> Iterable[Sequence[Any]]:
    yield from session.connection().execute(query.execution_options(yield_per=2000))


def _parameters(session: Session, parameters: Mapping[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = dict(parameters)
    params["config_keys"] = sorted(
        session.connection().execute(select(I.config_key).distinct()).scalars().all()
    )
    params["pseudonym"] = (
        f"HMAC-SHA256(PSEUDONYM_SECRET, telegram id), first {PSEUDONYM_LENGTH} hex characters"
    )
    return params


def write_export(
    out: str | Path | None = None,
    *,
    data_dir: Path,
    parameters: Mapping[str, Any],
    engine: Engine | None = None,
    requested_by: str = "cli",
    now: datetime | None = None,
    with_images: bool = False,
) -> ExportResult:
    """Write the export zip to `out` (default: DATA_DIR/exports/inv-export-<time>.zip).

    `data_dir` holds the files the rows refer to; `parameters` are the settings that shaped the
    data (no secrets, no paths to the operator's files), recorded in the manifest. Charts are
    always packed; `with_images` packs every other file the rows refer to as well (crops,
    cluster maps, Grad-CAM maps, example overlays), so the zip stands alone.
    """
    now = now or utcnow()
    engine = engine or get_engine()
    path = Path(out) if out is not None else default_path(data_dir, now)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".inv-export-", suffix=".zip", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    counts: dict[str, int] = {}
    files: dict[str, dict[str, Any]] = {}
    resources: list[dict[str, Any]] = []
    try:
        with session_scope(engine, readonly=True) as session:
            if engine.dialect.name == "postgresql":
                # One snapshot for every table, so the manifest's counts match the files.
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            generation = generations.current_id(session)
            models = model_rows(session)
            image_models = dict(session.connection().execute(select(I.id, I.model_id)).all())
            names = ClassNames(models, image_models)
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                packer = FilePacker(zf, data_dir)
                pack = packer.queue if with_images else (lambda _relative: None)

                def table(
                    name: str,
                    columns: Sequence[Any],
                    query: Select[Any],
                    key: str,
                    extra: Sequence[str] = (),
                    derive: Callable[[Any], Sequence[Any]] | None = None,
                    packed: Sequence[str] = (),
                    transform: Callable[[Sequence[Any]], Sequence[Any]] | None = None,
                ) -> None:
                    """One CSV; `derive` adds the `extra` columns, `packed` names file columns."""

                    def complete(row: Any) -> Sequence[Any]:
                        for column in packed:
                            pack(getattr(row, column))
                        values = (*row, *derive(row)) if derive is not None else row
                        return transform(values) if transform is not None else values

                    rows = (complete(row) for row in _rows(session, query))
                    every = [*columns, *extra]
                    counts[key] = _write_csv(zf, name, every, rows)
                    packer.flush()
                    files[name] = {"rows": counts[key], "columns": _column_names(every)}
                    resources.append(table_resource(key, name, every, counts[key]))

                table(
                    "participants.csv",
                    PARTICIPANT_COLUMNS,
                    # Only people who agreed: someone who declined is not a participant.
                    select(*PARTICIPANT_COLUMNS)
                    .where(P.consent_at.is_not(None))
                    .order_by(P.pseudonym),
                    "participants",
                )
                table(
                    "plays.csv",
                    PLAY_COLUMNS,
                    select(*PLAY_COLUMNS)
                    .join_from(Play.__table__, Participant.__table__, PL.participant_id == P.id)
                    .order_by(PL.id),
                    "plays",
                    ("options_names", "guessed_class_name"),
                    lambda r: (names.names(r.options), names.name(r.guessed_class)),
                )
                table(
                    "answers.csv",
                    ANSWER_COLUMNS,
                    select(*ANSWER_COLUMNS)
                    .join_from(Answer.__table__, Play.__table__, A.play_id == PL.id)
                    .join(Participant.__table__, PL.participant_id == P.id)
                    .order_by(A.id),
                    "answers",
                )
                table(
                    "clusters.csv",
                    CLUSTER_COLUMNS,
                    select(*CLUSTER_COLUMNS).order_by(C.id),
                    "clusters",
                    ("class_name",),
                    lambda r: (names.name(r.class_index, r.image_id),),
                    ("map_file",),
                )
                table(
                    "images.csv",
                    IMAGE_COLUMNS,
                    select(*IMAGE_COLUMNS).order_by(I.id),
                    "images",
                    ("true_class_name", "predicted_class_name", "explained_class_name"),
                    lambda r: (
                        names.name(r.true_class, r.id),
                        names.name(r.predicted_class, r.id),
                        names.name(r.explained_class, r.id),
                    ),
                    ("crop_file",),
                    transform=_source_file_name,
                )
                table(
                    "layers.csv",
                    LAYER_COLUMNS,
                    select(*LAYER_COLUMNS).order_by(L.id),
                    "layers",
                    packed=("gradcam_file",),
                )
                gen = generation if generation is not None else -1
                table(
                    "concepts.csv",
                    CONCEPT_COLUMNS,
                    select(*CONCEPT_COLUMNS)
                    .where(CO.first_generation <= gen, CO.last_generation >= gen)
                    .order_by(CO.id),
                    "concepts",
                    ("class_name",),
                    lambda r: (names.name(r.class_index),),
                )
                table(
                    "answer_concepts.csv",
                    ANSWER_CONCEPT_COLUMNS,
                    select(*ANSWER_CONCEPT_COLUMNS)
                    .where(AC.generation == gen)
                    .order_by(AC.answer_id),
                    "answer_concepts",
                )
                table(
                    "merged_clusters.csv",
                    MERGED_COLUMNS,
                    select(*MERGED_COLUMNS).where(MC.generation == gen).order_by(MC.id),
                    "merged_clusters",
                    ("class_name",),
                    lambda r: (names.name(r.class_index, r.image_id),),
                    ("map_file",),
                )
                table(
                    "concept_tests.csv",
                    CONCEPT_TEST_COLUMNS,
                    select(*CONCEPT_TEST_COLUMNS)
                    .where(CT.generation == gen)
                    .order_by(CT.class_index, CT.layer_name, CT.id),
                    "concept_tests",
                    ("class_name",),
                    lambda r: (names.name(r.class_index),),
                )
                counts["global_explanations"], concept_rows = write_globals(
                    zf, session, gen, names, packer, with_images
                )
                files["global_explanations.json"] = {"rows": counts["global_explanations"]}
                counts["global_concepts"] = _write_csv(
                    zf, "global_concepts.csv", GLOBAL_CONCEPT_COLUMNS, concept_rows
                )
                files["global_concepts.csv"] = {
                    "rows": counts["global_concepts"],
                    "columns": list(GLOBAL_CONCEPT_COLUMNS),
                }
                resources.append(
                    table_resource(
                        "global_concepts",
                        "global_concepts.csv",
                        GLOBAL_CONCEPT_COLUMNS,
                        counts["global_concepts"],
                    )
                )
                counts["charts"] = sum(1 for n in packer.packed if n.startswith("charts/"))
                counts["files"] = len(packer.packed)
                layers = [
                    {"layer_name": name, "depth": depth}
                    for name, depth in session.connection()
                    .execute(
                        select(L.layer_name, L.depth).distinct().order_by(L.depth, L.layer_name)
                    )
                    .all()
                ]
                manifest = {
                    "format": EXPORT_FORMAT,
                    "created_at": now.isoformat(),
                    "inv_version": _version(),
                    "schema_version": current_revision(engine),
                    "schema_head": head_revision(),
                    "database": engine.dialect.name,
                    "requested_by": requested_by,
                    "generation": generation,
                    "models": models,
                    "layers": layers,
                    "parameters": _parameters(session, parameters),
                    "counts": counts,
                    "files": files,
                    "with_images": with_images,
                    "missing_files": sorted(packer.missing),
                    "text_cells": (
                        f"text cells starting with {' '.join(map(repr, FORMULA_STARTS))} carry a "
                        f"leading {TEXT_MARK!r} so spreadsheets do not run them as formulas; "
                        "numeric fields are unchanged"
                    ),
                    "image_paths": "images.csv source_path is the source image's file name",
                    "crowd_quality": crowd_quality(session),
                }
                zf.writestr(
                    "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False, default=str)
                )
                package = datapackage("inv-export", now.isoformat(), resources)
                zf.writestr("datapackage.json", json.dumps(package, indent=2, ensure_ascii=False))
        digest = hashlib.sha256()
        with tmp.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    size = path.stat().st_size
    with session_scope(engine) as session:
        session.add(
            Export(
                path=str(path),
                size_bytes=size,
                sha256=digest.hexdigest(),
                counts=counts,
                requested_by=requested_by[:64],
                created_at=now,
            )
        )
    return ExportResult(path, size, digest.hexdigest(), counts, manifest)


_SOURCE_PATH = [c.key for c in IMAGE_COLUMNS].index("source_path")


def _source_file_name(row: Sequence[Any]) -> list[Any]:
    """An images.csv row with the source image's file name in place of the operator's path."""
    values = list(row)
    path = values[_SOURCE_PATH]
    if path:
        values[_SOURCE_PATH] = PurePosixPath(str(path).replace("\\", "/")).name
    return values


def _version() -> str:
    try:
        return version("inv")
    except PackageNotFoundError:
        return "unknown"
