"""A request the provider rejects as invalid (HTTP 400, 413, 422) is the caller's to fix: it is
answered 400 `provider_rejected_request` with the provider's own explanation, made safe to show,
never a 502 "try again", and never sent on to a fallback (the same request fails there too).

The explanation is the provider's text with what is ours taken out: the provider's key and
address as we configured them, anything shaped like a key, token, URL or network address, and
control characters; at most MAX_MESSAGE_CHARS long. Anything but a plain text message (an HTML
error page, a JSON structure) is not shown at all."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from urllib.parse import urlsplit

from aiapi.providers.base import ProviderFailure

REJECTING_STATUSES = frozenset({400, 413, 422})
MAX_MESSAGE_CHARS = 300
REDACTED = "[redacted]"

# Any URL, whatever its scheme (first: a key or host inside one goes with it).
_URL = re.compile(r"\b[a-z][a-z0-9+.\-]*://[^\s\"'<>`]+", re.IGNORECASE)
_PATTERNS = [
    (re.compile(r"\bbearer\s+\S+", re.IGNORECASE), f"Bearer {REDACTED}"),
    # Keys as providers print them, whole or masked: sk-..., sk-ant-..., sk-proj-...
    (re.compile(r"\b(?:sk|pk|rk|ak)[-_][\w*.\-]{2,}[\w*]", re.IGNORECASE), REDACTED),
    # Organisation and project ids.
    (re.compile(r"\b(?:org|proj|acct)[-_][A-Za-z0-9]{6,}"), REDACTED),
    # Long opaque tokens (letters and digits mixed, 24 or more): keys, session ids, hashes.
    (re.compile(r"(?=[\w\-+/=]*\d)(?=[\w\-+/=]*[A-Za-z])[\w\-+/=]{24,}"), REDACTED),
    # Network addresses: IPv4 (with a port), [IPv6], host:port.
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b"), "[address]"),
    (re.compile(r"\[[0-9a-f.]*:[0-9a-f:.]*\](?::\d{1,5})?", re.IGNORECASE), "[address]"),
    (re.compile(r"\b(?:localhost|[\w\-]+(?:\.[\w\-]+)+):\d{1,5}\b", re.IGNORECASE), "[address]"),
]


def is_rejection(status: int | None) -> bool:
    return status in REJECTING_STATUSES


def provider_message(body: object) -> str | None:
    """The provider's explanation in an SDK error's body (which the SDKs give as the `error`
    object when there is one): `{"message": ...}` (OpenAI, Anthropic, servers like vLLM),
    `{"error": "..."}` (Ollama), `{"detail": "..."}` (FastAPI servers)."""
    if isinstance(body, dict):
        for name in ("message", "error", "detail"):
            value = body.get(name)
            if isinstance(value, str):
                return value
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return value["message"]
    return None


def secrets_of(*, api_key: str, base_url: str) -> tuple[str, ...]:
    """What of a provider's configuration must never be shown: its key, its address."""
    found = [api_key, base_url.rstrip("/")]
    parts = urlsplit(base_url)
    found += [parts.netloc, parts.hostname or ""]
    return tuple(s for s in found if s and len(s) >= 4)


def sanitised(message: str, *, secrets: Iterable[str] = ()) -> str:
    """The provider's message, safe to show to the caller (maybe empty)."""
    text = _URL.sub("[url]", message[: 8 * MAX_MESSAGE_CHARS])  # bounded work, whatever comes
    for secret in sorted(secrets, key=len, reverse=True):  # the address before its host
        text = text.replace(secret, REDACTED)
    text = "".join(" " if unicodedata.category(c).startswith("C") else c for c in text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    text = " ".join(text.split())
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 1].rstrip() + "…"
    return text


def rejection(status: int, body: object, *, secrets: Iterable[str] = ()) -> ProviderFailure:
    raw = provider_message(body)
    detail = sanitised(raw, secrets=secrets) if raw else ""
    message = "The model's provider rejected the request as invalid"
    return ProviderFailure(
        f"{message}: {detail}" if detail else f"{message}.",
        status=status,
        retryable=False,
        rejected=True,
    )
