"""Stage "embed": Sentence-BERT vectors of every cleaned phrase and of its content words.

Vectors are cached per model and phrase in the database (engine.labels.embed), so a phrase is
encoded once across rebuilds; grouping then finds them warm.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.rebuild.context import RebuildContext


@dataclass(frozen=True)
class EmbedInput:
    pipe: Any  # engine.labels.pipeline.LabelPipeline
    phrases: frozenset[str]


@dataclass(frozen=True)
class Embedded:
    phrases: int
    words: int


def embed(ctx: RebuildContext, given: EmbedInput) -> Embedded:
    phrases = sorted(given.phrases)
    is_stop = given.pipe.cleaner.is_stop
    words = sorted({w for p in phrases for w in p.split() if not is_stop(w)})
    given.pipe.embed(phrases + words)
    return Embedded(len(phrases), len(words))
