"""Keeping the bot token out of every line inv prints: log messages, tracebacks, CLI errors.

Bot API URLs contain the token, and python-telegram-bot quotes it in InvalidToken's message, so
any text that may hold it goes through `redact` first. The token's secret half (after the colon)
is what is replaced: the bot id before it is public.
"""

from __future__ import annotations

import logging

PLACEHOLDER = "<token>"


def secret_part(token: str) -> str:
    """What must never be shown: the part after `id:`, or the whole value if it has no colon."""
    _bot_id, sep, secret = token.partition(":")
    return secret if sep and secret else token


def redact(text: str, token: str | None) -> str:
    if not token:
        return text
    text = text.replace(token, PLACEHOLDER)
    secret = secret_part(token)
    return text.replace(secret, PLACEHOLDER) if secret else text


class RedactToken(logging.Filter):
    """Replaces the token in a record's message, its traceback and its stack.

    Attached to a handler it covers every record that handler writes; attached to a logger,
    only records created by that logger.
    """

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message, self.token)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info and not record.exc_text:
            # Formatted here so the handler prints this redacted text instead of formatting anew.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            cleaned = redact(record.exc_text, self.token)
            if cleaned != record.exc_text:
                # The exception itself quotes the token: nothing may format it again.
                record.exc_text, record.exc_info = cleaned, None
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.token)
        return True


def protect_handlers(token: str, handlers: list[logging.Handler]) -> None:
    for handler in handlers:
        if not any(isinstance(f, RedactToken) and f.token == token for f in handler.filters):
            handler.addFilter(RedactToken(token))


def protect_loggers(token: str, names: tuple[str, ...]) -> None:
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactToken) and f.token == token for f in logger.filters):
            logger.addFilter(RedactToken(token))


# Loggers that would print request URLs, and Bot API URLs contain the token.
URL_LOGGERS = ("httpx", "httpcore")
# python-telegram-bot logs "Set Bot API URL: <base_url><token>" at DEBUG when a bot is created.
TOKEN_LOGGERS = ("telegram.Bot", "telegram.ext.ExtBot", "telegram.request", *URL_LOGGERS)


def protect_token(token: str) -> None:
    """Keep `token` out of the logs even at DEBUG: the loggers that see URLs, and every handler
    configured so far (records of all loggers, tracebacks included, pass through those)."""
    protect_loggers(token, TOKEN_LOGGERS)
    protect_handlers(token, logging.getLogger().handlers)


def quiet_url_loggers() -> None:
    """Request URLs only at WARNING and above."""
    for name in URL_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
