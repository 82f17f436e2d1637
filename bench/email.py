"""Email through the front door: `python -m bench.run email [--quick]`, or
`python bench/email.py [--quick] [--db KIND]` from the repository root.

BENCH_EMAIL_N messages (5,000; 500 with --quick) sent over real SMTP on loopback by 8
concurrent senders (processes of their own, as other mail servers would be) to the SMTP
listener, which stores each message before answering 250 and then processes it into a
touch.

The traffic: 60% of messages start a thread from a new customer, 40% answer that
customer's previous message (In-Reply-To and References, as mail clients write them);
10% carry a 60 kB attachment. A customer's messages all go through one sender, in order,
so that a reply never overtakes what it answers. Every message is rendered before the
clock starts.

Figures, each the median of BENCH_EMAIL_RUNS runs (3; 1 with --quick) on a fresh
database: messages/s accepted (the last 250), messages/s processed end to end (every
message a touch), the listening process's CPU time per message (all its threads; as
they share one interpreter lock, about one core's worth is what it can use), and its
resident memory at the end and its growth over the run. Target: >= 300 messages/s end to
end on SQLite in one process."""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__" and not __package__:
    # Run as a script, Python put bench/ first on the path, where this very file hides
    # the standard library's email package: the repository root goes there instead.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import multiprocessing
import random
import resource
import smtplib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from multiprocessing.queues import Queue

from sqlalchemy import func, select

from bench.common import DbKind, Report, env_int, fresh_runtime, median
from threadline.actions import Actor
from threadline.actions.mailboxes import add_mailbox
from threadline.channels.email.parse import parse_mail
from threadline.channels.email.smtp_server import SmtpListener
from threadline.models import InboundMail, Touch
from threadline.runtime import Runtime
from threadline.vocabulary import MailState

SEED = 20_261_123
SENDERS = 8
NEW_SHARE = 0.60
ATTACHMENT_SHARE = 0.10
ATTACHMENT_BYTES = 60_000
TARGET_PER_SECOND = 300
SUPPORT = "support@shop.example"
BODIES = (
    "Hello,\n\nmy order {order} has not arrived and the tracking has not moved since "
    "Tuesday. Could you look into it?\n\nThanks,\n{name}",
    "Hi there,\n\nthe jacket from order {order} has a broken zip. Can I swap it in the "
    "Leeds shop or do I need to post it back?\n\n{name}",
    "Good morning,\n\nI was charged twice for order {order}. Please refund one of the "
    "two payments.\n\nKind regards,\n{name}",
)
REPLIES = (
    "Thanks for getting back to me. The reference on my statement is {order}.",
    "Any news on this? It has been three days.",
    "That worked, thank you! One more thing: can I change the delivery address?",
)


@dataclass(frozen=True)
class Outgoing:
    sender: str
    raw: bytes


def build_traffic(count: int, seed: int = SEED) -> list[list[Outgoing]]:
    """The messages, split over the senders (a customer always on the same one)."""
    rng = random.Random(seed)
    lanes: list[list[Outgoing]] = [[] for _ in range(SENDERS)]
    customers: list[tuple[str, str, list[str]]] = []  # address, name, message ids
    payload = rng.randbytes(ATTACHMENT_BYTES)
    for i in range(count):
        order = f"#{rng.randrange(100_000, 999_999)}"
        message = EmailMessage()
        message["To"] = SUPPORT
        message["Date"] = format_datetime(datetime.now(UTC))
        message_id = make_msgid(idstring=str(i), domain="mail.example.net")
        message["Message-ID"] = message_id
        if not customers or rng.random() < NEW_SHARE:
            number = len(customers)
            name = f"Customer {number}"
            address = f"customer{number}@example.net"
            customers.append((address, name, []))
            message["Subject"] = f"Order {order}"
            message.set_content(rng.choice(BODIES).format(order=order, name=name))
            index = number
        else:
            index = rng.randrange(len(customers))
            address, name, previous = customers[index]
            message["Subject"] = f"Re: Order {order}"
            message["In-Reply-To"] = previous[-1]
            message["References"] = " ".join(previous[-5:])
            quoted = "\n".join("> " + line for line in rng.choice(BODIES).splitlines())
            message.set_content(
                rng.choice(REPLIES).format(order=order) + f"\n\nOn Monday, {name} wrote:\n" + quoted
            )
        address, name, ids = customers[index]
        message["From"] = f"{name} <{address}>"
        ids.append(message_id)
        if rng.random() < ATTACHMENT_SHARE:
            message.add_attachment(
                payload, maintype="application", subtype="pdf", filename=f"receipt-{i}.pdf"
            )
        lanes[index % SENDERS].append(Outgoing(address, message.as_bytes(policy=SMTP)))
    return lanes


@dataclass(frozen=True)
class Run:
    accepted_per_second: float
    processed_per_second: float
    rss_mib: float
    rss_growth_mib: float
    cpu_ms_per_message: float


def _rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _send_lane(host: str, port: int, lane: list[Outgoing], errors: Queue[str]) -> None:
    """One sender: a process of its own, as a mail server would be, so that the senders
    do not compete with the listener for this process's interpreter lock."""
    try:
        with smtplib.SMTP(host, port, timeout=60) as client:
            for item in lane:
                client.sendmail(item.sender, [SUPPORT], item.raw)
    except (smtplib.SMTPException, OSError) as exc:
        errors.put(f"{type(exc).__name__}: {exc}")


