"""The Host check of the lean API path. Django validates the Host against ALLOWED_HOSTS when a
middleware or view first asks for it; the API-key path runs without the middlewares that ask,
so a request for a foreign host got as far as a charged media job before `build_absolute_uri`
refused it with a 500. Here it is refused first, with a 400."""

from __future__ import annotations

from asgiref.sync import markcoroutinefunction
from django.core.exceptions import DisallowedHost

from chukchat.errors import error_response


class AllowedHostMiddleware:
    sync_capable = False
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        markcoroutinefunction(self)

    async def __call__(self, request):
        try:
            request.get_host()
        except DisallowedHost:
            return error_response(
                400, "invalid_host", "The Host header names a host this service does not serve."
            )
        return await self.get_response(request)
