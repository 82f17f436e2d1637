"""The `threadline` command."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import click
from sqlalchemy import func, select

from threadline import __version__
from threadline.actions import Actor, NewAgent, create_agent, create_token
from threadline.actions.service_level_admin import seed_default_service_levels
from threadline.errors import ConfigurationError, ThreadlineError
from threadline.migrate import upgrade
from threadline.models import Agent
from threadline.runtime import Runtime
from threadline.vocabulary import Role

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from threadline.channels.email.smtp_server import SmtpListener
    from threadline.worker import BackgroundWorker

P = ParamSpec("P")
R = TypeVar("R")


def _friendly(command: Callable[P, R]) -> Callable[P, R]:
    """Our own errors become one line on stderr and exit status 2, not a traceback."""

    @wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except ThreadlineError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(2)

    return run


def _read_password(from_stdin: bool) -> str | None:
    if not from_stdin:
        return None
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise click.UsageError("--password-stdin was given but standard input was empty")
    return password


@click.group()
@click.version_option(__version__, prog_name="threadline")
def main() -> None:
    """Threadline: one customer, one thread, whatever the channel."""


@main.command()
@click.option("--admin-email", default="admin@threadline.localhost", show_default=True)
@click.option("--admin-name", default="Administrator", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the admin's password from stdin.")
@_friendly
def init(admin_email: str, admin_name: str, password_stdin: bool) -> None:
    """Create or upgrade the database and, if there is no admin yet, create one."""
    runtime = Runtime.start()
    upgrade(runtime.settings.database_url)
    click.echo(f"database ready: {runtime.db.engine.url.render_as_string(hide_password=True)}")
    with runtime.db.session() as db:
        seeded = seed_default_service_levels(db, runtime.env)
        if seeded.policies:
            click.echo(
                f"service levels: stored {seeded.policies} default policies and "
                f"{seeded.calendars} calendars"
            )
        admins = db.scalar(select(func.count()).select_from(Agent).where(Agent.role == Role.ADMIN))
        if admins:
            return
        password = _read_password(password_stdin)
        shown = password is None
        password = password or secrets.token_urlsafe(12)
        create_agent(
            db,
            runtime.env,
            Actor.system(),
            NewAgent(email=admin_email, name=admin_name, role=Role.ADMIN, password=password),
        )
    click.echo(f"admin created: {admin_email}")
    if shown:
        click.echo(f"password (shown once): {password}")


@main.group()
def agents() -> None:
    """Manage agents."""


@agents.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", type=click.Choice([r.value for r in Role]), default="agent")
@click.option("--team", "teams", multiple=True, help="A team to join (repeatable).")
@click.option("--skill", "skills", multiple=True, help="A skill (repeatable).")
@click.option("--password-stdin", is_flag=True)
@_friendly
def agents_create(
    email: str,
    name: str,
    role: str,
    teams: tuple[str, ...],
    skills: tuple[str, ...],
    password_stdin: bool,
) -> None:
    """Create an agent."""
    runtime = Runtime.start()
    password = _read_password(password_stdin)
    with runtime.db.session() as db:
        agent = create_agent(
            db,
            runtime.env,
            Actor.system(),
            NewAgent(
                email=email,
                name=name,
                role=Role(role),
                password=password,
                teams=teams,
                skills=skills,
            ),
        )
        click.echo(f"agent {agent.id} created: {agent.email} ({agent.role.value})")


@main.group()
def tokens() -> None:
    """Manage API tokens."""


@tokens.command("create")
@click.option("--email", required=True)
@click.option("--name", "label", default="cli", show_default=True)
@_friendly
def tokens_create(email: str, label: str) -> None:
    """Print a new API token for an agent, once."""
    runtime = Runtime.start()
    with runtime.db.session() as db:
        issued = create_token(db, runtime.env, Actor.system(), email, label)
    click.echo(issued.token)


@main.command()
@click.option("--reset", is_flag=True, help="Delete the database and seed it anew.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Seed only; do not start the server.")
@_friendly
def demo(reset: bool, host: str, port: int, no_serve: bool) -> None:
    """Seed the demo business and serve it."""
    from threadline.demo import prepare_demo

    runtime = Runtime.start()
    login = prepare_demo(runtime, reset=reset, echo=click.echo)
    if no_serve:
        return
    click.echo(f"\nThreadline demo on http://{host}:{port}/  sign in as {login}")
    listener = _start_smtp(runtime)
    click.echo(
        f"mail to help@harbourandvine.example over SMTP at {runtime.settings.smtp_listen} "
        "lands on the desk"
    )
    background = _start_worker(runtime)
    try:
        _serve(runtime, host, port)
    finally:
        background.stop()
        listener.stop()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--no-worker", is_flag=True, help="Do not run the worker in this process.")
@click.option("--no-smtp", is_flag=True, help="Do not run the SMTP listener in this process.")
@_friendly
def serve(host: str, port: int, no_worker: bool, no_smtp: bool) -> None:
    """Serve the desk and the API."""
    _configure_logging()
    runtime = Runtime.start()
    listener = None if no_smtp else _start_smtp(runtime)
    background = None if no_worker else _start_worker(runtime)
    try:
        _serve(runtime, host, port)
    finally:
        if background is not None:
            background.stop()
        if listener is not None:
            listener.stop()


def _configure_logging() -> None:
    """Our own log lines (the worker's deliveries, the listener's stores, warnings) with
    their time, level and source, on stderr, for every long-running command."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # aiosmtpd logs every command line at INFO; our own lines say what matters.
    logging.getLogger("mail.log").setLevel(logging.WARNING)


