"""A self-contained HTML report of what the database holds: local and global explanations, crowd.

Every picture is embedded as a data URI, so the file can be mailed or opened offline. It reads the
database and the files under DATA_DIR only (numpy/PIL/matplotlib, no torch), so it works on the
output of any run, not just the demo.
"""

from __future__ import annotations

import base64
import html
import io
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image as PILImage
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from engine.render import load_map, render_overlay
from storage.db import session_scope
from storage.models import (
    Answer,
    Cluster,
    Concept,
    ExplainedLayer,
    Generation,
    GlobalExplanation,
    Image,
    MergedCluster,
    Model,
    Participant,
    Play,
)
from storage.settings import get_settings

REPORTS_DIR = "reports"
THUMBNAIL_PX = 168
CROP_PX = 224


@dataclass
class CrowdStats:
    participants: int = 0
    plays: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    answers: int = 0
    flagged_answers: int = 0
    distinct_labels: int = 0
    per_layer: list[tuple[str, int, float, float]] = field(default_factory=list)


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _jpeg_of(image: PILImage.Image, size: int) -> str:
    image = image.convert("RGB")
    image.thumbnail((size, size))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return _data_uri(buffer.getvalue(), "image/jpeg")


def _thumbnail(jpeg_or_png: bytes, size: int = THUMBNAIL_PX) -> str:
    with PILImage.open(io.BytesIO(jpeg_or_png)) as image:
        return _jpeg_of(image, size)


def _png_file(path: Path) -> str | None:
    if not path.is_file():
        return None
    return _data_uri(path.read_bytes(), "image/png")


def _class_name(classes: list[str], index: int | None) -> str:
    if index is None:
        return "—"
    return classes[index] if 0 <= index < len(classes) else f"class {index}"


def _current_generation(session: Session) -> Generation | None:
    return session.exec(select(Generation).where(Generation.is_current == True)).first()  # noqa: E712


def crowd_stats(session: Session) -> CrowdStats:
    stats = CrowdStats()
    stats.participants = session.exec(select(func.count()).select_from(Participant)).one()
    stats.plays = session.exec(select(func.count()).select_from(Play)).one()
    stats.outcomes = dict(
        session.exec(select(Play.outcome, func.count()).group_by(Play.outcome)).all()  # type: ignore[arg-type]
    )
    stats.answers = session.exec(select(func.count()).select_from(Answer)).one()
    stats.flagged_answers = session.exec(
        select(func.count()).select_from(Answer).where(Answer.accepted == False)  # noqa: E712
    ).one()
    stats.distinct_labels = session.exec(select(func.count(func.distinct(Answer.normalized)))).one()
    rows = session.exec(
        select(Cluster.layer_name, Cluster.depth, func.count(Play.id), func.avg(Play.hint_level))
        .join(Play, Play.cluster_id == Cluster.id)
        .group_by(Cluster.layer_name, Cluster.depth)
        .order_by(Cluster.depth)
    ).all()
    wins = dict(
        session.exec(
            select(Cluster.layer_name, func.count(Play.id))
            .join(Play, Play.cluster_id == Cluster.id)
            .where(Play.correct == True)  # noqa: E712
            .group_by(Cluster.layer_name)
        ).all()
    )
    stats.per_layer = [
        (name, count, float(mean_level or 0.0), wins.get(name, 0) / count if count else 0.0)
        for name, _depth, count, mean_level in rows
    ]
    return stats


def _cluster_concepts(
    session: Session, generation: Generation | None
) -> dict[int, list[tuple[str, float]]]:
    """Top concepts of each cluster, from the merged clusters of the current generation."""
    if generation is None:
        return {}
    merged = session.exec(
        select(MergedCluster).where(MergedCluster.generation == generation.id)
    ).all()
    concept_ids = {int(cid) for m in merged for cid in m.label_scores}
    names = {
        c.id: c.name for c in session.exec(select(Concept).where(Concept.id.in_(concept_ids))).all()
    }
    result: dict[int, list[tuple[str, float]]] = {}
    for m in merged:
        ranked = sorted(m.label_scores.items(), key=lambda item: -item[1])[:3]
        top = [(names.get(int(cid), f"concept {cid}"), float(score)) for cid, score in ranked]
        for cluster_id in m.member_cluster_ids:
            result[int(cluster_id)] = top
    return result


