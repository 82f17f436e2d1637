"""The desk in a real browser: Threadline served over loopback as `threadline serve`
serves it (web, worker and SMTP listener in one process, on a real SQLite file and the
system clock), Debian's Chromium and Firefox ESR driven by Playwright (every browser test
runs in both), and an SMTP sink standing in for the outgoing relay.

Every test's page is watched: a console error, an uncaught exception or a request to any
host but the app's own fails the test, whatever the test itself asserts. Screenshots go
to tests/artifacts/ for a reviewer."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import uvicorn
from sqlalchemy.orm import Session

from tests.mail_support import SmtpSink, free_port
from threadline.actions import Actor, NewAgent, create_agent
from threadline.actions.mailboxes import add_mailbox
from threadline.api.app import create_app
from threadline.channels.email.smtp_server import SmtpListener
from threadline.config import Settings
from threadline.migrate import upgrade
from threadline.runtime import Runtime
from threadline.vocabulary import Role
from threadline.worker import (
    BackgroundWorker,
    Worker,
    new_worker_id,
    senders_from_settings,
    standard_jobs,
)

try:
    from playwright.sync_api import (
        Browser,
        ConsoleMessage,
        Page,
        Playwright,
        Request,
        sync_playwright,
    )
except ImportError:  # pragma: no cover - the dev extras install it
    sync_playwright = None  # type: ignore[assignment]

CHROMIUM = Path("/usr/bin/chromium")
FIREFOX = Path("/usr/bin/firefox-esr")
# Firefox's back-forward cache keeps Playwright from seeing a page come back (go_back
# never returns): the desk's tests go back, so the cache is off.
# Playwright's screenshots add a stylesheet of their own to the page; Firefox refuses it
# under the desk's CSP (Chromium's is added past the CSP) and reports it with its hash.
# That report, and no other, is not the page's fault.
SCREENSHOT_STYLE = "sha256-YjaKGiklmzC6wjXA513HAMmzus8VE61XCOT+SmwNZWA="
FIREFOX_PREFS: dict[str, str | float | bool] = {
    "browser.sessionhistory.max_total_viewers": 0,
    "fission.bfcacheInParent": False,
}
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
PASSWORD = "correct horse battery staple"
SUPPORT_ADDRESS = "help@shop.example"
TEAM = "Support"
VIEWPORT = {"width": 1280, "height": 800}
TABLET = {"width": 1024, "height": 768}  # a 10-inch tablet in landscape, for the counter

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Person:
    email: str
    name: str
    role: Role
    agent_id: int


@dataclass
class LiveDesk:
    """One running Threadline, shared by the tests of a module."""

    base_url: str
    runtime: Runtime
    sink: SmtpSink
    smtp_port: int
    people: dict[Role, Person] = field(default_factory=dict)

    @contextmanager
    def db(self) -> Iterator[Session]:
        """A session of the test's own, on the server's database (for setting up through
        actions, and for checking what the server wrote)."""
        with self.runtime.db.session() as session:
            yield session

    def person(self, role: Role) -> Person:
        return self.people[role]


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the test runner owns the signals
        pass


def _browser_unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests are required in CI: {reason} (make test installs it)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory, browser: Browser) -> Iterator[LiveDesk]:
    """A fresh desk for each module in each browser (it asks for `browser` for that
    alone): a module's tests expect to start from an empty desk, whichever browser and
    in whatever order the runner takes them."""
    folder = tmp_path_factory.mktemp("desk")
    url = f"sqlite:///{folder / 'threadline.db'}"
    upgrade(url)
    port = free_port()
    smtp_port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with SmtpSink() as sink:
        settings = Settings(
            env="test",
            database_url=url,
            data_dir=folder / "data",
            public_url=base_url,
            smtp_listen=f"127.0.0.1:{smtp_port}",
            smtp_relay_url=sink.url(),
            mail_domain="shop.example",
        )
        runtime = Runtime.start(settings)
        desk = LiveDesk(base_url=base_url, runtime=runtime, sink=sink, smtp_port=smtp_port)
        with desk.db() as db:
            for role, name in (
                (Role.ADMIN, "Ada Admin"),
                (Role.SUPERVISOR, "Sam Supervisor"),
                (Role.AGENT, "Amy Agent"),
                (Role.CLERK, "Cal Clerk"),
            ):
                email = f"{role.value}@shop.example"
                made = create_agent(
                    db,
                    runtime.env,
                    Actor.system(),
                    NewAgent(
                        email=email,
                        name=name,
                        role=role,
                        password=PASSWORD,
                        teams=(TEAM,) if role is not Role.CLERK else (),
                    ),
                )
                desk.people[role] = Person(email, name, role, made.id)
            add_mailbox(db, runtime.env, Actor.system(), SUPPORT_ADDRESS, team=TEAM, imap_url=None)
        listener = SmtpListener(runtime)
        listener.start()
        worker = BackgroundWorker(
            Worker(runtime, new_worker_id(), senders_from_settings(settings), jobs=standard_jobs())
        ).start()
        server = _Server(
            uvicorn.Config(
                create_app(runtime),
                host="127.0.0.1",
                port=port,
                log_level="warning",
                timeout_graceful_shutdown=1,
            )
        )
        thread = threading.Thread(target=server.run, name="desk-server", daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the desk server did not start")
            time.sleep(0.05)
        try:
            yield desk
        finally:
            server.should_exit = True
            thread.join(10)
            worker.stop()
            listener.stop()
            runtime.close()


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if sync_playwright is None:
        _browser_unavailable("playwright is not installed")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session", params=["chromium", "firefox"])
def browser(request: pytest.FixtureRequest, playwright: Playwright) -> Iterator[Browser]:
    """Each browser the desk must work in, Debian's own build of it."""
    if request.param == "chromium":
        if not CHROMIUM.exists():
            _browser_unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
    else:
        if not FIREFOX.exists():
            _browser_unavailable(f"{FIREFOX} is missing (apt-get install firefox-esr)")
        # Playwright drives Firefox over WebDriver BiDi, which Debian's Firefox speaks.
        launched = playwright.firefox.launch(
            channel="moz-firefox", executable_path=str(FIREFOX), firefox_user_prefs=FIREFOX_PREFS
        )
    try:
        yield launched
    finally:
        launched.close()


