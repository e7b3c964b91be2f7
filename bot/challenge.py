"""The challenge message: its photo at the current hint level, its caption and buttons, and
serving the next challenge."""

from __future__ import annotations

import dataclasses
import functools
import logging

from telegram import CallbackQuery, Message

from bot import consent, payoff, photos, play_flow, play_results, texts, views
from bot.photo_messages import StoredPhoto, edit_photo, send_photo
from bot.refusals import GameError
from bot.replies import error_text, say
from bot.services import Context, services
from storage.models import utcnow

log = logging.getLogger(__name__)


def _stored_photo(context: Context, challenge: play_results.Challenge) -> StoredPhoto:
    render = functools.partial(
        photos.render,
        services(context).settings.data_dir,
        challenge.crop_file,
        challenge.map_file,
        challenge.hint_level,
    )
    return StoredPhoto(challenge.cluster_id, challenge.hint_level, challenge.file_id, render)


async def send_challenge(
    context: Context, chat_id: int, challenge: play_results.Challenge, note: str | None = None
) -> None:
    """Send a challenge photo (cached file_id or a fresh render)."""
    caption = views.caption(challenge, note=note)
    markup = views.reveal_keyboard(challenge.play_id, challenge.hint_level)
    await send_photo(context, chat_id, _stored_photo(context, challenge), caption, markup)


def numbered(challenge: play_results.Challenge, query: CallbackQuery) -> play_results.Challenge:
    """The challenge with the number its message already shows (not looked up again)."""
    caption = query.message.caption if isinstance(query.message, Message) else None
    return dataclasses.replace(challenge, ordinal=texts.ordinal_in(caption))


async def show_hint(
    context: Context, query: CallbackQuery, challenge: play_results.Challenge
) -> None:
    """Edit the challenge photo in place to the new hint level."""
    challenge = numbered(challenge, query)
    message = query.message
    if not isinstance(message, Message):
        await send_challenge(context, query.from_user.id, challenge)
        return
    caption = views.caption(challenge)
    markup = views.reveal_keyboard(challenge.play_id, challenge.hint_level)
    await edit_photo(context, message, _stored_photo(context, challenge), caption, markup)


async def play(context: Context, chat_id: int, user_id: int) -> None:
    """Serve the next challenge, closing the open one first (and saying so)."""
    svc = services(context)
    try:
        started = await svc.db(
            play_flow.start_challenge, user_id, svc.settings, now=utcnow(), rng=svc.rng
        )
    except GameError as exc:
        if exc.code == "consent":
            await ask_consent(context, chat_id)
            return
        finished = exc.info.get("finished")
        if isinstance(finished, play_results.Finished):
            await say(context, chat_id, summary(finished))
        await say(context, chat_id, error_text(exc))
        return
    if started.finished is not None:
        await say(context, chat_id, summary(started.finished))
    await send_challenge(
        context, chat_id, started.challenge, texts.SKIPPED_PREVIOUS if started.skipped else None
    )


def summary(finished: play_results.Finished) -> str:
    return payoff.summary(finished)


async def ask_consent(context: Context, chat_id: int) -> None:
    """The consent question; someone who declined is only reminded how to change their mind."""
    if await services(context).db(consent.has_declined, chat_id):
        await say(context, chat_id, texts.CONSENT_DECLINED_REMINDER)
        return
    await show_consent(context, chat_id)


async def show_consent(context: Context, chat_id: int) -> None:
    settings = services(context).settings
    welcome = texts.welcome_text(settings.study_name, settings.study_contact)
    await say(context, chat_id, welcome, views.consent_keyboard())


async def tell_refusal(context: Context, chat_id: int, exc: GameError) -> None:
    """A refusal of the game in the chat: the consent question when consent is missing (a
    refusal for that reason is not an error to the player), else the refusal's text."""
    if exc.code == "consent":
        await ask_consent(context, chat_id)
    else:
        await say(context, chat_id, error_text(exc))
