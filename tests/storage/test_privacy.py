"""Pseudonyms are pinned by known answers: a silent change would break every earlier export."""

from __future__ import annotations

from storage.privacy import PSEUDONYM_LENGTH, pseudonym

# HMAC-SHA256 with this key over the decimal id, hex digest, first 16 characters. Computed outside
# Python: printf '%s' 123456789 | openssl dgst -sha256 -hmac 'inv-known-answer-key-0123456789abcdef'
KEY = b"inv-known-answer-key-0123456789abcdef"


def test_pseudonym_known_answers() -> None:
    assert PSEUDONYM_LENGTH == 16
    assert pseudonym(123456789, key=KEY) == "28b21c22ae7f212e"
    assert pseudonym(42, key=KEY) == "d5a16a8776eb3890"


def test_pseudonym_depends_on_the_key() -> None:
    assert pseudonym(42, key=KEY + b"x") != pseudonym(42, key=KEY)
