"""Nicknames cannot impersonate another player or a default name, nor look blank."""

from __future__ import annotations

import json
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from bot import nicknames, texts
from bot.build_confusables import DEFAULT_OUT
from bot.leaderboard import display_name
from storage.db import session_scope
from storage.models import Participant
from testkit.fake_telegram import FakeTelegram
from tests.bot.helpers import BotRunner, Player


def test_the_shipped_table_is_unicodes_confusables_data() -> None:
    table = json.loads(DEFAULT_OUT.read_text(encoding="utf-8"))
    assert table["unicode_version"] and len(table["source_sha256"]) == 64
    prototypes = table["prototypes"]
    assert len(prototypes) > 6000
    # Known entries: Cyrillic а, fullwidth Ａ, capital I and digit one look like l, zero like O.
    assert (prototypes["а"], prototypes["Ａ"], prototypes["I"], prototypes["1"]) == (
        "a",
        "A",
        "l",
        "l",
    )
    assert prototypes["0"] == "O" and prototypes["m"] == "rn"


@pytest.mark.parametrize(
    ("name", "other"),
    [
        ("Аlice", "Alice"),  # Cyrillic А
        ("Ａｌｉｃｅ", "Alice"),  # fullwidth
        ("AIice", "Alice"),  # capital i for l
        ("ALICE", "alice"),
        ("Zoë", "Zoe"),
        ("Brave 0tter", "Brave Otter"),  # a friendly default name, a digit for a letter
        ("rnaria", "maria"),
    ],
)
def test_look_alikes_clash(name: str, other: str) -> None:
    assert nicknames.clashes(name, [other])


def test_different_names_do_not_clash() -> None:
    assert not nicknames.clashes("Alice", ["Alicia", "Bob", "player-1a2b3c"])


@pytest.mark.parametrize(
    "name",
    [
        "ㅤㅤㅤ",  # Hangul filler, a "letter" that shows blank
        "ﾠﾠﾠ",  # halfwidth Hangul filler
        "ab\u3164c",
        "⠀⠀⠀ab",  # Braille blank
        "ab\u200bcd",  # zero-width space
        "ab\u202ecd",  # right-to-left override
        "ab\u2066cd",  # left-to-right isolate
        "abc\u0301\u0301\u0301",  # stacked combining marks
        "рlayer-0a1b2c",  # Cyrillic р: imitates a default name
        "PLAYER-0A1B2C",
        "pIayer-Oa1b2c",
        "player-1a2b3c",
        "0123456789abcdef",
    ],
)
def test_invisible_filler_bidi_and_default_look_alikes_are_refused(name: str) -> None:
    assert nicknames.clean(name) is None


def test_nfkc_is_what_is_shown() -> None:
    assert nicknames.clean("Ａｌｉｃｅ") == "Alice"
    assert nicknames.clean("  Grace   Hopper ") == "Grace Hopper"


def _nickname_of(user_id: int) -> str | None:
    with session_scope() as session:
        participant = session.exec(
            select(Participant).where(Participant.telegram_id == user_id)
        ).one()
        return participant.nickname


def test_impersonation_through_the_bot_is_refused(bot: BotRunner, fake: FakeTelegram) -> None:
    alice, mallory, carol = Player(fake, 71), Player(fake, 72), Player(fake, 73)
    for p in (alice, mallory, carol):
        p.join()
    assert alice.say("/nickname Alice").text == texts.NICKNAME_SET.format(name="Alice")
    given = _nickname_of(72)  # the friendly default name, stored when Mallory joined
    for attempt in ("Аlice", "Ａｌｉｃｅ", "AIice"):
        assert mallory.say(f"/nickname {attempt}").text == texts.NICKNAME_TAKEN
    for attempt in ("ㅤㅤㅤ", "рlayer-0a1b2c", "Al\u202eice"):
        assert mallory.say(f"/nickname {attempt}").text == texts.NICKNAME_INVALID
    # Another player's default name, whatever its form, in look-alike letters.
    with session_scope() as session:
        carol_row = session.exec(select(Participant).where(Participant.telegram_id == 73)).one()
        carol_default = display_name(None, carol_row.pseudonym)
    look_alike = carol_default.replace("l", "I").replace("a", "а")
    assert mallory.say(f"/nickname {look_alike}").text in (
        texts.NICKNAME_TAKEN,
        texts.NICKNAME_INVALID,
    )
    assert _nickname_of(72) == given
    assert mallory.say("/nickname Mallory").text == texts.NICKNAME_SET.format(name="Mallory")


# ---- hostile text through the handler -------------------------------------------------------------

hostile_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=60
) | st.sampled_from(
    ["ㅤㅤㅤ", "\u202eevil", "$x^{$", "<b>x</b>", "=HYPERLINK(1)", "a" * 4000, "👍👍👍", "\\\\{}"]
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(name=hostile_text)
def test_any_nickname_text_gets_a_clear_answer_and_stores_only_a_clean_name(
    bot: BotRunner, fake: FakeTelegram, name: str
) -> None:
    player = Player(fake, 74)
    if not fake.requests("editMessageText", chat_id=74):
        player.join()
    reply = player.say(f"/nickname {name}")
    assert reply.ok
    assert reply.text != texts.APOLOGY
    stored = _nickname_of(74)
    cleaned = nicknames.clean(" ".join(name.split()))
    if reply.text.startswith("Your leaderboard name is now"):
        assert stored == cleaned and stored is not None
        assert not any(unicodedata.category(ch) in ("Cf", "Cc", "Mn") for ch in stored)
        assert not any(ch in nicknames.FILLERS for ch in stored)
