"""Incident ids: how a researcher's alert points into the log without repeating what it says.

An exception's message can quote anything it touched (a SQL statement's parameters, a chat id,
a player's words), so alerts carry only the exception's class and a short random id; the log
line with the traceback carries the same id.
"""

from __future__ import annotations

import secrets

INCIDENT_ID_BYTES = 4  # 8 hex characters: unique enough among one deployment's errors


def new_incident_id() -> str:
    return secrets.token_hex(INCIDENT_ID_BYTES)


def alert_text(template: str, incident: str, error: BaseException, count: int) -> str:
    return template.format(incident=incident, error=type(error).__name__, count=count)
