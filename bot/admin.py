"""Researchers' commands (/stats, /export, /report, /rebuild, /announce) and the scheduled jobs.

Only ADMIN_USER_IDS may run these; anyone else gets a polite refusal and nothing else happens.
Heavy work (the export, the rebuild) runs in worker threads; the rebuild's progress edits one
status message in place. /rebuild and the scheduled rebuild exist only when the application hands
the bot a rebuild function (`build_application(..., rebuild=...)`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from typing import Any

from telegram import Message, Update
from telegram.error import BadRequest, ChatMigrated, Forbidden, TelegramError
from telegram.ext import Application, ContextTypes

from bot import flood, groups, profile, stats, texts, views
from bot.handlers import Handler
from bot.leaderboard import format_group_post
from bot.replies import is_private, refuse_arguments, say
from bot.services import services
from storage.models import utcnow
from storage.privacy import pseudonym

log = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
PROGRESS_EDIT_SECONDS = 2.0
ANNOUNCE_SPACING_SECONDS = 0.05  # between groups; the rate limiter enforces Telegram's limits


async def _admin(update: Update, context: Context) -> bool:
    """True for researchers in their private chat; everyone else gets a refusal.

    In a group every member would see the answer (an export's zip, the stats), so a researcher
    there is pointed to the private chat instead.
    """
    user = update.effective_user
    if user is None or not services(context).settings.is_admin(user.id):
        await say(context, update.effective_chat.id, texts.ADMIN_ONLY)
        return False
    if not is_private(update):
        link = f"https://t.me/{context.bot.username}"
        await say(
            context, update.effective_chat.id, texts.RESEARCHERS_PRIVATE_ONLY.format(link=link)
        )
        return False
    return True


async def cmd_stats(update: Update, context: Context) -> None:
    if not await _admin(update, context) or await refuse_arguments(update, context, "stats"):
        return
    svc = services(context)
    result = await svc.db(stats.collect, svc.settings.plays_per_challenge)
    gate = context.application.bot_data.get("flood")
    text = f"{stats.format_stats(result)}\n{flood.stats_line(gate)}"
    await say(context, update.effective_chat.id, text)


async def cmd_export(update: Update, context: Context) -> None:
    if not await _admin(update, context) or await refuse_arguments(update, context, "export"):
        return
    from storage.export import write_export  # the export is plain storage code, loaded on demand

    svc = services(context)
    chat_id = update.effective_chat.id
    status = await say(context, chat_id, texts.EXPORT_STARTED)
    requested_by = pseudonym(update.effective_user.id, svc.settings.pseudonym_key)
    try:
        result = await asyncio.to_thread(
            write_export,
            data_dir=svc.settings.data_dir,
            parameters=svc.settings.export_parameters,
            engine=svc.db.engine,
            requested_by=requested_by,
        )
    except Exception as exc:
        log.exception("export failed")
        await _edit(context, status, texts.EXPORT_FAILED.format(error=type(exc).__name__))
        return
    counts = ", ".join(
        f"{k} {v:,}" for k, v in result.counts.items() if k in ("participants", "plays", "answers")
    )
    if not result.fits_telegram:
        await _edit(
            context,
            status,
            texts.EXPORT_TOO_BIG.format(size=f"{result.size_bytes / 1e6:.0f}", path=result.path),
        )
        return
    with result.path.open("rb") as fh:
        await context.bot.send_document(
            chat_id,
            fh,
            filename=result.path.name,
            caption=texts.fit(f"inv export: {counts}", texts.MAX_CAPTION),
        )
    await _edit(
        context, status, f"Export ready: {result.path.name} ({result.size_bytes / 1e6:.2f} MB)."
    )


async def cmd_report(update: Update, context: Context) -> None:
    if not await _admin(update, context) or await refuse_arguments(update, context, "report"):
        return
    # Loaded on demand: the report reads the database and DATA_DIR (numpy and PIL, no torch).
    from engine.report import build_report, default_report_path
    from storage.export import TELEGRAM_DOCUMENT_LIMIT

    svc = services(context)
    chat_id = update.effective_chat.id
    status = await say(context, chat_id, texts.REPORT_STARTED)
    data_dir = svc.settings.data_dir
    try:
        path = await asyncio.to_thread(
            build_report, default_report_path(data_dir), data_dir=data_dir, engine=svc.db.engine
        )
    except Exception as exc:
        log.exception("report failed")
        await _edit(context, status, texts.REPORT_FAILED.format(error=type(exc).__name__))
        return
    size = path.stat().st_size
    if size > TELEGRAM_DOCUMENT_LIMIT:
        await _edit(
            context, status, texts.REPORT_TOO_BIG.format(size=f"{size / 1e6:.0f}", path=path)
        )
        return
    with path.open("rb") as fh:
        await context.bot.send_document(
            chat_id, fh, filename=path.name, caption="inv report (open it in a browser)"
        )
    await _edit(context, status, f"Report ready: {path.name} ({size / 1e6:.2f} MB).")


async def _edit(context: Context, message: Message, text: str) -> None:
    try:
        await context.bot.edit_message_text(
            texts.fit(text, texts.MAX_TEXT), chat_id=message.chat_id, message_id=message.message_id
        )
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise


async def run_rebuild(context: Context, *, full: bool, status: Message | None) -> Any:
    """The rebuild in its worker thread; progress edits `status` at most every few seconds."""
    svc = services(context)
    assert svc.rebuild is not None
    loop = asyncio.get_running_loop()
    latest: dict[str, Any] = {}

    def progress(stage: str, fraction: float) -> None:  # called in the worker thread
        loop.call_soon_threadsafe(latest.update, {"stage": stage, "fraction": fraction})

    future = loop.run_in_executor(
        svc.rebuild_pool, lambda: svc.rebuild(full=full, progress=progress)
    )
    shown: dict[str, Any] = {}
    while not future.done():
        await asyncio.wait({future}, timeout=PROGRESS_EDIT_SECONDS)
        if status is not None and latest and latest != shown and not future.done():
            shown = dict(latest)
            text = texts.REBUILD_PROGRESS.format(
                stage=stats.rebuild_stage(shown["stage"]), percent=100 * float(shown["fraction"])
            )
            try:
                await _edit(context, status, text)
            except TelegramError as exc:
                log.info("could not show rebuild progress: %s", exc)
    return future.result()


async def cmd_rebuild(update: Update, context: Context) -> None:
    if not await _admin(update, context):
        return
    args = update.effective_message.text.split()[1:] if update.effective_message.text else []
    if args not in ([], ["full"]):
        await say(
            context,
            update.effective_chat.id,
            "Use /rebuild, or /rebuild full to recompute every class.",
        )
        return
    status = await say(context, update.effective_chat.id, texts.REBUILD_STARTED)
    try:
        report = await run_rebuild(context, full=bool(args), status=status)
    except Exception as exc:
        log.exception("rebuild failed")
        await _edit(context, status, texts.REBUILD_FAILED.format(error=type(exc).__name__))
        return
    names = await services(context).db(stats.class_names)
    await _edit(context, status, stats.rebuild_summary(report, names))


async def announce(context: Context) -> tuple[int, int]:
    """Post the leaderboard to every subscribed group; (posted, unsubscribed)."""
    svc = services(context)
    chat_ids = await svc.db(groups.groups_to_announce)
    if not chat_ids:
        return 0, 0
    rows, _me, players = await svc.db(profile.leaderboard, None)
    text = format_group_post(
        rows,
        players=players,
        when=utcnow(),
        every=texts.every(svc.settings.leaderboard_interval),
    )
    play_button = views.play_link_keyboard(f"https://t.me/{context.bot.username}?start=play")
    posted = removed = 0
    for chat_id in chat_ids:
        target = chat_id
        for _attempt in range(2):
            try:
                message = await context.bot.send_message(target, text, reply_markup=play_button)
                await svc.db(groups.record_announcement, target, message.message_id)
                posted += 1
                break
            except ChatMigrated as exc:
                await svc.db(groups.migrate_group, target, exc.new_chat_id)
                target = exc.new_chat_id
            except (Forbidden, BadRequest) as exc:
                # Removed from the group, or the group is gone: unsubscribe instead of retrying forever.
                log.info("unsubscribing a group: %s", exc.__class__.__name__)
                await svc.db(groups.unsubscribe, target)
                removed += 1
                break
            except TelegramError as exc:
                log.warning("a leaderboard post failed: %s", exc.__class__.__name__)
                break
        await asyncio.sleep(ANNOUNCE_SPACING_SECONDS)
    return posted, removed


async def cmd_announce(update: Update, context: Context) -> None:
    if not await _admin(update, context) or await refuse_arguments(update, context, "announce"):
        return
    posted, removed = await announce(context)
    await say(
        context, update.effective_chat.id, texts.ANNOUNCED.format(posted=posted, removed=removed)
    )


async def leaderboard_job(context: Context) -> None:
    posted, removed = await announce(context)
    log.info("leaderboard posted to %d groups (%d unsubscribed)", posted, removed)


async def report_new_failures(context: Context, report: Any) -> None:
    """Tell researchers about classes that newly failed to rebuild (each failure once; the
    rebuild tries them again silently). Class indices and exception classes only: the error
    text itself may quote crowd text, and stays in the log."""
    failures = getattr(report, "new_failures", None)
    if not failures:
        return
    listed = ", ".join(f"{c} ({e})" for c, e in sorted(failures.items()))
    text = texts.REBUILD_CLASSES_FAILED.format(classes=listed)
    for admin_id in services(context).settings.admin_user_ids:
        try:
            await say(context, admin_id, text)
        except TelegramError as exc:
            log.warning("could not tell a researcher about failed classes: %s", type(exc).__name__)


async def rebuild_job(context: Context) -> None:
    started = time.monotonic()
    try:
        report = await run_rebuild(context, full=False, status=None)
    except Exception:
        log.exception("scheduled rebuild failed")
        return
    log.info("scheduled rebuild (%.1f s): %s", time.monotonic() - started, report.summary())
    await report_new_failures(context, report)


def admin_handlers(rebuild_available: bool) -> dict[str, Handler]:
    handlers: dict[str, Handler] = {
        "stats": cmd_stats,
        "export": cmd_export,
        "report": cmd_report,
        "announce": cmd_announce,
    }
    if rebuild_available:
        handlers["rebuild"] = cmd_rebuild
    return handlers


def schedule_jobs(
    app: Application, *, leaderboard_interval: int, rebuild_interval: int | None
) -> None:
    """Repeating jobs; coalesced, never overlapping, late runs within half an interval still run."""
    queue = app.job_queue
    if queue is None:
        raise RuntimeError("python-telegram-bot was installed without its job-queue extra")

    def kwargs(interval: int) -> dict[str, Any]:
        return {"coalesce": True, "max_instances": 1, "misfire_grace_time": max(1, interval // 2)}

    queue.run_repeating(
        leaderboard_job,
        interval=timedelta(seconds=leaderboard_interval),
        first=timedelta(seconds=leaderboard_interval),
        name="leaderboard",
        job_kwargs=kwargs(leaderboard_interval),
    )
    if rebuild_interval is not None:
        queue.run_repeating(
            rebuild_job,
            interval=timedelta(seconds=rebuild_interval),
            first=timedelta(seconds=rebuild_interval),
            name="rebuild",
            job_kwargs=kwargs(rebuild_interval),
        )
