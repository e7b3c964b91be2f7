"""Consent: asking once, recording yes or no, and the name a new player is given.

Only a participant who agreed plays, is ranked or exported; one who declined keeps just their
Telegram id (so they are not asked again) and when they said no.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from bot import dbcontext, nicknames
from bot.leaderboard import display_name
from bot.names import unique_name
from storage.models import Participant, utcnow
from storage.repo import get_or_create_participant, get_participant


def _default_name(session: Session, participant: Participant) -> str:
    """A friendly name derived from the pseudonym that looks like no other player's name."""
    others = nicknames.other_players(session, participant.id)
    shown = [display_name(nick, pseudo) for nick, pseudo in others]

    def taken(name: str) -> bool:
        return nicknames.clashes(name, shown)

    return unique_name(participant.pseudonym, taken)


def has_consented(telegram_id: int) -> bool:
    with dbcontext.scope(readonly=True) as session:
        participant = get_participant(session, telegram_id)
        return participant is not None and participant.consent_at is not None


def record_consent(
    telegram_id: int, accepted: bool, *, key: bytes, now: datetime | None = None
) -> bool:
    """Store the consent decision; True when it changed anything (a second press does not).

    A new participant's pseudonym is the HMAC of their id under `key`."""
    now = now or utcnow()
    with dbcontext.scope() as session:
        participant = get_participant(session, telegram_id)
        if accepted:
            participant = participant or get_or_create_participant(session, telegram_id, key=key)
            if participant.consent_at is not None:
                return False
            participant.consent_at = now
            participant.consent_declined_at = None
            participant.active = True
            participant.last_seen_at = now
            if participant.nickname is None:
                participant.nickname = _default_name(session, participant)
            return True
        if participant is not None and participant.consent_at is not None:
            return False  # an old "No" button; leaving is /forget
        # Kept: the Telegram id (to recognise them and not ask again) and when they said no.
        # Every other field stays at its default; they are never exported and never ranked.
        participant = participant or get_or_create_participant(session, telegram_id, key=key)
        participant.consent_declined_at = now
        participant.created_at = participant.last_seen_at = now
        participant.active = False
        return True


def has_declined(telegram_id: int) -> bool:
    """Whether this person said no to taking part (and has not agreed since)."""
    with dbcontext.scope(readonly=True) as session:
        participant = get_participant(session, telegram_id)
        return (
            participant is not None
            and participant.consent_at is None
            and participant.consent_declined_at is not None
        )
