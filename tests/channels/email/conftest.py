"""The real Dovecot IMAP server for the mail tests (tests/mail_server_support.py)."""

from tests.mail_server_support import dovecot, imap_folder

__all__ = ["dovecot", "imap_folder"]
