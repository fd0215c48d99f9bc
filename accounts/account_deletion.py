"""Deleting an account: every app erases what it holds about the person (subscription
cancelled, keys gone, conversations and media deleted); the ledger's rows stay, pointing at a
user row that no longer says who it was."""

from __future__ import annotations

import logging

from django.db import transaction

from accounts.authentication import forget_cached_user
from accounts.data_exports import personal_data_sections
from accounts.models import User
from accounts.revocation import announce_account_closed, close_sockets_and_wait
from chukchat.errors import ApiError

logger = logging.getLogger(__name__)


def account_delete(*, user: User, password: str, confirm_email: str) -> dict[str, int]:
    if confirm_email.strip().lower() != user.email:
        raise ApiError(
            400, "confirmation_mismatch", "Type your email address to confirm.", param="confirm"
        )
    if not user.check_password(password):
        raise ApiError(400, "wrong_password", "The password is not right.", param="password")
    # Its sockets stop first, and settle what they were streaming while the account and its keys
    # still exist; a socket opened meanwhile is closed once the deletion commits.
    close_sockets_and_wait(user_id=user.pk)
    erased: dict[str, int] = {}
    with transaction.atomic():
        for name, section in personal_data_sections():
            for what, count in section.erase_for(user=user).items():
                erased[f"{name}: {what}"] = count
        # Its open sockets, in every process, are closed (4403) once the deletion commits.
        announce_account_closed(user_id=user.pk)
    forget_cached_user(user.pk)
    logger.info("account %s deleted: %s", user.pk, erased)
    return erased
