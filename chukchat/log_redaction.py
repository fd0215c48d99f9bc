"""Secrets never reach the logs through a URL: an API key sent as `?token=` (the WebSocket
accepts one, for browsers that cannot set headers) or a signed download link's token is
replaced by `[redacted]` in access-log lines, whoever formats them."""

from __future__ import annotations

import logging
import re

# Query parameters that carry credentials, and the path segment of a signed file link.
_SECRET_QUERY = re.compile(
    r"(?i)([?&](?:token|key|api_key|apikey|access_token|session_id|sig|signature)=)[^&#\s]*"
)
_SIGNED_PATH = re.compile(r"(/media/files/)[^/?#\s]+")
_BEARER = re.compile(r"(?i)\b(sk-chuk-)[A-Za-z0-9_-]{6,}")


def redact(text: str) -> str:
    text = _SECRET_QUERY.sub(r"\1[redacted]", text)
    text = _SIGNED_PATH.sub(r"\1[redacted]", text)
    return _BEARER.sub(r"\1[redacted]", text)


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str) and not record.args:
            record.msg = redact(record.msg)
        return True


def install() -> None:
    """On the loggers that print request lines: uvicorn's access log and Django's request
    warnings. Filters on a logger survive the handlers and formatters being reconfigured."""
    for name in ("uvicorn.access", "uvicorn.error", "django.request", "django.server"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
