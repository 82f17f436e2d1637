"""Only the provider can speak for a call: every voice webhook checks the signature over
our public URL and everything posted, and a refused request writes nothing."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from tests.conftest import table_rows
from tests.twilio_support import ACCOUNT, OUR_NUMBER, PUBLIC_URL, TOKEN, signature
from threadline.api.app import create_app
from threadline.config import Settings
from threadline.runtime import Runtime

INCOMING = {
    "CallSid": "CA" + "9" * 32,
    "AccountSid": ACCOUNT,
    "From": "+447700900456",
    "To": OUR_NUMBER,
    "CallStatus": "ringing",
    "Direction": "inbound",
}
WATCHED = ("calls", "call_events", "touches", "cases", "customers", "identities")


def stored(runtime: Runtime) -> dict[str, list[tuple[object, ...]]]:
    with runtime.db.session() as session:
        return {table: table_rows(session, table) for table in WATCHED}


def _post(client: TestClient, path: str, params: dict[str, str], sig: str | None) -> Response:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if sig is not None:
        headers["X-Twilio-Signature"] = sig
    return client.post(path, content=urlencode(params).encode(), headers=headers)


@pytest.mark.parametrize(
    "how",
    ["unsigned", "other_token", "tampered", "other_url", "signed_as_get"],
)
def test_a_request_not_signed_by_the_provider_is_refused_and_writes_nothing(
    client: TestClient, runtime: Runtime, how: str
) -> None:
    path = "/webhooks/twilio/voice"
    before = stored(runtime)
    params = dict(INCOMING)
    sig: str | None = signature(path, params)
    if how == "unsigned":
        sig = None
    elif how == "other_token":
        sig = signature(path, params, token="not-our-token")
    elif how == "tampered":
        params["From"] = "+447700900999"
    elif how == "other_url":
        sig = signature(path + "?agent=1", params)
    elif how == "signed_as_get":
        sig = signature(path, {})
    answer = _post(client, path, params, sig)
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "forbidden"
    assert stored(runtime) == before


def test_every_voice_webhook_checks_the_signature(client: TestClient) -> None:
    for path in (
        "/webhooks/twilio/voice/wait",
        "/webhooks/twilio/voice/queue",
        "/webhooks/twilio/voice/bridged?agent=1",
        "/webhooks/twilio/voice/status",
        "/webhooks/twilio/voice/voicemail",
        "/webhooks/twilio/voice/transcription",
        "/webhooks/twilio/voice/outbound?call=1",
    ):
        params = {"CallSid": "CA" + "9" * 32, "AccountSid": ACCOUNT}
        assert _post(client, path, params, None).status_code == 403, path
        wrong = signature(path, params, token="not-our-token")
        assert _post(client, path, params, wrong).status_code == 403, path


def test_the_signature_of_the_url_with_its_default_port_is_accepted(client: TestClient) -> None:
    path = "/webhooks/twilio/voice/wait"
    params = {"CallSid": "CA" + "9" * 32, "QueuePosition": "2"}
    sig = RequestValidator(TOKEN).compute_signature(
        PUBLIC_URL.replace("shop.example", "shop.example:443") + path, params
    )
    answer = _post(client, path, params, str(sig))
    assert answer.status_code == 200
    assert "number 2" in answer.text


def test_with_no_auth_token_the_phone_channel_is_off(
    database_url: str, tmp_path: Path, db: Session
) -> None:
    settings = Settings(env="test", database_url=database_url, data_dir=tmp_path / "off")
    runtime = Runtime.start(settings)
    try:
        with TestClient(create_app(runtime)) as off:
            path = "/webhooks/twilio/voice"
            answer = _post(off, path, INCOMING, signature(path, INCOMING))
            assert answer.status_code == 404
            assert table_rows(db, "calls") == []
    finally:
        runtime.close()
