"""Settings: defaults, parsing, and one clear line for each bad value."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from inv.settings import Settings, SettingsError, get_settings, load_settings_or_exit


def _inv(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items()}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "inv.cli", *args],
        env=full_env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_defaults(isolated_settings: Path) -> None:
    settings = get_settings()
    assert settings.admin_user_ids == []
    assert settings.plays_per_challenge == 5
    assert settings.gold_rate == 0.1
    assert settings.daily_cap == 200
    assert settings.min_answer_seconds == 2
    assert settings.max_label_length == 64
    assert settings.rebuild_interval == 3600
    assert settings.leaderboard_interval == 86400
    assert settings.telegram_api_base_url == "https://api.telegram.org/bot"
    assert settings.telegram_api_base_file_url == "https://api.telegram.org/file/bot"
    assert settings.sqlalchemy_url == f"sqlite:///{(isolated_settings / 'inv.db').resolve()}"


def test_the_images_a_concept_test_needs_reach_the_label_config(
    isolated_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert get_settings().label_config().min_tcav_images == 10
    monkeypatch.setenv("MIN_TCAV_IMAGES", "25")
    get_settings.cache_clear()
    assert get_settings().label_config().min_tcav_images == 25


@pytest.mark.parametrize(
    ("raw", "expected"), [("999", [999]), ("123,456", [123, 456]), (" 1 , 2 ,", [1, 2]), ("", [])]
)
def test_admin_ids_are_parsed_by_hand(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: list[int]
) -> None:
    monkeypatch.setenv("ADMIN_USER_IDS", raw)
    assert get_settings().admin_user_ids == expected
    assert get_settings().is_admin(expected[0]) if expected else not get_settings().is_admin(999)


def test_local_base_url_derives_file_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", "http://127.0.0.1:8081/bot")
    assert get_settings().telegram_api_base_file_url == "http://127.0.0.1:8081/file/bot"


def test_plain_postgres_url_uses_psycopg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@localhost/inv")
    assert get_settings().sqlalchemy_url == "postgresql+psycopg://u:p@localhost/inv"


def test_pseudonym_secret_generated_once_and_kept(
    monkeypatch: pytest.MonkeyPatch, isolated_settings: Path
) -> None:
    monkeypatch.delenv("PSEUDONYM_SECRET")
    first = get_settings().pseudonym_key()
    get_settings.cache_clear()
    assert get_settings().pseudonym_key() == first
    assert (isolated_settings / "pseudonym_secret").stat().st_mode & 0o077 == 0


def test_token_is_secret_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:SECRET-TOKEN")
    settings = get_settings()
    assert settings.token == "123:SECRET-TOKEN"
    assert "SECRET-TOKEN" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", "not a url at all"),
        ("DATABASE_URL", "mysql://u@h/db"),
        ("ADMIN_USER_IDS", "12,abc"),
        ("REBUILD_INTERVAL", "-5"),
        ("LEADERBOARD_INTERVAL", "0"),
        ("PLAYS_PER_CHALLENGE", "many"),
        ("GOLD_RATE", "1.5"),
        ("MIN_TCAV_IMAGES", "0"),
    ],
)
def test_bad_value_raises_one_line_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        get_settings()
    message = str(info.value)
    assert name in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("name", "value"),
    [("DATABASE_URL", "nonsense"), ("ADMIN_USER_IDS", "alice"), ("REBUILD_INTERVAL", "-1")],
)
def test_cli_exits_with_one_line_not_a_traceback(tmp_path: Path, name: str, value: str) -> None:
    result = _inv({name: value, "DATA_DIR": str(tmp_path / "d")}, "init", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert name in lines[0]
    assert "Traceback" not in result.stderr


def test_dotenv_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / "custom.env"
    env_file.write_text("DAILY_CAP=7\nADMIN_USER_IDS=42\n")
    monkeypatch.setenv("INV_ENV_FILE", str(env_file))
    assert get_settings().daily_cap == 7
    assert get_settings().admin_user_ids == [42]


def test_settings_class_is_not_instantiated_at_import() -> None:
    code = "import inv.settings, storage.db, storage.models, inv.cli; print('ok')"
    env = dict(os.environ, ADMIN_USER_IDS="not-a-number")
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "ok", result.stderr
    assert Settings.model_fields["admin_user_ids"] is not None


# ---- the pseudonym key -------------------------------------------------------------------------


def _key_in_child(path: str, barrier: Any, out: Any) -> None:
    from storage import secret_file

    barrier.wait()
    out.put(secret_file.load_or_create(Path(path)))


def test_eight_processes_starting_together_get_one_key(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    for round_ in range(2):
        path = tmp_path / f"round{round_}" / "pseudonym_secret"
        barrier, out = context.Barrier(8), context.Queue()
        processes = [
            context.Process(target=_key_in_child, args=(str(path), barrier, out)) for _ in range(8)
        ]
        for process in processes:
            process.start()
        keys = [out.get(timeout=60) for _ in processes]
        for process in processes:
            process.join(timeout=60)
            assert process.exitcode == 0
        assert len(set(keys)) == 1 and len(keys[0]) >= 32
        assert path.read_bytes().strip() == keys[0]
        assert path.stat().st_mode & 0o777 == 0o600
        assert [p.name for p in path.parent.iterdir()] == ["pseudonym_secret"]  # no temp left


def test_an_empty_or_short_key_file_is_refused(
    monkeypatch: pytest.MonkeyPatch, isolated_settings: Path
) -> None:
    monkeypatch.delenv("PSEUDONYM_SECRET")
    isolated_settings.mkdir(parents=True, exist_ok=True)
    for content in ("", "abc123\n"):
        (isolated_settings / "pseudonym_secret").write_text(content)
        with pytest.raises(SettingsError, match="empty or shorter than 32 bytes"):
            get_settings().pseudonym_key()


@pytest.mark.parametrize(
    "value",
    ["changeme", "x" * 40, "short-but-random-7f3a", "CHANGEME-changeme-CHANGEME-0123456789"],
)
def test_weak_pseudonym_secrets_are_refused_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    monkeypatch.setenv("PSEUDONYM_SECRET", value)
    with pytest.raises(SystemExit):
        load_settings_or_exit()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("inv: Invalid setting PSEUDONYM_SECRET")
    assert value not in err  # the value itself is never printed


def test_a_random_pseudonym_secret_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PSEUDONYM_SECRET", "5b0c9e1f7a2d4c6e8f0a1b3c5d7e9f11")
    assert get_settings().pseudonym_key() == b"5b0c9e1f7a2d4c6e8f0a1b3c5d7e9f11"
