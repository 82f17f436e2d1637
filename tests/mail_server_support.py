"""A real Dovecot IMAP server for the tests, on a free loopback port with a throwaway
configuration (PROVIDERS.md section 5). Dovecot runs as root in the foreground and serves
mail as the unprivileged user `vmail`. When it cannot be started the tests that need it
are skipped, except with CI=true, where that is an error.

Usage: a test takes `imap_folder` (a fresh, empty folder of its own) and reads its `url`
(`imap://alice:secret@127.0.0.1:PORT/FOLDER`, what `add_mailbox(imap_url=...)` takes) or
opens an IMAPClient on it with `imap_folder.client()`; the session-wide `dovecot` fixture
has the server itself."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest
from imapclient import IMAPClient

USER = "alice"
PASSWORD = "secret"
MAIL_USER = "vmail"
START_TIMEOUT = 10.0


@dataclass(frozen=True)
class Dovecot:
    host: str
    port: int
    user: str
    password: str

    def client(self) -> IMAPClient:
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        client.login(self.user, self.password)
        return client

    def url(self, folder: str) -> str:
        return f"imap://{self.user}:{self.password}@{self.host}:{self.port}/{folder}"


@dataclass(frozen=True)
class ImapFolder:
    server: Dovecot
    name: str

    @property
    def url(self) -> str:
        return self.server.url(self.name)

    def client(self) -> IMAPClient:
        """A logged-in client with this folder selected; log it out when done."""
        client = self.server.client()
        client.select_folder(self.name)
        return client

    def append(self, *messages: bytes) -> None:
        with self.server.client() as client:
            for message in messages:
                client.append(self.name, message)

    def recreate(self) -> None:
        """Delete and create the folder again: a new UIDVALIDITY, as when a server's
        mailbox is rebuilt."""
        with self.server.client() as client:
            client.delete_folder(self.name)
            client.create_folder(self.name)


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"Dovecot is required with CI=true: {reason}")
    pytest.skip(f"no Dovecot: {reason}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(root: Path, port: int, uid: int, gid: int) -> str:
    return f"""\
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
mail_location = maildir:{root}/mail/%u
# A wrong password is answered at once, not after the default 2 s.
auth_failure_delay = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            return sock.recv(64).startswith(b"* OK")
    except OSError:
        return False


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    binary = shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/sbin")
    if binary is None:
        _unavailable("`dovecot` is not installed (apt-get install dovecot-imapd)")
    if os.geteuid() != 0:
        _unavailable("the test Dovecot runs as root")
    if not _user_exists(MAIL_USER):
        subprocess.run(["useradd", "-r", "-M", MAIL_USER], capture_output=True, check=False)
        if not _user_exists(MAIL_USER):
            _unavailable(f"could not create the user {MAIL_USER!r} (useradd -r -M {MAIL_USER})")
    # Not under pytest's tmp_path: its parents are private to root, and the mail
    # processes run as vmail and must reach the mail directory.
    root = Path(tempfile.mkdtemp(prefix="threadline-dovecot-"))
    root.chmod(0o755)
    (root / "mail").mkdir()
    account = pwd.getpwnam(MAIL_USER)
    os.chown(root / "mail", account.pw_uid, account.pw_gid)
    (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    port = _free_port()
    (root / "dovecot.conf").write_text(_config(root, port, account.pw_uid, account.pw_gid))
    # Output to a file, not a pipe that nobody reads and that could fill up.
    with (root / "output.log").open("wb") as output:
        process = subprocess.Popen(
            [binary, "-F", "-c", str(root / "dovecot.conf")],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                said = "\n".join(
                    path.read_text(errors="replace")[-2000:]
                    for path in (root / "output.log", root / "dovecot.log")
                    if path.exists()
                )
                _unavailable(f"it did not start: {said.strip()}")
            time.sleep(0.05)
        yield Dovecot(host="127.0.0.1", port=port, user=USER, password=PASSWORD)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def imap_folder(dovecot: Dovecot) -> ImapFolder:
    """A new empty folder for one test, so that tests never see each other's mail."""
    name = f"T{uuid.uuid4().hex[:12]}"
    with dovecot.client() as client:
        client.create_folder(name)
    return ImapFolder(server=dovecot, name=name)
