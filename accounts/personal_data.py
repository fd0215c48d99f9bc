"""What accounts holds about a person: their profile, email addresses, API keys, sign-ins and
exports. Erasing keeps the user row itself, anonymised, because the ledger's rows must still
point at an account (bookkeeping law); nothing left on it identifies the person."""

from __future__ import annotations

from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount
from django.core.files.storage import default_storage
from django.db import transaction

from accounts.authentication import forget_cached_key
from accounts.models import ApiKey, DataExport, User, UserSession


def export_for(*, user: User) -> dict:
    return {
        "profile": {
            "email": user.email,
            "displayName": user.display_name,
            "dateJoined": user.date_joined.isoformat(),
            "lastLogin": user.last_login.isoformat() if user.last_login else None,
        },
        "emailAddresses": [
            {"email": e.email, "verified": e.verified, "primary": e.primary}
            for e in EmailAddress.objects.filter(user=user)
        ],
        "apiKeys": [
            {
                "name": k.name,
                "prefix": k.prefix,
                "createdAt": k.created_at.isoformat(),
                "lastUsedAt": k.last_used_at.isoformat() if k.last_used_at else None,
                "expiresAt": k.expires_at.isoformat() if k.expires_at else None,
                "revoked": k.revoked,
            }
            for k in ApiKey.objects.filter(user=user)
        ],
    }


def erase_for(*, user: User) -> dict[str, int]:
    for hashed in ApiKey.objects.filter(user=user).values_list("hashed_key", flat=True):
        forget_cached_key(hashed)
    keys, _ = ApiKey.objects.filter(user=user).delete()
    addresses, _ = EmailAddress.objects.filter(user=user).delete()
    social, _ = SocialAccount.objects.filter(user=user).delete()
    files = [e.file.name for e in DataExport.objects.filter(user=user) if e.file]
    exports, _ = DataExport.objects.filter(user=user).delete()
    # Files go once the rows are gone for good (a rolled-back deletion keeps both).
    transaction.on_commit(lambda: [default_storage.delete(name) for name in files])
    sessions, _ = UserSession.objects.filter(user=user).delete()
    user.email = f"deleted-{user.pk}@deleted.invalid"
    user.display_name = ""
    user.set_unusable_password()
    user.is_active = False
    user.is_staff = user.is_superuser = False
    user.last_login = None
    user.save()
    user.groups.clear()
    user.user_permissions.clear()
    return {
        "api keys": keys,
        "email addresses": addresses,
        "social accounts": social,
        "exports": exports,
        "sessions": sessions,
    }
