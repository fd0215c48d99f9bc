"""What every HTTP request leaves behind: its metrics (chukchat/metrics.py) by route pattern,
method and status, and its time until the response's headers."""

from __future__ import annotations

import time

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from chukchat import metrics


def _route(request) -> str:
    match = request.resolver_match
    # The pattern, never the path: a path carries ids, and each would be a series of its own.
    return match.route if match is not None and match.route else "unmatched"


class RequestContextMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self._async:
            return self._acall(request)
        started = time.perf_counter()
        response = self.get_response(request)
        self._done(request, response, started)
        return response

    async def _acall(self, request):
        started = time.perf_counter()
        response = await self.get_response(request)
        self._done(request, response, started)
        return response

    @staticmethod
    def _done(request, response, started: float) -> None:
        metrics.http_response(
            route=_route(request),
            method=request.method,
            status=response.status_code,
            seconds=time.perf_counter() - started,
        )
