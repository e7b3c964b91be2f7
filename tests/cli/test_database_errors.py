"""Every command that opens the database fails with one line naming the cause and the fix, exit 2.

The causes: nothing listens on the port (refused), the host cannot be reached (unreachable), the
server rejects the user (bad credentials), the database does not exist, and a database that was
never migrated (for the commands that do not migrate it themselves).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from inv.cli import main

# Each command with the arguments it needs to reach the database (nothing else may fail first).
COMMANDS: dict[str, list[str]] = {
    "init": ["init"],
    "precompute": ["precompute", "--images", "{images}", "--no-progress"],
    "export": ["export", "--out", "{tmp}/x.zip"],
    "bot": ["bot"],
    "rebuild": ["rebuild", "--quiet"],
    "report": ["report", "--out", "{tmp}/r.html"],
    "demo": ["demo", "--prepare-only", "--quiet"],
}
# The commands that migrate the database themselves; the others need `inv init` first.
MIGRATING = {"init", "precompute", "demo"}


def _admin_url() -> str:
    url = os.environ.get("INV_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("INV_TEST_POSTGRES_URL is not set")
    return url


def cause_url(cause: str) -> tuple[str, list[str]]:
    """A DATABASE_URL that fails for `cause`, and words the one line must contain."""
    if cause == "refused":
        return "postgresql://u:p@127.0.0.1:1/x", ["refused", "127.0.0.1:1", "DATABASE_URL"]
    if cause == "unreachable":
        return "postgresql://u:p@no-such-host.invalid/x", [
            "unreachable",
            "no-such-host.invalid",
            "DATABASE_URL",
        ]
    admin = make_url(_admin_url())
    if cause == "bad credentials":
        url = admin.set(username="inv_no_such_role", password="wrong", database="postgres")
        return url.render_as_string(hide_password=False), [
            "rejected user 'inv_no_such_role'",
            "credentials",
        ]
    if cause == "missing database":
        url = admin.set(database="inv_no_such_database")
        return url.render_as_string(hide_password=False), [
            "'inv_no_such_database' does not exist",
            "createdb",
        ]
    raise AssertionError(cause)


def argv(command: str, tmp_path: Path) -> list[str]:
    images = tmp_path / "images"
    images.mkdir(exist_ok=True)
    return [a.format(images=images, tmp=tmp_path) for a in COMMANDS[command]]


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    # `inv bot` checks for a token before it opens the database.
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:fake-token-for-tests")


@pytest.mark.parametrize("cause", ["refused", "unreachable", "bad credentials", "missing database"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_connection_failure_is_one_line_with_exit_2(
    command: str,
    cause: str,
    tmp_path: Path,
    token: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, words = cause_url(cause)
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(argv(command, tmp_path)) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"inv {command}: ")
    for word in words:
        assert word in lines[0]
    assert ":p@" not in captured.err and "wrong" not in captured.err  # no password shown


@pytest.mark.parametrize("command", sorted(set(COMMANDS) - MIGRATING))
def test_a_database_never_migrated_says_run_inv_init(
    command: str,
    postgres_url: str,
    tmp_path: Path,
    token: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    assert main(argv(command, tmp_path)) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"inv {command}: ") and "never initialised" in lines[0]
    assert "run `inv init`" in lines[0]


def test_a_database_never_migrated_on_sqlite_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--out", str(tmp_path / "r.html")]) == 2
    assert "run `inv init`" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("command", ["init", "precompute"])
def test_refused_from_the_installed_command_prints_exactly_one_line(
    command: str, tmp_path: Path
) -> None:
    inv = shutil.which("inv", path=str(Path(sys.executable).parent)) or "inv"
    env = {**os.environ, "DATABASE_URL": "postgresql://u:p@127.0.0.1:1/x"}
    result = subprocess.run(
        [inv, *argv(command, tmp_path)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert "refused" in result.stderr and "Traceback" not in result.stderr
