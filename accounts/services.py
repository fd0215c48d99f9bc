"""Writes on users: creating them, and the account actions a signed-in user takes."""

from __future__ import annotations

from allauth.account.models import EmailAddress
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.http import HttpRequest

from accounts.models import User
from chukchat.errors import ApiError


@transaction.atomic
def user_get_or_create(*, email: str, password: str | None = None) -> tuple[User, bool]:
    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ValueError(f"{email!r} is not a valid email address") from None
    user = User.objects.filter(email=email).first()
    if user is not None:
        return user, False
    return User.objects.create_user(email=email, password=password), True


@transaction.atomic
def user_deactivate(*, user: User) -> User:
    """The account can no longer sign in or use its keys; its open sockets, in every process,
    are closed (4403) once this commits (accounts/revocation.py)."""
    from accounts.authentication import forget_cached_key, forget_cached_user
    from accounts.models import ApiKey
    from accounts.revocation import announce_account_closed

    user.is_active = False
    user.save(update_fields=["is_active"])
    for hashed in ApiKey.objects.filter(user=user).values_list("hashed_key", flat=True):
        forget_cached_key(hashed)
    forget_cached_user(user.pk)
    announce_account_closed(user_id=user.pk)
    return user


def user_password_change(*, user: User, current_password: str, new_password: str) -> None:
    if not user.check_password(current_password):
        raise ApiError(
            400, "wrong_password", "The current password is not right.", param="current_password"
        )
    try:
        password_validation.validate_password(new_password, user=user)
    except ValidationError as error:
        raise ApiError(
            400, "weak_password", " ".join(error.messages), param="new_password"
        ) from None
    user.set_password(new_password)
    user.save(update_fields=["password"])


def user_email_change_request(*, request: HttpRequest, user: User, email: str) -> str:
    """Sends a verification link to the new address; the account's email changes only when
    that link is followed (allauth, ACCOUNT_CHANGE_EMAIL). Returns the address asked for.

    An address another account uses gets the same answer as a free one, and no mail: what
    this endpoint says must not tell anyone which addresses have accounts here."""
    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ApiError(
            400, "invalid_email", "That is not an email address.", param="email"
        ) from None
    if email == user.email:
        raise ApiError(400, "same_email", "That is already your email address.", param="email")
    taken = User.objects.filter(email__iexact=email).exclude(pk=user.pk).exists() or (
        EmailAddress.objects.filter(email__iexact=email, verified=True).exclude(user=user).exists()
    )
    if not taken:
        email_change_start(request=request, user=user, email=email)
    return email


def email_change_start(*, request: HttpRequest | None, user: User, email: str) -> EmailAddress:
    """The pending address that replaces the user's own once verified. An earlier pending
    change is replaced; the address the user signs in with never is, verified or not (allauth's
    add_new_email deletes an unverified primary and leaves `user.email` empty: no more login,
    and the next such user hits the unique constraint)."""
    from allauth.account.internal.flows.email_verification import (
        send_verification_email_to_address,
    )

    with transaction.atomic():
        EmailAddress.objects.filter(user=user, verified=False).exclude(
            email__iexact=user.email
        ).delete()
        address = EmailAddress.objects.create(user=user, email=email.lower())
    send_verification_email_to_address(request, address)
    return address
