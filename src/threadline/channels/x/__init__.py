"""X's Account Activity (and X Activity API) webhooks: the CRC handshake, the
`x-twitter-webhooks-signature` check over the raw body, and mentions, replies and direct
messages read into `Inbound` messages (pure functions). Nothing is sent from here."""
