"""`inv bot`: run the Telegram bot (long polling by default, or a webhook for production).

Polling needs nothing but TELEGRAM_BOT_TOKEN. With --webhook-url (or WEBHOOK_URL) the bot
listens on --listen:--port (WEBHOOK_PORT) and registers the URL with a secret token (WEBHOOK_SECRET,
or a random one for this run; never an argument, since `ps` shows arguments). SIGINT/SIGTERM stop
fetching, finish every update already received and exit.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import signal
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inv.settings import Settings

HELP = "run the Telegram bot (long polling, or a webhook)"

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--webhook-url", default=None, help="public HTTPS URL for updates (default: long polling)"
    )
    # Kept only to refuse it with a clear message: any user on the machine can read a process's
    # arguments (ps), so a secret belongs in WEBHOOK_SECRET (environment or .env).
    parser.add_argument("--webhook-secret", default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--listen", default="0.0.0.0", help="webhook listen address (default 0.0.0.0)"
    )
    parser.add_argument(
        "--port", type=int, default=None, help="webhook port (default: WEBHOOK_PORT)"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=16,
        help="updates of different users processed at once (one user's stay in order)",
    )
    parser.add_argument(
        "--no-rate-limit",
        action="store_true",
        help="do not throttle outgoing messages (Telegram may answer 429)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from storage.db import get_engine
    from storage.db_errors import require_schema

    if not settings.token:
        print("inv bot: TELEGRAM_BOT_TOKEN is not set (get one from @BotFather)", file=sys.stderr)
        return 2
    if args.webhook_secret is not None:
        print(WEBHOOK_SECRET_ARGUMENT, file=sys.stderr)
        return 2
    if args.concurrency < 1:
        print("inv bot: --concurrency must be at least 1", file=sys.stderr)
        return 2
    require_schema(get_engine())
    refused = check_token(
        settings.token, settings.telegram_api_base_url, settings.telegram_api_base_file_url
    )
    if refused is not None:
        return refused
    # Imported here: telegram is heavy, and the other subcommands never need it.
    from telegram import Update

    from inv.wiring import bot_application

    app = bot_application(
        settings, concurrency=args.concurrency, rate_limiter=not args.no_rate_limit
    )
    webhook_url = args.webhook_url or settings.webhook_url
    if webhook_url:
        if not webhook_url.startswith("https://") and not webhook_url.startswith(
            "http://127.0.0.1"
        ):
            print("inv bot: --webhook-url must be an https:// URL", file=sys.stderr)
            return 2
        secret = (
            settings.webhook_secret.get_secret_value()
            if settings.webhook_secret
            else secrets.token_urlsafe(32)
        )
        port = args.port or settings.webhook_port
        return asyncio.run(_webhook(app, webhook_url, secret, args.listen, port))
    log.info("inv bot: long polling (Ctrl+C stops)")
    app.run_polling(
        allowed_updates=Update.ALL_TYPES, poll_interval=0.0, timeout=30, drop_pending_updates=False
    )
    return 0


WEBHOOK_SECRET_ARGUMENT = (
    "inv bot: --webhook-secret is no longer accepted, because other users of the machine can "
    "read command lines (ps); set WEBHOOK_SECRET in the environment or .env instead"
)
TOKEN_REJECTED = (
    "inv bot: Telegram rejected the bot token (TELEGRAM_BOT_TOKEN); "
    "get a new one from @BotFather and set it again"
)


def check_token(token: str, base_url: str, base_file_url: str | None = None) -> int | None:
    """One getMe before anything starts: None when the token works, else the exit status.

    Without it a rejected token surfaced as python-telegram-bot's traceback, whose last line
    quotes the token.
    """
    from telegram import Bot
    from telegram.error import InvalidToken, NetworkError

    from bot.redact import protect_token

    protect_token(token)

    async def probe() -> None:
        urls = {"base_url": base_url, **({"base_file_url": base_file_url} if base_file_url else {})}
        async with Bot(token, **urls):  # entering calls getMe
            pass

    try:
        asyncio.run(probe())
    except InvalidToken:
        print(TOKEN_REJECTED, file=sys.stderr)
        return 2
    except NetworkError as exc:
        print(
            f"inv bot: cannot reach the Bot API ({exc.__class__.__name__}); "
            "check TELEGRAM_API_BASE_URL and the network",
            file=sys.stderr,
        )
        return 1
    return None


async def _webhook(app, url: str, secret: str, listen: str, port: int) -> int:  # type: ignore[no-untyped-def]
    from bot.webhook import serve_webhook

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve_webhook(app, url=url, secret=secret, listen=listen, port=port, stop=stop)
    return 0
