"""Mail we send about billing."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail

from accounts.models import User
from billing.models import Invoice


def payment_failed_notify(*, user: User, invoice: Invoice) -> None:
    amount = f"{invoice.amount_due:f} {invoice.currency.upper()}"
    lines = [
        f"We could not collect the payment of {amount} for your Chuk Chat subscription.",
        "Your subscription is past due; premium models stay locked until it is paid.",
        "",
        f"Update your payment method: {settings.STRIPE_PORTAL_RETURN_URL}",
    ]
    if invoice.hosted_invoice_url:
        lines.append(f"Or pay the invoice directly: {invoice.hosted_invoice_url}")
    send_mail(
        subject="Your Chuk Chat payment failed",
        message="\n".join(lines),
        from_email=None,
        recipient_list=[user.email],
    )
