"""Every setting of inv, read from the environment and `.env`, behind a cached `get_settings()`.

Settings are never loaded at import time: the CLI calls `load_settings_or_exit()` first so that a
bad value becomes one clear line naming the setting instead of a traceback. Only the application
shell reads them; the libraries get what they need as arguments (`bot_config()`,
`label_config()`, `export_parameters()`, a database URL).
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.config import BotConfig
from engine.labels.config import (
    DEFAULT_MIN_AGREEMENT,
    DEFAULT_MIN_CONCEPT_EXAMPLES,
    DEFAULT_MIN_TCAV_IMAGES,
    DEFAULT_SBERT_MODEL,
    DEFAULT_SPACY_MODEL,
    LabelConfig,
)
from storage import secret_file

# Settings that shaped the data, recorded in the export's manifest (no secrets, no paths to the
# operator's files).
EXPORT_PARAMETERS = (
    "model",
    "layers",
    "reduction",
    "plays_per_challenge",
    "gold_rate",
    "daily_cap",
    "min_answer_seconds",
    "max_label_length",
    "rebuild_interval",
    "leaderboard_interval",
    "spacy_model",
    "sbert_model",
)

DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"
PSEUDONYM_SECRET_FILE = "pseudonym_secret"


class SettingsError(ValueError):
    """A setting has a value inv cannot use; the message is one line naming it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        case_sensitive=False,
    )

    # Telegram
    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str = DEFAULT_API_BASE_URL
    telegram_api_base_file_url: str | None = None

    # Storage
    data_dir: Path = Path("./data")
    database_url: str | None = None
    admin_user_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    pseudonym_secret: SecretStr | None = None

    # Engine
    model: str = "efficientnet_lite0"
    weights: str | None = None
    layers: Annotated[list[str] | None, NoDecode] = None
    reduction: Literal["ward", "tsne"] = "ward"

    # Game
    plays_per_challenge: int = Field(5, ge=1)
    gold_rate: float = Field(0.1, ge=0.0, le=1.0)
    daily_cap: int = Field(200, ge=1)
    min_answer_seconds: float = Field(2.0, ge=0.0)
    max_label_length: int = Field(64, ge=1, le=4096)
    # Serve a photo only when the AI's answer has at least this probability (or is the known
    # true class), and not again to a player within this many challenges while others are left.
    min_confidence: float = Field(0.3, ge=0.0, le=1.0)
    photo_cooldown: int = Field(10, ge=0)

    # Who runs the study and how to reach them (shown when asking for consent)
    study_name: str = "the inv research team"
    study_contact: str | None = None
    # Per-user limit on incoming updates (a token bucket): FLOOD_RATE per second sustained,
    # bursts of FLOOD_BURST; FLOOD_RATE=0 turns it off.
    flood_rate: float = Field(1.0, ge=0.0)
    flood_burst: int = Field(8, ge=1)

    # Scheduling (seconds)
    rebuild_interval: int = Field(3600, gt=0)
    leaderboard_interval: int = Field(86400, gt=0)

    # Labels
    spacy_model: str = DEFAULT_SPACY_MODEL
    # A concept counts for a cluster once this many different players gave it there.
    min_agreement: int = Field(DEFAULT_MIN_AGREEMENT, ge=1)
    # ... and their reliability-weighted share of everyone who labelled the cluster is this much,
    min_support: float = Field(0.3, ge=0.0, le=1.0)
    # ... and it passes both on at least this many clusters of its class (a stray word shared by
    # two players once does not recur; what a class looks like does).
    min_clusters: int = Field(2, ge=1)
    # Whose labels weigh how much: "ability" (estimated by each rebuild from every play with its
    # difficulty) or "gold" (the smoothed gold accuracy alone).
    reliability: Literal["ability", "gold"] = "ability"
    # A cluster's top concept is settled when its weighted share of the labellers leads the
    # runner-up's by this much; with ADAPTIVE_RETIREMENT settled clusters stop being served.
    settle_margin: float = Field(0.3, ge=0.0, le=1.0)
    adaptive_retirement: bool = True
    sbert_model: str = DEFAULT_SBERT_MODEL
    # A top concept is tested against the network (TCAV) only with this many example clusters.
    min_concept_examples: int = Field(DEFAULT_MIN_CONCEPT_EXAMPLES, ge=2)
    # ... and only when its class has this many images to score it (a TCAV score is the share of
    # those images whose class score grows along the concept's direction).
    min_tcav_images: int = Field(DEFAULT_MIN_TCAV_IMAGES, ge=1)

    # Webhook (production)
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_port: int = Field(8443, ge=1, le=65535)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    @field_validator("admin_user_ids", mode="before")
    @classmethod
    def _parse_admin_ids(cls, value: object) -> object:
        # Parsed by hand: pydantic-settings would JSON-decode "999" into an int, not a list.
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",") if p.strip()]
            try:
                return [int(p) for p in parts]
            except ValueError:
                raise ValueError(
                    "must be comma-separated integer Telegram ids, e.g. 123,456"
                ) from None
        if isinstance(value, int):
            return [value]
        return value

    @field_validator("layers", mode="before")
    @classmethod
    def _parse_layers(cls, value: object) -> object:
        if isinstance(value, str):
            names = [p.strip() for p in value.split(",") if p.strip()]
            return names or None
        return value

    @field_validator("pseudonym_secret")
    @classmethod
    def _check_pseudonym_secret(cls, value: SecretStr | None) -> SecretStr | None:
        reason = secret_file.weak_secret_reason(value.get_secret_value()) if value else None
        if reason is not None:
            raise ValueError(
                f"{reason}; use at least {secret_file.MIN_SECRET_BYTES} random bytes (e.g. "
                "`openssl rand -hex 32`), or leave it unset to have one generated under DATA_DIR"
            )
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError(
                "is not a database URL (e.g. postgresql+psycopg://user:pw@host/db)"
            ) from None
        if url.get_backend_name() not in {"sqlite", "postgresql"}:
            raise ValueError("must be a sqlite:// or postgresql:// URL")
        return value

    @model_validator(mode="after")
    def _derive(self) -> Settings:
        if not self.telegram_api_base_file_url:
            base = self.telegram_api_base_url
            if base.endswith("/bot"):
                self.telegram_api_base_file_url = base[: -len("/bot")] + "/file/bot"
            else:
                self.telegram_api_base_file_url = base.rstrip("/") + "/file/bot"
        return self

    # ---- derived values -------------------------------------------------------------------

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL in use: `DATABASE_URL`, or the SQLite file under `DATA_DIR`."""
        if self.database_url:
            url = self.database_url
            # Plain postgresql:// would pick psycopg2, which inv does not install.
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url.split("://", 1)[1]
            return url
        return f"sqlite:///{(self.data_dir / 'inv.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    @property
    def token(self) -> str | None:
        return self.telegram_bot_token.get_secret_value() if self.telegram_bot_token else None

    def is_admin(self, telegram_user_id: int | None) -> bool:
        return telegram_user_id is not None and telegram_user_id in self.admin_user_ids

    def pseudonym_key(self) -> bytes:
        """The HMAC key for pseudonyms: the setting, else a secret generated once under DATA_DIR
        (published atomically; SettingsError when that file holds no usable key)."""
        if self.pseudonym_secret:
            return self.pseudonym_secret.get_secret_value().encode()
        try:
            return secret_file.load_or_create(self.data_dir / PSEUDONYM_SECRET_FILE)
        except secret_file.SecretError as exc:
            raise SettingsError(f"Invalid setting PSEUDONYM_SECRET: {exc}") from None

    # ---- what each library is handed ---------------------------------------------------------

    def label_config(self) -> LabelConfig:
        return LabelConfig(
            spacy_model=self.spacy_model,
            sbert_model=self.sbert_model,
            min_agreement=self.min_agreement,
            min_concept_examples=self.min_concept_examples,
            min_tcav_images=self.min_tcav_images,
            min_support=self.min_support,
            min_clusters=self.min_clusters,
            reliability=self.reliability,
            settle_margin=self.settle_margin,
        )

    def export_parameters(self) -> dict[str, Any]:
        """The settings that shaped the data; of WEIGHTS only the file name."""
        params: dict[str, Any] = {name: getattr(self, name) for name in EXPORT_PARAMETERS}
        params["weights"] = Path(self.weights).name if self.weights else None
        return params

    def bot_config(self) -> BotConfig:
        return BotConfig(
            token=self.token,
            database_url=self.sqlalchemy_url,
            data_dir=self.data_dir,
            pseudonym_key=self.pseudonym_key(),
            telegram_api_base_url=self.telegram_api_base_url,
            telegram_api_base_file_url=self.telegram_api_base_file_url,
            admin_user_ids=tuple(self.admin_user_ids),
            plays_per_challenge=self.plays_per_challenge,
            adaptive_retirement=self.adaptive_retirement,
            gold_rate=self.gold_rate,
            daily_cap=self.daily_cap,
            min_answer_seconds=self.min_answer_seconds,
            max_label_length=self.max_label_length,
            min_confidence=self.min_confidence,
            photo_cooldown=self.photo_cooldown,
            flood_rate=self.flood_rate,
            flood_burst=self.flood_burst,
            rebuild_interval=self.rebuild_interval,
            leaderboard_interval=self.leaderboard_interval,
            study_name=self.study_name,
            study_contact=self.study_contact,
            export_parameters=self.export_parameters(),
        )


def _format_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    name = str(first["loc"][0]).upper() if first.get("loc") else "settings"
    message = first.get("msg", "invalid value").removeprefix("Value error, ")
    return f"Invalid setting {name}: {message}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; raises SettingsError with a one-line message on a bad value."""
    # INV_ENV_FILE chooses the dotenv file ("" = none); tests use that to ignore a developer's .env.
    env_file = os.environ.get("INV_ENV_FILE", ".env") or None
    try:
        return Settings(_env_file=env_file)
    except ValidationError as exc:
        raise SettingsError(_format_error(exc)) from None


def load_settings_or_exit() -> Settings:
    """For entry points: settings, or one line on stderr and exit status 2."""
    try:
        return get_settings()
    except SettingsError as exc:
        print(f"inv: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
