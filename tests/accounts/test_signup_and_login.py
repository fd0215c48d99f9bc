"""Sign-up, log-in, email verification and password reset through allauth's real views."""

import re

import pytest
from django.core import mail

from accounts.models import User

pytestmark = pytest.mark.django_db

PASSWORD = "a long unusual passphrase 42"


def test_sign_up_creates_a_user_logs_in_and_sends_a_verification_email(client):
    response = client.post(
        "/accounts/signup/",
        {"email": "Erin@Example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    user = User.objects.get()
    assert user.email == "erin@example.com"
    assert user.check_password(PASSWORD)
    assert len(mail.outbox) == 1
    assert "confirm" in mail.outbox[0].body.lower()


def test_email_confirmation_link_verifies_the_address(client):
    client.post(
        "/accounts/signup/",
        {"email": "erin@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    link = re.search(r"http://\S+/accounts/confirm-email/\S+/", mail.outbox[0].body).group(0)
    path = link.split("testserver", 1)[-1] if "testserver" in link else "/" + link.split("/", 3)[3]
    response = client.post(path)
    assert response.status_code == 302
    assert User.objects.get().emailaddress_set.get().verified


def test_log_in_with_email_and_password_then_log_out(client, alice):
    response = client.post(
        "/accounts/login/",
        {"login": "alice@example.com", "password": "correct horse battery staple"},
    )
    assert response.status_code == 302
    assert client.get("/v1/user/status").json()["email"] == "alice@example.com"

    client.post("/accounts/logout/")
    assert client.get("/v1/user/status").status_code == 401


def test_a_wrong_password_does_not_log_in(client, alice):
    response = client.post("/accounts/login/", {"login": "alice@example.com", "password": "nope"})
    assert response.status_code == 200
    assert client.get("/v1/user/status").status_code == 401


def test_password_reset_sends_a_link_that_sets_a_new_password(client, alice):
    client.post("/accounts/password/reset/", {"email": "alice@example.com"})
    assert len(mail.outbox) == 1
    path = re.search(r"(/accounts/password/reset/key/\S+/)", mail.outbox[0].body).group(1)
    response = client.get(path, follow=True)
    form_path = response.redirect_chain[-1][0] if response.redirect_chain else path
    response = client.post(form_path, {"password1": PASSWORD, "password2": PASSWORD})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_a_new_account_starts_with_the_signup_credit(client, settings):
    from decimal import Decimal

    from billing.models import LedgerEntry
    from billing.selectors import balance_of

    settings.SIGNUP_CREDIT_USD = Decimal("2.50")
    client.post(
        "/accounts/signup/",
        {"email": "erin@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    user = User.objects.get()
    # The welcome credit, beside the Free plan's allowance for this month.
    assert balance_of(user=user) == Decimal("2.50") + Decimal("0.50")
    entry = LedgerEntry.objects.get(account__user=user, kind="grant")
    assert entry.reference == f"signup:{user.pk}"


def test_without_a_signup_credit_a_new_account_starts_with_the_free_allowance_alone(client):
    from billing.models import Plan
    from billing.selectors import balance_of

    client.post(
        "/accounts/signup/",
        {"email": "erin@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    free = Plan.objects.get(slug="free")
    assert balance_of(user=User.objects.get()) == free.monthly_allowance


def test_with_mandatory_verification_sign_up_does_not_tell_who_has_an_account(
    client, alice, settings
):
    # The setting's default once a mail server is configured (chukchat/settings.py).
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    form = {"password1": PASSWORD, "password2": PASSWORD}

    taken = client.post("/accounts/signup/", {"email": "alice@example.com", **form})
    client.cookies.clear()
    free = client.post("/accounts/signup/", {"email": "erin@example.com", **form})

    assert (taken.status_code, taken["Location"]) == (free.status_code, free["Location"])
    assert taken["Location"] == "/accounts/confirm-email/"
    alice.refresh_from_db()
    assert alice.check_password("correct horse battery staple")  # her account is untouched
    assert User.objects.filter(email="alice@example.com").count() == 1
    to_alice = next(m for m in mail.outbox if m.to == ["alice@example.com"])
    assert "already" in to_alice.body.lower()  # she learns someone tried; nobody else does
