"""The Jinja2 environment of the desk: autoescaping on for every template (customers
write what they like), undefined names fail loudly, and the formatting filters."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import nh3
from fastapi import Request
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.responses import HTMLResponse

from threadline import __version__
from threadline.html import sanitise
from threadline.web import assets
from threadline.web import format as fmt

if TYPE_CHECKING:
    from threadline.runtime import Runtime

HERE = Path(__file__).parent
STATIC_DIR = assets.STATIC_DIR


def sanitised(html: str) -> Markup:
    """HTML from a customer, safe to place in the page. The core sanitised it when it
    arrived; cleaning it again here costs microseconds and protects against any row
    written by another path (an import, a future adapter)."""
    return Markup(sanitise(html))  # noqa: S704 - nh3 has just cleaned it


# Images a customer's mail may show: the attachments we serve ourselves, and inline data.
_OWN_IMAGES = ("/api/v1/attachments/", "data:image/")


def _keep_own_images(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src":
        return value if value.startswith(_OWN_IMAGES) else None
    return value


def customer_html(html: str) -> Markup:
    """A customer's HTML as the timeline shows it: sanitised, and with every image that
    would load from elsewhere left without its source. A remote image is a tracking
    pixel (and refused by the page's content security policy); a relative one would ask
    the desk for a page that does not exist."""
    cleaned = nh3.clean(
        sanitise(html),
        tags=None,
        attributes=None,
        attribute_filter=_keep_own_images,
        link_rel="noopener noreferrer nofollow",
    )
    return Markup(cleaned)  # noqa: S704 - sanitised twice by nh3 just now


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        duration=fmt.duration,
        call_summary=fmt.call_summary,
        when=fmt.when,
        iso=fmt.iso,
        switch_label=fmt.switch_label,
        touch_phrase=fmt.touch_phrase,
        money=fmt.money,
        file_size=fmt.file_size,
        sanitised=sanitised,
        customer_html=customer_html,
    )
    env.globals.update(version=__version__, page_script=assets.page_script)
    return env


templates = Jinja2Templates(env=_environment())


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page. `user` (a DeskUser) fills the header: navigation by role, search, presence
    and sign-out; pages shown before sign-in leave it out."""
    context.setdefault("user", None)
    if context["user"] is not None:
        context.setdefault("events_after", _events_position(request))
    answer = templates.TemplateResponse(request, name, context, status_code=status_code)
    # Pages show one person's view of customers' private details: never kept by a cache.
    answer.headers["Cache-Control"] = "no-store"
    return answer


def _events_position(request: Request) -> str | None:
    """Where the event stream stands as the page is rendered. The page's live updates
    start from there (web/static/js/live.js), so what happens between the page leaving
    the server and its event stream opening is not missed; None when the bus cannot
    tell (the stream then starts from when it opens)."""
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:
        return None
    subscription = runtime.env.bus.subscribe()
    try:
        return subscription.position
    finally:
        subscription.close()


def error_page(request: Request, status: int, code: str, message: str) -> HTMLResponse:
    """The friendly page a browser gets instead of the JSON error body."""
    return render(
        request, "error.html", status_code=status, status=status, code=code, message=message
    )
