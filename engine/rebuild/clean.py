"""Stage "clean": each answer's label cleaned with spaCy (engine.labels.text), once.

An answer is cleaned when it never was, or on a full rebuild (the cleaning rules may have
changed); the others keep their stored text. The player's explained and guessed class names are
stripped from the labels. Changed texts are written at the switch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.rebuild.context import Failures, RebuildContext, class_failed
from engine.rebuild.load import AnswerRow


@dataclass(frozen=True)
class CleanInput:
    pipe: Any  # engine.labels.pipeline.LabelPipeline
    rows: tuple[AnswerRow, ...]
    names: Mapping[int, list[str]]  # model id → its class names


@dataclass(frozen=True)
class Cleaned:
    phrase_of: Mapping[int, str]  # answer id → cleaned phrase, for answers that have one
    updates: Mapping[int, str]  # answer id → cleaned text that differs from the stored one
    by_class: Mapping[
        int, tuple[AnswerRow, ...]
    ]  # answers with a phrase, of classes that did not fail
    failed: Failures


def clean(ctx: RebuildContext, given: CleanInput) -> Cleaned:
    def name(model_id: int, index: int | None) -> str | None:
        classes = given.names.get(model_id, [])
        return classes[index] if index is not None and 0 <= index < len(classes) else None

    todo_by_class: dict[int, list[AnswerRow]] = defaultdict(list)
    for r in given.rows:
        if ctx.full or r.cleaned is None:
            todo_by_class[r.class_index].append(r)
    text_of: dict[int, str | None] = {r.id: r.cleaned for r in given.rows}
    updates: dict[int, str] = {}
    failed: dict[int, str] = {}
    for class_index, todo in sorted(todo_by_class.items()):
        per_text = [
            tuple(
                n for n in (name(r.model_id, r.class_index), name(r.model_id, r.guessed_class)) if n
            )
            for r in todo
        ]
        try:
            cleaned = given.pipe.clean_each([r.label for r in todo], per_text)
        except Exception as exc:
            failed[class_index] = class_failed(class_index, "cleaning", exc)
            continue
        for row, text in zip(todo, cleaned, strict=True):
            if text != row.cleaned:
                updates[row.id] = text
            text_of[row.id] = text
    phrase_of = {answer: text for answer, text in text_of.items() if text}
    by_class: dict[int, list[AnswerRow]] = defaultdict(list)
    for row in given.rows:
        if row.id in phrase_of and row.class_index not in failed:
            by_class[row.class_index].append(row)
    return Cleaned(
        phrase_of=phrase_of,
        updates=updates,
        by_class={c: tuple(rows) for c, rows in by_class.items()},
        failed=failed,
    )
