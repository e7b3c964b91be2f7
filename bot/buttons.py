"""Button presses: one handler per action, each routed by its callback-data pattern.

`register` adds a `CallbackQueryHandler` per action with the pattern of its payload
(`bot.callbacks`), then one for anything else, which is answered as an invalid button. Each
handler decodes the payload (ids only), calls the game in the database thread and edits the
pressed message; a refusal by the game (`GameError`) becomes a short answer to the press.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from telegram import CallbackQuery, Message, Update
from telegram.ext import Application, CallbackQueryHandler

from bot import callbacks, consent, labelling, payoff, play_flow, profile, texts, views
from bot.callbacks import Action, Callback
from bot.challenge import numbered, play, show_hint
from bot.refusals import GameError
from bot.replies import answer, edit_caption, edit_text, error_text
from bot.services import Context, services
from storage.models import utcnow

# How long a /forget confirmation button stays valid, in seconds.
FORGET_CONFIRM_SECONDS = 600

Press = Callable[[Context, CallbackQuery, Callback], Awaitable[None]]


def _message_id(query: CallbackQuery) -> int | None:
    return query.message.message_id if isinstance(query.message, Message) else None


async def on_hint(context: Context, query: CallbackQuery, cb: Callback) -> None:
    challenge = await services(context).db(
        play_flow.show_more,
        query.from_user.id,
        cb.play_id,
        cb.arg,
        now=utcnow(),
        message_id=_message_id(query),
    )
    await answer(query)
    await show_hint(context, query, challenge)


async def on_guess(context: Context, query: CallbackQuery, cb: Callback) -> None:
    challenge = await services(context).db(
        play_flow.open_guess,
        query.from_user.id,
        cb.play_id,
        now=utcnow(),
        message_id=_message_id(query),
    )
    await answer(query)
    await edit_caption(
        context,
        query,
        views.guess_caption(numbered(challenge, query)),
        views.options_keyboard(challenge.play_id, challenge.options),
    )


async def on_option(context: Context, query: CallbackQuery, cb: Callback) -> None:
    svc = services(context)
    result = await svc.db(
        play_flow.make_guess,
        query.from_user.id,
        cb.play_id,
        cb.arg,
        svc.settings,
        now=utcnow(),
        message_id=_message_id(query),
    )
    if result.fast:
        await answer(query, texts.CB_FAST)
    elif result.correct:
        await answer(
            query, texts.CB_CORRECT.format(points=result.guess_points + result.streak_points)
        )
    else:
        await answer(query, texts.CB_WRONG)
    await payoff.show_whole_photo(
        context,
        query,
        result.reveal,
        payoff.result_caption(result),
        views.done_keyboard(result.play_id),
    )


async def on_resign(context: Context, query: CallbackQuery, cb: Callback) -> None:
    result = await services(context).db(
        play_flow.resign,
        query.from_user.id,
        cb.play_id,
        now=utcnow(),
        message_id=_message_id(query),
    )
    await answer(query)
    await payoff.show_whole_photo(
        context, query, result.reveal, payoff.resign_caption(result), views.next_keyboard()
    )


async def on_done(context: Context, query: CallbackQuery, cb: Callback) -> None:
    user_id = query.from_user.id
    finished = await services(context).db(
        labelling.finish_labels, user_id, cb.play_id, now=utcnow()
    )
    await answer(query, texts.CB_DONE)
    await payoff.show_summary(context, query, finished)


async def on_next(context: Context, query: CallbackQuery, cb: Callback) -> None:
    await answer(query)
    await play(context, query.from_user.id, query.from_user.id)


async def on_consent(context: Context, query: CallbackQuery, cb: Callback) -> None:
    accepted = bool(cb.arg)
    svc = services(context)
    await svc.db(
        consent.record_consent,
        query.from_user.id,
        accepted,
        key=svc.settings.pseudonym_key,
        now=utcnow(),
    )
    await answer(query)
    text, markup = (
        (texts.CONSENT_THANKS, views.next_keyboard(texts.BTN_PLAY))
        if accepted
        else (texts.CONSENT_DECLINED, None)
    )
    await edit_text(context, query, text, markup)


async def on_forget(context: Context, query: CallbackQuery, cb: Callback) -> None:
    offered_at = cb.arg
    if offered_at is None:
        await answer(query)
        await edit_text(context, query, texts.FORGET_KEPT, None)
        return
    if time.time() - offered_at > FORGET_CONFIRM_SECONDS or offered_at > time.time() + 60:
        await answer(query, texts.FORGET_EXPIRED)
        await edit_text(context, query, texts.FORGET_EXPIRED, None)
        return
    svc = services(context)
    deleted = await svc.db(profile.forget, query.from_user.id, svc.settings.data_dir)
    await answer(query)
    await edit_text(context, query, texts.FORGET_DONE if deleted else texts.FORGET_NOTHING, None)


PRESSES: dict[Action, Press] = {
    Action.HINT: on_hint,
    Action.GUESS: on_guess,
    Action.OPTION: on_option,
    Action.RESIGN: on_resign,
    Action.DONE: on_done,
    Action.NEXT: on_next,
    Action.CONSENT: on_consent,
    Action.FORGET: on_forget,
}


def _handler(press: Press) -> Callable[[Update, Context], Awaitable[None]]:
    """The PTB callback for `press`: decode the payload, run it, answer a refusal."""

    async def handle(update: Update, context: Context) -> None:
        query = update.callback_query
        if query is None:
            return
        cb = callbacks.decode(query.data)
        if cb is None:
            await answer(query, texts.CB_INVALID)
            return
        try:
            await press(context, query, cb)
        except GameError as exc:
            await answer(query, texts.CONSENT_NEEDED if exc.code == "consent" else error_text(exc))

    handle.__name__ = press.__name__
    return handle


async def on_invalid(update: Update, context: Context) -> None:
    """A payload no action's pattern accepts: forged, truncated or from an older version."""
    if update.callback_query is not None:
        await answer(update.callback_query, texts.CB_INVALID)


def register(app: Application) -> None:
    """One handler per action, matched by its payload's pattern; then the invalid ones."""
    for action, press in PRESSES.items():
        app.add_handler(CallbackQueryHandler(_handler(press), pattern=callbacks.pattern(action)))
    app.add_handler(CallbackQueryHandler(on_invalid))
