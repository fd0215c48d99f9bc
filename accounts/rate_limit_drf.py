"""Rate limits for DRF views: the general API category, or a view's own `rate_category`."""

from rest_framework.throttling import BaseThrottle

from accounts.authentication import KeyPrincipal
from accounts.rate_limits import rate_check


class ApiRateThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        user = request.user
        if user is None or not user.is_authenticated:
            return True  # public views (plans list); sign-in is throttled by allauth
        key = request.auth if isinstance(request.auth, KeyPrincipal) else None
        check = rate_check(
            user_id=user.pk,
            api_key_id=key.key_id if key else None,
            overrides=key.rate_overrides if key else {},
            category=getattr(view, "rate_category", "api"),
        )  # raises 429 past the limit
        request._request.rate_limit_headers = check.headers
        return True
