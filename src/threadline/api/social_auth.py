"""The gate of the Meta and X webhooks: the channel must be on (its secrets are set; else
404, as if the route did not exist), and an event must carry the provider's signature
over the body exactly as it arrived (else 403, before anything is parsed or written).

The raw bytes are checked, never a re-serialised copy: Meta signs its JSON with
non-ASCII characters escaped, and any JSON library would write them back differently.
Only then is the body read as JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

from threadline.api.deps import RuntimeDep
from threadline.channels.meta import signature as meta_signature
from threadline.channels.payload import JsonObject
from threadline.channels.x import signature as x_signature
from threadline.errors import Forbidden, InvalidInput, NotFound

META_SIGNATURE = "x-hub-signature-256"
X_SIGNATURE = "x-twitter-webhooks-signature"


@dataclass(frozen=True)
class MetaKeys:
    app_secret: str
    verify_token: str


async def meta_keys(runtime: RuntimeDep) -> MetaKeys:
    settings = runtime.settings
    if not settings.meta_app_secret or not settings.meta_verify_token:
        raise NotFound(
            "the Meta channels are off (THREADLINE_META_APP_SECRET and "
            "THREADLINE_META_VERIFY_TOKEN must both be set)"
        )
    return MetaKeys(settings.meta_app_secret, settings.meta_verify_token)


MetaKeysDep = Annotated[MetaKeys, Depends(meta_keys)]


async def x_consumer_secret(runtime: RuntimeDep) -> str:
    secret = runtime.settings.x_consumer_secret
    if not secret:
        raise NotFound("the X channel is off (THREADLINE_X_CONSUMER_SECRET is unset)")
    return secret


XSecretDep = Annotated[str, Depends(x_consumer_secret)]


def _json_object(body: bytes) -> JsonObject:
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested past reason
        raise InvalidInput("the body is not JSON") from None
    if not isinstance(value, dict):
        raise InvalidInput("the body is not a JSON object")
    return value


async def meta_payload(
    request: Request,
    keys: MetaKeysDep,
    signature: Annotated[
        str | None,
        Header(
            alias=META_SIGNATURE,
            description="`sha256=` and the hex HMAC-SHA256 of the body, keyed with the App Secret",
        ),
    ] = None,
) -> JsonObject:
    body = await request.body()
    if not meta_signature.is_valid(keys.app_secret, body, signature):
        raise Forbidden("the request's X-Hub-Signature-256 does not match")
    return _json_object(body)


async def x_payload(
    request: Request,
    secret: XSecretDep,
    signature: Annotated[
        str | None,
        Header(
            alias=X_SIGNATURE,
            description="`sha256=` and the Base64 HMAC-SHA256 of the body, keyed with the "
            "consumer secret",
        ),
    ] = None,
) -> JsonObject:
    body = await request.body()
    if not x_signature.is_valid(secret, body, signature):
        raise Forbidden("the request's x-twitter-webhooks-signature does not match")
    return _json_object(body)


MetaPayloadDep = Annotated[JsonObject, Depends(meta_payload)]
XPayloadDep = Annotated[JsonObject, Depends(x_payload)]
