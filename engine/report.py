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
from engine.report_parts import (
    Line,
    colour_bar,
    concept_test_cell,
    nice_ceiling,
    reading_guide,
    score_bar,
    trend_legend,
    trend_svg,
)
from storage import generations
from storage.crowd_quality import crowd_quality, summary_line
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

REPORTS_DIR = "reports"
THUMBNAIL_PX = 168
CROP_PX = 224
EXAMPLE_PX = 96


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


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _class_name(classes: list[str], index: int | None) -> str:
    if index is None:
        return "—"
    return classes[index] if 0 <= index < len(classes) else f"class {index}"


def _current_generation(session: Session) -> Generation | None:
    found = generations.current_id(session)
    return session.get(Generation, found) if found is not None else None


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
    parts = [
        '<section id="local"><h2>Local explanations</h2><p>Each photo, layer by layer: its '
        "clusters as heat maps over the crop the network saw, heaviest first.</p>"
        f"{colour_bar()}"
    ]
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


def _trend_lines(payload: dict[str, Any]) -> tuple[list[Line], list[Line]]:
    """The rising and the falling concepts of a class, as stored by the rebuild."""
    entries = {entry.get("concept_id"): entry for entry in payload.get("trends", [])}

    def lines(ids: list[Any]) -> list[Line]:
        chosen = [entries[i] for i in ids if i in entries]
        return [
            Line(str(e.get("name", "?")), list(e.get("means", [])), e.get("slope")) for e in chosen
        ]

    return lines(payload.get("rising", [])), lines(payload.get("falling", []))


def score_scale(rows: Iterable[GlobalExplanation]) -> float:
    """One scale for every score bar and trend chart of the report."""
    values = [0.0]
    for row in rows:
        values += [score for _, score, _ in _concept_rows(row.payload)]
        for entry in row.payload.get("trends", []):
            values += [m for m in entry.get("means", []) if m is not None]
    return nice_ceiling(max(values))


def _examples(data_dir: Path, concept: dict[str, Any]) -> str:
    cells = []
    for example in concept.get("examples") or []:
        path = data_dir / example["overlay_file"] if example.get("overlay_file") else None
        if path is None or not path.is_file():
            continue
        cells.append(
            f'<img class="example" alt="example of {html.escape(str(concept.get("name", "")))}" '
            f'src="{_thumbnail(path.read_bytes(), EXAMPLE_PX)}">'
        )
    return "".join(cells)


def _class_trends(name: str, explanations: list[GlobalExplanation], scale: float) -> str:
    payload = explanations[0].payload
    layer_names = payload.get("layers") or [e.layer_name for e in explanations]
    rising, falling = _trend_lines(payload)
    if not rising and not falling:
        return ""
    key = "".join(f"<li>{html.escape(str(n))}</li>" for n in layer_names)
    parts = [f'<div class="trends"><h4>{html.escape(name)}: concepts across layers</h4>']
    parts.append(trend_svg(layer_names, [*rising, *falling], scale))
    if rising:
        parts.append("<p>Rising with depth:</p>" + trend_legend(rising))
    if falling:
        parts.append("<p>Fading with depth:</p>" + trend_legend(falling, offset=len(rising)))
    parts.append(f'<details><summary>Layers</summary><ol class="key">{key}</ol></details></div>')
    return "".join(parts)


def _section_globals(
    session: Session, data_dir: Path, classes: list[str], generation: Generation | None
) -> str:
    parts = ['<section id="global"><h2>Global explanations</h2>']
    if generation is None:
        parts.append("<p>No rebuild has run yet: no global explanations.</p></section>")
        return "".join(parts)
    built = generation.finished_at or generation.started_at
    parts.append(f"<p>Generation {generation.id}, built {built:%Y-%m-%d %H:%M} UTC.</p>")
    rows = session.exec(
        select(GlobalExplanation)
        .where(GlobalExplanation.generation == generation.id)
        .order_by(GlobalExplanation.class_index, GlobalExplanation.depth)
    ).all()
    scale = score_scale(rows)
    by_class: dict[int, list[GlobalExplanation]] = defaultdict(list)
    for row in rows:
        by_class[row.class_index].append(row)
    ordered = sorted(by_class, key=lambda index: (_class_name(classes, index).casefold(), index))
    for class_index in ordered:
        explanations = by_class[class_index]
        name = _class_name(classes, class_index)
        parts.append(f'<article class="class"><h3>{html.escape(name)}</h3>')
        totals: Counter[str] = Counter()
        for explanation in explanations:
            for concept, score, _weight in _concept_rows(explanation.payload):
                totals[concept] += score
        verdicts = Counter(
            str((c.get("test") or {}).get("verdict", "not tested"))
            for explanation in explanations
            for c in explanation.payload.get("concepts", [])
        )
        if verdicts:
            said = ", ".join(f"{n} {html.escape(v)}" for v, n in sorted(verdicts.items()))
            parts.append(f'<p class="summary">Network test of its concepts: {said}.</p>')
        if totals:
            ranked = ", ".join(
                f"<b>{html.escape(c)}</b> ({s:.1f})" for c, s in totals.most_common(8)
            )
            parts.append(f'<p class="summary">Across layers (score summed): {ranked}</p>')
        parts.append(_class_trends(name, explanations, scale))
        cards = []
        for explanation in explanations:
            payload = explanation.payload
            rows_html = "".join(
                f"<tr><td>{html.escape(str(c.get('name', '?')))}</td>"
                f"<td>{score_bar(float(c.get('score', 0.0)), scale)}</td>"
                f"<td>{float(c.get('weight', c.get('mean_weight', 0.0))):.1f}%</td>"
                f'<td class="examples">{_examples(data_dir, c)}</td>'
                f"<td>{concept_test_cell(c.get('test'))}</td></tr>"
                for c in payload.get("concepts", [])
            )
            position = payload.get("layer_position")
            of = len(payload.get("layers") or [])
            where = f"layer {position + 1} of {of} · " if position is not None and of else ""
            cards.append(
                f'<section class="card"><h4>{html.escape(explanation.layer_name)} '
                f"<small>{where}{_plural(int(payload.get('images', 0)), 'image')}</small></h4>"
                + (
                    "<table><tr><th>concept</th><th>score</th><th>mean weight</th>"
                    f"<th>examples</th><th>network test</th></tr>{rows_html}</table>"
                    if rows_html
                    else "<p><i>no concepts yet</i></p>"
                )
                + "</section>"
            )
        parts.append(f'<div class="cards">{"".join(cards)}</div></article>')
    parts.append("</section>")
    return "".join(parts)


