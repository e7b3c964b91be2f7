"""Inline-button payloads: short, versioned by shape, and always within Telegram's 64 bytes.

Buttons carry ids, never state: `h:<play>:<level>` (show more, pressed while `level` was shown),
`g:<play>` (open the choices), `o:<play>:<option>` (choose option), `r:<play>` (give up),
`d:<play>` (done labelling), `n` (next challenge), `c:1`/`c:0` (consent), `f:1:<unix time>`/`f:0`
(forget confirmation, expires). Everything a press means is read from the database, so a button
from before a restart still works, and a forged or stale payload is refused by the game's checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

MAX_CALLBACK_BYTES = 64


class Action(StrEnum):
    HINT = "h"
    GUESS = "g"
    OPTION = "o"
    RESIGN = "r"
    DONE = "d"
    NEXT = "n"
    CONSENT = "c"
    FORGET = "f"


@dataclass(frozen=True)
class Callback:
    action: Action
    play_id: int | None = None
    arg: int | None = None


_ID = r"(\d{1,12})"
_PATTERNS: dict[Action, re.Pattern[str]] = {
    Action.HINT: re.compile(rf"h:{_ID}:(\d)"),
    Action.GUESS: re.compile(rf"g:{_ID}"),
    Action.OPTION: re.compile(rf"o:{_ID}:(\d{{1,2}})"),
    Action.RESIGN: re.compile(rf"r:{_ID}"),
    Action.DONE: re.compile(rf"d:{_ID}"),
    Action.NEXT: re.compile(r"n"),
    Action.CONSENT: re.compile(r"c:([01])"),
    Action.FORGET: re.compile(r"f:(?:1:(\d{1,12})|0)"),
}


def pattern(action: Action) -> re.Pattern[str]:
    """The whole-payload pattern of `action`, for routing presses (PTB matches from the start)."""
    return re.compile(rf"(?:{_PATTERNS[action].pattern})\Z")


def encode(callback: Callback) -> str:
    a = callback.action
    if a is Action.NEXT:
        data = "n"
    elif a is Action.CONSENT:
        data = f"c:{int(bool(callback.arg))}"
    elif a is Action.FORGET:
        data = f"f:1:{callback.arg}" if callback.arg is not None else "f:0"
    elif a in (Action.HINT, Action.OPTION):
        data = f"{a.value}:{callback.play_id}:{callback.arg}"
    else:
        data = f"{a.value}:{callback.play_id}"
    if len(data.encode("utf-8")) > MAX_CALLBACK_BYTES:
        raise ValueError(f"callback data over {MAX_CALLBACK_BYTES} bytes: {data!r}")
    return data


def decode(data: str | None) -> Callback | None:
    """The callback a payload stands for, or None for anything not produced by `encode`."""
    if not data or len(data.encode("utf-8")) > MAX_CALLBACK_BYTES:
        return None
    try:
        action = Action(data.split(":", 1)[0])
    except ValueError:
        return None
    match = _PATTERNS[action].fullmatch(data)
    if match is None:
        return None
    groups = [int(g) for g in match.groups() if g is not None]
    if action is Action.CONSENT:
        return Callback(action, arg=groups[0])
    if action is Action.FORGET:
        return Callback(action, arg=groups[0] if groups else None)
    if action is Action.NEXT:
        return Callback(action)
    return Callback(action, play_id=groups[0], arg=groups[1] if len(groups) > 1 else None)


def hint(play_id: int, level: int) -> str:
    return encode(Callback(Action.HINT, play_id, level))


def guess(play_id: int) -> str:
    return encode(Callback(Action.GUESS, play_id))


def option(play_id: int, index: int) -> str:
    return encode(Callback(Action.OPTION, play_id, index))


def resign(play_id: int) -> str:
    return encode(Callback(Action.RESIGN, play_id))


def done(play_id: int) -> str:
    return encode(Callback(Action.DONE, play_id))


def next_challenge() -> str:
    return encode(Callback(Action.NEXT))


def consent(accept: bool) -> str:
    return encode(Callback(Action.CONSENT, arg=int(accept)))


def forget(confirm_at: int | None) -> str:
    """`confirm_at`: the unix time the confirmation was offered (None = keep)."""
    return encode(Callback(Action.FORGET, arg=confirm_at))
