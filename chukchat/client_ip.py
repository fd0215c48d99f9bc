"""The client's address, as every client-IP decision (rate limits, sign-in throttles) sees it.

Directly reached (CHUK_TRUSTED_PROXY_COUNT=0, the default), it is the socket's peer and any
X-Forwarded-For is the client's own claim, ignored. Behind N trusted proxies, each appends the
address it was reached from, so the client is the N-th entry from the right; entries left of
that were written by the client and are not trusted."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _clean(value: str) -> str | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # an IPv4 address with a port
        value = value.partition(":")[0]
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str:
    peer = request.META.get("REMOTE_ADDR") or "unknown"
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies <= 0 or not forwarded:
        return peer
    hops = [hop for hop in forwarded.split(",") if hop.strip()]
    if len(hops) < proxies:
        # Fewer hops than proxies: the request did not come through all of them (or a proxy
        # is misconfigured); the nearest address we know is the peer.
        return peer
    return _clean(hops[-proxies]) or peer
