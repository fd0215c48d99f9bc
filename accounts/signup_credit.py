"""The credit a new account starts with, granted through the ledger once per user when they sign
up in the web app: CHUK_SIGNUP_CREDIT_USD, and the Free plan's allowance for this month."""

from allauth.account.signals import user_signed_up
from django.conf import settings
from django.dispatch import receiver

from billing.allowances import free_allowance_grant
from billing.ledger import credit_grant


@receiver(user_signed_up, dispatch_uid="chuk-signup-credit")
def grant_signup_credit(sender, request, user, **kwargs) -> None:
    if settings.SIGNUP_CREDIT_USD > 0:
        credit_grant(
            user=user,
            amount=settings.SIGNUP_CREDIT_USD,
            description="Welcome credit",
            reference=f"signup:{user.pk}",  # once, however often the signal fires
        )
    free_allowance_grant(user_id=user.pk)
