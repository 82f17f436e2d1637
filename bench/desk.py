"""The desk in a browser: how soon the inbox and a long case page paint and become usable.

A `threadline serve` process (as bench/api.py starts it: no worker, no SMTP listener) on
a fresh SQLite database holding BENCH_DESK_CASES (10,000) open cases, 70% of them owned by
the signed-in agent and the rest waiting unowned, each with a running first-reply clock;
and one case of BENCH_DESK_TOUCHES (300) touches (messages in and out, every fourth an
internal note). Debian's Chromium (/usr/bin/chromium), headless, driven by Playwright,
signs in once through the sign-in form and then loads each page BENCH_DESK_LOADS (10;
3 with --quick) times after one warm-up load, each in a new tab of the same browser
context (so the static CSS and JS are cached, as they are for someone who works on the
desk all day). Figures, medians over the loads, in milliseconds from navigation start:

- `<page>_first_paint_ms`: first-contentful-paint from the Paint Timing API;
- `<page>_interactive_ms`: `domContentLoadedEventEnd` from Navigation Timing. The desk's
  scripts (its ES modules, linked into one inline script: web/assets.py) run before
  DOMContentLoaded fires, so this is the moment every module has run and attached its
  handlers (shortcuts, live updates, actions); a page that sets
  `document.body.dataset.ready` later than that is timed to that instead;
- `<page>_load_ms`: `loadEventEnd`, for reference;
- where the time goes, also medians from navigation start: `<page>_response_end_ms`
  (`responseEnd`: the page's HTML has arrived; the server's time and the browser's
  start of the navigation) and `<page>_dom_interactive_ms` (`domInteractive`: the HTML
  is parsed; what follows up to interactive is the page's scripts, and whatever
  rendering the browser fits in before them);
- `<page>_server_ms`: the server's time for the page alone: median of BENCH_DESK_REQUESTS
  (30; 10 with --quick) GETs over httpx on loopback with the same session cookie, after
  a warm-up, timed from request to the last byte.

Target: interactive within 300 ms.

Seeding: the cases, customers and touches are written by bulk insert (bench/api.py's row
builders), not through the actions: 10,000 cases through `receive()` would take about a
minute and the pages read the same rows either way. The agent is made through the
actions. SQLite only: the desk's pages read like the API's lists, which bench/api.py
measures on PostgreSQL too."""

from __future__ import annotations

import random
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import perf_counter
from typing import Any

import httpx2 as httpx

from bench.api import case_row, conversation_rows, seed_customers, serving, touch_row
from bench.common import Report, env_int, fresh_database, insert_rows, median, started
from threadline.actions import Actor, NewAgent, create_agent
from threadline.models import Case, Clock, Touch
from threadline.vocabulary import Channel, ClockKind, Role

CHROMIUM = Path("/usr/bin/chromium")
SEED = 20_261_208
EMAIL = "desk@bench.example"
PASSWORD = "bench desk password 1"  # noqa: S105 - a throwaway bench database
OWNED_SHARE = 0.7
TARGET_MS = 300.0

# What the browser reports about one load, read after the page's load event.
TIMINGS_JS = """async () => {
  // Paint entries are reported a frame or two after the paint: wait for the first one.
  const painted = await new Promise((resolve) => {
    const found = performance.getEntriesByName("first-contentful-paint")[0];
    if (found) return resolve(found);
    new PerformanceObserver((list, observer) => {
      observer.disconnect();
      resolve(list.getEntriesByName("first-contentful-paint")[0] ?? null);
    }).observe({ type: "paint", buffered: true });
    setTimeout(() => resolve(null), 3000);
  });
  const nav = performance.getEntriesByType("navigation")[0];
  const ready = performance.getEntriesByName("desk-ready")[0];
  return {
    fcp: painted ? painted.startTime : null,
    response: nav.responseEnd,
    parsed: nav.domInteractive,
    dcl: nav.domContentLoadedEventEnd,
    load: nav.loadEventEnd,
    ready: ready ? ready.startTime : null,
  };
}"""
# Marks when the page says it is ready (document.body.dataset.ready), if it ever does.
READY_OBSERVER_JS = """
new MutationObserver((_, observer) => {
  if (document.body && document.body.dataset.ready) {
    performance.mark("desk-ready");
    observer.disconnect();
  }
}).observe(document, { attributes: true, subtree: true, attributeFilter: ["data-ready"] });
"""


@dataclass(frozen=True)
class Seeded:
    big_case_id: int
    cases: int
    touches: int


