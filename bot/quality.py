"""Answer quality: trust, fast answers, duplicates, flooding, limits.

Flagged answers are kept (researchers may want them) but earn nothing and are not `accepted`.
Messages over the limits (length, labels per message, labels per play) are refused whole and
nothing is stored.

Every step here is linear in the message's length, and a label message is normalised once: its
keys are stored with the answers, so judging a new message never re-reads or re-normalises the
player's earlier ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from engine.labels.agreement import normalize_label

MAX_MESSAGE_LENGTH = 1000  # characters of one label message; longer ones are refused unread
MAX_LABELS_PER_MESSAGE = 10
MAX_LABELS_PER_PLAY = 15
FLOOD_WINDOW_SECONDS = 30.0
FLOOD_MAX_LABELS = 20  # labels per participant within the window before they count as flooding
DUPLICATE_HISTORY = 20  # earlier messages of the participant checked for copy-paste

FLAG_FAST = "fast"
FLAG_DUPLICATE = "duplicate"
FLAG_FLOOD = "flood"

_SPLIT = re.compile(r"[,;\n،、，；]+")
# Control characters other than tab, newline and carriage return become spaces: they cannot be
# seen, and PostgreSQL refuses NUL in text.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


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
    keys: tuple[str, ...] = ()  # normalize_label of each label, computed once
    message_key: str = ""  # the labels' keys joined (the copy-paste check compares these)
    # "message_too_long", "too_long", "too_many", "no_words", "empty"
    problem: str | None = None
    limit: int | None = None  # the limit the message broke


def parse_labels(
    text: str,
    *,
    max_length: int,
    max_labels: int = MAX_LABELS_PER_MESSAGE,
    max_message_length: int = MAX_MESSAGE_LENGTH,
) -> LabelMessage:
    """Split a message into labels (commas, semicolons or lines) and check the limits.

    A message is refused as a whole when it is longer than `max_message_length`, when any label
    is longer than `max_length`, when it holds more than `max_labels` labels, or when it has no
    words; labels repeated inside the message are kept once.
    """
    if len(text) > max_message_length:
        return LabelMessage(problem="message_too_long", limit=max_message_length)
    text = _CONTROLS.sub(" ", text)
    parts = [" ".join(p.split()) for p in _SPLIT.split(text)]
    parts = [p for p in parts if p]
    if not parts:
        return LabelMessage(problem="empty")
    if any(len(p) > max_length for p in parts):
        return LabelMessage(problem="too_long", limit=max_length)
    if len(parts) > max_labels:  # counted before normalising, so the work stays bounded
        return LabelMessage(problem="too_many", limit=max_labels)
    worded = [p for p in parts if has_words(p)]
    if not worded:
        return LabelMessage(problem="no_words")
    unique: dict[str, str] = {}
    for label in worded:
        unique.setdefault(normalize_label(label), label)
    # The message's key is made of its labels' keys, so "Fur,  tail" and "fur; tail" match
    # without normalising the whole message a second time.
    keys = tuple(unique)
    return LabelMessage(labels=tuple(unique.values()), keys=keys, message_key=", ".join(keys))


@dataclass
class History:
    """What the participant gave recently, to judge a new message against."""

    play_keys: set[str] = field(default_factory=set)  # normalised labels already in this play
    play_label_count: int = 0
    # stored message keys of other plays, newest first (None: stored before keys existed)
    recent_message_keys: Sequence[str | None] = ()
    recent_label_times: Sequence[datetime] = ()  # creation times of their recent labels


def label_flags(
    keys: Iterable[str], message_key: str, history: History, *, now: datetime, play_fast: bool
) -> list[set[str]]:
    """Flags for each label of one message, given the labels' keys and the message's key.

    - fast: the play's guess came sooner than the minimum time;
    - duplicate: the label repeats one given in this play, or the whole message repeats one the
      participant sent for another challenge (copy-paste);
    - flood: the participant gave more than FLOOD_MAX_LABELS labels in FLOOD_WINDOW_SECONDS.
    """
    copied = message_key in history.recent_message_keys[:DUPLICATE_HISTORY]
    recent = sum(
        1 for t in history.recent_label_times if (now - t).total_seconds() <= FLOOD_WINDOW_SECONDS
    )
    out: list[set[str]] = []
    seen = set(history.play_keys)
    for key in keys:
        flags: set[str] = set()
        if play_fast:
            flags.add(FLAG_FAST)
        if key in seen or copied:
            flags.add(FLAG_DUPLICATE)
        recent += 1
        if recent > FLOOD_MAX_LABELS:
            flags.add(FLAG_FLOOD)
        seen.add(key)
        out.append(flags)
    return out


def over_play_limit(history: History, new_labels: int) -> bool:
    """Whether `new_labels` more would take the play past MAX_LABELS_PER_PLAY (then the message
    is refused and nothing stored)."""
    return history.play_label_count + new_labels > MAX_LABELS_PER_PLAY


def flags_text(flags: set[str]) -> str:
    return ",".join(sorted(flags))
