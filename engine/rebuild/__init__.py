"""The rebuild: crowd answers → concepts → label scores → merged clusters → global explanations.

`rebuild()` is the one function behind `inv rebuild`, the bot's /rebuild and its scheduled job.

- **One at a time.** A `job_lock` row named "rebuild" (with an expiry that the running rebuild
  keeps pushing forward) is taken with an atomic insert, so across threads and processes one
  rebuild runs and every other call returns at once with `ran=False`.
- **Incremental.** Only classes with answers newer than the current generation, or that lost
  answers since (a participant deleted with /forget), are recomputed, and of their charts only
  those whose content changed are redrawn (a chart's file name carries its content's hash).
  The rows of every other class carry over to the new generation unchanged.
- **One class cannot stop the others.** A class whose cleaning, grouping, scores or charts fail
  is logged and left out: its previous rows are carried into the new generation, every other
  class publishes, the generation records the failure (class → exception class) and the next
  rebuild tries that class again. `RebuildReport.new_failures` lists failures the previous
  generation did not have, so researchers hear of each once.
- **Write new, then switch.** New concepts and chart files are written first (invisible to
  readers: concepts belong to a generation that is not current yet, and a chart with new
  content has a new name). Everything readers see switches in one transaction at the end:
  derived rows of the new generation, concept updates, reconciled agreement bonuses,
  participants' points and the current-generation flag. A crash at any point leaves the
  previous generation as it was.

The work is a row of stages, one module each, passing frozen dataclasses (see `pipeline`):
plan, load, clean, embed, group, score, verdicts (TCAV), draw, switch, tidy. The heavy work
(spaCy, Sentence-BERT, matplotlib) is plain CPU code, loaded on first use: callers on an event
loop run `rebuild` in a worker thread.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy.engine import Engine

from engine.labels.config import LabelConfig
from engine.rebuild.context import Progress, ProgressFn, RebuildContext, clear_pipelines
from engine.rebuild.pipeline import run
from engine.rebuild.report import RebuildReport
from storage.db import get_engine
from storage.locks import DatabaseLock

__all__ = [
    "LOCK_NAME",
    "LOCK_TTL",
    "ProgressFn",
    "RebuildLock",
    "RebuildReport",
    "clear_pipelines",
    "rebuild",
]

log = logging.getLogger(__name__)

LOCK_NAME = "rebuild"
LOCK_TTL = timedelta(minutes=15)

_process_lock = threading.Lock()


def RebuildLock(engine: Engine) -> DatabaseLock:
    """The one lock every rebuild, in any process, takes first."""
    return DatabaseLock(engine, LOCK_NAME, LOCK_TTL)


def rebuild(
    *,
    data_dir: Path,
    labels: LabelConfig = LabelConfig(),
    weights: str | None = None,
    full: bool = False,
    progress: ProgressFn | None = None,
    engine: Engine | None = None,
) -> RebuildReport:
    """Rebuild concepts and global explanations of the classes with new answers (all if `full`).

    `data_dir` holds the stored maps and receives the charts; `labels` chooses the label models
    and the thresholds; `weights` are the classifier's (WEIGHTS) for the concept tests, which
    load the images' own model; `engine` defaults to the application's database.

    Returns `ran=False` at once when another rebuild holds the lock. Errors are logged and
    reported in `error`; the previous generation then stays current.
    """
    started = time.monotonic()
    if not _process_lock.acquire(blocking=False):
        log.info("rebuild: another rebuild is running in this process")
        return RebuildReport(ran=False, full=full)
    try:
        engine = engine or get_engine()
        lock = RebuildLock(engine)
        if not lock.acquire():
            log.info("rebuild: another process holds the rebuild lock")
            return RebuildReport(ran=False, full=full)
        try:
            ctx = RebuildContext(
                engine=engine,
                lock=lock,
                data_dir=Path(data_dir),
                labels=labels,
                weights=weights,
                full=full,
                progress=Progress(lock, progress),
            )
            report = run(ctx)
        finally:
            try:
                lock.release()
            except Exception:  # the lock expires on its own; never hide the rebuild's outcome
                log.exception("rebuild: could not release the lock")
        report.seconds = time.monotonic() - started
        log.info("rebuild: %s", report.summary())
        return report
    finally:
        _process_lock.release()
