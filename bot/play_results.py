"""What the play functions return: frozen snapshots of a play, taken inside its transaction.

The handlers render these after the transaction has closed, so they carry everything a caption,
keyboard or photo needs and no database rows.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Challenge:
    """What a player sees of one play: enough to render, caption and key it."""

    play_id: int
    cluster_id: int
    ordinal: int
    hint_level: int
    layer_depth: int
    crop_file: str
    map_file: str
    file_id: str | None
    options: tuple[str, ...]


@dataclass(frozen=True)
class Finished:
    play_id: int
    message_id: int | None  # the challenge photo's message, which the summary replaces
    guess_points: int
    streak_points: int
    bonus_points: int
    labels: int
    total: int
    rank: int
    players: int


@dataclass(frozen=True)
class Started:
    challenge: Challenge
    finished: Finished | None
    skipped: bool


@dataclass(frozen=True)
class Reveal:
    """What the full photo shows after a guess or a give-up: the AI's answer and where the part
    the player saw came from."""

    cluster_id: int
    crop_file: str
    file_id: str | None  # the full photo's file_id once uploaded
    answer: str
    confidence: float | None  # the AI's probability for its answer, when known
    depth: int
    depths: int  # explained layers of the model
    streak_lost: int  # the streak a wrong guess or give-up ended (0 when none)


@dataclass(frozen=True)
class Guessed:
    play_id: int
    correct: bool
    fast: bool
    answer: str
    guess_points: int
    streak_points: int
    reveal: Reveal


@dataclass(frozen=True)
class Resigned:
    play_id: int
    answer: str
    reveal: Reveal


@dataclass(frozen=True)
class LabelsAdded:
    play_id: int
    labels: tuple[str, ...]
    flagged: int
    total: int
    words: tuple[str, ...] = ()  # every word given for the play so far, this message's included


@dataclass(frozen=True)
class Cancelled:
    skipped: bool
    finished: Finished | None
