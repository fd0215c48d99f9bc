"""Symmetric encryption for secrets kept in the database (provider API keys).

Keys are derived from FIELD_ENCRYPTION_SECRETS; the first encrypts and every one decrypts, so a
secret can be rotated by putting a new one in front."""

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


@cache
def _fernet(secrets: tuple[str, ...]) -> MultiFernet:
    keys = [
        Fernet(base64.urlsafe_b64encode(hashlib.sha256(f"chuk-field:{s}".encode()).digest()))
        for s in secrets
    ]
    return MultiFernet(keys)


def encrypt_text(plaintext: str) -> str:
    if not plaintext:
        return ""
    return _fernet(tuple(settings.FIELD_ENCRYPTION_SECRETS)).encrypt(plaintext.encode()).decode()


def decrypt_text(ciphertext: str) -> str:
    if not ciphertext:
        return ""
    try:
        return (
            _fernet(tuple(settings.FIELD_ENCRYPTION_SECRETS)).decrypt(ciphertext.encode()).decode()
        )
    except InvalidToken:
        raise ValueError("stored secret cannot be decrypted with the configured keys") from None
