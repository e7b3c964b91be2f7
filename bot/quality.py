"""Answer quality (ARCHITECTURE §2 "Quality"): trust, fast answers, duplicates, flooding, limits.

Flagged answers are kept (researchers may want them) but earn nothing and are not `accepted`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.scoring import normalize_label

MAX_LABELS_PER_MESSAGE = 10
MAX_LABELS_PER_PLAY = 15
FLOOD_WINDOW_SECONDS = 30.0
FLOOD_MAX_LABELS = 20  # labels per participant within the window before they count as flooding
DUPLICATE_HISTORY = 20  # earlier messages of the participant checked for copy-paste

FLAG_FAST = "fast"
FLAG_DUPLICATE = "duplicate"
FLAG_FLOOD = "flood"

_SPLIT = re.compile(r"[,;\n،、，；]+")


def trust(gold_correct: int, gold_seen: int) -> float:
    """Smoothed gold accuracy: (correct + 1) / (seen + 2); 0.5 for a newcomer."""
    return (gold_correct + 1) / (gold_seen + 2)


def is_fast(served_at: datetime, answered_at: datetime, min_seconds: float) -> bool:
    """A guess given sooner than `min_seconds` after the photo was shown."""
    return (answered_at - served_at).total_seconds() < min_seconds


def has_words(text: str) -> bool:
    """At least one letter or digit in any script (emoji and punctuation alone are not words)."""
    return any(ch.isalnum() for ch in text)


@dataclass(frozen=True)
class LabelMessage:
    """A message parsed into labels, or the reason it is refused (then nothing is stored)."""

    labels: tuple[str, ...] = ()
    problem: str | None = None  # "too_long", "too_many", "no_words", "empty"


def parse_labels(
    text: str, *, max_length: int, max_labels: int = MAX_LABELS_PER_MESSAGE
) -> LabelMessage:
    """Split a message into labels (commas, semicolons or lines) and check the limits.

    A message is refused as a whole when any label is longer than `max_length`, when it holds
    more than `max_labels` labels, or when it has no words; labels repeated inside the message are
    kept once.
    """
    if len(text) > max_length * max_labels + max_labels:
        return LabelMessage(problem="too_long")
    parts = [" ".join(p.split()) for p in _SPLIT.split(text)]
    parts = [p for p in parts if p]
    if not parts:
        return LabelMessage(problem="empty")
    if any(len(p) > max_length for p in parts):
        return LabelMessage(problem="too_long")
    worded = [p for p in parts if has_words(p)]
    if not worded:
        return LabelMessage(problem="no_words")
    unique: list[str] = []
    seen: set[str] = set()
    for label in worded:
        key = normalize_label(label)
        if key not in seen:
            seen.add(key)
            unique.append(label)
    if len(unique) > max_labels:
        return LabelMessage(problem="too_many")
    return LabelMessage(labels=tuple(unique))


@dataclass
class History:
    """What the participant gave recently, to judge a new message against."""

    play_keys: set[str] = field(default_factory=set)  # normalised labels already in this play
    play_label_count: int = 0
    recent_messages: Sequence[str] = ()  # raw messages of other plays, newest first
    recent_label_times: Sequence[datetime] = ()  # creation times of their recent labels


def label_flags(
    labels: Iterable[str], raw_message: str, history: History, *, now: datetime, play_fast: bool
) -> list[set[str]]:
    """Flags for each label of one message.

    - fast: the play's guess came sooner than the minimum time;
    - duplicate: the label repeats one given in this play, or the whole message repeats one the
      participant sent for another challenge (copy-paste);
    - flood: the participant gave more than FLOOD_MAX_LABELS labels in FLOOD_WINDOW_SECONDS, or
      the play already has MAX_LABELS_PER_PLAY labels.
    """
    raw_key = normalize_label(raw_message)
    copied = any(normalize_label(m) == raw_key for m in history.recent_messages[:DUPLICATE_HISTORY])
    recent = sum(
        1 for t in history.recent_label_times if (now - t).total_seconds() <= FLOOD_WINDOW_SECONDS
    )
    out: list[set[str]] = []
    keys = set(history.play_keys)
    count = history.play_label_count
    for label in labels:
        flags: set[str] = set()
        key = normalize_label(label)
        if play_fast:
            flags.add(FLAG_FAST)
        if key in keys or copied:
            flags.add(FLAG_DUPLICATE)
        recent += 1
        count += 1
        if recent > FLOOD_MAX_LABELS or count > MAX_LABELS_PER_PLAY:
            flags.add(FLAG_FLOOD)
        keys.add(key)
        out.append(flags)
    return out


def flags_text(flags: set[str]) -> str:
    return ",".join(sorted(flags))
