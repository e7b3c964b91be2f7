"""Stage "charts": the PNG charts of the rebuilt classes, drawn from their finished payloads.

It comes after the concept tests, whose verdicts the panels show. Only charts whose content
changed are drawn (engine.global_explanations.drawing names each file after its content); the
rest are reused. A class whose charts fail is left out like any failing class.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace

from engine.rebuild.context import Failures, RebuildContext, class_failed
from engine.rebuild.score import ClassResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DrawInput:
    results: tuple[ClassResult, ...]  # payloads with their concepts' verdicts


@dataclass(frozen=True)
class Drawn:
    results: tuple[ClassResult, ...]  # the same, their explanation rows naming their charts
    charts: Mapping[int, int]  # class → charts drawn for it
    failed: Failures


def draw(ctx: RebuildContext, given: DrawInput) -> Drawn:
    from engine.global_explanations.drawing import draw_charts, plan_charts, with_chart_files

    jobs = plan_charts([e for r in given.results for e in r.explanations])
    outcome = draw_charts(
        ctx.data_dir, jobs, progress=lambda f: ctx.progress("charts", 0.9 + 0.07 * f)
    )
    log.info(
        "rebuild: %d charts drawn (%s), %d unchanged",
        len(outcome.drawn),
        f"{outcome.processes} processes" if outcome.processes else "in process",
        len(outcome.reused),
    )
    failed = {
        class_index: class_failed(class_index, "drawing", exc)
        for class_index, exc in sorted(outcome.failures.items())
    }
    results = tuple(
        replace(r, explanations=with_chart_files(r.explanations, jobs)) for r in given.results
    )
    return Drawn(results, Counter(job.class_index for job in outcome.drawn), failed)
