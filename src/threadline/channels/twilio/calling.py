"""Placing the calls agents ask for: the worker hands each queued outbound call to the
provider's REST API, which dials the customer and, once they pick up, fetches our TwiML
that puts them through to the agent."""

from __future__ import annotations

from threadline.channels.base import DeliveryResult, Outbound
from threadline.channels.twilio.rest import TwilioApi, TwilioApiError
from threadline.channels.twilio.voice import OUTBOUND_PATH, STATUS_PATH
from threadline.vocabulary import Delivery


class TwilioCallSender:
    def __init__(self, api: TwilioApi, *, from_number: str, public_url: str) -> None:
        self.api = api
        self.from_number = from_number
        self.public_url = public_url

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
