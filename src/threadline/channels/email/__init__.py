"""Email: parsing mail into what the core needs, the SMTP listener, IMAP polling and
sending replies through a relay."""
