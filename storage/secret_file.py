"""The pseudonym key kept under DATA_DIR when PSEUDONYM_SECRET is not set.

An HMAC with an empty or short key can be reversed by enumerating Telegram ids, so a key file is
only ever seen complete: the key is written to a private temp file, flushed to disk, then
published with `os.link`, which fails when the file already exists. Processes that start
together each try; one wins, and every process then reads the published file, so all use the
same key. A key file that is empty or shorter than MIN_SECRET_BYTES (left by an older version
or edited by hand) is refused instead of used.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
from pathlib import Path

MIN_SECRET_BYTES = 32
# Values people paste from examples; a key must be random, not merely long.
PLACEHOLDER_WORDS = (
    "changeme",
    "change-me",
    "change_me",
    "placeholder",
    "your-secret",
    "your_secret",
    "yoursecret",
    "example",
    "secret-here",
)


class SecretError(ValueError):
    """The key cannot be used; the message is one line naming the file and the fix."""


def weak_secret_reason(value: str) -> str | None:
    """Why `value` is no acceptable HMAC key (None when it is acceptable)."""
    if len(value.encode("utf-8")) < MIN_SECRET_BYTES:
        return f"is shorter than {MIN_SECRET_BYTES} bytes"
    lowered = value.lower()
    if any(word in lowered for word in PLACEHOLDER_WORDS) or len(set(value)) < 8:
        return "looks like a placeholder, not a random key"
    return None


def _read(path: Path) -> bytes:
    key = path.read_bytes().strip()
    if len(key) < MIN_SECRET_BYTES:
        raise SecretError(
            f"the pseudonym key file {path} is empty or shorter than {MIN_SECRET_BYTES} bytes; "
            "set PSEUDONYM_SECRET to the key the pseudonyms were made with, or delete the file "
            "if no participant has joined yet"
        )
    return key


def _publish(tmp: Path, path: Path) -> None:
    try:
        os.link(tmp, path)  # fails if another process published first: theirs stays
    except FileExistsError:
        return
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        # No hard links on this filesystem: publish under a lock (rename is atomic).
        with open(path.with_name(path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not path.exists():
                os.replace(tmp, path)


def load_or_create(path: Path) -> bytes:
    """The key in `path`, generating and publishing a random one first when there is none."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(secrets.token_hex(32))
                fh.flush()
                os.fsync(fh.fileno())
            _publish(tmp, path)
            with contextlib.suppress(OSError):  # the directory entry reaches the disk too
                dir_fd = os.open(path.parent, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
        finally:
            tmp.unlink(missing_ok=True)
    return _read(path)