def _section_images(
    session: Session, data_dir: Path, classes: list[str], generation: Generation | None
) -> str:
    concepts_by_cluster = _cluster_concepts(session, generation)
    parts = ['<section id="local"><h2>Local explanations</h2>']
    images = session.exec(select(Image).order_by(Image.id)).all()
    for image in images:
        crop_path = data_dir / image.crop_file
        with PILImage.open(crop_path) as crop_image:
            crop = crop_image.convert("RGB")
        title = Path(image.source_path).stem
        predicted = _class_name(classes, image.predicted_class)
        true = _class_name(classes, image.true_class) if image.true_class is not None else "unknown"
        parts.append(
            f'<article class="image"><h3>{html.escape(title)}</h3><div class="head">'
            f'<img class="crop" alt="{html.escape(title)}" src="{_jpeg_of(crop, CROP_PX)}">'
            f"<p>Prediction: <b>{html.escape(predicted)}</b> ({image.predicted_prob:.0%})<br>"
            f"True class: {html.escape(true)}<br>Explained class: "
            f"<b>{html.escape(_class_name(classes, image.explained_class))}</b></p></div>"
        )
        layers = session.exec(
            select(ExplainedLayer)
            .where(ExplainedLayer.image_id == image.id)
            .order_by(ExplainedLayer.depth)
        ).all()
        for layer in layers:
            clusters = session.exec(
                select(Cluster).where(Cluster.layer_id == layer.id).order_by(Cluster.rank)
            ).all()
            cells = []
            for cluster in clusters:
                overlay = render_overlay(crop, load_map(data_dir / cluster.map_file))
                top = concepts_by_cluster.get(cluster.id, [])
                concept_text = (
                    ", ".join(html.escape(name) for name, _ in top) or "<i>no labels yet</i>"
                )
                cells.append(
                    f'<figure><img alt="cluster {cluster.rank}" src="{_thumbnail(overlay)}">'
                    f"<figcaption>w = {cluster.weight:.1f}% · {cluster.n_maps} maps"
                    f"{' · gold' if cluster.is_gold else ''}<br>{concept_text}</figcaption></figure>"
                )
            parts.append(
                f'<div class="layer"><h4>{html.escape(layer.layer_name)} '
                f"<small>{layer.kept_channels}/{layer.channels} maps kept, "
                f"{layer.kept_weight:.0f}% of the importance</small></h4>"
                f'<div class="row">{"".join(cells) or "<i>no clusters</i>"}</div></div>'
            )
        parts.append("</article>")
    parts.append("</section>")
    return "".join(parts)


def _concept_rows(payload: dict[str, Any]) -> Iterable[tuple[str, float, float]]:
    for entry in payload.get("concepts", []):
        yield (
            str(entry.get("name", "?")),
            float(entry.get("score", 0.0)),
            float(entry.get("mean_weight", entry.get("weight", 0.0))),
        )


def _section_globals(
    session: Session, data_dir: Path, classes: list[str], generation: Generation | None
) -> str:
    parts = ['<section id="global"><h2>Global explanations</h2>']
    if generation is None:
        parts.append("<p>No rebuild has run yet: no global explanations.</p></section>")
        return "".join(parts)
    parts.append(
        f"<p>Generation {generation.id}, built {generation.finished_at or generation.started_at}.</p>"
    )
    rows = session.exec(
        select(GlobalExplanation)
        .where(GlobalExplanation.generation == generation.id)
        .order_by(GlobalExplanation.class_index, GlobalExplanation.depth)
    ).all()
    by_class: dict[int, list[GlobalExplanation]] = defaultdict(list)
    for row in rows:
        by_class[row.class_index].append(row)
    for class_index, explanations in by_class.items():
        name = _class_name(classes, class_index)
        parts.append(f'<article class="class"><h3>{html.escape(name)}</h3>')
        totals: Counter[str] = Counter()
        for explanation in explanations:
            for concept, score, _weight in _concept_rows(explanation.payload):
                totals[concept] += score
        if totals:
            ranked = ", ".join(
                f"<b>{html.escape(c)}</b> ({s:.1f})" for c, s in totals.most_common(8)
            )
            parts.append(f'<p class="summary">Across layers: {ranked}</p>')
        trend_file = next(
            (
                e.payload["trend_chart_file"]
                for e in explanations
                if e.payload.get("trend_chart_file")
            ),
            None,
        )
        trend = _png_file(data_dir / trend_file) if trend_file else None
        if trend:
            parts.append(
                f'<img class="chart" alt="layer trends of {html.escape(name)}" src="{trend}">'
            )
        for explanation in explanations:
            concepts = list(_concept_rows(explanation.payload))
            table = "".join(
                f"<tr><td>{html.escape(c)}</td><td>{score:.2f}</td><td>{weight:.1f}%</td></tr>"
                for c, score, weight in concepts
            )
            chart = _png_file(data_dir / explanation.chart_file) if explanation.chart_file else None
            parts.append(
                f'<div class="global"><h4>{html.escape(explanation.layer_name)}</h4>'
                + (
                    f'<img class="chart" alt="{html.escape(name)} at {html.escape(explanation.layer_name)}" src="{chart}">'
                    if chart
                    else ""
                )
                + (
                    f"<table><tr><th>concept</th><th>score</th><th>mean weight</th></tr>{table}</table>"
                    if table
                    else "<p><i>no concepts yet</i></p>"
                )
                + "</div>"
            )
        parts.append("</article>")
    parts.append("</section>")
    return "".join(parts)


