"""Security headers: a Content-Security-Policy on every HTML page, and HSTS on every response
to a request that came over https.

The web app's pages load ES modules and vendored scripts and styles from our own static files,
with no inline script, style or event handler, so the policy allows scripts and styles from
our origin only. `connect-src` adds the page's own host over ws:/wss: for the chat socket
(older browsers do not count a WebSocket to the same host as 'self'). Images may also be
data: and blob: URLs (attachments, generated images). Nothing may frame a page.

Whether a request came over https is Django's `request.is_secure()`: behind a reverse proxy it
believes X-Forwarded-Proto only when CHUK_TRUSTED_PROXY_COUNT says a proxy is there
(SECURE_PROXY_SSL_HEADER in chukchat/settings.py).

With DEBUG on, Django's own error pages (inline styles and scripts) are left without a policy."""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponseBase

POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data: blob:",
    "media-src": "'self' blob:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
}


def content_security_policy(request: HttpRequest) -> str:
    directives = dict(POLICY)
    try:
        host = request.get_host()  # validated against ALLOWED_HOSTS: no spaces or semicolons
    except DisallowedHost:
        host = ""
    if host:
        directives["connect-src"] += f" ws://{host} wss://{host}"
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def is_html(response: HttpResponseBase) -> bool:
    return response.get("Content-Type", "").split(";")[0].strip().lower() == "text/html"


def add_security_headers(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
    if is_html(response) and not (settings.DEBUG and response.status_code >= 400):
        response.headers.setdefault("Content-Security-Policy", content_security_policy(request))
    if settings.HSTS_SECONDS and request.is_secure():
        response.headers.setdefault("Strict-Transport-Security", f"max-age={settings.HSTS_SECONDS}")
    return response


class SecurityHeadersMiddleware:
    """For sync and async views alike; streaming responses get their headers before the
    first byte, as any other."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if iscoroutinefunction(self):
            return self._acall(request)
        return add_security_headers(request, self.get_response(request))

    async def _acall(self, request: HttpRequest):
        return add_security_headers(request, await self.get_response(request))
