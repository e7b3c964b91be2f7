"""Database failures as one line that names the cause and the fix.

A command that cannot reach its database should say why (the server refuses connections, the
host cannot be reached, the credentials are wrong, the database does not exist, the schema is
old) and what to do, instead of a page of driver traceback. The messages never contain a
password: the URL is shown as host, port and database name only.
"""

from __future__ import annotations

from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError


class DatabaseNotReady(RuntimeError):
    """The database cannot be used as it is; `str(exc)` is one line with cause and fix."""


# Lower-case fragments of driver messages (psycopg / libpq, sqlite3) -> the cause they mean.
_REFUSED = ("connection refused",)
_UNREACHABLE = (
    "failed to resolve host",
    "name or service not known",
    "could not translate host name",
    "temporary failure in name resolution",
    "no route to host",
    "network is unreachable",
    "timeout expired",
    "timed out",
    "server closed the connection unexpectedly",
)
_BAD_CREDENTIALS = (
    "password authentication failed",
    "authentication failed",
    "no password supplied",
    'role "',  # role "x" does not exist
    "no pg_hba.conf entry",
)
_NO_DATABASE = ('database "',)  # database "x" does not exist
_SQLITE_OPEN = ("unable to open database file",)


def _where(url: URL) -> str:
    if url.get_backend_name() == "sqlite":
        return f"SQLite file {url.database}"
    host = url.host or "localhost"
    port = url.port or 5432
    return f"PostgreSQL at {host}:{port}"


def describe_failure(exc: BaseException, url: URL | str) -> str | None:
    """One line for a connection failure, or None when `exc` is not one."""
    if not isinstance(exc, DBAPIError):
        return None
    url = make_url(url) if isinstance(url, str) else url
    original = exc.orig if exc.orig is not None else exc
    text = " ".join(str(original).split()).lower()
    where = _where(url)
    if any(fragment in text for fragment in _REFUSED):
        return (
            f"{where} refused the connection (no server listening there); "
            "start PostgreSQL or fix the host and port in DATABASE_URL"
        )
    if any(fragment in text for fragment in _UNREACHABLE):
        return (
            f"{where} is unreachable (host unknown or not answering); "
            "check the host in DATABASE_URL and that the network reaches it"
        )
    if "does not exist" in text and any(fragment in text for fragment in _NO_DATABASE):
        return (
            f"database {url.database!r} does not exist on {where}; "
            f"create it (createdb {url.database}) or fix the database name in DATABASE_URL"
        )
    if any(fragment in text for fragment in _BAD_CREDENTIALS):
        return (
            f"{where} rejected user {url.username or '(none)'!r} (bad user name or password); "
            "fix the credentials in DATABASE_URL"
        )
    if any(fragment in text for fragment in _SQLITE_OPEN):
        return (
            f"cannot open the {where}; check DATA_DIR or DATABASE_URL and that the folder "
            "is writable"
        )
    if isinstance(exc, OperationalError | ProgrammingError):
        first_line = str(original).strip().splitlines()[0] if str(original).strip() else ""
        return f"cannot use the database at {where}: {first_line}; check DATABASE_URL"
    return None


def require_schema(engine: Engine) -> None:
    """Raise DatabaseNotReady unless the database is reachable and at the newest schema."""
    from storage import migrate  # alembic loads only when a command needs the database

    try:
        current = migrate.current_revision(engine)
    except DBAPIError as exc:
        message = describe_failure(exc, engine.url)
        if message is None:
            raise
        raise DatabaseNotReady(message) from None
    head = migrate.head_revision()
    if current != head:
        state = "empty (never initialised)" if current is None else f"at revision {current}"
        raise DatabaseNotReady(
            f"the database ({_where(engine.url)}) is {state}, not at the newest schema "
            f"{head}; run `inv init` first"
        )


def require_connection(engine: Engine) -> None:
    """Raise DatabaseNotReady unless a connection can be opened (the schema may be old)."""
    from storage import migrate

    try:
        migrate.current_revision(engine)
    except DBAPIError as exc:
        message = describe_failure(exc, engine.url)
        if message is None:
            raise
        raise DatabaseNotReady(message) from None
