"""Rate limits by category (chat, transcription, image, convert, and the general API), per user
and per API key, in requests per minute and, for chat, tokens per minute.

The user's plan sets the limits (billing's cached entitlements, so no query per request); an
API key's own overrides replace them for that key. Both the user's and the key's limits apply:
a user's keys and their web session share the user's allowance. Checks and counts go to
accounts/rate_limiter.py (Redis, or memory in embedded mode).

If the limiter's Redis cannot be reached, requests are let through with a logged warning (or
refused with 503 when RATE_LIMIT_FAIL_CLOSED is set); never a 500.

The x-ratelimit-* headers follow OpenAI's: limit, remaining and reset (a duration such as
"1s" or "6m0s") of the tightest request limit, and of the tightest token limit for chat."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from redis.exceptions import RedisError

from accounts.models import RATE_LIMIT_FIELDS
from accounts.rate_limiter import Limit, LimitState, MemoryStore, RedisStore, Verdict
from billing.entitlements import aentitlements_for, entitlements_for
from chukchat import metrics
from chukchat.errors import ApiError

logger = logging.getLogger(__name__)

PERIOD = 60.0
# What "the limiter's Redis is unavailable" looks like; anything else is a bug and is raised.
UNAVAILABLE = (RedisError, OSError, TimeoutError)
_WARN_EVERY = 10.0
_last_warning = 0.0


@dataclass(frozen=True, slots=True)
class RateCheck:
    """What the x-ratelimit-* headers say after a request was let through."""

    headers: dict[str, str]


_stores: dict[str, MemoryStore | RedisStore] = {}


def limiter_store() -> MemoryStore | RedisStore:
    url = settings.RATE_LIMIT_REDIS_URL
    store = _stores.get(url)
    if store is None:
        store = _stores[url] = (
            RedisStore(url, connections=settings.RATE_LIMIT_REDIS_CONNECTIONS)
            if url
            else MemoryStore()
        )
    return store


def _limits(
    *, user_id: int, api_key_id: int | None, overrides: dict, plan: dict, category: str, tokens: int
) -> tuple[list[Limit], list[Limit]]:
    """The request limits and the token limits that apply, the user's then the key's."""
    request_field, token_field = RATE_LIMIT_FIELDS[category]
    requests, token_limits = [], []
    prefix = settings.RATE_LIMIT_KEY_PREFIX
    owners = [(f"{prefix}:u{user_id}", plan)]
    if api_key_id is not None:
        owners.append((f"{prefix}:k{api_key_id}", {**plan, **overrides}))
    for owner, source in owners:
        if source.get(request_field):
            requests.append(
                Limit(key=f"{owner}:{category}:r", rate=source[request_field], period=PERIOD)
            )
        if token_field and source.get(token_field):
            token_limits.append(
                Limit(
                    key=f"{owner}:{category}:t",
                    rate=source[token_field],
                    period=PERIOD,
                    cost=tokens,
                )
            )
    return requests, token_limits


def _duration(seconds: float) -> str:
    """OpenAI's style: "20ms", "1s", "6m0s"."""
    if seconds < 1:
        return f"{math.ceil(seconds * 1000)}ms"
    whole = math.ceil(seconds)
    minutes, rest = divmod(whole, 60)
    return f"{minutes}m{rest}s" if minutes else f"{rest}s"


def _tightest(states: list[LimitState]) -> LimitState | None:
    return min(states, key=lambda s: (s.remaining, -s.reset), default=None)


def _headers(verdict: Verdict, requests: list[Limit]) -> dict[str, str]:
    headers: dict[str, str] = {}
    request_keys = {limit.key for limit in requests}
    checked = [s for s in verdict.states if not s.limit.force]  # not the piggybacked counts
    for suffix, states in (
        ("requests", [s for s in checked if s.limit.key in request_keys]),
        ("tokens", [s for s in checked if s.limit.key not in request_keys]),
    ):
        state = _tightest(states)
        if state is not None:
            headers[f"x-ratelimit-limit-{suffix}"] = str(state.limit.rate)
            headers[f"x-ratelimit-remaining-{suffix}"] = str(state.remaining)
            headers[f"x-ratelimit-reset-{suffix}"] = _duration(state.reset)
    return headers


