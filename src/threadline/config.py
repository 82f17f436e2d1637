"""All settings, read once from the environment (prefix THREADLINE_) and validated at
start-up, so that a bad value stops the process with a clear message instead of failing
later in the middle of a customer's conversation."""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from threadline.errors import ConfigurationError

DEFAULT_PG_WRITERS = 2

_SUPPORTED_DRIVERS = {"sqlite", "sqlite+pysqlite", "postgresql+psycopg"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="THREADLINE_", extra="ignore", frozen=True)

    env: Literal["development", "production", "test"] = "development"
    database_url: str = "sqlite:///./var/threadline.db"
    redis_url: str | None = None
    # The Redis keys of this installation start with it (several may share one Redis).
    redis_prefix: str = Field(default="threadline", min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")
    # How many recent events are kept for clients that reconnect (Last-Event-ID).
    event_retention: int = Field(default=10_000, ge=1, le=1_000_000)
    secret_key: str | None = Field(default=None, repr=False)
    public_url: str = "http://127.0.0.1:8000"
    data_dir: Path = Path("./var")
    smtp_listen: str = "127.0.0.1:2525"
    # The largest message the SMTP listener takes (advertised as SIZE); Base64 makes
    # attachments about 37 % larger than the files themselves.
    smtp_max_bytes: int = Field(default=25 * 1024 * 1024, gt=0)
    smtp_relay_url: str | None = Field(default=None, repr=False)
    mail_domain: str = "threadline.localhost"
    # /readyz warns (and logs) once a message due for sending has waited this long: a
    # stopped worker or a stuck outbox is noticed at once, not when a customer complains.
    # It still answers 200, so that a load balancer keeps the web processes.
    outbox_stale_seconds: int = Field(default=600, gt=0)
    # How long a worker's claim on an outbox message lasts. A worker killed holding one
    # delays that message this long before another worker may send it. At least 90 s:
    # a send (30 s at most) only starts while 60 s of the claim are left.
    outbox_claim_seconds: int = Field(default=300, ge=90, le=3600)
    default_region: str = "GB"
    reopen_window_hours: float = Field(default=72.0, ge=0)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    # Worker threads for the blocking part of requests (threadline/api/threads.py).
    web_threads: int = Field(default=8, ge=1, le=200)
    # On PostgreSQL, the write transactions of one process at once (threadline/db.py).
    pg_writers: int = Field(default=DEFAULT_PG_WRITERS, ge=1, le=64)

    twilio_auth_token: str | None = Field(default=None, repr=False)
    twilio_account_sid: str | None = None
    twilio_api_base: str = "https://api.twilio.com"
    # Our number: the caller id of calls agents place and the sender of texts.
    twilio_from_number: str | None = Field(default=None, pattern=r"^\+[1-9][0-9]{6,14}$")
    # The calendar whose opening hours the phone line keeps: outside them callers are
    # offered voicemail. Unknown or empty: the line is always open.
    phone_hours: str = "Contact centre"
    meta_app_secret: str | None = Field(default=None, repr=False)
    meta_verify_token: str | None = Field(default=None, repr=False)
    meta_access_token: str | None = Field(default=None, repr=False)
    meta_api_base: str = "https://graph.facebook.com"
    x_consumer_secret: str | None = Field(default=None, repr=False)
    x_bearer_token: str | None = Field(default=None, repr=False)
    x_api_base: str = "https://api.x.com"

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            raise ValueError("use the psycopg 3 driver: postgresql+psycopg://user@host:port/dbname")
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"not a database URL: {exc}") from None
        if url.drivername not in _SUPPORTED_DRIVERS:
            raise ValueError(
                f"unsupported database {url.drivername!r}; use sqlite:///PATH or "
                "postgresql+psycopg://..."
            )
        return value

    @field_validator("public_url", "twilio_api_base", "meta_api_base", "x_api_base")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in {"redis", "rediss", "unix"}:
            raise ValueError(f"{value!r} is not a redis:// URL")
        return value

    @field_validator("smtp_listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"{value!r} is not HOST:PORT")
        return value

    @field_validator("smtp_relay_url")
    @classmethod
    def _smtp_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
                raise ValueError("SMTP_RELAY_URL must look like smtp://user:pass@host:port")
        return value

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str) -> str:
        if len(value) != 2 or not value.isalpha():
            raise ValueError("DEFAULT_REGION is a two-letter country code, e.g. GB")
        return value.upper()

    @model_validator(mode="after")
    def _production_needs_a_real_secret(self) -> Settings:
        if self.env == "production":
            if not self.secret_key or len(self.secret_key) < 32:
                raise ValueError(
                    "ENV=production needs THREADLINE_SECRET_KEY of at least 32 characters"
                )
            if not self.public_url.startswith("https://"):
                raise ValueError("ENV=production needs an https:// THREADLINE_PUBLIC_URL")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def reopen_window_seconds(self) -> float:
        return self.reopen_window_hours * 3600

    @cached_property
    def signing_key(self) -> bytes:
        """The secret that signs sessions and tokens. In development one is generated once
        into DATA_DIR/secret, so restarts keep sessions valid."""
        if self.secret_key:
            return self.secret_key.encode()
        path = self.data_dir / "secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip().encode()


def load_settings() -> Settings:
    """Read the environment once; turn pydantic's report into one readable message."""
    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = "_".join(str(part) for part in error["loc"]).upper()
            where = f"THREADLINE_{name}" if name else "settings"
            lines.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
        raise ConfigurationError("invalid settings:\n  " + "\n  ".join(lines)) from None
