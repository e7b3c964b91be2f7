"""Telegram handlers: parse the update, call a game function in the database thread, reply.

No decision is taken here; `bot.game` decides and raises `GameError` for refusals, whose codes map
to texts below. Challenges are played in private chats only; groups get the leaderboard.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from telegram import (
    CallbackQuery,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
    Update,
)
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot import callbacks, game, photos, texts, views
from bot.callbacks import Action
from bot.config import BotConfig
from bot.game import GameError
from bot.incidents import alert_text, new_incident_id
from bot.leaderboard import format_board
from bot.runtime import DbRunner
from storage.models import utcnow

log = logging.getLogger(__name__)

FORGET_CONFIRM_SECONDS = 600
ADMIN_ALERT_INTERVAL = 60.0

Context = ContextTypes.DEFAULT_TYPE


@dataclass
class AdminAlerts:
    """Tell the researchers about errors, at most once per interval (the rest are counted)."""

    interval: float = ADMIN_ALERT_INTERVAL
    last_sent: float = float("-inf")
    suppressed: int = 0

    def due(self, now: float) -> int | None:
        """The number of errors to report now, or None while rate-limited."""
        self.suppressed += 1
        if now - self.last_sent < self.interval:
            return None
        count, self.suppressed, self.last_sent = self.suppressed, 0, now
        return count


@dataclass
class Services:
    """What handlers need besides the update: not game state (that is in the database)."""

    settings: BotConfig
    db: DbRunner
    rng: random.Random = field(default_factory=random.Random)
    alerts: AdminAlerts = field(default_factory=AdminAlerts)
    rebuild: Callable[..., Any] | None = None
    rebuild_pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="inv-rebuild")
    )


def services(context: Context) -> Services:
    return context.application.bot_data["services"]


# ---- replies -----------------------------------------------------------------------------------


ERROR_TEXTS: dict[str, str] = {
    "consent": texts.CONSENT_NEEDED,
    "gone": texts.CB_GONE,
    "not_yours": texts.CB_NOT_YOURS,
    "expired": texts.CB_EXPIRED,
    "already": texts.CB_ALREADY,
    "invalid": texts.CB_INVALID,
    "hint_max": texts.HINT_MAX,
    "no_challenges": texts.NO_CHALLENGES,
    "daily_cap": texts.DAILY_CAP,
    "message_too_long": texts.LABEL_MESSAGE_TOO_LONG,
    "too_long": texts.LABEL_TOO_LONG,
    "play_full": texts.LABEL_PLAY_LIMIT,
    "too_many": texts.LABEL_TOO_MANY,
    "no_words": texts.LABEL_NO_WORDS,
    "empty": texts.LABEL_NO_WORDS,
    "finished_challenge": texts.LABELS_FINISHED_CHALLENGE,
    "no_labelling": texts.LABELS_NOT_NOW,
    "not_guessed": texts.LABELS_NOT_NOW_REVEAL,
    "nickname_invalid": texts.NICKNAME_INVALID,
    "nickname_taken": texts.NICKNAME_TAKEN,
}


def error_text(exc: GameError) -> str:
    template = ERROR_TEXTS.get(exc.code, texts.CB_INVALID)
    fields = {k: v for k, v in exc.info.items() if isinstance(v, int | str)}
    return template.format(**fields) if fields else template


async def say(
    context: Context, chat_id: int, text: str, markup: InlineKeyboardMarkup | None = None
) -> Message:
    return await context.bot.send_message(
        chat_id, texts.fit(text, texts.MAX_TEXT), reply_markup=markup
    )


async def answer(query: CallbackQuery, text: str | None = None) -> None:
    """Answer a button press; a query that is too old (e.g. from before a restart) is fine."""
    try:
        await query.answer(texts.fit(text, texts.MAX_CALLBACK_ANSWER) if text else None)
    except BadRequest as exc:
        log.debug("callback answer refused: %s", exc)


def _not_modified(exc: BadRequest) -> bool:
    return "not modified" in str(exc).lower()


async def edit_caption(
    context: Context, query: CallbackQuery, caption: str, markup: InlineKeyboardMarkup | None
) -> None:
    """Change the caption (and buttons) of the pressed message; resend when it can't be edited."""
    message = query.message
    if isinstance(message, Message):
        try:
            await context.bot.edit_message_caption(
                chat_id=message.chat_id,
                message_id=message.message_id,
                caption=texts.fit(caption, texts.MAX_CAPTION),
                reply_markup=markup,
            )
            return
        except BadRequest as exc:
            if _not_modified(exc):
                return
            log.info("could not edit message %s (%s); sending a new one", message.message_id, exc)
    await say(context, query.from_user.id, caption, markup)


