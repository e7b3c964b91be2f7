"""The rebuild: crowd answers → concepts → label scores → merged clusters → global explanations.

`rebuild()` is the one function behind `inv rebuild`, the bot's /rebuild and its scheduled job.

- **One at a time.** A `job_lock` row named "rebuild" (with an expiry that the running rebuild keeps
  pushing forward) is taken with an atomic insert, so across threads and processes one rebuild
  runs and every other call returns at once with `ran=False`.
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
  participants' points and the current-generation flag. A crash at any point leaves the previous generation as it was.

The heavy work (spaCy, Sentence-BERT, matplotlib) is plain CPU code: callers on an event loop run
this function in a worker thread.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Integer, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection, Engine

from engine.global_explanations.document import (
    JSON_DOCUMENT,
    write_document,
)
from engine.labels.config import LabelConfig
from storage import generations, points
from storage.db import get_engine, session_scope
from storage.locks import DatabaseLock, LockLost
from storage.models import utcnow
from storage.tables import (
    T_AC,
    T_ANSWER,
    T_CLUSTER,
    T_CONCEPT,
    T_CT,
    T_GE,
    T_IMAGE,
    T_MC,
    T_MODEL,
    T_PART,
    T_PLAY,
    T_STATUS,
)

log = logging.getLogger(__name__)

LOCK_NAME = "rebuild"
LOCK_TTL = timedelta(minutes=15)
_CHUNK = 500  # ids per IN (...) list
# Threads that write merged maps and overlays (PIL encodes without the GIL); the charts are drawn
# on processes (engine.global_explanations.drawing).
DRAW_THREADS = max(1, min(4, os.cpu_count() or 1))
_INSERT_BATCH = 5000

ProgressFn = Callable[[str, float], None]

_process_lock = threading.Lock()
_pipelines: dict[tuple[str, str, str], Any] = {}
_pipelines_lock = threading.Lock()


@dataclass
class RebuildReport:
    ran: bool  # False: another rebuild held the lock
    generation: int | None = None  # the current generation afterwards
    classes_rebuilt: list[int] = field(default_factory=list)
    answers: int = 0  # answers of the rebuilt classes that map to a concept
    concepts: int = 0  # concepts of the rebuilt classes
    embedded: int = 0  # phrases run through Sentence-BERT (new to the cache)
    charts: int = 0  # PNG files drawn
    seconds: float = 0.0
    full: bool = False
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    embed_seconds: float = 0.0  # Sentence-BERT encoding time of the new phrases
    # class index → exception class of the classes that failed (their previous rows carried)
    failed: dict[int, str] = field(default_factory=dict)
    new_failures: dict[int, str] = field(default_factory=dict)  # not failing in the previous one
    concept_tests: int = 0  # concepts marked by the TCAV stage
    concept_tests_skipped: str | None = None  # why the stage could not ask the network

    @property
    def ok(self) -> bool:
        return self.ran and self.error is None

    def summary(self) -> str:
        if not self.ran:
            return "Another rebuild is running; nothing done."
        if self.error:
            return f"Rebuild failed after {self.seconds:.1f} s: {self.error}"
        failed = ""
        if self.failed:
            listed = ", ".join(f"{c} ({e})" for c, e in sorted(self.failed.items())[:12])
            failed = f" Failed, previous results kept: {listed}."
        if not self.classes_rebuilt:
            gen = f"generation {self.generation}" if self.generation else "no generation yet"
            return f"Nothing new to rebuild ({gen}, {self.seconds:.1f} s).{failed}"
        classes = ", ".join(str(c) for c in self.classes_rebuilt[:12])
        if len(self.classes_rebuilt) > 12:
            classes += ", …"
        return (
            f"Generation {self.generation}: {len(self.classes_rebuilt)} classes rebuilt ({classes}); "
            f"{self.answers:,} answers, {self.concepts:,} concepts, {self.embedded:,} new phrases "
            f"embedded, {self.charts:,} charts, {self.seconds:.1f} s.{failed}"
        )


def RebuildLock(engine: Engine) -> DatabaseLock:
    """The one lock every rebuild, in any process, takes first."""
    return DatabaseLock(engine, LOCK_NAME, LOCK_TTL)


def _pipeline(engine: Engine, labels: LabelConfig) -> Any:
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
            report = _Rebuild(engine, lock, full, progress, data_dir, labels, weights).run()
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


# ---------------------------------------------------------------------------------------------
# The work
# ---------------------------------------------------------------------------------------------


@dataclass
class _AnswerRow:
    id: int
    label: str
    cleaned: str | None
    hint_level: int
    play_id: int
    participant_id: int
    correct: bool
    resigned: bool
    guessed_class: int | None
    trust: float
    cluster_id: int
    class_index: int
    model_id: int


@dataclass
class _ClassResult:
    class_index: int
    concepts: list[dict[str, Any]]  # {"id", "name", "phrases", "new"}
    answer_concepts: list[dict[str, Any]]
    merged: list[dict[str, Any]]
    explanations: list[dict[str, Any]]
    charts: int  # PNG files drawn for it
    statuses: list[dict[str, Any]] = field(default_factory=list)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _add_agreement(
    explanations: Sequence[Any],
    votes: Sequence[Any],
    statuses: Sequence[dict[str, Any]],
    clusters: Sequence[tuple[Any, ...]],
) -> None:
    """Each layer's payload gets its agreement figures: Krippendorff's alpha (MASI) over its
    clusters and how many of its labelled clusters have a settled top concept."""
    from engine.labels.reliability import ALPHA_METHOD, answer_sets, masi_alpha

    layer_of = {row[0]: row[2] for row in clusters}
    sets = answer_sets(votes)
    settled = {s["cluster_id"] for s in statuses if s["settled"]}
    for explanation in explanations:
        layer = explanation.layer_name
        mine = {c: people for c, people in sets.items() if layer_of.get(c) == layer}
        explanation.payload["agreement"] = {
            "alpha_masi": masi_alpha(mine),
            "method": ALPHA_METHOD,
            "clusters": len(mine),
            "settled": len(settled & set(mine)),
        }


class _Rebuild:
    def __init__(
        self,
        engine: Engine,
        lock: DatabaseLock,
        full: bool,
        progress: ProgressFn | None,
        data_dir: Path,
        labels: LabelConfig,
        weights: str | None,
    ):
        self.engine = engine
        self.lock = lock
        self.full = full
        self._progress = progress
        self.labels = labels
        self.weights = weights
        self.data_dir = Path(data_dir)
        self.generation: int | None = None
        self.timings: dict[str, float] = {}
        self._stage: str | None = None
        self._since = time.monotonic()
        self.failed: dict[int, str] = {}  # class index → exception class
        self._concept_test_rows: list[dict[str, Any]] = []
        self._abilities: Any = None

    def fail(self, class_index: int, stage: str, exc: BaseException) -> None:
        """Leave one class out of this generation; its previous rows are carried instead."""
        if isinstance(exc, LockLost):
            raise exc
        log.error(
            "rebuild: class %s failed while %s (%s); its previous results stay published",
            class_index,
            stage,
            type(exc).__name__,
            exc_info=exc,
        )
        self.failed.setdefault(class_index, type(exc).__name__)

    def progress(self, stage: str, fraction: float) -> None:
        now = time.monotonic()
        if stage != self._stage:
            if self._stage is not None:
                self.timings[self._stage] = self.timings.get(self._stage, 0.0) + now - self._since
            self._stage, self._since = stage, now
        self.lock.refresh()
        if self._progress is not None:
            self._progress(stage, min(max(fraction, 0.0), 1.0))

    # -- entry ------------------------------------------------------------------------------

    def run(self) -> RebuildReport:
        report = RebuildReport(ran=True, full=self.full)
        try:
            return self._run(report)
        except Exception as exc:
            log.exception("rebuild failed; the previous generation stays current")
            report.error = f"{type(exc).__name__}: {exc}"
            self._mark_failed(report.error)
            report.generation = self._current_id()
            return report
        except BaseException:
            self._mark_failed("interrupted")
            raise

    def _mark_failed(self, error: str) -> None:
        if self.generation is None:
            return
        try:
            with session_scope(self.engine) as session:
                generations.mark_failed(session, self.generation, error)
        except Exception:
            log.exception("rebuild: could not mark generation %s failed", self.generation)

    def _current_id(self) -> int | None:
        try:
            with self.engine.connect() as conn:
                return generations.current_id(conn)
        except Exception:
            return None

    def _run(self, report: RebuildReport) -> RebuildReport:
        self.progress("prepare", 0.0)
        self._housekeeping()
        with self.engine.connect() as conn:
            current = generations.current(conn)
            max_id = conn.execute(select(func.max(T_ANSWER.c.id))).scalar() or 0
            classes = self._classes_to_rebuild(conn, current, max_id)
        current_id = current[0] if current else None
        failed_before = {int(c) for c in ((current[2] if current else None) or {})}
        if not classes:
            report.generation = current_id
            self.progress("done", 1.0)
            return report
        with session_scope(self.engine) as session:
            self.generation = generations.start(session, classes, max_id)
        log.info(
            "rebuild: generation %s for %d classes (%s)",
            self.generation,
            len(classes),
            "full" if self.full else "incremental",
        )
        pipe = _pipeline(self.engine, self.labels)
        embedded_before = pipe.embedder.embedded
        encode_before = pipe.embedder.encode_seconds
        self.progress("load", 0.02)
        self._abilities = self._fit_abilities() if self.labels.reliability == "ability" else None
        rows, names = self._load_answers(classes, max_id)
        if self._abilities is not None:
            for row in rows:
                row.trust = self._abilities.trust.get(row.participant_id, row.trust)
        pipe.cleaner  # noqa: B018 - load spaCy here, so the stage timings say what took long
        self.progress("clean", 0.05)
        cleaned_updates = self._clean(pipe, rows, names)
        self.progress("embed", 0.15)
        by_class: dict[int, list[_AnswerRow]] = defaultdict(list)
        for row in rows:
            if row.cleaned and row.class_index not in self.failed:
                by_class[row.class_index].append(row)
        all_phrases = sorted({r.cleaned for r in rows if r.cleaned})
        words = sorted({w for p in all_phrases for w in p.split() if not pipe.cleaner.is_stop(w)})
        pipe.embed(all_phrases + words)
        self.progress("group", 0.4)
        concepts = self._group(pipe, by_class, current_id, classes)
        self.progress("score", 0.5)
        with ThreadPoolExecutor(DRAW_THREADS, thread_name_prefix="inv-charts") as executor:
            results = self._explain(by_class, concepts, classes, names, executor)
        results = [r for r in results if r.class_index not in self.failed]
        self.progress("tcav", 0.85)
        self._test_concepts(results, report)
        # The charts show the tests' verdicts: drawn after them.
        self.progress("charts", 0.9)
        self._draw(results)
        published = [c for c in classes if c not in self.failed]
        results = [r for r in results if r.class_index not in self.failed]
        self._concept_test_rows = [
            row for row in self._concept_test_rows if row["class_index"] not in self.failed
        ]
        report.concept_tests = len(self._concept_test_rows)
        self.progress("switch", 0.97)
        self._switch(current_id, published, results, cleaned_updates, max_id)
        self._after_switch()
        self.progress("done", 1.0)
        report.generation = self.generation
        report.classes_rebuilt = published
        report.failed = dict(sorted(self.failed.items()))
        report.new_failures = {c: e for c, e in report.failed.items() if c not in failed_before}
        report.answers = sum(len(r.answer_concepts) for r in results)
        report.concepts = sum(len(r.concepts) for r in results)
        report.charts = sum(r.charts for r in results)
        report.embedded = pipe.embedder.embedded - embedded_before
        report.embed_seconds = pipe.embedder.encode_seconds - encode_before
        report.timings = {k: round(v, 3) for k, v in self.timings.items()}
        return report

    # -- steps ------------------------------------------------------------------------------

    def _test_concepts(self, results: list[_ClassResult], report: RebuildReport) -> None:
        """TCAV marks on the rebuilt classes' top concepts (see `engine.concept_tests`)."""
        from engine.concept_tests import run_stage

        stage = run_stage(
            self.engine,
            self.data_dir,
            [e for r in results for e in r.explanations],
            [m for r in results for m in r.merged],
            generation=self.generation or 0,
            min_examples=self.labels.min_concept_examples,
            weights=self.weights,
            progress=lambda f: self.progress("tcav", 0.85 + 0.05 * f),
        )
        self._concept_test_rows = stage.rows
        report.concept_tests_skipped = stage.skipped

    def _draw(self, results: list[_ClassResult]) -> None:
        """The PNG charts of the rebuilt classes, from their finished payloads: only those whose
        content changed are drawn. A class whose charts fail is left out like any failing one."""
        from engine.global_explanations.drawing import draw_charts, plan_charts

        jobs = plan_charts([e for r in results for e in r.explanations])
        outcome = draw_charts(
            self.data_dir, jobs, progress=lambda f: self.progress("charts", 0.9 + 0.07 * f)
        )
        log.info(
            "rebuild: %d charts drawn (%s), %d unchanged",
            len(outcome.drawn),
            f"{outcome.processes} processes" if outcome.processes else "in process",
            len(outcome.reused),
        )
        for class_index, exc in sorted(outcome.failures.items()):
            self.fail(class_index, "drawing", exc)
        per_class = Counter(job.class_index for job in outcome.drawn)
        for result in results:
            result.charts = per_class[result.class_index]

    def _housekeeping(self) -> None:
        """Generations left 'building' by a crashed process failed; drop their new concepts."""
        with session_scope(self.engine) as session:
            generations.fail_interrupted(session)

    def _classes_to_rebuild(self, conn: Connection, current: Any, max_id: int) -> list[int]:
        joined = T_ANSWER.join(T_PLAY, T_ANSWER.c.play_id == T_PLAY.c.id).join(
            T_CLUSTER, T_PLAY.c.cluster_id == T_CLUSTER.c.id
        )
        with_answers = select(T_CLUSTER.c.class_index).select_from(joined).distinct()
        with_answers = with_answers.where(T_ANSWER.c.accepted, T_ANSWER.c.id <= max_id)
        if current is None or self.full:
            classes = set(conn.execute(with_answers).scalars())
            if current is not None:
                classes |= set(
                    conn.execute(
                        select(T_GE.c.class_index).where(T_GE.c.generation == current[0]).distinct()
                    ).scalars()
                )
            return sorted(classes)
        current_id, seen, failed = current
        classes = set(conn.execute(with_answers.where(T_ANSWER.c.id > seen)).scalars())
        classes |= {int(c) for c in (failed or {})}  # tried again on every rebuild
        # Answers deleted since (a participant left) cascade away their concept links: a class
        # with fewer links than its explanation counted has lost answers.
        links = dict(
            conn.execute(
                select(T_CONCEPT.c.class_index, func.count())
                .select_from(T_AC.join(T_CONCEPT, T_AC.c.concept_id == T_CONCEPT.c.id))
                .where(T_AC.c.generation == current_id)
                .group_by(T_CONCEPT.c.class_index)
            ).all()
        )
        counted: dict[int, int] = {}
        for class_index, payload in conn.execute(
            select(T_GE.c.class_index, T_GE.c.payload).where(T_GE.c.generation == current_id)
        ):
            counted[class_index] = int((payload or {}).get("class_answers", 0))
        classes |= {c for c, n in counted.items() if links.get(c, 0) < n}
        return sorted(classes)

    def _fit_abilities(self) -> Any:
        """Every player's ability from all their graded plays (guesses and give-ups), warm-started
        from the abilities the last rebuild stored; written at the switch."""
        from engine.labels.ability import PlayCount, fit_abilities

        p, c = T_PLAY, T_CLUSTER
        graded = p.c.outcome.in_(("win", "lose", "resign"))
        right = func.sum(func.coalesce(p.c.correct, False).cast(Integer))
        with self.engine.connect() as conn:
            counts = [
                PlayCount(pid, (int(depth), int(level or 0)), int(n), int(k or 0))
                for pid, depth, level, n, k in conn.execute(
                    select(p.c.participant_id, c.c.depth, p.c.hint_level, func.count(), right)
                    .select_from(p.join(c, p.c.cluster_id == c.c.id))
                    .where(graded)
                    .group_by(p.c.participant_id, c.c.depth, p.c.hint_level)
                )
            ]
            start = {
                pid: float(ability)
                for pid, ability in conn.execute(
                    select(T_PART.c.id, T_PART.c.ability).where(T_PART.c.ability.is_not(None))
                )
            }
        return fit_abilities(counts, start)

    def _load_answers(
        self, classes: list[int], max_id: int
    ) -> tuple[list[_AnswerRow], dict[int, list[str]]]:
        a, p, part, c, i = T_ANSWER, T_PLAY, T_PART, T_CLUSTER, T_IMAGE
        statement = (
            select(
                a.c.id,
                a.c.label,
                a.c.cleaned,
                a.c.hint_level,
                p.c.id,
                p.c.participant_id,
                p.c.correct,
                p.c.outcome,
                p.c.guessed_class,
                part.c.trust,
                c.c.id,
                c.c.class_index,
                i.c.model_id,
            )
            .select_from(
                a.join(p, a.c.play_id == p.c.id)
                .join(part, p.c.participant_id == part.c.id)
                .join(c, p.c.cluster_id == c.c.id)
                .join(i, c.c.image_id == i.c.id)
            )
            .where(a.c.accepted, a.c.id <= max_id, c.c.class_index.in_(classes))
            .order_by(a.c.id)
        )
        with self.engine.connect() as conn:
            rows = [
                _AnswerRow(
                    r[0],
                    r[1] or "",
                    r[2],
                    int(r[3] or 0),
                    r[4],
                    r[5],
                    bool(r[6]),
                    r[7] == "resign",
                    r[8],
                    float(r[9]),
                    r[10],
                    r[11],
                    r[12],
                )
                for r in conn.execute(statement)
            ]
            names = {
                mid: list(cls or [])
                for mid, cls in conn.execute(select(T_MODEL.c.id, T_MODEL.c.classes))
            }
        return rows, names

    def _clean(
        self, pipe: Any, rows: list[_AnswerRow], names: dict[int, list[str]]
    ) -> dict[int, str]:
        """Clean answers not cleaned before (all of them on a full rebuild); returns changes."""

        def name(model_id: int, index: int | None) -> str | None:
            classes = names.get(model_id, [])
            return classes[index] if index is not None and 0 <= index < len(classes) else None

        todo_by_class: dict[int, list[_AnswerRow]] = defaultdict(list)
        for r in rows:
            if self.full or r.cleaned is None:
                todo_by_class[r.class_index].append(r)
        updates: dict[int, str] = {}
        for class_index, todo in sorted(todo_by_class.items()):
            per_text = [
                tuple(
                    n
                    for n in (name(r.model_id, r.class_index), name(r.model_id, r.guessed_class))
                    if n
                )
                for r in todo
            ]
            try:
                cleaned = pipe.clean_each([r.label for r in todo], per_text)
            except Exception as exc:
                self.fail(class_index, "cleaning", exc)
                continue
            for row, text in zip(todo, cleaned, strict=True):
                if text != row.cleaned:
                    updates[row.id] = text
                row.cleaned = text
        return updates

    def _group(
        self,
        pipe: Any,
        by_class: dict[int, list[_AnswerRow]],
        current_id: int | None,
        classes: list[int],
    ) -> dict[int, dict[str, int]]:
        """Concepts per class (phrase → concept id); new concepts are inserted now, invisible
        until the switch, and matched ones keep their ids (and names when still fitting)."""
        from engine.labels.identity import KnownConcept, match_concepts, stable_names

        previous: dict[int, list[KnownConcept]] = defaultdict(list)
        if current_id is not None:
            with self.engine.connect() as conn:
                for cid, cls, name, phrases in conn.execute(
                    select(
                        T_CONCEPT.c.id,
                        T_CONCEPT.c.class_index,
                        T_CONCEPT.c.name,
                        T_CONCEPT.c.phrases,
                    )
                    .where(
                        T_CONCEPT.c.last_generation == current_id,
                        T_CONCEPT.c.class_index.in_(classes),
                    )
                    .order_by(T_CONCEPT.c.id)
                ):
                    previous[cls].append(KnownConcept(cid, name, frozenset(phrases or [])))
        self._concept_updates: dict[int, list[dict[str, Any]]] = {}
        self._concept_meta: dict[int, list[dict[str, Any]]] = {}
        phrase_concept: dict[int, dict[str, int]] = {}
        new_rows: list[tuple[int, int, dict[str, Any]]] = []  # (class, group index, row)
        pending: dict[int, tuple[list[Any], list[str], dict[int, KnownConcept]]] = {}
        for n, class_index in enumerate(sorted(by_class)):
            counts = Counter(r.cleaned for r in by_class[class_index])
            phrases = sorted(counts)
            try:
                groups = pipe.group(phrases, [counts[p] for p in phrases])
                sets = [frozenset(g.phrases) for g in groups]
                matched = match_concepts(sets, previous.get(class_index, []))
                tokens = [{w for p in g.phrases for w in p.split()} for g in groups]
                names = stable_names([g.name for g in groups], tokens, matched)
            except Exception as exc:
                self.fail(class_index, "grouping", exc)
                continue
            pending[class_index] = (groups, names, matched)
            for gi, group in enumerate(groups):
                if gi not in matched:
                    new_rows.append(
                        (
                            class_index,
                            gi,
                            {
                                "class_index": class_index,
                                "name": names[gi][:200],
                                "phrases": sorted(group.phrases),
                                "first_generation": self.generation,
                                "last_generation": self.generation,
                                "created_at": utcnow(),
                            },
                        )
                    )
            self.progress("group", 0.4 + 0.1 * (n + 1) / max(len(by_class), 1))
        new_ids: dict[tuple[int, int], int] = {}
        with session_scope(self.engine) as session:
            for class_index, gi, row in new_rows:
                new_ids[(class_index, gi)] = session.execute(
                    insert(T_CONCEPT).values(**row)
                ).inserted_primary_key[0]
        for class_index, (groups, names, matched) in pending.items():
            mapping: dict[str, int] = {}
            meta = []
            for gi, group in enumerate(groups):
                if gi in matched:
                    cid = matched[gi].id
                    self._concept_updates.setdefault(class_index, []).append(
                        {
                            "b_id": cid,
                            "name": names[gi][:200],
                            "phrases": sorted(group.phrases),
                            "last_generation": self.generation,
                        }
                    )
                else:
                    cid = new_ids[(class_index, gi)]
                meta.append(
                    {
                        "id": cid,
                        "name": names[gi],
                        "phrases": group.phrases,
                        "new": gi not in matched,
                    }
                )
                for phrase in group.phrases:
                    mapping[phrase] = cid
            phrase_concept[class_index] = mapping
            self._concept_meta[class_index] = meta
        return phrase_concept

    def _explain(
        self,
        by_class: dict[int, list[_AnswerRow]],
        phrase_concept: dict[int, dict[str, int]],
        classes: list[int],
        names: dict[int, list[str]],
        executor: Executor,
    ) -> list[_ClassResult]:
        from engine.global_explanations.build import ClassContext, cluster_infos, explain_class
        from engine.labels.aggregation import SupportRules, aggregate, copy_sources, first_votes
        from engine.labels.agreement import LabelVote, agreement_bonuses
        from engine.labels.scores import Vote, merge_clusters

        c = T_CLUSTER
        with self.engine.connect() as conn:
            clusters_by_class: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
            for row in conn.execute(
                select(
                    c.c.id,
                    c.c.image_id,
                    c.c.layer_name,
                    c.c.depth,
                    c.c.weight,
                    c.c.n_maps,
                    c.c.map_file,
                    c.c.class_index,
                ).where(c.c.class_index.in_(list(by_class)))
            ):
                clusters_by_class[row[7]].append(tuple(row[:7]))
            crops = dict(
                conn.execute(
                    select(T_IMAGE.c.id, T_IMAGE.c.crop_file)
                    .select_from(T_IMAGE.join(c, c.c.image_id == T_IMAGE.c.id))
                    .where(c.c.class_index.in_(list(by_class)))
                    .distinct()
                ).all()
            )
        # Copy-paste pairs show across classes: judged on every vote of this rebuild at once.
        sources = copy_sources(
            first_votes(
                Vote(r.id, r.play_id, r.participant_id, r.cluster_id, mapping_id, 1.0, 0, False)
                for class_index, class_rows in by_class.items()
                if class_index not in self.failed
                for r in class_rows
                for mapping_id in (phrase_concept.get(class_index, {}).get(r.cleaned),)
                if mapping_id is not None
            )
        )
        results: list[_ClassResult] = []
        for n, class_index in enumerate(classes):
            rows = by_class.get(class_index, [])
            if not rows:
                results.append(_ClassResult(class_index, [], [], [], [], 0))
                continue
            if class_index in self.failed:
                continue
            try:
                mapping = phrase_concept[class_index]
                meta = self._concept_meta[class_index]
                concept_names = {m["id"]: m["name"] for m in meta}
                votes = [
                    Vote(
                        r.id,
                        r.play_id,
                        r.participant_id,
                        r.cluster_id,
                        mapping[r.cleaned],
                        r.trust,
                        r.hint_level,
                        r.correct,
                        r.resigned,
                    )
                    for r in rows
                ]
                bonuses = agreement_bonuses(
                    LabelVote(v.answer_id, v.play_id, v.participant_id, v.cluster_id, v.concept)
                    for v in votes
                )
                rules = SupportRules(
                    min_agreement=self.labels.min_agreement,
                    min_support=self.labels.min_support,
                    min_clusters=self.labels.min_clusters,
                )
                support = aggregate(votes, rules, sources=sources)
                scores = {cid: s.scores for cid, s in support.items() if s.scores}
                statuses = [
                    {
                        "cluster_id": cid,
                        "generation": self.generation,
                        "settled": s.top_share > 0 and s.margin >= self.labels.settle_margin,
                        "top_share": round(s.top_share, 6),
                        "margin": round(s.margin, 6),
                        "labellers": s.labellers,
                    }
                    for cid, s in sorted(support.items())
                ]
                infos = cluster_infos(clusters_by_class[class_index])
                tie = lambda cid, names=concept_names: (names.get(cid, ""), cid)  # noqa: E731
                merged = merge_clusters((infos[cid] for cid in scores if cid in infos), scores, tie)
                model_id = rows[0].model_id
                model_classes = names.get(model_id, [])
                class_name = (
                    model_classes[class_index]
                    if 0 <= class_index < len(model_classes)
                    else str(class_index)
                )
                layers = sorted({(info.depth, info.layer_name) for info in infos.values()})
                ctx = ClassContext(
                    class_index=class_index,
                    class_name=class_name,
                    generation=self.generation or 0,
                    data_dir=self.data_dir,
                    layers=layers,
                    concept_names=concept_names,
                    crops=crops,
                    class_answers=len(votes),
                )
                base = 0.5 + 0.35 * n / max(len(classes), 1)
                step = 0.35 / max(len(classes), 1)
                explanations = explain_class(
                    ctx,
                    merged,
                    lambda f, base=base, step=step: self.progress("score", base + step * f),
                    executor,
                )
                _add_agreement(explanations, votes, statuses, clusters_by_class[class_index])
                results.append(
                    _ClassResult(
                        class_index=class_index,
                        concepts=meta,
                        answer_concepts=[
                            {
                                "answer_id": v.answer_id,
                                "concept_id": v.concept,
                                "generation": self.generation,
                                "bonus_points": bonuses[v.answer_id],
                            }
                            for v in votes
                        ],
                        merged=[
                            {
                                "generation": self.generation,
                                "image_id": g.image_id,
                                "class_index": class_index,
                                "layer_name": g.layer_name,
                                "depth": g.depth,
                                "member_cluster_ids": g.member_ids,
                                "weight": g.weight,
                                "n_maps": g.n_maps,
                                "best_concept_id": g.best,
                                "best_score": g.best_score,
                                "label_scores": {str(k): round(v, 9) for k, v in g.scores.items()},
                                # A single cluster's map is its own; a merged group's is the weighted
                                # mean of its members', written under charts/merged/.
                                "map_file": g.map_file,
                            }
                            for g in merged
                        ],
                        explanations=[
                            {
                                "generation": self.generation,
                                "class_index": class_index,
                                "layer_name": e.layer_name,
                                "depth": e.depth,
                                "payload": e.payload,
                                "chart_file": None,  # drawn after the concept tests
                                "created_at": utcnow(),
                            }
                            for e in explanations
                        ],
                        charts=0,
                        statuses=statuses,
                    )
                )
            except Exception as exc:
                self.fail(class_index, "scoring", exc)
        return results

    def _switch(
        self,
        current_id: int | None,
        classes: list[int],
        results: list[_ClassResult],
        cleaned_updates: dict[int, str],
        max_id: int,
    ) -> None:
        """Everything readers see changes here, in one transaction."""
        gen = self.generation
        with session_scope(self.engine) as session:
            conn = session.connection()
            self.lock.refresh(conn, force=True)
            concept_updates = [
                row
                for class_index, rows in self._concept_updates.items()
                if class_index not in self.failed
                for row in rows
            ]
            if concept_updates:
                conn.execute(
                    update(T_CONCEPT).where(T_CONCEPT.c.id == bindparam("b_id")), concept_updates
                )
            if self.failed:
                # Concepts first seen by this generation in a class that failed are not used.
                conn.execute(
                    delete(T_CONCEPT).where(
                        T_CONCEPT.c.first_generation == gen,
                        T_CONCEPT.c.class_index.in_(list(self.failed)),
                    )
                )
            for table, key in ((T_AC, "answer_concepts"), (T_MC, "merged"), (T_GE, "explanations")):
                rows = [row for r in results for row in getattr(r, key)]
                for start in range(0, len(rows), _INSERT_BATCH):
                    conn.execute(insert(table), rows[start : start + _INSERT_BATCH])
            tests = self._concept_test_rows
            for start in range(0, len(tests), _INSERT_BATCH):
                conn.execute(insert(T_CT), tests[start : start + _INSERT_BATCH])
            if current_id is not None:
                others = T_CONCEPT.c.class_index.not_in(classes)
                carried = select(T_CONCEPT.c.id).where(others)
                conn.execute(
                    update(T_AC)
                    .where(T_AC.c.generation == current_id, T_AC.c.concept_id.in_(carried))
                    .values(generation=gen)
                )
                for table in (T_MC, T_GE, T_CT):
                    conn.execute(
                        update(table)
                        .where(
                            table.c.generation == current_id, table.c.class_index.not_in(classes)
                        )
                        .values(generation=gen)
                    )
                conn.execute(
                    update(T_CONCEPT)
                    .where(T_CONCEPT.c.last_generation == current_id, others)
                    .values(last_generation=gen)
                )
            for table in (T_AC, T_MC, T_GE, T_CT):
                conn.execute(delete(table).where(table.c.generation != gen))
            if cleaned_updates:
                conn.execute(
                    update(T_ANSWER).where(T_ANSWER.c.id == bindparam("b_id")),
                    [{"b_id": k, "cleaned": v} for k, v in cleaned_updates.items()],
                )
            self._recompute_points(conn, classes, gen)
            self._write_quality(conn, [c for c in classes if c not in self.failed], results)
            generations.switch(
                conn, gen, answers_seen=max_id, classes=classes, failed_classes=self.failed
            )

    def _write_quality(
        self, conn: Connection, classes: list[int], results: list[_ClassResult]
    ) -> None:
        """Players' abilities and trusts; the settledness of the rebuilt classes' clusters."""
        fit = self._abilities
        if fit is not None and fit.ability:
            conn.execute(
                update(T_PART).where(T_PART.c.id == bindparam("b_id")),
                [
                    {"b_id": pid, "ability": fit.ability[pid], "trust": fit.trust[pid]}
                    for pid in sorted(fit.ability)
                ],
            )
        rebuilt = select(T_CLUSTER.c.id).where(T_CLUSTER.c.class_index.in_(classes))
        conn.execute(delete(T_STATUS).where(T_STATUS.c.cluster_id.in_(rebuilt)))
        rows = [row for r in results for row in r.statuses]
        for start in range(0, len(rows), _INSERT_BATCH):
            conn.execute(insert(T_STATUS), rows[start : start + _INSERT_BATCH])

    def _recompute_points(self, conn: Connection, classes: list[int], gen: int | None) -> None:
        """Everyone with answers in `classes` gets their points recomputed from this generation."""
        points.recompute(conn, points.with_answers_in(conn, classes), gen)

    def _after_switch(self) -> None:
        """Write the JSON document of the current generation and delete unreferenced files."""
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(T_GE.c.class_index, T_GE.c.depth, T_GE.c.payload, T_GE.c.chart_file)
                    .where(T_GE.c.generation == self.generation)
                    .order_by(T_GE.c.class_index, T_GE.c.depth)
                ).all()
                merged_maps = conn.execute(
                    select(T_MC.c.map_file).where(T_MC.c.generation == self.generation)
                ).scalars()
                referenced = {JSON_DOCUMENT} | {f for f in merged_maps if f}
            write_document(self.data_dir, self.generation, rows)
            for _, _, payload, chart in rows:
                referenced |= _files_of(payload, chart)
            _collect_garbage(self.data_dir, referenced)
        except Exception:  # files are derived; the generation is already switched
            log.exception("rebuild: could not tidy the charts folder")


def _files_of(payload: dict[str, Any], chart: str | None) -> set[str]:
    files = {chart, payload.get("chart_file"), payload.get("trend_chart_file")}
    for concept in payload.get("concepts", []):
        for example in concept.get("examples", []):
            files.add(example.get("overlay_file"))
    return {f for f in files if f}


def _collect_garbage(data_dir: Path, referenced: set[str]) -> None:
    charts = data_dir / "charts"
    if not charts.is_dir():
        return
    for path in charts.rglob("*"):
        if not path.is_file():
            continue
        relative = path.relative_to(data_dir).as_posix()
        if relative not in referenced and not relative.endswith(".tmp"):
            path.unlink(missing_ok=True)
