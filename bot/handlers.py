"""Telegram handlers of commands, messages, groups and errors, and the order they are tried in.

Each parses the update, calls a game function in the database thread and replies (bot.replies).
No decision is taken here: the game's modules (bot.play_flow, bot.labelling, bot.consent,
bot.profile, bot.groups) decide and raise `GameError` for refusals. Button presses are in
bot.buttons, the challenge message in bot.challenge. Challenges are played in private chats only;
groups get the leaderboard.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from telegram import (
    Update,
)
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import Forbidden, TelegramError
from telegram.ext import (
    Application,
    ChatMemberHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot import buttons, consent, groups, labelling, payoff, play_flow, profile, texts, views
from bot.challenge import ask_consent, play, show_consent, summary, tell_refusal
from bot.incidents import alert_text, new_incident_id
from bot.leaderboard import format_board
from bot.refusals import GameError
from bot.replies import (
    command_args,
    is_private,
    private_only,
    refuse_arguments,
    say,
)
from bot.services import Context, services
from storage.models import utcnow

log = logging.getLogger(__name__)


# ---- replies -----------------------------------------------------------------------------------


# ---- the challenge -----------------------------------------------------------------------------


# ---- commands ----------------------------------------------------------------------------------


async def cmd_start(update: Update, context: Context) -> None:
    if await private_only(update, context):
        return
    svc = services(context)
    if await svc.db(consent.has_consented, update.effective_user.id):
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
        s = await services(context).db(profile.score, update.effective_user.id)
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
    rows, me, players = await services(context).db(profile.leaderboard, user_id)
    await say(context, update.effective_chat.id, format_board(rows, me=me, players=players))


async def cmd_nickname(update: Update, context: Context) -> None:
    if await private_only(update, context):
        return
    svc = services(context)
    chat_id = update.effective_chat.id
    name = command_args(update)
    try:
        if not name:
            current = await svc.db(profile.current_name, update.effective_user.id)
            await say(context, chat_id, texts.NICKNAME_USAGE.format(name=current))
            return
        chosen = await svc.db(profile.set_nickname, update.effective_user.id, name)
    except GameError as exc:
        await tell_refusal(context, chat_id, exc)
        return
    await say(context, chat_id, texts.NICKNAME_SET.format(name=chosen))


async def cmd_help(update: Update, context: Context) -> None:
    await say(
        context,
        update.effective_chat.id,
        texts.help_text(
            researcher=is_private(update)
            and update.effective_user is not None
            and services(context).settings.is_admin(update.effective_user.id),
            rebuild_available=services(context).rebuild is not None,
        ),
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
    result = await services(context).db(play_flow.cancel, update.effective_user.id, now=utcnow())
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


# ---- free text and other messages ---------------------------------------------------------------


async def on_text(update: Update, context: Context) -> None:
    message = update.effective_message
    svc = services(context)
    chat_id = update.effective_chat.id
    reply_to = message.reply_to_message.message_id if message.reply_to_message else None
    try:
        added = await svc.db(
            labelling.add_labels,
            update.effective_user.id,
            message.text,
            svc.settings,
            reply_to_message_id=reply_to,
            now=utcnow(),
        )
    except GameError as exc:
        await tell_refusal(context, chat_id, exc)
        return
    await payoff.list_words(context, chat_id, added)


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
        await svc.db(profile.set_active, change.chat.id, not gone)
    elif gone:
        await svc.db(groups.unsubscribe, change.chat.id)


async def on_migrate(update: Update, context: Context) -> None:
    message = update.effective_message
    if message is not None and message.migrate_to_chat_id:
        await services(context).db(
            groups.migrate_group, message.chat_id, message.migrate_to_chat_id
        )


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
        await svc.db(groups.subscribe, chat.id, chat.title or "")
        await say(
            context,
            chat.id,
            texts.SUBSCRIBED.format(interval=texts.every(svc.settings.leaderboard_interval)),
        )
    else:
        changed = await svc.db(groups.unsubscribe, chat.id)
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
            await svc.db(profile.set_active, chat.id, False)
        else:
            await svc.db(groups.unsubscribe, chat.id)
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
    buttons.register(app)
    private = filters.ChatType.PRIVATE & only_new
    app.add_handler(MessageHandler(private & filters.TEXT, on_text))
    app.add_handler(
        MessageHandler(private & ~filters.TEXT & ~filters.StatusUpdate.ALL, on_not_text)
    )
    app.add_error_handler(on_error)
