"""Pseudonyms: how a participant appears everywhere outside the participant table.

A plain hash of a Telegram id can be reversed by enumerating ids, so the pseudonym is an HMAC keyed
with PSEUDONYM_SECRET (or a secret generated once under DATA_DIR).
"""

from __future__ import annotations

import hashlib
import hmac

from storage.settings import get_settings

PSEUDONYM_LENGTH = 16


def pseudonym(telegram_id: int, key: bytes | None = None) -> str:
    key = key if key is not None else get_settings().pseudonym_key()
    digest = hmac.new(key, str(int(telegram_id)).encode(), hashlib.sha256).hexdigest()
    return digest[:PSEUDONYM_LENGTH]