def private_link(context: Context) -> str:
    return f"https://t.me/{context.bot.username}?start=play"


def is_private(update: Update) -> bool:
    return update.effective_chat is not None and update.effective_chat.type == ChatType.PRIVATE


def command_args(update: Update) -> str:
    text = (update.effective_message.text or "") if update.effective_message else ""
    parts = text.split(maxsplit=1)
    return parts[1].strip() if len(parts) > 1 else ""


async def refuse_arguments(update: Update, context: Context, command: str) -> bool:
    """Reply and return True when a command that takes no arguments got some."""
    if command_args(update):
        await say(context, update.effective_chat.id, texts.NO_ARGUMENTS.format(command=command))
        return True
    return False


async def private_only(update: Update, context: Context) -> bool:
    """Reply with a link to the private chat and return True when in a group."""
    if is_private(update):
        return False
    await say(
        context, update.effective_chat.id, texts.PRIVATE_ONLY.format(link=private_link(context))
    )
    return True


async def ask_consent(context: Context, chat_id: int) -> None:
    """The consent question; someone who declined is only reminded how to change their mind."""
    if await services(context).db(game.has_declined, chat_id):
        await say(context, chat_id, texts.CONSENT_DECLINED_REMINDER)
        return
    await show_consent(context, chat_id)


async def show_consent(context: Context, chat_id: int) -> None:
    await say(context, chat_id, texts.WELCOME, views.consent_keyboard())


# ---- the challenge -----------------------------------------------------------------------------


async def send_challenge(
    context: Context, chat_id: int, challenge: game.Challenge, note: str | None = None
) -> None:
    """Send a challenge photo (cached file_id or a fresh render) and remember the message."""
    svc = services(context)
    caption = views.caption(challenge, note=note)
    markup = views.reveal_keyboard(challenge.play_id, challenge.hint_level)
    media: str | bytes = challenge.file_id or await photos.render(
        svc.settings.data_dir, challenge.crop_file, challenge.map_file, challenge.hint_level
    )
    try:
        message = await context.bot.send_photo(chat_id, media, caption=caption, reply_markup=markup)
    except BadRequest as exc:
        if not (challenge.file_id and photos.is_bad_file_id(exc)):
            raise
        await svc.db(game.forget_photo, challenge.cluster_id, challenge.hint_level)
        media = await photos.render(
            svc.settings.data_dir, challenge.crop_file, challenge.map_file, challenge.hint_level
        )
        message = await context.bot.send_photo(chat_id, media, caption=caption, reply_markup=markup)
    uploaded = photos.uploaded_file_id(message) if isinstance(media, bytes) else None
    if uploaded:
        await svc.db(game.remember_photo, challenge.cluster_id, challenge.hint_level, uploaded)


def numbered(challenge: game.Challenge, query: CallbackQuery) -> game.Challenge:
    """The challenge with the number its message already shows (not looked up again)."""
    caption = query.message.caption if isinstance(query.message, Message) else None
    return dataclasses.replace(challenge, ordinal=texts.ordinal_in(caption))


