"""The gate of every Twilio webhook: the channel must be on (an auth token is set; else
404, as if the route did not exist), and the request must carry the provider's
signature over our public URL and everything it posted (else 403, before anything is
read into the database).

The URL signed is THREADLINE_PUBLIC_URL followed by the path and query as called, so
that behind a proxy the signature is checked against the address the provider used."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Depends, Request

from threadline.api.deps import RuntimeDep
from threadline.channels.twilio.signature import is_valid
from threadline.errors import Forbidden, InvalidInput, NotFound


@dataclass(frozen=True)
class SignedForm:
    """A webhook's form, checked: every parameter as posted (names may repeat), and
    the unsigned idempotency token the provider repeats on a retry."""

    pairs: tuple[tuple[str, str], ...]
    idempotency_token: str | None

    def get(self, name: str, default: str = "") -> str:
        for key, value in self.pairs:
            if key == name:
                return value
        return default

    def has(self, name: str) -> bool:
        return any(key == name for key, _ in self.pairs)


def public_url_of(request: Request, public_url: str) -> str:
    query = request.url.query
    return f"{public_url}{request.url.path}" + (f"?{query}" if query else "")


async def signed_form(request: Request, runtime: RuntimeDep) -> SignedForm:
    token = runtime.settings.twilio_auth_token
    if not token:
        raise NotFound("the phone and SMS channel is off (THREADLINE_TWILIO_AUTH_TOKEN is unset)")
    body = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    url = public_url_of(request, runtime.settings.public_url)
    signature = request.headers.get("x-twilio-signature")
    if content_type == "application/json":
        if not is_valid(token, url, signature, body=body):
            raise Forbidden("the request's X-Twilio-Signature does not match")
        raise InvalidInput("this webhook takes a form, not JSON")
    try:
        pairs = tuple(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
    except UnicodeDecodeError:
        raise Forbidden("the request's X-Twilio-Signature does not match") from None
    if request.method == "GET":
        pairs = ()
    if not is_valid(token, url, signature, form=pairs):
        raise Forbidden("the request's X-Twilio-Signature does not match")
    if request.method == "GET":
        pairs = tuple(parse_qsl(request.url.query, keep_blank_values=True))
    return SignedForm(pairs, request.headers.get("i-twilio-idempotency-token"))


SignedFormDep = Annotated[SignedForm, Depends(signed_form)]
