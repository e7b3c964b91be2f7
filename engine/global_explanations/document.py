"""The JSON document of the global explanations: every class's layers for one generation.

DATA_DIR/charts/global_explanations.json is written after each rebuild and again when a
participant is forgotten (their words leave it at once). Writing it needs the database and json
only, so the bot can rewrite it without loading the label models.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from storage import generations
from storage.tables import T_GE

JSON_DOCUMENT = "charts/global_explanations.json"


def document_rows(conn: Connection, generation: int | None) -> list[Any]:
    """The explanation rows of `generation`, as `write_document` takes them."""
    return list(
        conn.execute(
            select(T_GE.c.class_index, T_GE.c.depth, T_GE.c.payload, T_GE.c.chart_file)
            .where(T_GE.c.generation == generation)
            .order_by(T_GE.c.class_index, T_GE.c.depth)
        ).all()
    )


def current_document_rows(conn: Connection) -> tuple[int | None, list[Any]]:
    """The current generation and its explanation rows, as `write_document` takes them."""
    generation = generations.current_id(conn)
    return generation, document_rows(conn, generation)


def write_document(data_dir: Path, generation: int | None, rows: Sequence[Any]) -> Path:
    """DATA_DIR/charts/global_explanations.json: every class's layers for one generation."""
    classes: dict[int, dict[str, Any]] = {}
    for class_index, _depth, payload, _chart in rows:
        entry = classes.setdefault(
            class_index,
            {
                "class_index": class_index,
                "class_name": payload.get("class_name"),
                "trend_chart_file": payload.get("trend_chart_file"),
                "trends": payload.get("trends", []),
                "layers": [],
            },
        )
        layer = {
            k: v for k, v in payload.items() if k not in {"trends", "class_name", "class_index"}
        }
        entry["layers"].append(layer)
    document = {"generation": generation, "classes": [classes[c] for c in sorted(classes)]}
    path = data_dir / JSON_DOCUMENT
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=1, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)
    return path