def _refused(verdict: Verdict, requests: list[Limit], category: str) -> ApiError:
    metrics.rate_limited(category)
    retry = max(1, math.ceil(verdict.retry_after))
    return ApiError(
        429,
        "rate_limit_exceeded",
        f"Rate limit reached for {category} requests. Try again in {retry} s.",
        type="rate_limit_error",
        headers={"Retry-After": str(retry), **_headers(verdict, requests)},
    )


def _unavailable(error: Exception, *, refuse: bool = True) -> RateCheck:
    global _last_warning
    if time.monotonic() - _last_warning > _WARN_EVERY:
        _last_warning = time.monotonic()
        logger.warning("rate limiter unavailable (%s): letting requests through", error)
    if refuse and settings.RATE_LIMIT_FAIL_CLOSED:
        raise ApiError(
            503, "rate_limiter_unavailable", "Rate limiting is unavailable; try again shortly."
        ) from None
    return RateCheck(headers={})


def _decide(verdict: Verdict, requests: list[Limit], category: str) -> RateCheck:
    if not verdict.allowed:
        raise _refused(verdict, requests, category)
    return RateCheck(headers=_headers(verdict, requests))


def _too_large(token_limits: list[Limit], tokens: int) -> ApiError | None:
    smallest = min((limit.rate for limit in token_limits), default=None)
    if smallest is not None and tokens > smallest:
        return ApiError(
            429,
            "rate_limit_exceeded",
            f"This request ({tokens} tokens) is larger than your limit of {smallest} tokens "
            "per minute: send less.",
            type="rate_limit_error",
        )
    return None


async def arate_check(*, caller, category: str, tokens: int = 0) -> RateCheck:
    """Counts one request of `category` (and `tokens`, for chat) against the caller's limits,
    or raises 429 with Retry-After."""
    if not settings.RATE_LIMITS_ENABLED:
        return RateCheck(headers={})
    plan = (await aentitlements_for(user_id=caller.user_id)).rate_limits
    requests, token_limits = _limits(
        user_id=caller.user_id,
        api_key_id=caller.api_key_id,
        overrides=caller.rate_overrides,
        plan=plan,
        category=category,
        tokens=tokens,
    )
    if not requests and not token_limits:
        return RateCheck(headers={})
    too_large = _too_large(token_limits, tokens)
    if too_large is not None:
        metrics.rate_limited(category)
        raise too_large
    try:
        verdict = await limiter_store().acheck(_take_pending() + requests + token_limits)
    except UNAVAILABLE as error:  # the limiter's Redis is down or slow
        return _unavailable(error)
    return _decide(verdict, requests, category)


async def arate_limit_request(request, *, caller, category: str = "api") -> None:
    """For a view: counts the request (429 past the limit) and leaves the x-ratelimit-*
    headers for its response (RateLimitHeadersMiddleware)."""
    request.rate_limit_headers = (await arate_check(caller=caller, category=category)).headers


def rate_check(
    *, user_id: int, api_key_id: int | None, overrides: dict, category: str
) -> RateCheck:
    """The same from sync code (DRF views)."""
    if not settings.RATE_LIMITS_ENABLED:
        return RateCheck(headers={})
    plan = entitlements_for(user_id=user_id).rate_limits
    requests, _ = _limits(
        user_id=user_id,
        api_key_id=api_key_id,
        overrides=overrides,
        plan=plan,
        category=category,
        tokens=0,
    )
    if not requests:
        return RateCheck(headers={})
    try:
        verdict = limiter_store().check(requests)
    except UNAVAILABLE as error:
        return _unavailable(error)
    return _decide(verdict, requests, category)


