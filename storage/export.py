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

What each table holds and how its rows are queried is storage.export_tables; this module
writes them, with the manifest and the data package, into the zip.

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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from sqlalchemy import Select, select
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
from storage.export_tables import ExportTable, export_tables
from storage.migrate import current_revision, head_revision
from storage.models import ExplainedLayer, Export, Image, utcnow
from storage.privacy import PSEUDONYM_LENGTH
from storage.spreadsheet import FORMULA_STARTS, TEXT_MARK, spreadsheet_safe

EXPORT_FORMAT = 1
EXPORTS_DIR = "exports"
TELEGRAM_DOCUMENT_LIMIT = 50 * 1024 * 1024  # sendDocument's limit through the cloud Bot API

IMAGE = Image.__table__.c
LAYER = ExplainedLayer.__table__.c


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
        session.connection().execute(select(IMAGE.config_key).distinct()).scalars().all()
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
            image_models = dict(
                session.connection().execute(select(IMAGE.id, IMAGE.model_id)).all()
            )
            names = ClassNames(models, image_models)
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                packer = FilePacker(zf, data_dir)
                pack = packer.queue if with_images else (lambda _relative: None)

                def write_table(table: ExportTable) -> None:
                    """One CSV, with its derived columns; the files it names are packed."""

                    def complete(row: Any) -> Sequence[Any]:
                        for column in table.packed:
                            pack(getattr(row, column))
                        derive = table.derive
                        values = (*row, *derive(row)) if derive is not None else row
                        return table.transform(values) if table.transform is not None else values

                    rows = (complete(row) for row in _rows(session, table.query))
                    every = table.every_column
                    counts[table.key] = _write_csv(zf, table.file_name, every, rows)
                    packer.flush()
                    files[table.file_name] = {
                        "rows": counts[table.key],
                        "columns": _column_names(every),
                    }
                    resources.append(
                        table_resource(table.key, table.file_name, every, counts[table.key])
                    )

                gen = generation if generation is not None else -1
                for table in export_tables(names, gen):
                    write_table(table)
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
                        select(LAYER.layer_name, LAYER.depth)
                        .distinct()
                        .order_by(LAYER.depth, LAYER.layer_name)
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


def _version() -> str:
    try:
        return version("inv")
    except PackageNotFoundError:
        return "unknown"
