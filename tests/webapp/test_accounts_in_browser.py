"""Signing up, logging in and out, and resetting a password, in the browser."""

import re

from django.core import mail
from playwright.sync_api import expect

from accounts.models import User
from tests.webapp.conftest import PASSWORD

NEW_PASSWORD = "a long unusual passphrase 42"


def test_a_visitor_signs_up_from_the_landing_page_and_lands_in_an_empty_chat(browsing, catalogue):
    page = browsing.page()
    page.goto("/")
    expect(page.get_by_role("heading", name="Every AI model, one chat.")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("Deep Thinker"))).to_contain_text("$15")
    page.get_by_role("link", name="Sign up").first.click()

    page.get_by_label("Email").fill("Grace@Example.com")
    page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Password (again)").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign Up").click()

    expect(page.get_by_role("heading", name="How can I help?")).to_be_visible()
    expect(page.locator(".who")).to_have_text("grace@example.com")
    expect(page.locator("#conversation-list-note")).to_have_text("No chats yet. Say hello!")
    assert User.objects.get(email="grace@example.com").check_password(NEW_PASSWORD)
    assert "confirm" in mail.outbox[0].body.lower()


def test_sign_up_errors_are_shown_next_to_the_form(browsing, erin, catalogue):
    page = browsing.page()
    page.goto("/accounts/signup/")
    page.get_by_label("Email").fill("erin@example.com")
    page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Password (again)").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign Up").click()
    expect(page.get_by_role("alert")).to_contain_text("already registered")


def test_a_user_logs_in_sees_their_chats_and_logs_out(browsing, erin, catalogue):
    page = browsing.page()
    page.goto("/")
    page.get_by_role("link", name="Log in").first.click()
    page.get_by_label("Email").fill("erin@example.com")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("alert")).to_contain_text("not correct")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("button", name="Model:")).to_contain_text("Swift")
    expect(page.locator(".who")).to_have_text("erin@example.com")

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Every AI model, one chat.")).to_be_visible()
    page.goto("/c/1")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/c/1$"))


def test_a_forgotten_password_is_reset_by_email(browsing, erin, catalogue):
    page = browsing.page()
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill("erin@example.com")
    page.get_by_role("button", name="Reset My Password").click()
    expect(page.get_by_role("heading", name="Password Reset")).to_be_visible()

    link = re.search(r"http://\S+/accounts/password/reset/key/\S+/", mail.outbox[0].body).group(0)
    page.goto("/" + link.split("/", 3)[3])
    page.get_by_label("New Password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New Password (again)").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change Password").click()
    expect(page.get_by_role("heading", name="Change Password")).to_be_visible()
    erin.refresh_from_db()
    assert erin.check_password(NEW_PASSWORD)
