"""Mail when no mail server is configured.

With DEBUG on (`make run`), mail is printed whole to the console, links and all: that is how a
developer signs up locally. With DEBUG off and no EMAIL_HOST, printing it would put sign-in,
verification and password-reset links (working credentials) into the logs; instead one line
says a mail was due and was not sent, without its body."""

from __future__ import annotations

import logging

from django.core.mail.backends.base import BaseEmailBackend

logger = logging.getLogger("chukchat.mail")


def _masked(address: str) -> str:
    name, _, domain = address.rpartition("@")
    return f"{name[:1]}***@{domain}" if name else "***"


class WithheldMailBackend(BaseEmailBackend):
    def send_messages(self, email_messages) -> int:
        for message in email_messages:
            logger.warning(
                "mail not sent (no EMAIL_HOST is configured): to %s, subject %r; body withheld",
                ", ".join(_masked(to) for to in message.recipients()),
                message.subject,
            )
        return 0
