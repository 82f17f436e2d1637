"""`threadline mailboxes add`, `threadline smtp` and the SMTP listener of `serve`, as an
operator runs them, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from threadline.cli import main

MESSAGE = b"From: ann@customer.example\r\nSubject: hello\r\n\r\nHi there\r\n"


@pytest.fixture
def environment(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "THREADLINE_DATABASE_URL": database_url,
        "THREADLINE_DATA_DIR": str(tmp_path / "var"),
    }


def _query(environment: dict[str, str], sql: str) -> list[tuple[object, ...]]:
    engine = create_engine(environment["THREADLINE_DATABASE_URL"])
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql))]
    finally:
        engine.dispose()


def test_mailboxes_add(environment: dict[str, str]) -> None:
    runner = CliRunner()
    added = runner.invoke(main, ["mailboxes", "add", "Support@Shop.example"], env=environment)
    assert added.exit_code == 0, added.output
    assert "added: support@shop.example" in added.output
    polled = runner.invoke(
        main,
        ["mailboxes", "add", "orders@shop.example", "--imap-url", "imaps://u:pw@imap.example"],
        env=environment,
    )
    assert polled.exit_code == 0, polled.output
    assert "polled over IMAP" in polled.output
    assert _query(environment, "SELECT address, imap_url FROM mailboxes ORDER BY id") == [
        ("support@shop.example", None),
        ("orders@shop.example", "imaps://u:pw@imap.example"),
    ]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["support@shop.example"], "exists"),
        (["not an address"], "not an email address"),
        (["help@shop.example", "--team", "Nobody"], "no team named 'Nobody'"),
        (["help@shop.example", "--imap-url", "pop3://u:p@host"], "imaps://user:pass@host"),
        (["help@shop.example", "--imap-url", "imaps://host/INBOX"], "user:password@"),
    ],
)
def test_mailboxes_add_refuses_bad_input_with_exit_2(
    environment: dict[str, str], arguments: list[str], message: str
) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["mailboxes", "add", "support@shop.example"], env=environment)
    refused = runner.invoke(main, ["mailboxes", "add", *arguments], env=environment)
    assert refused.exit_code == 2
    assert message in refused.output
    assert "Traceback" not in refused.output
    assert _query(environment, "SELECT address FROM mailboxes") == [("support@shop.example",)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"exited early: {process.communicate()[0].decode()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing answers on port {port}")


def _threadline(environment: dict[str, str], *arguments: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "from threadline.cli import main; main()", *arguments],
        env={**os.environ, **environment},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


@pytest.fixture
def smtp_environment(environment: dict[str, str]) -> dict[str, str]:
    added = CliRunner().invoke(main, ["mailboxes", "add", "support@shop.example"], env=environment)
    assert added.exit_code == 0, added.output
    return {**environment, "THREADLINE_SMTP_LISTEN": f"127.0.0.1:{_free_port()}"}


def _port(environment: dict[str, str]) -> int:
    return int(environment["THREADLINE_SMTP_LISTEN"].rpartition(":")[2])


def _stop(process: subprocess.Popen[bytes]) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    try:
        output, _ = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return process.returncode, output.decode(errors="replace")


def test_smtp_runs_the_listener_until_sigterm(smtp_environment: dict[str, str]) -> None:
    port = _port(smtp_environment)
    process = _threadline(smtp_environment, "smtp")
    try:
        _wait_for_port(port, process)
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            assert client.sendmail("ann@customer.example", ["support@shop.example"], MESSAGE) == {}
            with pytest.raises(smtplib.SMTPRecipientsRefused):
                client.sendmail("ann@customer.example", ["nobody@shop.example"], MESSAGE)
    finally:
        code, output = _stop(process)
    assert code == 0, output
    assert f"SMTP listener on 127.0.0.1:{port}" in output
    assert _query(smtp_environment, "SELECT source, mail_from FROM inbound_mail") == [
        ("smtp", "ann@customer.example")
    ]


def test_smtp_says_clearly_when_its_port_is_taken(smtp_environment: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", _port(smtp_environment)))
        taken.listen()
        process = _threadline(smtp_environment, "smtp")
        output, _ = process.communicate(timeout=20)
    assert process.returncode == 2
    assert "cannot listen for SMTP on 127.0.0.1:" in output.decode()


@pytest.mark.parametrize("smtp", [True, False], ids=["with-smtp", "no-smtp"])
def test_serve_runs_the_smtp_listener_unless_told_not_to(
    smtp_environment: dict[str, str], smtp: bool
) -> None:
    http_port = _free_port()
    flags = ["--no-worker"] if smtp else ["--no-worker", "--no-smtp"]
    process = _threadline(smtp_environment, "serve", "--port", str(http_port), *flags)
    try:
        _wait_for_port(http_port, process)
        if smtp:
            with smtplib.SMTP("127.0.0.1", _port(smtp_environment), timeout=10) as client:
                assert client.noop()[0] == 250
        else:
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", _port(smtp_environment)), timeout=1)
    finally:
        code, output = _stop(process)
    # uvicorn shuts down gracefully, then raises the signal it caught again.
    assert code in {0, -signal.SIGTERM}, output
    assert "Application shutdown complete" in output