def _serve(runtime: Runtime, host: str, port: int) -> None:
    import uvicorn

    from threadline.api.app import create_app

    app = create_app(runtime)
    _freeze_start_up()
    # Open event streams would hold a graceful shutdown forever; after 5 s they are cut
    # and clients resume from their Last-Event-ID.
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="info",
        timeout_graceful_shutdown=5,
    )


def _freeze_start_up() -> None:
    """Set aside what start-up made (modules, mappings, routes, compiled statements): it
    lives as long as the process, and the collector re-scanning it all now and then
    stalled a request or a sweep for tens of milliseconds (100 ms in a sweep of 1,000
    clocks, against 30 ms without)."""
    import gc

    gc.collect()
    gc.freeze()


def _start_worker(runtime: Runtime) -> BackgroundWorker:
    """The worker on a background thread of this process (one-process mode)."""
    from threadline.worker import BackgroundWorker, build_worker

    return BackgroundWorker(build_worker(runtime)).start()


@main.command()
@click.option(
    "--metrics",
    "metrics_listen",
    metavar="HOST:PORT",
    help="Serve this worker's Prometheus figures on http://HOST:PORT/metrics.",
)
@_friendly
def worker(metrics_listen: str | None) -> None:
    """Outbound delivery, service-level sweeps and mailbox polling, until SIGTERM or
    SIGINT. Any number may run against one PostgreSQL database."""
    import signal
    import threading
    from types import FrameType

    from threadline.worker import build_worker

    _configure_logging()
    runtime = Runtime.start()
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        figures = _serve_metrics(runtime, metrics_listen) if metrics_listen else None
        try:
            work = build_worker(runtime)
            _freeze_start_up()
            work.run_forever(stop)
        finally:
            if figures is not None:
                figures.shutdown()
    finally:
        runtime.close()


def _serve_metrics(runtime: Runtime, listen: str) -> WSGIServer:
    """Prometheus' own small HTTP server for the registry of this process, on a thread;
    answers it, for shutdown()."""
    from prometheus_client import start_http_server

    from threadline.channels.email.smtp_server import split_host_port

    try:
        host, port = split_host_port(listen)
    except ValueError:
        raise click.BadParameter(f"{listen!r} is not HOST:PORT", param_hint="--metrics") from None
    runtime.watch_outbox()
    try:
        server, _thread = start_http_server(port, addr=host, registry=runtime.env.metrics.registry)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot serve metrics on {listen}: {exc.strerror or exc}"
        ) from None
    click.echo(f"metrics on http://{listen}/metrics", err=True)
    return server


def _start_smtp(runtime: Runtime) -> SmtpListener:
    """The inbound SMTP listener on THREADLINE_SMTP_LISTEN, started."""
    from threadline.channels.email.smtp_server import SmtpListener

    listener = SmtpListener(runtime)
    try:
        listener.start()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot listen for SMTP on {runtime.settings.smtp_listen}: {exc.strerror or exc}"
        ) from None
    return listener


@main.command()
@_friendly
def smtp() -> None:
    """The inbound SMTP listener alone, until SIGTERM or SIGINT."""
    import signal
    import threading
    from types import FrameType

    _configure_logging()
    runtime = Runtime.start()
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        listener = _start_smtp(runtime)
        click.echo(f"SMTP listener on {listener.host}:{listener.port}", err=True)
        try:
            stop.wait()
        finally:
            listener.stop()
    finally:
        runtime.close()


@main.group()
def mailboxes() -> None:
    """Support addresses."""


@mailboxes.command("add")
@click.argument("address")
@click.option("--team", help="The team whose cases this mail opens.")
@click.option("--imap-url", help="Also poll this mailbox: imaps://user:pass@host:993/INBOX")
@_friendly
def mailboxes_add(address: str, team: str | None, imap_url: str | None) -> None:
    """Add a support address: mail to it over SMTP is accepted."""
    from threadline.actions.mailboxes import add_mailbox

    runtime = Runtime.start()
    try:
        with runtime.db.session() as db:
            mailbox = add_mailbox(
                db, runtime.env, Actor.system(), address, team=team, imap_url=imap_url
            )
    finally:
        runtime.close()
    polled = " (polled over IMAP)" if mailbox.imap_url else ""
    click.echo(f"mailbox {mailbox.id} added: {mailbox.address}{polled}")
