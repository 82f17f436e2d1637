"""Playing the provider: requests signed with the official `twilio` package, and a
stand-in for its REST API on 127.0.0.1 that answers in its wire format and remembers
what it was asked."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi.testclient import TestClient
from httpx2 import Response
from twilio.request_validator import RequestValidator

from threadline.config import Settings

TOKEN = "test-auth-token-0123456789abcdef"
ACCOUNT = "AC" + "0" * 32
PUBLIC_URL = "https://desk.shop.example"
OUR_NUMBER = "+442071838750"

Params = Sequence[tuple[str, str]] | Mapping[str, str]


def pairs_of(params: Params) -> list[tuple[str, str]]:
    return list(params.items()) if isinstance(params, Mapping) else list(params)


def signature(path: str, params: Params, token: str = TOKEN) -> str:
    """What the provider would put in X-Twilio-Signature for this POST."""
    validator = RequestValidator(token)
    # RequestValidator takes a dict, or a MultiDict-like object for repeated names.
    pairs = pairs_of(params)
    names = [name for name, _ in pairs]
    if len(names) == len(set(names)):
        return str(validator.compute_signature(PUBLIC_URL + path, dict(pairs)))
    return str(validator.compute_signature(PUBLIC_URL + path, _Multi(pairs)))


class _Multi(dict[str, str]):
    """The shape the SDK reads repeated form names from (`getall`)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        super().__init__(pairs)
        self._pairs = pairs

    def getall(self, name: str) -> list[str]:
        return [value for key, value in self._pairs if key == name]


def post_signed(
    client: TestClient,
    path: str,
    params: Params,
    *,
    token: str = TOKEN,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """POST a form to a webhook as the provider does, signed."""
    pairs = pairs_of(params)
    return client.post(
        path,
        content=urlencode(pairs).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature(path, pairs, token),
            **(headers or {}),
        },
    )


@dataclass
class Recorded:
    method: str
    path: str
    form: list[tuple[str, str]]
    authorization: str | None


@dataclass
class TwilioStandIn:
    """A loopback stand-in for api.twilio.com. Calls.json and Messages.json answer 201
    with a new sid; Recordings and call updates answer 200; media URLs under /media/
    answer the bytes put in `media`. `fail_next` makes the next POSTs answer that status
    (with the provider's error JSON)."""

    base_url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    fail_next: list[int] = field(default_factory=list)
    _counter: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def next_sid(self, prefix: str) -> str:
        with self._lock:
            self._counter += 1
            return f"{prefix}{self._counter:032x}"

    def posts_to(self, suffix: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and r.path.endswith(suffix)]


def _handler(stand_in: TwilioStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _answer(self, status: int, payload: dict[str, Any]) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            stand_in.requests.append(
                Recorded("GET", self.path, [], self.headers.get("Authorization"))
            )
            found = stand_in.media.get(self.path)
            if found is None:
                self._answer(404, {"code": 20404, "message": "not found", "status": 404})
                return
            content, content_type = found
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True)
            stand_in.requests.append(
                Recorded("POST", self.path, form, self.headers.get("Authorization"))
            )
            if stand_in.fail_next:
                status = stand_in.fail_next.pop(0)
                code = 20429 if status == 429 else 21211
                self._answer(status, {"code": code, "message": "refused", "status": status})
                return
            fields = dict(form)
            if self.path.endswith("/Calls.json"):
                self._answer(
                    201,
                    {"sid": stand_in.next_sid("CA"), "status": "queued", "to": fields.get("To")},
                )
            elif self.path.endswith("/Messages.json"):
                self._answer(
                    201,
                    {"sid": stand_in.next_sid("SM"), "status": "queued", "to": fields.get("To")},
                )
            else:
                self._answer(200, {"sid": stand_in.next_sid("RE"), "status": "ok"})

    return Handler


def basic_auth(account: str = ACCOUNT, token: str = TOKEN) -> str:
    return "Basic " + base64.b64encode(f"{account}:{token}".encode()).decode()


def run_stand_in() -> Iterator[TwilioStandIn]:
    """Serve a stand-in on a free loopback port for the life of the generator."""
    stand_in = TwilioStandIn()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stand_in))
    stand_in.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stand_in
    finally:
        server.shutdown()
        server.server_close()


def twilio_settings(database_url: str, data_dir: Path, stand_in: TwilioStandIn) -> Settings:
    """Settings with the Twilio channel on, its REST API pointed at the stand-in."""
    return Settings(
        env="test",
        database_url=database_url,
        data_dir=data_dir,
        public_url=PUBLIC_URL,
        twilio_auth_token=TOKEN,
        twilio_account_sid=ACCOUNT,
        twilio_from_number=OUR_NUMBER,
        twilio_api_base=stand_in.base_url,
    )
