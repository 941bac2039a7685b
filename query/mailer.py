"""Sending mail: as files in a spool directory (the default, for laptops) or through SMTP.

A mail may carry a secret (a password reset link), so its body goes only to the mailer: a spool
file readable by its owner only (mode 0600, in a 0700 directory), or the SMTP server. The
outbox table (storage/accounts.py) records who was sent what kind of mail, never the body.
Both mailers block, so callers run `deliver` in a thread.
"""

from __future__ import annotations

import os
import secrets
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import NamedTuple

from query.accounts_config import AccountSettings

SMTP_TIMEOUT_S = 10.0


class Mail(NamedTuple):
    """One mail to send."""

    recipient: str
    subject: str
    body: str


def message(settings: AccountSettings, mail: Mail) -> EmailMessage:
    """`mail` as an RFC 5322 message from SMTP_FROM."""
    built = EmailMessage()
    built["From"] = settings.smtp_from
    built["To"] = mail.recipient
    built["Subject"] = mail.subject
    built["Date"] = format_datetime(datetime.now(UTC))
    built["Message-ID"] = make_msgid(domain="sensorium.invalid")
    # Plain ASCII stays unwrapped, so a link is one line a reader can copy.
    built.set_content(mail.body, cte="7bit" if mail.body.isascii() else "quoted-printable")
    return built


def deliver(settings: AccountSettings, mail: Mail) -> str:
    """Send `mail` with the configured mailer (blocking); returns where it went (a spool file's
    name, or the SMTP host), without the recipient. Raises OSError or smtplib.SMTPException."""
    if settings.mail_backend == "smtp":
        _send_smtp(settings, message(settings, mail))
        return f"smtp:{settings.smtp_host}"
    return spool(settings.mail_spool_dir, message(settings, mail)).name


def spool(directory: Path, mail: EmailMessage) -> Path:
    """Write `mail` as a new file only its owner can read; returns its path."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = directory / f"{stamp}-{secrets.token_hex(4)}.eml"
    # O_EXCL: never write through a file (or link) someone else put there.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(mail.as_bytes())
    return path


def _send_smtp(settings: AccountSettings, mail: EmailMessage) -> None:
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT_S) as smtp:
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(mail)
