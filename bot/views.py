"""Keyboards and captions of the game's messages (pure functions of game results)."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import callbacks, scoring, texts
from bot.photo_file_ids import HINT_LEVEL_COUNT
from bot.play_results import Challenge

OPTION_COLUMNS = 2


def reveal_keyboard(play_id: int, hint_level: int) -> InlineKeyboardMarkup:
    rows: list[list[InlineKeyboardButton]] = []
    if hint_level < HINT_LEVEL_COUNT - 1:
        rows.append(
            [
                InlineKeyboardButton(
                    texts.BTN_MORE, callback_data=callbacks.hint(play_id, hint_level)
                )
            ]
        )
    rows.append(
        [
            InlineKeyboardButton(texts.BTN_GUESS, callback_data=callbacks.guess(play_id)),
            InlineKeyboardButton(texts.BTN_RESIGN, callback_data=callbacks.resign(play_id)),
        ]
    )
    return InlineKeyboardMarkup(rows)


def options_keyboard(play_id: int, options: Sequence[str]) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(texts.class_label(name), callback_data=callbacks.option(play_id, i))
        for i, name in enumerate(options)
    ]
    rows = [buttons[i : i + OPTION_COLUMNS] for i in range(0, len(buttons), OPTION_COLUMNS)]
    rows.append([InlineKeyboardButton(texts.BTN_RESIGN, callback_data=callbacks.resign(play_id))])
    return InlineKeyboardMarkup(rows)


def done_keyboard(play_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(texts.BTN_DONE, callback_data=callbacks.done(play_id))]]
    )


def next_keyboard(label: str = texts.BTN_NEXT) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=callbacks.next_challenge())]]
    )


def play_link_keyboard(url: str) -> InlineKeyboardMarkup:
    """Play, as a link into the private chat (for posts in groups)."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(texts.BTN_PLAY, url=url)]])


def consent_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(texts.CONSENT_YES, callback_data=callbacks.consent(True)),
                InlineKeyboardButton(texts.CONSENT_NO, callback_data=callbacks.consent(False)),
            ]
        ]
    )


def forget_keyboard(offered_at: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(texts.FORGET_YES, callback_data=callbacks.forget(offered_at))],
            [InlineKeyboardButton(texts.FORGET_NO, callback_data=callbacks.forget(None))],
        ]
    )


def at_stake(hint_level: int) -> int:
    """Points a right guess earns at this hint level."""
    return scoring.guess_points(hint_level, correct=True)


def caption(challenge: Challenge, *, note: str | None = None) -> str:
    text = texts.challenge_caption(
        challenge.ordinal,
        challenge.hint_level,
        HINT_LEVEL_COUNT,
        at_stake(challenge.hint_level),
    )
    if note:
        text = f"{note}\n{text}"
    return texts.fit(text, texts.MAX_SHORT_CAPTION)


def guess_caption(challenge: Challenge) -> str:
    return texts.guess_caption(
        challenge.ordinal, challenge.hint_level, HINT_LEVEL_COUNT, at_stake(challenge.hint_level)
    )


def words_keyboard(play_id: int) -> InlineKeyboardMarkup:
    """Done under the message that lists a challenge's words."""
    return done_keyboard(play_id)
