"""The one place an API key becomes a user: for DRF views, plain async views and the WebSocket.

A process-local cache sits in front of the database so an authenticated request costs no query
on the hot path. Entries live API_KEY_CACHE_SECONDS, which bounds how long a key revoked in
another process keeps working; expiry is checked on every use, so it is exact.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication

from accounts.api_keys import hash_key, is_well_formed
from accounts.model_allow_list import as_frozen
from accounts.models import RATE_LIMIT_FIELDS, ApiKey, User
from chukchat import log_context
from chukchat.db_threads import db_call
from chukchat.errors import ApiError
from chukchat.single_flight import SingleFlight

_LAST_USED_GRANULARITY = timedelta(seconds=60)
_MAX_CACHED = 50_000


@dataclass(frozen=True, slots=True)
class KeyPrincipal:
    key_id: int
    user_id: int
    prefix: str
    name: str
    expires_at: datetime | None
    monthly_spend_limit: Decimal | None
    user: User
    rate_overrides: dict[str, int]  # this key's own rate limits, by field name
    allowed_models: frozenset[str] | None = None  # public ids; None: every model


# hash -> (monotonic deadline, principal or None for "unknown/revoked")
_cache: dict[str, tuple[float, KeyPrincipal | None]] = {}


_loads: SingleFlight[KeyPrincipal | None] = SingleFlight()


def forget_cached_key(hashed_key: str) -> None:
    _loads.forget()
    _cache.pop(hashed_key, None)


def clear_key_cache() -> None:
    _loads.forget()
    _cache.clear()
    _active_users.clear()


def invalid_key(message: str) -> ApiError:
    return ApiError(401, "invalid_api_key", message, type="invalid_request_error")


def bearer_token(authorization: str | None) -> str | None:
    """The token from an `Authorization: Bearer <token>` header value, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def request_api_key(*, authorization: str | None, x_api_key: str | None) -> str | None:
    """The key a request carries: `Authorization: Bearer <key>` (OpenAI's clients) or
    `x-api-key: <key>` (Anthropic's SDK, Claude Code, litellm's anthropic provider)."""
    return bearer_token(authorization) or (x_api_key or "").strip() or None


def has_key_header(*, authorization: str | None, x_api_key: str | None) -> bool:
    """Whether the request offers a key at all (then the key decides, never the session)."""
    return authorization is not None or bool(x_api_key)


def _check_format(raw: str | None) -> str:
    if raw is None:
        raise invalid_key(
            "Missing API key. Send it as 'Authorization: Bearer <key>' or 'x-api-key: <key>'."
        )
    if not is_well_formed(raw):
        raise invalid_key("Malformed API key.")
    return hash_key(raw)


def _from_cache(hashed: str) -> tuple[bool, KeyPrincipal | None]:
    hit = _cache.get(hashed)
    if hit is None or hit[0] < time.monotonic():
        return False, None
    return True, hit[1]


def _load(hashed: str) -> KeyPrincipal | None:
    api_key = (
        ApiKey.objects.select_related("user")
        .filter(hashed_key=hashed, revoked=False, user__is_active=True)
        .first()
    )
    principal = None
    if api_key is not None:
        principal = KeyPrincipal(
            key_id=api_key.pk,
            user_id=api_key.user_id,
            prefix=api_key.prefix,
            name=api_key.name,
            expires_at=api_key.expires_at,
            monthly_spend_limit=api_key.monthly_spend_limit,
            user=api_key.user,
            rate_overrides={
                name: getattr(api_key, name)
                for fields in RATE_LIMIT_FIELDS.values()
                for name in fields
                if name and getattr(api_key, name) is not None
            },
            allowed_models=as_frozen(api_key.allowed_models),
        )
        now = timezone.now()
        if api_key.last_used_at is None or api_key.last_used_at < now - _LAST_USED_GRANULARITY:
            ApiKey.objects.filter(pk=api_key.pk).filter(
                Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - _LAST_USED_GRANULARITY)
            ).update(last_used_at=now)
    if len(_cache) >= _MAX_CACHED:
        _cache.clear()
    _cache[hashed] = (time.monotonic() + settings.API_KEY_CACHE_SECONDS, principal)
    return principal


def _accept(principal: KeyPrincipal | None) -> KeyPrincipal:
    if principal is None:
        raise invalid_key("Invalid API key, or it has been revoked.")
    if principal.expires_at is not None and principal.expires_at <= timezone.now():
        raise invalid_key("This API key has expired.")
    log_context.bind(user_id=principal.user_id, key_prefix=principal.prefix)
    return principal


def authenticate_api_key(raw: str | None) -> KeyPrincipal:
    hashed = _check_format(raw)
    found, principal = _from_cache(hashed)
    if not found:
        principal = _load(hashed)
    return _accept(principal)


async def aauthenticate_api_key(raw: str | None) -> KeyPrincipal:
    hashed = _check_format(raw)
    found, principal = _from_cache(hashed)
    if not found:
        principal = await _loads.load(hashed, lambda: db_call(_load, hashed=hashed))
    return _accept(principal)


# user id -> (monotonic deadline, whether the account is active): for sockets opened with the
# session, which re-check their account as key sockets re-check their key.
_active_users: dict[int, tuple[float, bool]] = {}


def _load_active(user_id: int) -> bool:
    active = User.objects.filter(pk=user_id, is_active=True).exists()
    if len(_active_users) >= _MAX_CACHED:
        _active_users.clear()
    _active_users[user_id] = (time.monotonic() + settings.API_KEY_CACHE_SECONDS, active)
    return active


async def auser_is_active(user_id: int) -> bool:
    """Whether the account may still be used, as known at most API_KEY_CACHE_SECONDS ago."""
    hit = _active_users.get(user_id)
    if hit is not None and hit[0] >= time.monotonic():
        return hit[1]
    return await db_call(_load_active, user_id=user_id)


def forget_cached_user(user_id: int) -> None:
    _active_users.pop(user_id, None)


class ApiKeyAuthentication(BaseAuthentication):
    """DRF: `Authorization: Bearer <key>` or `x-api-key: <key>`. No header means "try the
    next authenticator"."""

    def authenticate(self, request):
        authorization = request.META.get("HTTP_AUTHORIZATION")
        x_api_key = request.META.get("HTTP_X_API_KEY")
        if not authorization and not x_api_key:
            return None
        principal = authenticate_api_key(
            request_api_key(authorization=authorization, x_api_key=x_api_key)
        )
        return principal.user, principal

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'
