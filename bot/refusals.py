"""`GameError`: how the game's database functions refuse an action.

Every refusal is one exception with a `code`; the handlers pick the reply text by the code
(bot.replies), so the rules never format a message and the replies never re-check a rule.
"""

from __future__ import annotations


class GameError(Exception):
    """A refused action; `code` names the reason (see bot.handlers for the replies)."""

    def __init__(self, code: str, **info: object) -> None:
        super().__init__(code)
        self.code = code
        self.info = info
