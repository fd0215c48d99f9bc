"""The bearer tokens of the operations endpoints (/health/ready's detail, /metrics).

Compared in constant time; an empty setting never matches anything."""

from __future__ import annotations

import hmac


def bearer_token(request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def presents(request, *tokens: str) -> bool:
    """Whether the request carries one of `tokens` (the empty ones are ignored)."""
    given = bearer_token(request).encode()
    if not given:
        return False
    return any(token and hmac.compare_digest(given, token.encode()) for token in tokens)
