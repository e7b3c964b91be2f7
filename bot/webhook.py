"""Receiving updates by webhook: a small aiohttp server feeding the Application's update queue.

This is python-telegram-bot's "custom webhook" pattern (its examples do the same with Starlette
or Flask): Telegram POSTs each update as JSON to WEBHOOK_URL with the secret token in the
`X-Telegram-Bot-Api-Secret-Token` header; a request without the right secret is refused with
403 and never reaches the game.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from urllib.parse import urlparse

from aiohttp import web
from telegram import Update
from telegram.ext import Application

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def make_webhook_app(app: Application, secret: str, path: str) -> web.Application:
    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            return web.Response(status=403)
        try:
            data = await request.json(loads=json.loads)
            update = Update.de_json(data, app.bot)
        except (ValueError, TypeError, KeyError):
            return web.Response(status=400)
        await app.update_queue.put(update)
        return web.Response(status=200)

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    web_app = web.Application()
    web_app.router.add_post(path, receive)
    web_app.router.add_get("/healthz", health)
    return web_app


async def serve_webhook(
    app: Application, *, url: str, secret: str, listen: str, port: int, stop: asyncio.Event
) -> None:
    """Run the application on a webhook until `stop` is set, then shut down without losing updates."""
    path = urlparse(url).path or "/"
    await app.initialize()
    if app.post_init is not None:
        await app.post_init(app)
    runner = web.AppRunner(
        make_webhook_app(app, secret, path), access_log=None, handle_signals=False
    )
    await runner.setup()
    site = web.TCPSite(runner, listen, port)
    await site.start()
    await app.start()
    await app.bot.set_webhook(url, secret_token=secret, allowed_updates=Update.ALL_TYPES)
    log.info("listening for Telegram updates on %s:%s%s", listen, port, path)
    try:
        await stop.wait()
    finally:
        # Stop accepting first; Telegram keeps undelivered updates and retries them later.
        await runner.cleanup()
        await app.stop()
        await app.shutdown()
        if app.post_shutdown is not None:
            await app.post_shutdown(app)