def _finished(runtime: Runtime) -> int:
    with runtime.db.reading() as read:
        return (
            read.scalar(
                select(func.count())
                .select_from(InboundMail)
                .where(InboundMail.state.in_((MailState.PROCESSED, MailState.IGNORED)))
            )
            or 0
        )


def _one_run(runtime: Runtime, lanes: list[list[Outgoing]], count: int) -> Run:
    with runtime.db.session() as db:
        add_mailbox(db, runtime.env, Actor.system(), SUPPORT, team=None, imap_url=None)
    rss_before = _rss_mib()
    with SmtpListener(runtime, listen="127.0.0.1:0") as listener:
        forking = multiprocessing.get_context("fork")
        errors: Queue[str] = forking.Queue()
        senders = [
            forking.Process(target=_send_lane, args=(listener.host, listener.port, lane, errors))
            for lane in lanes
        ]
        started = time.perf_counter()
        cpu_before = time.process_time()
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        accepted_at = time.perf_counter()
        if not errors.empty() or any(sender.exitcode for sender in senders):
            raise RuntimeError(
                f"senders failed: {errors.get(timeout=1) if not errors.empty() else 'exit status'}"
            )
        deadline = accepted_at + 600
        while _finished(runtime) < count:
            if time.perf_counter() > deadline:
                raise RuntimeError("messages were not processed within 10 minutes")
            time.sleep(0.02)
        processed_at = time.perf_counter()
        cpu = time.process_time() - cpu_before
    with runtime.db.reading() as read:
        touches = read.scalar(select(func.count()).select_from(Touch))
    if touches != count:
        raise AssertionError(f"{touches} touches for {count} messages")
    rss_after = _rss_mib()
    return Run(
        accepted_per_second=count / (accepted_at - started),
        processed_per_second=count / (processed_at - started),
        rss_mib=rss_after,
        rss_growth_mib=rss_after - rss_before,
        cpu_ms_per_message=cpu * 1000 / count,
    )


def _measure(report: Report, kind: DbKind, lanes: list[list[Outgoing]], runs: int) -> None:
    count = sum(len(lane) for lane in lanes)
    results: list[Run] = []
    for attempt in range(runs):
        with fresh_runtime(kind) as runtime:
            result = _one_run(runtime, lanes, count)
        results.append(result)
        report.log(
            f"{kind} run {attempt + 1}/{runs}: accepted {result.accepted_per_second:,.0f}/s, "
            f"processed {result.processed_per_second:,.0f}/s, RSS {result.rss_mib:.0f} MiB, "
            f"CPU {result.cpu_ms_per_message:.2f} ms/message"
        )
    processed = [r.processed_per_second for r in results]
    rate = median(processed)
    note = f"{count:,} messages, {SENDERS} senders, median of {runs} runs"
    if kind == "sqlite":
        verdict = "met" if rate >= TARGET_PER_SECOND else "NOT met"
        note += f"; target >= {TARGET_PER_SECOND}/s {verdict}"
    accepted = [r.accepted_per_second for r in results]
    report.emit("accepted (250 sent)", median(accepted), "messages/s", db=kind, runs=accepted)
    report.emit("processed end to end", rate, "messages/s", db=kind, runs=processed, note=note)
    cpu = [r.cpu_ms_per_message for r in results]
    report.emit(
        "listener CPU per message",
        median(cpu),
        "ms",
        db=kind,
        runs=cpu,
        note="all threads of the listening process; one core's worth is the ceiling",
    )
    rss = [r.rss_mib for r in results]
    report.emit("resident memory at the end", median(rss), "MiB", db=kind, runs=rss)
    growth = [r.rss_growth_mib for r in results]
    report.emit(
        "resident memory growth over a run",
        median(growth),
        "MiB",
        db=kind,
        runs=growth,
        note="listener, its threads and caches; the senders' rendered mail is counted before",
    )


def run(report: Report) -> None:
    count = env_int("BENCH_EMAIL_N", 500 if report.quick else 5_000)
    runs = env_int("BENCH_EMAIL_RUNS", 1 if report.quick else 3)
    lanes = build_traffic(count)
    _measure_parsing(report, lanes)
    for kind in report.databases():
        _measure(report, kind, lanes, runs)


def _measure_parsing(report: Report, lanes: list[list[Outgoing]]) -> None:
    """The parser alone, in this process, over the same messages: the share of the
    listener's time that reading a mail takes. The median of 3 passes."""
    mails = [outgoing.raw for lane in lanes for outgoing in lane]
    passes = []
    for _ in range(3):
        began = time.process_time()
        for raw in mails:
            parse_mail(raw)
        passes.append((time.process_time() - began) * 1000 / len(mails))
    report.emit(
        "parse per message",
        median(passes),
        "ms",
        runs=passes,
        note=f"parse_mail() over the {len(mails):,} messages, CPU time, median of 3 passes",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """The runner, for this workload only: same options, same output."""
    from bench.run import main as run_main

    return run_main(["email", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