async def show_hint(context: Context, query: CallbackQuery, challenge: game.Challenge) -> None:
    """Edit the challenge photo in place to the new hint level."""
    svc = services(context)
    challenge = numbered(challenge, query)
    message = query.message
    caption = views.caption(challenge)
    markup = views.reveal_keyboard(challenge.play_id, challenge.hint_level)
    if not isinstance(message, Message):
        await send_challenge(context, query.from_user.id, challenge)
        return

    async def edit(media: str | bytes) -> Message | bool:
        return await context.bot.edit_message_media(
            InputMediaPhoto(media, caption=caption),
            chat_id=message.chat_id,
            message_id=message.message_id,
            reply_markup=markup,
        )

    media: str | bytes = challenge.file_id or await photos.render(
        svc.settings.data_dir, challenge.crop_file, challenge.map_file, challenge.hint_level
    )
    try:
        result = await edit(media)
    except BadRequest as exc:
        if _not_modified(exc):
            return
        if not (challenge.file_id and photos.is_bad_file_id(exc)):
            raise
        await svc.db(game.forget_photo, challenge.cluster_id, challenge.hint_level)
        media = await photos.render(
            svc.settings.data_dir, challenge.crop_file, challenge.map_file, challenge.hint_level
        )
        result = await edit(media)
    uploaded = photos.uploaded_file_id(result) if isinstance(media, bytes) else None
    if uploaded:
        await svc.db(game.remember_photo, challenge.cluster_id, challenge.hint_level, uploaded)


async def play(context: Context, chat_id: int, user_id: int) -> None:
    """Serve the next challenge, closing the open one first (and saying so)."""
    svc = services(context)
    try:
        started = await svc.db(
            game.start_challenge, user_id, svc.settings, now=utcnow(), rng=svc.rng
        )
    except GameError as exc:
        if exc.code == "consent":
            await ask_consent(context, chat_id)
            return
        finished = exc.info.get("finished")
        if isinstance(finished, game.Finished):
            await say(context, chat_id, summary(finished))
        await say(context, chat_id, error_text(exc))
        return
    if started.finished is not None:
        await say(context, chat_id, summary(started.finished))
    await send_challenge(
        context, chat_id, started.challenge, texts.SKIPPED_PREVIOUS if started.skipped else None
    )


def summary(finished: game.Finished) -> str:
    return texts.finish_summary(
        finished.guess_points,
        finished.streak_points,
        finished.bonus_points,
        finished.labels,
        finished.total,
        finished.rank,
        finished.players,
    )


# ---- commands ----------------------------------------------------------------------------------


async def cmd_start(update: Update, context: Context) -> None:
    if await private_only(update, context):
        return
    svc = services(context)
    if await svc.db(game.has_consented, update.effective_user.id):
        await say(
            context,
            update.effective_chat.id,
            texts.ALREADY_CONSENTED,
            views.next_keyboard(texts.BTN_PLAY),
        )
        return
    await show_consent(context, update.effective_chat.id)  # asked for: shown even after a no


async def cmd_play(update: Update, context: Context) -> None:
    if await private_only(update, context) or await refuse_arguments(update, context, "play"):
        return
    await play(context, update.effective_chat.id, update.effective_user.id)


async def cmd_score(update: Update, context: Context) -> None:
    if await private_only(update, context) or await refuse_arguments(update, context, "score"):
        return
    chat_id = update.effective_chat.id
    try:
        s = await services(context).db(game.score, update.effective_user.id)
    except GameError:
        await ask_consent(context, chat_id)
        return
    await say(
        context,
        chat_id,
        texts.score_text(
            s.points,
            s.rank,
            s.players,
            s.played,
            s.correct,
            s.streak,
            s.best_streak,
            s.trust,
            s.name,
        ),
    )


async def cmd_leaderboard(update: Update, context: Context) -> None:
    if await refuse_arguments(update, context, "leaderboard"):
        return
    user_id = update.effective_user.id if is_private(update) and update.effective_user else None
    rows, me, players = await services(context).db(game.leaderboard, user_id)
    await say(context, update.effective_chat.id, format_board(rows, me=me, players=players))


async def cmd_nickname(update: Update, context: Context) -> None:
    if await private_only(update, context):
        return
    svc = services(context)
    chat_id = update.effective_chat.id
    name = command_args(update)
    try:
        if not name:
            current = await svc.db(game.current_name, update.effective_user.id)
            await say(context, chat_id, texts.NICKNAME_USAGE.format(name=current))
            return
        chosen = await svc.db(game.set_nickname, update.effective_user.id, name)
    except GameError as exc:
        if exc.code == "consent":
            await ask_consent(context, chat_id)
        else:
            await say(context, chat_id, error_text(exc))
        return
    await say(context, chat_id, texts.NICKNAME_SET.format(name=chosen))


