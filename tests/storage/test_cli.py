"""`inv` itself: version, help, and `inv init` from any working directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from storage import migrate
from storage.db import make_engine


def _run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    inv = shutil.which("inv", path=str(Path(sys.executable).parent)) or "inv"
    return subprocess.run(
        [inv, *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_version_and_help(tmp_path: Path) -> None:
    version = _run(["--version"], tmp_path)
    assert version.returncode == 0
    assert version.stdout.startswith("inv ")
    help_text = _run(["--help"], tmp_path)
    assert help_text.returncode == 0
    assert "init" in help_text.stdout


def test_init_creates_sqlite_at_head_from_another_directory(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    data_dir = tmp_path / "data"
    env = {"DATA_DIR": str(data_dir), "INV_ENV_FILE": ""}
    first = _run(["init"], elsewhere, env)
    assert first.returncode == 0, first.stderr
    assert "head" in first.stdout
    engine = make_engine(f"sqlite:///{data_dir / 'inv.db'}")
    try:
        assert migrate.is_at_head(engine)
    finally:
        engine.dispose()
    again = _run(["init"], elsewhere, env)
    assert again.returncode == 0
    assert "already" in again.stdout


def test_init_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    result = _run(
        ["init"], tmp_path, {"DATABASE_URL": postgres_url, "DATA_DIR": str(tmp_path / "d")}
    )
    assert result.returncode == 0, result.stderr
    engine = make_engine(postgres_url)
    try:
        assert migrate.is_at_head(engine)
    finally:
        engine.dispose()


def test_init_works_from_a_non_editable_install(tmp_path: Path) -> None:
    """The migration scripts ship inside the wheel, so `inv init` needs no source checkout."""
    repo_root = Path(__file__).resolve().parents[2]
    wheel_dir = tmp_path / "wheel"
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheel_dir),
            str(repo_root),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    target = tmp_path / "site"
    installed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            *map(str, wheel_dir.glob("inv-*.whl")),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr
    assert (target / "storage" / "migrations" / "env.py").is_file()
    # The fake Bot API checks requests against its packaged extract of the specification.
    assert (target / "testkit" / "data" / "bot_api_facts.json").is_file()
    (entry_points,) = target.glob("inv-*.dist-info/entry_points.txt")
    assert "inv = inv.cli:main" in entry_points.read_text()
    data_dir = tmp_path / "data"
    workdir = tmp_path / "work"
    workdir.mkdir()
    code = "import storage, sys; from inv.cli import main; print(storage.__file__); sys.exit(main(['init']))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=workdir,
        env={
            **os.environ,
            "PYTHONPATH": str(target),
            "DATA_DIR": str(data_dir),
            "INV_ENV_FILE": "",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith(str(target))
    engine = make_engine(f"sqlite:///{data_dir / 'inv.db'}")
    try:
        assert migrate.is_at_head(engine)
    finally:
        engine.dispose()


def test_each_command_lists_its_own_options(tmp_path: Path) -> None:
    result = _run(["init", "--help"], tmp_path)
    assert result.returncode == 0
    assert "--database-url" in result.stdout
