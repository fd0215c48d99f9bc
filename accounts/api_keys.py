"""Creating, naming and revoking API keys. Only a SHA-256 of the secret is stored."""

import hashlib
import re
import secrets
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.models import ApiKey, User

KEY_PREFIX = "sk-chuk-"
_SECRET_BYTES = 32  # 256 bits: a plain SHA-256 is then as good as a slow hash
KEY_PATTERN = re.compile(r"^sk-chuk-[A-Za-z0-9_-]{43}$")
VISIBLE_PREFIX_LENGTH = len(KEY_PREFIX) + 8


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def is_well_formed(plaintext: str) -> bool:
    return bool(KEY_PATTERN.match(plaintext))


@transaction.atomic
def api_key_create(
    *,
    user: User,
    name: str = "default",
    expires_at: datetime | None = None,
    monthly_spend_limit: Decimal | None = None,
    allowed_models: list[str] | None = None,
) -> tuple[ApiKey, str]:
    """Returns the key row and its plaintext, which is never available again."""
    plaintext = KEY_PREFIX + secrets.token_urlsafe(_SECRET_BYTES)
    api_key = ApiKey.objects.create(
        user=user,
        name=(name or "default")[:100],
        prefix=plaintext[:VISIBLE_PREFIX_LENGTH],
        hashed_key=hash_key(plaintext),
        expires_at=expires_at,
        monthly_spend_limit=monthly_spend_limit,
        allowed_models=allowed_models or [],
    )
    return api_key, plaintext


def api_key_update(
    *, api_key: ApiKey, name: str | None = None, allowed_models: list[str] | None = None
) -> ApiKey:
    """Renames and/or sets the model allow-list (validated by the caller; [] allows every
    model). The key's cached principal in this process is dropped at once; others see the
    change within API_KEY_CACHE_SECONDS."""
    from accounts.authentication import forget_cached_key

    fields = []
    if name is not None:
        api_key.name = name[:100]
        fields.append("name")
    if allowed_models is not None:
        api_key.allowed_models = allowed_models
        fields.append("allowed_models")
    if fields:
        api_key.save(update_fields=fields)
        forget_cached_key(api_key.hashed_key)
    return api_key


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoked here at once; open sockets of the key, in every process, are closed (4401) once
    this commits (accounts/revocation.py)."""
    from accounts.authentication import forget_cached_key
    from accounts.revocation import announce_key_revoked

    if not api_key.revoked:
        api_key.revoked = True
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked", "revoked_at"])
    forget_cached_key(api_key.hashed_key)
    announce_key_revoked(key_id=api_key.pk)
    return api_key