async def cmd_help(update: Update, context: Context) -> None:
    await say(
        context,
        update.effective_chat.id,
        texts.help_text(rebuild_available=services(context).rebuild is not None),
    )


async def cmd_forget(update: Update, context: Context) -> None:
    if await private_only(update, context) or await refuse_arguments(update, context, "forget"):
        return
    await say(
        context,
        update.effective_chat.id,
        texts.FORGET_CONFIRM,
        views.forget_keyboard(int(time.time())),
    )


async def cmd_cancel(update: Update, context: Context) -> None:
    if await private_only(update, context) or await refuse_arguments(update, context, "cancel"):
        return
    result = await services(context).db(game.cancel, update.effective_user.id, now=utcnow())
    chat_id = update.effective_chat.id
    if result.finished is not None:
        await say(
            context,
            chat_id,
            f"{texts.CANCEL_LABELS}\n{summary(result.finished)}",
            views.next_keyboard(),
        )
    elif result.skipped:
        await say(context, chat_id, texts.CANCEL_SKIPPED, views.next_keyboard())
    else:
        await say(context, chat_id, texts.CANCEL_NOTHING)


async def cmd_unknown(update: Update, context: Context) -> None:
    message = update.effective_message
    if message is None or message.text is None:
        return
    if not is_private(update):
        # In groups only commands addressed to this bot by name are answered.
        head = message.text.split(maxsplit=1)[0]
        if "@" not in head or head.split("@", 1)[1].lower() != (context.bot.username or "").lower():
            return
    await say(context, update.effective_chat.id, texts.UNKNOWN_COMMAND)


# ---- buttons -----------------------------------------------------------------------------------


async def on_callback(update: Update, context: Context) -> None:
    query = update.callback_query
    if query is None:
        return
    cb = callbacks.decode(query.data)
    if cb is None:
        await answer(query, texts.CB_INVALID)
        return
    svc = services(context)
    user_id = query.from_user.id
    message_id = query.message.message_id if isinstance(query.message, Message) else None
    try:
        if cb.action is Action.CONSENT:
            await on_consent(context, query, bool(cb.arg))
        elif cb.action is Action.FORGET:
            await on_forget(context, query, cb.arg)
        elif cb.action is Action.NEXT:
            await answer(query)
            await play(context, user_id, user_id)
        elif cb.action is Action.HINT:
            challenge = await svc.db(
                game.show_more, user_id, cb.play_id, cb.arg, now=utcnow(), message_id=message_id
            )
            await answer(query)
            await show_hint(context, query, challenge)
        elif cb.action is Action.GUESS:
            challenge = await svc.db(
                game.open_guess, user_id, cb.play_id, now=utcnow(), message_id=message_id
            )
            await answer(query)
            await edit_caption(
                context,
                query,
                views.guess_caption(numbered(challenge, query)),
                views.options_keyboard(challenge.play_id, challenge.options),
            )
        elif cb.action is Action.OPTION:
            result = await svc.db(
                game.make_guess,
                user_id,
                cb.play_id,
                cb.arg,
                svc.settings,
                now=utcnow(),
                message_id=message_id,
            )
            if result.fast:
                await answer(query, texts.CB_FAST)
            elif result.correct:
                await answer(
                    query,
                    texts.CB_CORRECT.format(points=result.guess_points + result.streak_points),
                )
            else:
                await answer(query, texts.CB_WRONG)
            caption = texts.result_caption(
                result.correct,
                texts.class_label(result.answer),
                result.guess_points,
                result.streak_points,
                result.fast,
            )
            await edit_caption(context, query, caption, views.done_keyboard(result.play_id))
        elif cb.action is Action.RESIGN:
            result = await svc.db(
                game.resign, user_id, cb.play_id, now=utcnow(), message_id=message_id
            )
            await answer(query)
            await edit_caption(
                context,
                query,
                texts.resign_caption(texts.class_label(result.answer)),
                views.next_keyboard(),
            )
        elif cb.action is Action.DONE:
            finished = await svc.db(game.finish_labels, user_id, cb.play_id, now=utcnow())
            await answer(query, texts.CB_DONE)
            await say(context, user_id, summary(finished), views.next_keyboard())
    except GameError as exc:
        if exc.code == "consent":
            await answer(query, texts.CONSENT_NEEDED)
        else:
            await answer(query, error_text(exc))


