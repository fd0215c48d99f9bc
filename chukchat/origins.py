"""Whether a browser's Origin is one of ours, compared exactly: scheme, host and port.

A host match alone let any page on the same host (another port, plain http beside https) use a
signed-in user's session cookie on our WebSocket. Ours are: the site's own address
(CHUK_SITE_URL), the address the request itself was made to, and DJANGO_CSRF_TRUSTED_ORIGINS."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import validate_host

_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalized(origin: str) -> str | None:
    """`scheme://host[:port]` in lower case, without a default port; None if not an origin."""
    try:
        parts = urlsplit(origin.strip().lower())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if port is not None and port != _DEFAULT_PORTS[parts.scheme]:
        host = f"{host}:{port}"
    return f"{parts.scheme}://{host}"


def _own_origin(scope) -> str | None:
    host = next((v for k, v in scope.get("headers", ()) if k == b"host"), None)
    if host is None:
        return None
    host = host.decode("latin-1")
    if not validate_host(host.rsplit(":", 1)[0].strip("[]"), settings.ALLOWED_HOSTS):
        return None
    scheme = "https" if scope.get("scheme") in ("wss", "https") else "http"
    return normalized(f"{scheme}://{host}")


def origin_is_ours(origin: str, *, scope) -> bool:
    candidate = normalized(origin)
    if candidate is None:
        return False
    ours = {normalized(settings.SITE_URL), _own_origin(scope)}
    ours.update(normalized(o) for o in settings.CSRF_TRUSTED_ORIGINS)
    return candidate in ours - {None}