def seed(url: str, cases: int, touches: int, rng: random.Random) -> Seeded:
    with started(url) as runtime:
        with runtime.db.session() as db:
            agent_id = create_agent(
                db,
                runtime.env,
                Actor.system(),
                NewAgent(email=EMAIL, name="Desk Bench", role=Role.AGENT, password=PASSWORD),
            ).id
        now = datetime.now(UTC)
        big_case_id = cases + 1
        with runtime.db.engine.begin() as conn:
            seed_customers(conn, cases + 1, now, rng)
            case_rows: list[dict[str, Any]] = []
            clocks: list[dict[str, Any]] = []
            for case_id in range(1, cases + 1):
                owner = agent_id if rng.random() < OWNED_SHARE else None
                updated = now - timedelta(minutes=rng.randrange(43_200))
                row = case_row(case_id, case_id + 1, owner, updated)
                # A spread of countdowns: some late, some warning, most comfortable.
                due = now + timedelta(minutes=rng.randrange(-600, 2_400))
                row.update(channel=Channel.EMAIL, due_at=due, warns_at=due - timedelta(hours=1))
                case_rows.append(row)
                clocks.append(_clock(case_id, updated, due))
            case_rows.append(
                case_row(big_case_id, 1, agent_id, now) | {"channel": Channel.EMAIL, "due_at": None}
            )
            insert_rows(conn, Case, case_rows)
            insert_rows(conn, Clock, clocks)
            rows = [
                touch_row(case_id, case_id, "Where is my order?", now, identity_id=case_id + 1)
                for case_id in range(1, cases + 1)
            ]
            rows += conversation_rows(
                cases + 1,
                big_case_id,
                agent_id,
                now - timedelta(days=200),
                timedelta(hours=15),
                [
                    f"Message {i} about order #{100_000 + i}: the lamp, the delivery, "
                    "the refund and what happens next.\n\nKind regards"
                    for i in range(touches)
                ],
            )
            insert_rows(conn, Touch, rows)
    return Seeded(big_case_id=big_case_id, cases=cases, touches=touches)


def _clock(case_id: int, started_at: datetime, due: datetime) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "kind": ClockKind.FIRST_REPLY,
        "channel": Channel.EMAIL,
        "target_seconds": 4 * 3600,
        "warn_share": 0.8,
        "started_at": started_at,
        "resumed_at": started_at,
        "due_at": due,
        "warns_at": due - timedelta(hours=1),
        "next_check_at": None,  # the bench runs no sweep
    }


def _browser_figures(
    report: Report, base: str, pages: dict[str, str], loads: int, requests: int
) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 800})
            context.add_init_script(READY_OBSERVER_JS)
            page = context.new_page()
            page.goto("/sign-in")
            page.get_by_label("Email address").fill(EMAIL)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/inbox**")
            cookies = {c["name"]: c["value"] for c in context.cookies()}
            page.close()
            for name, path in pages.items():
                first_paint, interactive, loaded = [], [], []
                responded, parsed = [], []
                for n in range(loads + 1):  # the first load warms the caches
                    tab = context.new_page()
                    answer = tab.goto(path, wait_until="load")
                    if answer is None or answer.status != 200:
                        raise RuntimeError(f"{path} answered {answer and answer.status}")
                    seen = tab.evaluate(TIMINGS_JS)
                    tab.close()
                    if n == 0:
                        continue
                    if seen["fcp"] is not None:
                        first_paint.append(float(seen["fcp"]))
                    ready = max(float(seen["dcl"]), float(seen["ready"] or 0.0))
                    interactive.append(ready)
                    loaded.append(float(seen["load"]))
                    responded.append(float(seen["response"]))
                    parsed.append(float(seen["parsed"]))
                if first_paint:
                    _emit(report, name, "first_paint_ms", first_paint)
                else:
                    report.log(f"{name}: the browser reported no first-contentful-paint")
                made = _emit(report, name, "interactive_ms", interactive)
                report.log(
                    f"{name}: interactive {made:.0f} ms "
                    f"({'within' if made <= TARGET_MS else 'over'} the {TARGET_MS:.0f} ms target)"
                )
                _emit(report, name, "load_ms", loaded)
                _emit(report, name, "response_end_ms", responded)
                _emit(report, name, "dom_interactive_ms", parsed)
                _emit(report, name, "server_ms", _server_times(base, path, cookies, requests))
        finally:
            browser.close()


def _server_times(base: str, path: str, cookies: dict[str, str], count: int) -> list[float]:
    with httpx.Client(base_url=base, cookies=cookies, timeout=30) as client:
        client.get(path).raise_for_status()  # warm-up
        times = []
        for _ in range(count):
            began = perf_counter()
            answer = client.get(path)
            _ = answer.content
            times.append((perf_counter() - began) * 1000)
            answer.raise_for_status()
    return times


def _emit(report: Report, page: str, figure: str, runs: list[float]) -> float:
    value = median(runs)
    report.emit(f"{page}_{figure}", value, "ms", db="sqlite", runs=runs)
    return value


def run(report: Report) -> None:
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: `make browsers` installs it")
    if report.only_db and "sqlite" not in report.only_db:
        report.log("SQLite only; skipped")
        return
    cases = env_int("BENCH_DESK_CASES", 10_000)
    touches = env_int("BENCH_DESK_TOUCHES", 300)
    loads = env_int("BENCH_DESK_LOADS", 3 if report.quick else 10)
    requests = env_int("BENCH_DESK_REQUESTS", 10 if report.quick else 30)
    rng = random.Random(SEED)
    with fresh_database("sqlite") as url, tempfile.TemporaryDirectory() as tmp:
        began = perf_counter()
        seeded = seed(url, cases, touches, rng)
        report.log(
            f"seeded {seeded.cases:,} open cases and a case of {seeded.touches} touches "
            f"by bulk insert in {perf_counter() - began:.1f} s"
        )
        pages = {"inbox": "/inbox", "case_page": f"/cases/{seeded.big_case_id}"}
        with serving(url, Path(tmp) / "data", Path(tmp) / "serve.log") as base:
            _browser_figures(report, base, pages, loads, requests)


__all__ = ["run", "seed"]
