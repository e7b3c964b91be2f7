"""Pseudonyms: how a participant appears everywhere outside the participant table.

A plain hash of a Telegram id can be reversed by enumerating ids, so the pseudonym is an HMAC keyed
with PSEUDONYM_SECRET (or a secret generated once under DATA_DIR).
"""

from __future__ import annotations

import hashlib
import hmac

PSEUDONYM_LENGTH = 16


def pseudonym(telegram_id: int, key: bytes) -> str:
    digest = hmac.new(key, str(int(telegram_id)).encode(), hashlib.sha256).hexdigest()
    return digest[:PSEUDONYM_LENGTH]
