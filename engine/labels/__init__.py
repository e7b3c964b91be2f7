"""Crowd labels → concepts: cleaning, Sentence-BERT grouping, label scores.

Importing this package is cheap (no spaCy, no torch): the heavy parts load on first use.

    from engine.labels import LabelPipeline
    pipe = LabelPipeline()
    concepts = pipe.group(pipe.clean(texts, class_name="dog"))
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.labels.agreement import agreement_bonuses
    from engine.labels.pipeline import Concept, LabelPipeline

__all__ = ["Concept", "LabelPipeline", "agreement_bonuses"]

_EXPORTS = {
    "Concept": "engine.labels.pipeline",
    "LabelPipeline": "engine.labels.pipeline",
    "agreement_bonuses": "engine.labels.agreement",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'engine.labels' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
