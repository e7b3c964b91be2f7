"""Leaderboards: who is shown (a nickname, else a pseudonym; never a Telegram name) and ranks.

Ranks are competition ranks among participants who consented: 1 + the number with more points.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func
from sqlmodel import Session, select

from bot.names import friendly_name
from bot.texts import MAX_TEXT, fit, plural
from storage.models import Participant

TOP_N = 10


@dataclass(frozen=True)
class Row:
    rank: int
    name: str
    points: int
    is_me: bool = False


def display_name(nickname: str | None, pseudonym: str) -> str:
    """The nickname, else the friendly name derived from the pseudonym (players who joined
    before names were stored at consent)."""
    return nickname or friendly_name(pseudonym)


def _players():
    return Participant.consent_at.is_not(None)  # type: ignore[union-attr]


def rank_of(session: Session, points: int) -> tuple[int, int]:
    """(rank of someone with `points`, number of players), in one query."""
    higher = func.coalesce(func.sum(case((Participant.points > points, 1), else_=0)), 0)
    total, above = session.exec(
        select(func.count(), higher).select_from(Participant).where(_players())
    ).one()
    return int(above) + 1, int(total)


def top(session: Session, n: int = TOP_N, *, me: int | None = None) -> list[Row]:
    """The `n` best players (ties in order of joining), marking participant id `me`."""
    rows = session.exec(
        select(Participant.id, Participant.nickname, Participant.pseudonym, Participant.points)
        .where(_players())
        .order_by(Participant.points.desc(), Participant.id)  # type: ignore[attr-defined]
        .limit(n)
    ).all()
    out: list[Row] = []
    for i, (pid, nickname, pseudonym, points) in enumerate(rows):
        # Competition ranking: equal points share the rank of the first of them.
        rank = out[-1].rank if out and out[-1].points == points else i + 1
        out.append(Row(rank, display_name(nickname, pseudonym), int(points), pid == me))
    return out


MEDALS = ("🥇", "🥈", "🥉")


def _line(row: Row) -> str:
    place = MEDALS[row.rank - 1] if row.rank <= len(MEDALS) else f"{row.rank}."
    marker = " (you)" if row.is_me else ""
    return f"{place} {row.name}: {row.points:,}{marker}"


def format_board(rows: list[Row], *, me: Row | None = None, players: int = 0) -> str:
    """The leaderboard a player asks for: the top 10, their own row, how to play on."""
    if not rows:
        return "No one has played yet. Be the first: /play"
    lines = ["inv leaderboard"]
    lines += [_line(row) for row in rows]
    if me is not None and not any(r.is_me for r in rows):
        lines.append(f"…\n{_line(me)}")
    if players:
        lines.append(f"{plural(players, 'player')} in total.")
    lines.append("Send /play to play.")
    return fit("\n".join(lines), MAX_TEXT)


def format_group_post(rows: list[Row], *, players: int, when: datetime, every: str) -> str:
    """The regular post in subscribed groups: the date, medals, and how often it comes."""
    lines = [f"inv leaderboard, {when:%a %d %b %Y} (posted {every})"]
    if rows:
        lines += [_line(row) for row in rows]
        lines.append(f"{plural(players, 'player')} in total. Press Play to join in.")
    else:
        lines.append("No one has played yet. Press Play to be the first.")
    return fit("\n".join(lines), MAX_TEXT)
