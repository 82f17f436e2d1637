"""Settings: read once from THREADLINE_* variables; a bad value stops start-up with a
message that names the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from threadline.config import load_settings
from threadline.errors import ConfigurationError


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("THREADLINE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults_are_those_of_the_interface() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite:///./var/threadline.db"
    assert settings.public_url == "http://127.0.0.1:8000"
    assert settings.smtp_listen == "127.0.0.1:2525"
    assert settings.mail_domain == "threadline.localhost"
    assert settings.redis_url is None
    assert settings.env == "development"
    assert settings.outbox_claim_seconds == 300


def test_development_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = load_settings().signing_key
    second = load_settings().signing_key
    assert first == second
    assert len(first) >= 32
    assert (tmp_path / "var" / "secret").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"THREADLINE_DATABASE_URL": "mysql://x"}, "THREADLINE_DATABASE_URL: unsupported"),
        ({"THREADLINE_DATABASE_URL": "postgresql://h/db"}, "psycopg 3 driver"),
        ({"THREADLINE_DATABASE_URL": "::"}, "THREADLINE_DATABASE_URL"),
        ({"THREADLINE_PUBLIC_URL": "ftp://x"}, "THREADLINE_PUBLIC_URL"),
        ({"THREADLINE_SMTP_LISTEN": "2525"}, "HOST:PORT"),
        ({"THREADLINE_REDIS_URL": "http://r"}, "redis://"),
        ({"THREADLINE_SMTP_RELAY_URL": "mail.example"}, "smtp://"),
        ({"THREADLINE_ENV": "staging"}, "THREADLINE_ENV"),
        ({"THREADLINE_REOPEN_WINDOW_HOURS": "-1"}, "THREADLINE_REOPEN_WINDOW_HOURS"),
        ({"THREADLINE_OUTBOX_CLAIM_SECONDS": "30"}, "THREADLINE_OUTBOX_CLAIM_SECONDS"),
        ({"THREADLINE_ENV": "production"}, "SECRET_KEY of at least 32"),
        (
            {"THREADLINE_ENV": "production", "THREADLINE_SECRET_KEY": "k" * 40},
            "https://",
        ),
    ],
)
def test_bad_settings_stop_start_up_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], message: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=message):
        load_settings()


def test_production_with_real_secret_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADLINE_ENV", "production")
    monkeypatch.setenv("THREADLINE_SECRET_KEY", "s" * 48)
    monkeypatch.setenv("THREADLINE_PUBLIC_URL", "https://desk.example.com/")
    settings = load_settings()
    assert settings.public_url == "https://desk.example.com"
    assert "s" * 48 not in repr(settings)