@dataclass
class PageWatch:
    """What a page did that no desk page may do."""

    host: str
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def allow_console_error(self, pattern: str) -> None:
        """For a test that provokes an error on purpose (a refused page, say)."""
        self.allowed.append(re.compile(pattern))

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not any(p.search(message.text) for p in self.allowed):
            self.errors.append(f"console: {message.text} at {message.location}")

    def on_page_error(self, error: Exception) -> None:
        if SCREENSHOT_STYLE in str(error):
            return
        self.errors.append(f"uncaught: {error}")

    def on_request(self, request: Request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("data", "blob", "about"):
            return
        if parts.netloc != self.host:
            self.foreign.append(request.url)


def watch(page: Page, base_url: str) -> PageWatch:
    watcher = PageWatch(host=urlsplit(base_url).netloc)
    page.on("console", watcher.on_console)
    page.on("pageerror", watcher.on_page_error)
    page.on("request", watcher.on_request)
    return watcher


@contextmanager
def opened_page(
    browser: Browser, desk: LiveDesk, *, viewport: dict[str, int] = VIEWPORT
) -> Iterator[tuple[Page, PageWatch]]:
    """A fresh browser context (its own cookies) and page, watched; checked on close."""
    context = browser.new_context(base_url=desk.base_url, viewport=viewport)  # type: ignore[arg-type]
    context.set_default_timeout(10_000)
    page = context.new_page()
    watcher = watch(page, desk.base_url)
    try:
        yield page, watcher
    finally:
        context.close()
    assert not watcher.errors, "the page reported errors:\n" + "\n".join(watcher.errors)
    assert not watcher.foreign, f"the page asked other hosts: {watcher.foreign}"


@pytest.fixture
def page_watch(browser: Browser, desk: LiveDesk) -> Iterator[tuple[Page, PageWatch]]:
    with opened_page(browser, desk) as opened:
        yield opened


@pytest.fixture
def page(page_watch: tuple[Page, PageWatch]) -> Page:
    return page_watch[0]


def sign_in(page: Page, desk: LiveDesk, role: Role, *, next_path: str | None = None) -> Person:
    """Sign in through the sign-in form, as a person would."""
    who = desk.person(role)
    page.goto("/sign-in" + (f"?next={next_path}" if next_path else ""))
    page.get_by_label("Email address").fill(who.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("domcontentloaded")
    return who


def screenshot(page: Page, name: str) -> Path:
    """A picture of the screen for a reviewer, in tests/artifacts/ (ignored by git)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser = page.context.browser
    if browser is not None and browser.browser_type.name != "chromium":
        name = f"{name}-{browser.browser_type.name}"
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