async def arate_count_tokens(*, caller, tokens: int, category: str = "chat") -> None:
    """Counts what a finished call generated against the token limits, past them if need be:
    the next calls wait for it."""
    if tokens <= 0 or not settings.RATE_LIMITS_ENABLED:
        return
    plan = (await aentitlements_for(user_id=caller.user_id)).rate_limits
    _, token_limits = _limits(
        user_id=caller.user_id,
        api_key_id=caller.api_key_id,
        overrides=caller.rate_overrides,
        plan=plan,
        category=category,
        tokens=tokens,
    )
    if not token_limits:
        return
    store = limiter_store()
    forced = [
        Limit(key=limit.key, rate=limit.rate, period=limit.period, cost=tokens, force=True)
        for limit in token_limits
    ]
    if isinstance(store, MemoryStore):
        store.check(forced)
        return
    for limit in forced:
        queued = _pending.get(limit.key)
        _pending[limit.key] = (
            limit if queued is None else Limit(
                key=limit.key, rate=limit.rate, period=limit.period,
                cost=queued.cost + limit.cost, force=True,
            )
        )  # fmt: skip
    global _flusher
    if _flusher is None or _flusher.done():
        _flusher = asyncio.create_task(_flush_pending(store))


# Generated tokens not yet counted in Redis: they ride along with this process's next check
# (one round trip a call instead of two), or are sent on their own after FLUSH_AFTER seconds.
FLUSH_AFTER = 0.05
_pending: dict[str, Limit] = {}
_flusher: asyncio.Task | None = None


def _take_pending() -> list[Limit]:
    if not _pending:
        return []
    taken = list(_pending.values())
    _pending.clear()
    return taken


async def _flush_pending(store: RedisStore) -> None:
    await asyncio.sleep(FLUSH_AFTER)
    forced = _take_pending()
    if forced:
        try:
            await store.acheck(forced)
        except UNAVAILABLE as error:
            _unavailable(error, refuse=False)  # the calls are over: nothing left to refuse


def rate_status(*, user_id: int, api_key_id: int | None, overrides: dict) -> dict:
    """Each category's limits and what remains of them now, counting nothing (a check of zero
    units only reads). Empty when limits are off or the limiter is unreachable."""
    if not settings.RATE_LIMITS_ENABLED:
        return {}
    plan = entitlements_for(user_id=user_id).rate_limits
    status: dict[str, dict] = {}
    for category in RATE_LIMIT_FIELDS:
        requests, token_limits = _limits(
            user_id=user_id,
            api_key_id=api_key_id,
            overrides=overrides,
            plan=plan,
            category=category,
            tokens=0,
        )
        peek = [
            Limit(key=limit.key, rate=limit.rate, period=limit.period, cost=0)
            for limit in requests + token_limits
        ]
        if not peek:
            continue
        try:
            verdict = limiter_store().check(peek)
        except UNAVAILABLE as error:
            _unavailable(error, refuse=False)
            return {}
        headers = _headers(verdict, requests)
        entry = {
            "requestsPerMinute": int(headers["x-ratelimit-limit-requests"]),
            "remainingRequests": int(headers["x-ratelimit-remaining-requests"]),
        }
        if "x-ratelimit-limit-tokens" in headers:
            entry["tokensPerMinute"] = int(headers["x-ratelimit-limit-tokens"])
            entry["remainingTokens"] = int(headers["x-ratelimit-remaining-tokens"])
        status[category] = entry
    return status


def limiter_health() -> str:
    """For /health: one harmless check against the store."""
    limiter_store().check(
        [Limit(key=f"{settings.RATE_LIMIT_KEY_PREFIX}:health", rate=1_000_000, cost=0)]
    )
    return "redis" if settings.RATE_LIMIT_REDIS_URL else "memory"


class RateLimitHeadersMiddleware:
    """Puts the x-ratelimit-* headers of whatever check a view made on its response."""

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
        return self._add(request, self.get_response(request))

    async def _acall(self, request):
        return self._add(request, await self.get_response(request))

    @staticmethod
    def _add(request, response):
        for name, value in getattr(request, "rate_limit_headers", {}).items():
            response.headers.setdefault(name, value)
        return response
