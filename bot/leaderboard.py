"""Leaderboards: who is shown (a nickname, else a pseudonym; never a Telegram name) and ranks.

Ranks are competition ranks among participants who consented: 1 + the number with more points.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func
from sqlmodel import Session, select

from bot.texts import MAX_TEXT, fit
from storage.models import Participant

TOP_N = 10


@dataclass(frozen=True)
class Row:
    rank: int
    name: str
    points: int
    is_me: bool = False


def display_name(nickname: str | None, pseudonym: str) -> str:
    return nickname or f"player-{pseudonym[:6]}"


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


def format_board(rows: list[Row], *, me: Row | None = None, players: int = 0) -> str:
    if not rows:
        return "No one has played yet. Be the first: /play"
    lines = ["inv leaderboard"]
    for row in rows:
        marker = " (you)" if row.is_me else ""
        lines.append(f"{row.rank}. {row.name}: {row.points:,}{marker}")
    if me is not None and not any(r.is_me for r in rows):
        lines.append(f"…\n{me.rank}. {me.name}: {me.points:,} (you)")
    if players:
        lines.append(f"{players:,} players in total.")
    return fit("\n".join(lines), MAX_TEXT)