def _section_crowd(stats: CrowdStats) -> str:
    outcomes = ", ".join(
        f"{html.escape(str(k or 'open'))}: {v}" for k, v in sorted(stats.outcomes.items(), key=str)
    )
    layer_rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{count}</td><td>{level:.2f}</td><td>{accuracy:.0%}</td></tr>"
        for name, count, level, accuracy in stats.per_layer
    )
    return (
        '<section id="crowd"><h2>Crowd</h2><ul>'
        f"<li>{stats.participants} participants, {stats.plays} plays ({outcomes or 'none'})</li>"
        f"<li>{stats.answers} labels, {stats.distinct_labels} distinct, {stats.flagged_answers} flagged</li>"
        "</ul><table><tr><th>layer</th><th>plays</th><th>mean hint level</th><th>correct guesses</th></tr>"
        f"{layer_rows}</table></section>"
    )


STYLE = """
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:12px;color:#222}
h1{font-size:1.6em}h2{border-bottom:2px solid #ddd;padding-bottom:4px}
.head{display:flex;gap:16px;align-items:center;flex-wrap:wrap}.crop{border-radius:6px}
.row{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0;width:172px;font-size:.8em}
figure img{width:168px;height:168px;object-fit:cover;border-radius:4px}
.chart{max-width:100%;height:auto;display:block;margin:6px 0}
table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
article{margin-bottom:24px}small{color:#666;font-weight:normal}nav a{margin-right:12px}
"""


def default_report_path(data_dir: Path, now: datetime | None = None) -> Path:
    now = now or datetime.now(UTC)
    return data_dir / REPORTS_DIR / f"inv-report-{now:%Y%m%dT%H%M%S}Z.html"


def build_report(
    out: Path,
    *,
    title: str = "inv report",
    note: str = "",
    data_dir: Path | None = None,
    engine: Engine | None = None,
) -> Path:
    """Write the report of the database (default: the configured one) to `out`; its path."""
    data_dir = data_dir if data_dir is not None else get_settings().data_dir
    with session_scope(engine, readonly=True) as session:
        models = session.exec(select(Model).order_by(Model.id)).all()
        classes = models[-1].classes if models else []
        generation = _current_generation(session)
        stats = crowd_stats(session)
        layer_names = list(
            dict.fromkeys(
                session.exec(select(ExplainedLayer.layer_name).order_by(ExplainedLayer.depth)).all()
            )
        )
        body = _section_crowd(stats) + _section_globals(session, data_dir, classes, generation)
        body += _section_images(session, data_dir, classes, generation)
        image_count = session.exec(select(func.count()).select_from(Image)).one()
    model_text = ", ".join(html.escape(m.name) for m in models) or "none"
    counts = Counter({"images": image_count, "layers": len(layer_names)})
    document = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p>Model: {model_text}. {counts['images']} images, layers: "
        f"{html.escape(', '.join(layer_names))}. Written {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.</p>"
        + (f"<p>{html.escape(note)}</p>" if note else "")
        + '<nav><a href="#crowd">Crowd</a><a href="#global">Global explanations</a>'
        '<a href="#local">Local explanations</a></nav>'
        f"{body}</body></html>"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(document, encoding="utf-8")
    tmp.replace(out)
    return out
