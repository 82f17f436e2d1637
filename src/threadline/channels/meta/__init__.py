"""Meta's Messenger, Instagram and WhatsApp Cloud webhooks: the verification handshake,
the `X-Hub-Signature-256` check over the raw body, and the batched events read into
`Inbound` messages and delivery reports (pure functions). Nothing is sent from here."""
