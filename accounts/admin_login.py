"""The admin's sign-in, throttled like the site's: failed attempts count per client address
and per account name under the same limits as allauth's sign-in (ACCOUNT_RATE_LIMITS
"login_failed", kept in the shared cache, so they hold across server processes)."""

from allauth.core import ratelimit
from allauth.core.internal.ratelimit import handler429
from django.contrib import admin
from django.http import HttpRequest, HttpResponse


def admin_login(request: HttpRequest, extra_context=None) -> HttpResponse:
    if request.method != "POST":
        return admin.site.login(request, extra_context)
    username = (request.POST.get("username") or "").strip().lower()
    if not ratelimit.consume(request, action="login_failed", key=username, dry_run=True):
        return handler429(request)
    response = admin.site.login(request, extra_context)
    signed_in = response.status_code == 302 and request.user.is_authenticated
    if signed_in:
        ratelimit.clear(request, action="login_failed", key=username)
    else:
        ratelimit.consume(request, action="login_failed", key=username)
    return response
