"""After the switch: the JSON document of the current generation, and unreferenced files gone.

Chart files, merged maps and overlays that no row of the current generation names are deleted
(a chart whose content changed has a new name, so the old file goes here). Files are derived:
a failure here is logged, the generation is already current.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import select

from engine.global_explanations.document import JSON_DOCUMENT, document_rows, write_document
from engine.rebuild.context import RebuildContext
from storage.tables import T_MC

log = logging.getLogger(__name__)


def tidy(ctx: RebuildContext, generation: int) -> None:
    try:
        with ctx.engine.connect() as conn:
            rows = document_rows(conn, generation)
            merged_maps = conn.execute(
                select(T_MC.c.map_file).where(T_MC.c.generation == generation)
            ).scalars()
            referenced = {JSON_DOCUMENT} | {f for f in merged_maps if f}
        write_document(ctx.data_dir, generation, rows)
        for _, _, payload, chart in rows:
            referenced |= _files_of(payload, chart)
        collect_garbage(ctx.data_dir, referenced)
    except Exception:  # files are derived; the generation is already switched
        log.exception("rebuild: could not tidy the charts folder")


def _files_of(payload: dict[str, Any], chart: str | None) -> set[str]:
    files = {chart, payload.get("chart_file"), payload.get("trend_chart_file")}
    for concept in payload.get("concepts", []):
        for example in concept.get("examples", []):
            files.add(example.get("overlay_file"))
    return {f for f in files if f}


def collect_garbage(data_dir: Path, referenced: set[str]) -> None:
    """Delete the files under DATA_DIR/charts that `referenced` (paths relative to DATA_DIR)
    does not name; files being written (*.tmp) are left alone."""
    charts = data_dir / "charts"
    if not charts.is_dir():
        return
    for path in charts.rglob("*"):
        if not path.is_file():
            continue
        relative = path.relative_to(data_dir).as_posix()
        if relative not in referenced and not relative.endswith(".tmp"):
            path.unlink(missing_ok=True)
