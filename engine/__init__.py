"""inv's engine: INV local explanations of CNN classifiers, precompute, and challenge rendering.

    from engine import Explainer, ExplainConfig
    explainer = Explainer(model, layers=None, config=ExplainConfig())
    results = explainer.explain(images)          # list of ImageExplanation

Importing `engine` (or `engine.render`) does not import torch: the names below are resolved on
first use (PEP 562), so the bot can render challenges without loading the network stack.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Explainer": "engine.explainer",
    "PassResult": "engine.explainer",
    "ExplainConfig": "engine.config",
    "ImageExplanation": "engine.results",
    "LayerExplanation": "engine.results",
    "ClusterExplanation": "engine.results",
    "LoadedModel": "engine.classifiers",
    "load_model": "engine.classifiers",
    "default_layers": "engine.layers",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
