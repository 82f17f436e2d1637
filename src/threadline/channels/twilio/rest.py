"""The provider's REST API, as far as Threadline uses it: place a call, redirect or end
one, pause or resume its recording, send a text. Form-encoded requests with HTTP Basic
auth (account sid and auth token), JSON answers; the base URL comes from settings so tests
point it at a stand-in on 127.0.0.1.

Blocking calls with a timeout, made outside any database transaction."""

from __future__ import annotations

import base64
import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from threadline.config import Settings

API_VERSION = "2010-04-01"
TIMEOUT_SECONDS = 10.0


class TwilioApiError(Exception):
    """The provider refused or could not be reached. `retry` says whether the same
    request may be tried again later (rate limited, provider down) or is refused for good
    (a bad number, an unknown call)."""

    def __init__(self, message: str, *, status: int | None, code: int | None, retry: bool):
        super().__init__(message)
        self.status = status
        self.code = code
        self.retry = retry


@dataclass(frozen=True)
class TwilioApi:
    base_url: str
    account_sid: str
    auth_token: str
    timeout: float = TIMEOUT_SECONDS

    @classmethod
    def from_settings(cls, settings: Settings) -> TwilioApi | None:
        """The API client, or None when the channel is off (no account or token)."""
        if not settings.twilio_account_sid or not settings.twilio_auth_token:
            return None
        return cls(
            settings.twilio_api_base, settings.twilio_account_sid, settings.twilio_auth_token
        )

    def _url(self, path: str) -> str:
        account = quote(self.account_sid, safe="")
        return f"{self.base_url}/{API_VERSION}/Accounts/{account}/{path}"

    def post(self, path: str, params: Iterable[tuple[str, str]]) -> dict[str, Any]:
        """POST a form to `path` under the account; the JSON answer, or TwilioApiError."""
        data = urlencode(list(params)).encode()
        credentials = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode())
        request = urllib.request.Request(  # noqa: S310 (the base URL is a validated http(s) setting)
            self._url(path),
            data=data,
            method="POST",
            headers={
                "Authorization": f"Basic {credentials.decode()}",
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
                "User-Agent": "threadline",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                answer = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise _refusal(exc) from None
        except (OSError, ValueError) as exc:
            raise TwilioApiError(
                f"the provider could not be reached: {exc}", status=None, code=None, retry=True
            ) from None
        if not isinstance(answer, dict):
            raise TwilioApiError(
                "the provider answered something other than an object",
                status=None,
                code=None,
                retry=True,
            )
        return answer

    def create_call(
        self,
        *,
        to: str,
        from_: str,
        url: str,
        status_callback: str,
        record: bool = True,
    ) -> str:
        """Place a call; its TwiML is fetched from `url` once answered. Answers the sid."""
        params = [
            ("To", to),
            ("From", from_),
            ("Url", url),
            ("StatusCallback", status_callback),
            *(
                ("StatusCallbackEvent", event)
                for event in ("initiated", "ringing", "answered", "completed")
            ),
        ]
        if record:
            params.append(("Record", "true"))
        return str(self.post("Calls.json", params)["sid"])

    def update_call(self, sid: str, params: Mapping[str, str]) -> None:
        """Redirect a live call to new TwiML (`Url`) or end it (`Status=completed`)."""
        self.post(f"Calls/{quote(sid, safe='')}.json", params.items())

    def set_recording(self, call_sid: str, *, paused: bool) -> None:
        """Pause the call's recording (nothing is recorded until resumed, so card
        details read out meanwhile are never stored) or resume it."""
        params = [("Status", "paused" if paused else "in-progress")]
        if paused:
            params.append(("PauseBehavior", "skip"))
        self.post(f"Calls/{quote(call_sid, safe='')}/Recordings/Twilio.CURRENT.json", params)

    def send_message(
        self,
        *,
        to: str,
        from_: str,
        body: str,
        status_callback: str,
        media_urls: Iterable[str] = (),
    ) -> dict[str, Any]:
        """Send a text; answers the provider's message resource (`sid`, `status`)."""
        params = [("To", to), ("From", from_), ("Body", body), ("StatusCallback", status_callback)]
        params.extend(("MediaUrl", url) for url in media_urls)
        return self.post("Messages.json", params)

    def fetch_media(self, url: str, *, max_bytes: int) -> tuple[bytes, str]:
        """GET a file of an incoming message (its `MediaUrl{N}`): the bytes and their
        content type, or TwilioApiError. At most `max_bytes` are read.

        Our credentials go only to the API's own origin and never follow a redirect:
        the provider answers media with a redirect to a storage host, which must not see
        them (and refuses a request carrying a second kind of authorization)."""
        try:
            origin = _origin(url)
        except ValueError:  # a port that is not a number
            origin = None
        if origin is None or origin[0] not in {"http", "https"} or not origin[1]:
            raise TwilioApiError(
                f"{url[:200]!r} is not an http(s) URL", status=None, code=None, retry=False
            )
        request = urllib.request.Request(  # noqa: S310 (scheme checked above)
            url, method="GET", headers={"Accept": "*/*", "User-Agent": "threadline"}
        )
        if origin == _origin(self.base_url):
            credentials = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode())
            request.add_unredirected_header("Authorization", f"Basic {credentials.decode()}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise _too_large(int(declared), max_bytes)
                content = response.read(max_bytes + 1)
                content_type = response.headers.get_content_type()
        except urllib.error.HTTPError as exc:
            raise _refusal(exc) from None
        except (OSError, ValueError, http.client.HTTPException) as exc:
            raise TwilioApiError(
                f"the file could not be fetched: {exc}", status=None, code=None, retry=True
            ) from None
        if len(content) > max_bytes:
            raise _too_large(len(content), max_bytes)
        return content, content_type


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return (
        scheme,
        (parts.hostname or "").lower(),
        parts.port or {"https": 443, "http": 80}.get(scheme),
    )


def _too_large(size: int, limit: int) -> TwilioApiError:
    return TwilioApiError(
        f"the file is larger than {limit} bytes ({size} or more)",
        status=None,
        code=None,
        retry=False,
    )


def _refusal(exc: urllib.error.HTTPError) -> TwilioApiError:
    try:
        detail = json.loads(exc.read() or b"{}")
    except ValueError:
        detail = {}
    code = detail.get("code") if isinstance(detail, dict) else None
    message = detail.get("message") if isinstance(detail, dict) else None
    retry = exc.code == 429 or exc.code >= 500
    return TwilioApiError(
        f"the provider answered {exc.code}: {message or exc.reason}",
        status=exc.code,
        code=code if isinstance(code, int) else None,
        retry=retry,
    )
