"""The rule that some actions need the signed-in web app, not an API key: minting keys,
changing the account, opening Stripe's checkout or Customer Portal (cancel the plan, change
the card). A key may have leaked into a script; a session is a person at the web app."""

from __future__ import annotations

from rest_framework.authentication import SessionAuthentication

from accounts.authentication import ApiKeyAuthentication, KeyPrincipal
from chukchat.errors import ApiError


class SessionOnly:
    """A DRF view mixin: the caller is authenticated as usual (a missing or bad key is still a
    401), then an API key is refused with 403 `session_required` before the handler runs."""

    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if isinstance(request.auth, KeyPrincipal):
            raise ApiError(
                403, "session_required", "Sign in to the web app to do this; API keys cannot."
            )
