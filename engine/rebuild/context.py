"""What every stage of a rebuild shares: where it works, its settings, its progress and lock.

A stage is a plain function `stage(ctx, given) -> output`: `ctx` is this `RebuildContext`, `given`
a frozen dataclass holding what earlier stages produced, and the output a frozen dataclass too.
Nothing passes between stages any other way. A class that fails in a stage is named in that
stage's output (`failed`: class index → exception class) and left out of the later stages.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from engine.labels.config import LabelConfig
from storage.locks import DatabaseLock, LockLost

log = logging.getLogger(__name__)

ProgressFn = Callable[[str, float], None]
# class index → name of the exception class that left it out of this generation
Failures = Mapping[int, str]

_pipelines: dict[tuple[str, str, str], Any] = {}
_pipelines_lock = threading.Lock()


class Progress:
    """Reports stage and fraction to the caller, times each stage and keeps the lock alive."""

    def __init__(self, lock: DatabaseLock, report: ProgressFn | None) -> None:
        self._lock = lock
        self._report = report
        self._stage: str | None = None
        self._since = time.monotonic()
        self._timings: dict[str, float] = {}

    def __call__(self, stage: str, fraction: float) -> None:
        now = time.monotonic()
        if stage != self._stage:
            if self._stage is not None:
                elapsed = now - self._since
                self._timings[self._stage] = self._timings.get(self._stage, 0.0) + elapsed
            self._stage, self._since = stage, now
        self._lock.refresh()
        if self._report is not None:
            self._report(stage, min(max(fraction, 0.0), 1.0))

    def timings(self) -> dict[str, float]:
        """Seconds per finished stage (a stage ends when the next one starts)."""
        return {k: round(v, 3) for k, v in self._timings.items()}


@dataclass(frozen=True)
class RebuildContext:
    engine: Engine
    lock: DatabaseLock
    data_dir: Path
    labels: LabelConfig
    weights: str | None  # the classifier's weights, for the concept tests
    full: bool
    progress: Progress


def class_failed(class_index: int, stage: str, exc: BaseException) -> str:
    """Log that one class is left out of this generation (its previous rows are carried
    instead); returns the exception's class name. A lost lock is no class's failure: it stops
    the rebuild."""
    if isinstance(exc, LockLost):
        raise exc
    log.error(
        "rebuild: class %s failed while %s (%s); its previous results stay published",
        class_index,
        stage,
        type(exc).__name__,
        exc_info=exc,
    )
    return type(exc).__name__


def label_pipeline(engine: Engine, labels: LabelConfig) -> Any:
    """One LabelPipeline per database and models in this process, so vectors stay warm."""
    from engine.labels.pipeline import LabelPipeline

    key = (
        engine.url.render_as_string(hide_password=True),
        labels.spacy_model,
        labels.sbert_model,
    )
    with _pipelines_lock:
        pipe = _pipelines.get(key)
        if pipe is None:
            pipe = _pipelines[key] = LabelPipeline(
                labels.spacy_model, labels.sbert_model, cache=engine
            )
        return pipe


def clear_pipelines() -> None:
    """Forget the warm pipelines (as a fresh process would start)."""
    with _pipelines_lock:
        _pipelines.clear()
