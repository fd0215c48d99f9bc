"""Guessing passwords is throttled on every sign-in form, per client and per account; behind a
reverse proxy the client is the address the trusted proxy saw, so one guesser cannot lock
everyone else out, and without a trusted proxy a forged X-Forwarded-For buys no new guesses."""

import pytest

from accounts.models import User

PASSWORD = "correct horse battery staple"
THROTTLED = "Too many failed login attempts"  # allauth's form error while its limit holds


@pytest.fixture
def admin_user(db):
    return User.objects.create_superuser(email="root@example.com", password=PASSWORD)


def admin_login(client, password, **extra):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": "root@example.com", "password": password},
        **extra,
    )


def site_login(client, email, password, **extra):
    return client.post("/accounts/login/", {"login": email, "password": password}, **extra)


def test_the_admin_sign_in_is_throttled_after_five_wrong_passwords(client, admin_user):
    for _ in range(5):
        assert admin_login(client, "guess").status_code == 200  # the form, with its error

    refused = admin_login(client, PASSWORD)

    assert refused.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_admin_sign_in_works_with_the_right_password(client, admin_user):
    admin_login(client, "guess")
    response = admin_login(client, PASSWORD)
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_the_right_password_is_refused_while_the_site_limit_holds(client, alice):
    for _ in range(5):
        site_login(client, "alice@example.com", "guess")

    response = site_login(client, "alice@example.com", PASSWORD)

    assert THROTTLED in response.content.decode()
    assert client.get("/v1/user/status").status_code == 401


def test_behind_a_trusted_proxy_one_guesser_does_not_lock_out_others(client, alice, bob, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    for victim in ("alice@example.com", "bob@example.com", "nobody@example.com") * 2:
        site_login(client, victim, "guess", HTTP_X_FORWARDED_FOR="203.0.113.5", **proxy)

    guesser = site_login(
        client, "carol@example.com", "guess", HTTP_X_FORWARDED_FOR="203.0.113.5", **proxy
    )
    assert THROTTLED in guesser.content.decode()

    honest = site_login(
        client, "bob@example.com", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.7", **proxy
    )
    assert honest.status_code == 302


def test_without_a_trusted_proxy_a_forged_forwarded_for_buys_no_new_guesses(client, alice):
    for n in range(5):
        site_login(
            client,
            f"someone{n}@example.com",
            "guess",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{n}",
            REMOTE_ADDR="192.0.2.9",
        )

    response = site_login(
        client,
        "alice@example.com",
        "guess",
        HTTP_X_FORWARDED_FOR="198.51.100.99",
        REMOTE_ADDR="192.0.2.9",
    )
    assert THROTTLED in response.content.decode()


def test_a_forwarded_for_shorter_than_the_proxy_chain_is_not_a_500(client, alice, settings):
    settings.TRUSTED_PROXY_COUNT = 2
    response = site_login(client, "alice@example.com", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert response.status_code == 302
