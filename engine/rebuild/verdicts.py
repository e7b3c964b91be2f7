"""Stage "tcav": the network's verdict on each rebuilt class's top concepts.

`engine.concept_tests.run_stage` tests them (TCAV) and adds each verdict to its concept in the
payloads, where the charts drawn next show it; its rows are written at the switch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engine.rebuild.context import RebuildContext
from engine.rebuild.score import ClassResult


@dataclass(frozen=True)
class VerdictInput:
    results: tuple[ClassResult, ...]
    generation: int


@dataclass(frozen=True)
class Verdicts:
    rows: Sequence[dict[str, Any]]  # concept_test rows
    skipped: str | None  # why the network could not be asked, when it was needed


def verdicts(ctx: RebuildContext, given: VerdictInput) -> Verdicts:
    from engine.concept_tests import run_stage

    stage = run_stage(
        ctx.engine,
        ctx.data_dir,
        [e for r in given.results for e in r.explanations],
        [m for r in given.results for m in r.merged],
        generation=given.generation,
        min_examples=ctx.labels.min_concept_examples,
        min_images=ctx.labels.min_tcav_images,
        weights=ctx.weights,
        progress=lambda f: ctx.progress("tcav", 0.85 + 0.05 * f),
    )
    return Verdicts(tuple(stage.rows), stage.skipped)
