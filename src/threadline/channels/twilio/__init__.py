"""Twilio-compatible phone and text messaging: request signatures, TwiML answers, the
voice and SMS webhooks read into plain values, and the provider's REST API."""
