"""The `threadline` command as an operator uses it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from threadline.cli import main


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    return {
        "THREADLINE_DATABASE_URL": f"sqlite:///{tmp_path / 'desk.db'}",
        "THREADLINE_DATA_DIR": str(tmp_path / "var"),
    }


def test_init_creates_database_and_admin_once(environment: dict[str, str]) -> None:
    runner = CliRunner()
    first = runner.invoke(main, ["init", "--admin-email", "boss@shop.example"], env=environment)
    assert first.exit_code == 0, first.output
    assert "admin created: boss@shop.example" in first.output
    assert "password (shown once):" in first.output
    again = runner.invoke(main, ["init"], env=environment)
    assert again.exit_code == 0, again.output
    assert "admin created" not in again.output


def test_password_from_stdin_is_never_printed(environment: dict[str, str]) -> None:
    result = CliRunner().invoke(
        main, ["init", "--password-stdin"], input="correct horse battery\n", env=environment
    )
    assert result.exit_code == 0, result.output
    assert "correct horse battery" not in result.output


def test_agents_and_tokens(environment: dict[str, str]) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["init"], env=environment).exit_code == 0
    created = runner.invoke(
        main,
        [
            "agents",
            "create",
            "--email",
            "Amy@Shop.example",
            "--name",
            "Amy",
            "--role",
            "clerk",
            "--team",
            "Shop floor",
        ],
        env=environment,
    )
    assert created.exit_code == 0, created.output
    assert "amy@shop.example (clerk)" in created.output
    duplicate = runner.invoke(
        main,
        ["agents", "create", "--email", "amy@shop.example", "--name", "Amy"],
        env=environment,
    )
    assert duplicate.exit_code == 2
    assert "exists" in duplicate.output
    token = runner.invoke(
        main, ["tokens", "create", "--email", "amy@shop.example"], env=environment
    )
    assert token.exit_code == 0, token.output
    issued = token.output.strip()
    assert issued.startswith("tl_")
    engine = create_engine(environment["THREADLINE_DATABASE_URL"])
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT token_hash FROM api_tokens")).scalar_one()
    engine.dispose()
    assert stored == hashlib.sha256(issued.encode()).hexdigest()
    assert issued not in stored
    unknown = runner.invoke(
        main, ["tokens", "create", "--email", "nobody@shop.example"], env=environment
    )
    assert unknown.exit_code == 2
    assert "no active agent" in unknown.output


def test_bad_settings_are_one_clear_line(environment: dict[str, str]) -> None:
    result = CliRunner().invoke(
        main, ["init"], env=environment | {"THREADLINE_DATABASE_URL": "mysql://db"}
    )
    assert result.exit_code == 2
    assert "THREADLINE_DATABASE_URL: unsupported database" in result.output