async def on_consent(context: Context, query: CallbackQuery, accepted: bool) -> None:
    svc = services(context)
    await svc.db(
        game.record_consent,
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


async def on_forget(context: Context, query: CallbackQuery, offered_at: int | None) -> None:
    if offered_at is None:
        await answer(query)
        await edit_text(context, query, texts.FORGET_KEPT, None)
        return
    if time.time() - offered_at > FORGET_CONFIRM_SECONDS or offered_at > time.time() + 60:
        await answer(query, texts.FORGET_EXPIRED)
        await edit_text(context, query, texts.FORGET_EXPIRED, None)
        return
    svc = services(context)
    deleted = await svc.db(game.forget, query.from_user.id, svc.settings.data_dir)
    await answer(query)
    await edit_text(context, query, texts.FORGET_DONE if deleted else texts.FORGET_NOTHING, None)


async def edit_text(
    context: Context, query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None
) -> None:
    message = query.message
    if isinstance(message, Message) and message.text is not None:
        try:
            await context.bot.edit_message_text(
                text, chat_id=message.chat_id, message_id=message.message_id, reply_markup=markup
            )
            return
        except BadRequest as exc:
            if _not_modified(exc):
                return
    await say(context, query.from_user.id, text, markup)


# ---- free text and other messages ---------------------------------------------------------------


async def on_text(update: Update, context: Context) -> None:
    message = update.effective_message
    svc = services(context)
    chat_id = update.effective_chat.id
    reply_to = message.reply_to_message.message_id if message.reply_to_message else None
    try:
        added = await svc.db(
            game.add_labels,
            update.effective_user.id,
            message.text,
            svc.settings,
            reply_to_message_id=reply_to,
            now=utcnow(),
        )
    except GameError as exc:
        if exc.code == "consent":
            await ask_consent(context, chat_id)
        else:
            await say(context, chat_id, error_text(exc))
        return
    await say(
        context,
        chat_id,
        texts.labels_noted(added.labels, added.total, added.flagged),
        views.done_keyboard(added.play_id),
    )


async def on_not_text(update: Update, context: Context) -> None:
    await say(context, update.effective_chat.id, texts.NOT_TEXT)


async def on_edited(update: Update, context: Context) -> None:
    if is_private(update):
        await say(context, update.effective_chat.id, texts.EDITED)


async def on_channel_post(update: Update, context: Context) -> None:
    """Channels: answer a command once with where inv works; ignore ordinary posts."""
    post = update.channel_post
    if post is not None and post.text and post.text.startswith("/"):
        await say(context, post.chat_id, texts.CHANNEL_ONLY_PRIVATE)
    else:
        log.debug(
            "ignored a channel update in chat %s",
            update.effective_chat.id if update.effective_chat else None,
        )


async def on_membership(update: Update, context: Context) -> None:
    """The bot was blocked/unblocked by a user, or removed from/added to a group."""
    change = update.my_chat_member
    if change is None:
        return
    svc = services(context)
    gone = change.new_chat_member.status in (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED)
    if change.chat.type == ChatType.PRIVATE:
        await svc.db(game.set_active, change.chat.id, not gone)
    elif gone:
        await svc.db(game.unsubscribe, change.chat.id)


async def on_migrate(update: Update, context: Context) -> None:
    message = update.effective_message
    if message is not None and message.migrate_to_chat_id:
        await services(context).db(game.migrate_group, message.chat_id, message.migrate_to_chat_id)


# ---- groups ------------------------------------------------------------------------------------


async def is_group_admin(update: Update, context: Context) -> bool:
    chat = update.effective_chat
    message = update.effective_message
    if (
        message is not None
        and message.sender_chat is not None
        and message.sender_chat.id == chat.id
    ):
        return True  # an anonymous group admin posts as the group itself
    user = update.effective_user
    if user is None:
        return False
    member = await context.bot.get_chat_member(chat.id, user.id)
    return member.status in (ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR)


async def cmd_subscribe(update: Update, context: Context) -> None:
    await _group_subscription(update, context, subscribe=True)


async def cmd_unsubscribe(update: Update, context: Context) -> None:
    await _group_subscription(update, context, subscribe=False)


async def _group_subscription(update: Update, context: Context, *, subscribe: bool) -> None:
    command = "subscribe" if subscribe else "unsubscribe"
    chat = update.effective_chat
    if chat.type not in (ChatType.GROUP, ChatType.SUPERGROUP):
        await say(context, chat.id, texts.GROUP_ONLY.format(command=command))
        return
    if await refuse_arguments(update, context, command):
        return
    if not await is_group_admin(update, context):
        await say(context, chat.id, texts.GROUP_ADMINS_ONLY)
        return
    svc = services(context)
    if subscribe:
        await svc.db(game.subscribe, chat.id, chat.title or "")
        await say(
            context,
            chat.id,
            texts.SUBSCRIBED.format(interval=texts.duration(svc.settings.leaderboard_interval)),
        )
    else:
        changed = await svc.db(game.unsubscribe, chat.id)
        await say(context, chat.id, texts.UNSUBSCRIBED if changed else texts.NOT_SUBSCRIBED)


# ---- errors ------------------------------------------------------------------------------------


async def on_error(update: object, context: Context) -> None:
    """Log the traceback, tell the researchers (rate-limited), apologise to the user."""
    error = context.error
    svc = services(context)
    chat = update.effective_chat if isinstance(update, Update) else None
    if isinstance(error, Forbidden) and chat is not None:
        # The user blocked the bot, or it was removed from the group: nothing can be sent there.
        # No chat id in the log: a private chat's id is the person's Telegram id.
        log.info("Telegram refused to deliver to a %s chat; it is marked inactive", chat.type)
        if chat.type == ChatType.PRIVATE:
            await svc.db(game.set_active, chat.id, False)
        else:
            await svc.db(game.unsubscribe, chat.id)
        return
    update_id = update.update_id if isinstance(update, Update) else None
    incident = new_incident_id()
    log.error("incident %s: error while handling update %s", incident, update_id, exc_info=error)
    count = svc.alerts.due(time.monotonic())
    if count is not None and error is not None:
        alert = texts.fit(
            alert_text(texts.ADMIN_ERROR_ALERT, incident, error, count), texts.MAX_TEXT
        )
        for admin_id in svc.settings.admin_user_ids:
            try:
                await context.bot.send_message(admin_id, alert)
            except TelegramError as exc:
                log.warning("could not alert researcher chat: %s", exc.__class__.__name__)
    if chat is not None and chat.type == ChatType.PRIVATE:
        # The apology is a courtesy; the error is logged already.
        with contextlib.suppress(TelegramError):
            await context.bot.send_message(chat.id, texts.APOLOGY)


# ---- registration ------------------------------------------------------------------------------

Handler = Callable[[Update, Context], Awaitable[None]]

PLAYER_HANDLERS: dict[str, Handler] = {
    "start": cmd_start,
    "play": cmd_play,
    "score": cmd_score,
    "leaderboard": cmd_leaderboard,
    "nickname": cmd_nickname,
    "help": cmd_help,
    "forget": cmd_forget,
    "cancel": cmd_cancel,
    "subscribe": cmd_subscribe,
    "unsubscribe": cmd_unsubscribe,
}


def register(app: Application, admin_handlers: dict[str, Handler]) -> None:
    """Add every handler in the order they must be tried."""
    only_new = filters.UpdateType.MESSAGE
    app.add_handler(ChatMemberHandler(on_membership, ChatMemberHandler.MY_CHAT_MEMBER))
    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, on_migrate))
    app.add_handler(MessageHandler(filters.UpdateType.CHANNEL_POSTS, on_channel_post))
    app.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE, on_edited))
    for name, handler in {**PLAYER_HANDLERS, **admin_handlers}.items():
        app.add_handler(CommandHandler(name, handler, filters=only_new))
    app.add_handler(MessageHandler(filters.COMMAND & only_new, cmd_unknown))
    app.add_handler(CallbackQueryHandler(on_callback))
    private = filters.ChatType.PRIVATE & only_new
    app.add_handler(MessageHandler(private & filters.TEXT, on_text))
    app.add_handler(
        MessageHandler(private & ~filters.TEXT & ~filters.StatusUpdate.ALL, on_not_text)
    )
    app.add_error_handler(on_error)
