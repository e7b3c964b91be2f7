"""The rebuild's stages in order, each handing its output to the next, and the report.

    plan → load → clean → embed → group → score → tcav → charts → switch → tidy

Progress stages (and `RebuildReport.timings` keys): prepare, load, clean, embed, group, score,
tcav, charts, switch. The failures of single classes accumulate from stage to stage; any other
error fails the whole rebuild, marks its generation failed and leaves the previous one current.
"""

from __future__ import annotations

import logging

from engine.rebuild.clean import CleanInput, clean
from engine.rebuild.context import RebuildContext, label_pipeline
from engine.rebuild.draw import DrawInput, draw
from engine.rebuild.embed import EmbedInput, embed
from engine.rebuild.group import GroupInput, group
from engine.rebuild.load import LoadInput, load
from engine.rebuild.plan import Plan, plan, start_generation
from engine.rebuild.report import RebuildReport
from engine.rebuild.score import ScoreInput, score
from engine.rebuild.switch import SwitchInput, switch
from engine.rebuild.tidy import tidy
from engine.rebuild.verdicts import VerdictInput, verdicts
from storage import generations
from storage.db import session_scope

log = logging.getLogger(__name__)


def run(ctx: RebuildContext) -> RebuildReport:
    """One rebuild under the lock the caller holds."""
    report = RebuildReport(ran=True, full=ctx.full)
    generation: int | None = None
    try:
        ctx.progress("prepare", 0.0)
        planned = plan(ctx)
        if not planned.classes:
            report.generation = planned.current_id
            ctx.progress("done", 1.0)
            return report
        generation = start_generation(ctx, planned)
        return _build(ctx, planned, generation, report)
    except Exception as exc:
        log.exception("rebuild failed; the previous generation stays current")
        report.error = f"{type(exc).__name__}: {exc}"
        _mark_failed(ctx, generation, report.error)
        report.generation = _current_id(ctx)
        return report
    except BaseException:
        _mark_failed(ctx, generation, "interrupted")
        raise


def _build(
    ctx: RebuildContext, planned: Plan, generation: int, report: RebuildReport
) -> RebuildReport:
    pipe = label_pipeline(ctx.engine, ctx.labels)
    embedded_before = pipe.embedder.embedded
    encode_before = pipe.embedder.encode_seconds
    ctx.progress("load", 0.02)
    loaded = load(ctx, LoadInput(planned.classes, planned.max_id))
    pipe.cleaner  # noqa: B018 - load spaCy here, so the stage timings say what took long
    ctx.progress("clean", 0.05)
    cleaned = clean(ctx, CleanInput(pipe, loaded.rows, loaded.names))
    failed = dict(cleaned.failed)
    ctx.progress("embed", 0.15)
    embed(ctx, EmbedInput(pipe, frozenset(cleaned.phrase_of.values())))
    ctx.progress("group", 0.4)
    grouped = group(
        ctx,
        GroupInput(
            pipe,
            cleaned.by_class,
            cleaned.phrase_of,
            planned.current_id,
            planned.classes,
            generation,
        ),
    )
    failed.update(grouped.failed)
    ctx.progress("score", 0.5)
    scored = score(
        ctx,
        ScoreInput(
            cleaned.by_class,
            cleaned.phrase_of,
            grouped.concepts,
            planned.classes,
            loaded.names,
            generation,
            frozenset(failed),
        ),
    )
    failed.update(scored.failed)
    results = tuple(r for r in scored.results if r.class_index not in failed)
    ctx.progress("tcav", 0.85)
    tested = verdicts(ctx, VerdictInput(results, generation))
    # The charts show the tests' verdicts: drawn after them.
    ctx.progress("charts", 0.9)
    drawn = draw(ctx, DrawInput(results))
    failed.update(drawn.failed)
    results = tuple(r for r in drawn.results if r.class_index not in failed)
    published = tuple(c for c in planned.classes if c not in failed)
    tests = tuple(row for row in tested.rows if row["class_index"] not in failed)
    ctx.progress("switch", 0.97)
    switch(
        ctx,
        SwitchInput(
            generation=generation,
            current_id=planned.current_id,
            max_id=planned.max_id,
            published=published,
            results=results,
            cleaned=cleaned.updates,
            concept_updates=[
                row
                for class_index, concepts in grouped.concepts.items()
                if class_index not in failed
                for row in concepts.updates
            ],
            concept_tests=tests,
            abilities=loaded.abilities,
            failed=dict(sorted(failed.items())),
        ),
    )
    tidy(ctx, generation)
    ctx.progress("done", 1.0)
    report.generation = generation
    report.classes_rebuilt = list(published)
    report.failed = dict(sorted(failed.items()))
    report.new_failures = {c: e for c, e in report.failed.items() if c not in planned.failed_before}
    report.answers = sum(len(r.answer_concepts) for r in results)
    report.concepts = sum(len(r.concepts) for r in results)
    report.charts = sum(drawn.charts.get(r.class_index, 0) for r in results)
    report.embedded = pipe.embedder.embedded - embedded_before
    report.embed_seconds = pipe.embedder.encode_seconds - encode_before
    report.concept_tests = len(tests)
    report.concept_tests_skipped = tested.skipped
    report.timings = ctx.progress.timings()
    return report


def _mark_failed(ctx: RebuildContext, generation: int | None, error: str) -> None:
    if generation is None:
        return
    try:
        with session_scope(ctx.engine) as session:
            generations.mark_failed(session, generation, error)
    except Exception:
        log.exception("rebuild: could not mark generation %s failed", generation)


def _current_id(ctx: RebuildContext) -> int | None:
    try:
        with ctx.engine.connect() as conn:
            return generations.current_id(conn)
    except Exception:
        return None
