"""Writes on users."""

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from accounts.models import User


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
