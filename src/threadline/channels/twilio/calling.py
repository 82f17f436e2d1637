"""Placing the calls agents ask for: the worker hands each queued outbound call to the
provider's REST API, which dials the customer and, once they pick up, fetches our TwiML
that puts them through to the agent."""

from __future__ import annotations

from threadline.channels.base import DeliveryResult, Outbound
from threadline.channels.twilio.rest import TwilioApi, TwilioApiError
from threadline.channels.twilio.voice import OUTBOUND_PATH, STATUS_PATH
from threadline.config import Settings
from threadline.vocabulary import Delivery


class TwilioCallSender:
    def __init__(self, api: TwilioApi, *, from_number: str, public_url: str) -> None:
        self.api = api
        self.from_number = from_number
        self.public_url = public_url

    @classmethod
    def from_settings(cls, settings: Settings) -> TwilioCallSender | None:
        """The sender, or None while the phone channel is off (no account, token or
        number of ours to call from)."""
        api = TwilioApi.from_settings(settings)
        if api is None or not settings.twilio_from_number:
            return None
        return cls(api, from_number=settings.twilio_from_number, public_url=settings.public_url)

    def send(self, outbound: Outbound) -> DeliveryResult:
        call_id = int(outbound.meta["call_id"])
        try:
            sid = self.api.create_call(
                to=outbound.to.value,
                from_=self.from_number,
                url=f"{self.public_url}{OUTBOUND_PATH}?call={call_id}",
                status_callback=f"{self.public_url}{STATUS_PATH}?call={call_id}",
            )
        except TwilioApiError as exc:
            return DeliveryResult(Delivery.FAILED, error=str(exc), retry=exc.retry)
        return DeliveryResult(Delivery.SENT, external_id=sid)
