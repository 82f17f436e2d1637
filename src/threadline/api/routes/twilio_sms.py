"""Twilio-compatible text messaging webhooks (filled in by the SMS work)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/webhooks/twilio", tags=["webhooks"], include_in_schema=True)