def _section_quality(quality: dict[str, Any]) -> str:
    """Agreement per class × layer, settled clusters and the spread of players' reliability."""
    agreement, reliability = quality["agreement"], quality["reliability"]
    rows = "".join(
        f"<tr><td>{html.escape(str(r['class_name'] or r['class_index']))}</td>"
        f"<td>{html.escape(r['layer_name'])}</td>"
        f"<td>{'–' if r['alpha_masi'] is None else format(r['alpha_masi'], '.2f')}</td>"
        f"<td>{r['settled']}/{r['clusters']}</td></tr>"
        for r in agreement["per_class_layer"]
    )
    bins = "".join(
        f"<tr><td>{b['low']:.1f}–{b['high']:.1f}</td><td>{b['players']}</td></tr>"
        for b in reliability["bins"]
    )
    method = html.escape(agreement["method"] or "Krippendorff's alpha, MASI distance")
    return (
        '<section id="quality"><h2>Agreement and reliability</h2>'
        f"<p>{html.escape(summary_line(quality))}</p>"
        f"<p><small>{method}; 1 = full agreement, 0 = chance.</small></p>"
        "<table><tr><th>class</th><th>layer</th><th>alpha</th><th>settled clusters</th></tr>"
        f"{rows}</table>"
        f"<p>Reliability ({html.escape(reliability['source'])}), players per trust range:</p>"
        f"<table><tr><th>trust</th><th>players</th></tr>{bins}</table></section>"
    )


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
        f"<li>{stats.answers} labels stored, {stats.distinct_labels} distinct, "
        f"{stats.flagged_answers} flagged (not counted for concepts)</li>"
        "</ul><table><tr><th>layer</th><th>plays</th><th>mean hint level</th><th>correct guesses</th></tr>"
        f"{layer_rows}</table></section>"
    )


STYLE = """
*{box-sizing:border-box}
body{font-family:system-ui,sans-serif;margin:0;padding:12px 2vw;color:#222;line-height:1.4}
h1{font-size:1.6em}h2{border-bottom:2px solid #ddd;padding-bottom:4px}
.head{display:flex;gap:16px;align-items:center;flex-wrap:wrap}.crop{border-radius:6px;max-width:100%}
.row{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0;width:172px;font-size:.8em}
figure img{width:168px;height:168px;object-fit:cover;border-radius:4px}
table{border-collapse:collapse;margin:6px 0;max-width:100%}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:middle}
article{margin-bottom:24px}small{color:#666;font-weight:normal}nav a{margin-right:12px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,420px),1fr));gap:12px}
.card{border:1px solid #ddd;border-radius:6px;padding:8px;overflow-x:auto}
.card h4{margin:0 0 4px}.example{width:48px;height:48px;object-fit:cover;margin-right:3px;border-radius:3px}
.bar{display:inline-block;width:60px;height:9px;background:#eee;vertical-align:middle}
.bar span{display:block;height:100%;background:#0072B2}
.trends{max-width:560px}.trend{width:100%;height:auto;display:block}
.legend{list-style:none;padding:0;margin:2px 0;display:flex;flex-wrap:wrap;gap:4px 16px}
.swatch{display:inline-block;width:14px;height:4px;margin-right:6px;vertical-align:middle}
.colourbar{display:flex;align-items:center;gap:6px;max-width:420px;margin-top:4px}
.gradient{flex:1;height:12px;border-radius:2px}
dt{font-weight:bold;margin-top:6px}dd{margin-left:1em}
"""


def default_report_path(data_dir: Path, now: datetime | None = None) -> Path:
    now = now or datetime.now(UTC)
    return data_dir / REPORTS_DIR / f"inv-report-{now:%Y%m%dT%H%M%S}Z.html"


def build_report(
    out: Path,
    *,
    title: str = "inv report",
    note: str = "",
    data_dir: Path,
    engine: Engine | None = None,
) -> Path:
    """Write the report of the database (default: the application's) to `out`; its path.

    `data_dir` holds the files the rows refer to (crops, maps, charts).
    """
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
        scale = score_scale(
            session.exec(
                select(GlobalExplanation).where(
                    GlobalExplanation.generation == (generation.id if generation else -1)
                )
            ).all()
        )
        body = reading_guide(scale) + _section_crowd(stats)
        body += _section_quality(crowd_quality(session))
        body += _section_globals(session, data_dir, classes, generation)
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
        + '<nav><a href="#guide">How to read this</a><a href="#crowd">Crowd</a>'
        '<a href="#quality">Agreement</a><a href="#global">Global explanations</a>'
        '<a href="#local">Local explanations</a></nav>'
        f"{body}</body></html>"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(document, encoding="utf-8")
    tmp.replace(out)
    return out
