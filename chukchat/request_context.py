"""What every HTTP request leaves behind: its request id (chukchat/log_context.py), echoed in
`x-request-id`; its metrics (chukchat/metrics.py) by route pattern, method and status; and,
with CHUK_LOG_FORMAT=json, one log line with who asked, the model, the status and the time
until the response's headers."""

from __future__ import annotations

import logging
import time

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings

from chukchat import log_context, metrics

logger = logging.getLogger("chukchat.request")


def _route(request) -> str:
    match = request.resolver_match
    # The pattern, never the path: a path carries ids, and each would be a series of its own.
    return match.route if match is not None and match.route else "unmatched"


def _session_user_id(request) -> int | None:
    # Only a user the view already loaded: looking one up here would cost a query per request.
    user = getattr(request, "_cached_user", None) or getattr(request, "_acached_user", None)
    return user.pk if user is not None and user.is_authenticated else None


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
        log, token = log_context.begin(request.headers.get("X-Request-Id"))
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            self._done(request, response, started, log)
        finally:
            # A thread serves many requests one after another: this one's context ends here.
            log_context.end(token)
        return response

    async def _acall(self, request):
        # Not reset after the view: a streamed body is written after this returns, in this
        # request's own task (and context), and its lines belong to the request too.
        log, _ = log_context.begin(request.headers.get("X-Request-Id"))
        started = time.perf_counter()
        response = await self.get_response(request)
        self._done(request, response, started, log)
        return response

    @staticmethod
    def _done(request, response, started: float, log: log_context.RequestLog) -> None:
        seconds = time.perf_counter() - started
        status = response.status_code
        metrics.http_response(
            route=_route(request), method=request.method, status=status, seconds=seconds
        )
        own = response.get("x-request-id")
        if log.from_client:
            if own and own != log.request_id:
                response["x-chuk-usage-id"] = own
            response["x-request-id"] = log.request_id
        elif not own:
            response["x-request-id"] = log.request_id
        if settings.LOG_FORMAT == "json":
            if "user_id" not in log.fields:
                user_id = _session_user_id(request)
                if user_id is not None:
                    log.fields["user_id"] = user_id
            logger.info(
                "%s %s %s",
                request.method,
                request.path,
                status,
                extra={"status": status, "latency_ms": round(seconds * 1000, 1)},
            )
