"""Account settings in the browser: changing the email (pending until the link is followed)
and the password, exporting your data (prepared by a Celery worker, then downloaded once), and
deleting the account (signed out, on the landing page)."""

import json
import re
from pathlib import Path

import httpx
from allauth.account.models import EmailAddress
from django.core import mail
from playwright.sync_api import expect

from accounts.models import DataExport, User
from tests.webapp.browser import ask, ready, visit, wait_for_answer
from tests.webapp.conftest import PASSWORD

NEW_PASSWORD = "a long unusual passphrase 42"


def test_changing_the_email_waits_for_the_link_to_be_followed(browsing, erin):
    page = browsing.page(user=erin)
    page.goto("/")
    page.get_by_role("navigation", name="Account").get_by_role("link", name="Settings").click()
    expect(page).to_have_url(re.compile(r"/settings$"))
    ready(page)
    page.get_by_label("New email address").fill("erin@example.com")
    page.get_by_role("button", name="Change email").click()
    expect(page.locator("#email-form .form-status")).to_have_text(
        "That is already your email address."
    )

    page.get_by_label("New email address").fill("erin.new@example.com")
    page.get_by_role("button", name="Change email").click()
    pending = page.locator("#email-pending")
    expect(pending).to_have_text(
        "We sent a confirmation link to erin.new@example.com. Your email changes when you follow it."
    )
    assert EmailAddress.objects.get(user=erin, email="erin.new@example.com").verified is False
    assert mail.outbox[-1].to == ["erin.new@example.com"]
    erin.refresh_from_db()
    assert erin.email == "erin@example.com"
    visit(page, "/settings")
    expect(pending).to_contain_text("erin.new@example.com")


def test_changing_the_password_checks_the_current_one_and_keeps_you_signed_in(browsing, erin):
    page = browsing.page(user=erin)
    visit(page, "/settings")
    page.get_by_label("Current password").fill("not it")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password (again)").fill(NEW_PASSWORD + "!")
    page.get_by_role("button", name="Change password").click()
    status = page.locator("#password-form .form-status")
    expect(status).to_have_text("The two new passwords are not the same.")

    page.get_by_label("New password (again)").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(status).to_have_text("The current password is not right.")

    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(status).to_have_text("Your password is changed. You stay signed in here.")
    erin.refresh_from_db()
    assert erin.check_password(NEW_PASSWORD)
    page.goto("/keys")
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()


def test_a_data_export_is_prepared_by_a_worker_and_downloaded_once(
    browsing,
    erin,
    upstream,
    media_root,
    site,
    worker,
):
    upstream.answers["Remember the lighthouse"] = "I will."
    page = browsing.page(user=erin)
    page.goto("/")
    ask(page, "Remember the lighthouse")
    wait_for_answer(page)
    visit(page, "/settings")

    page.evaluate(
        """() => {
        window.__exports = [];
        new MutationObserver(() => {
          const state = document.querySelector("#exports .export-state");
          if (state) window.__exports.push(state.textContent);
        }).observe(document.getElementById("exports"), {subtree: true, childList: true});
      }"""
    )

    page.get_by_role("button", name="Prepare an export").click()
    row = page.locator("#exports .export").first
    download_link = row.get_by_role("link", name=re.compile(r"^Download \(\d+ KB\)$"))
    expect(download_link).to_be_visible(timeout=20_000)
    expect(row.locator(".export-state")).to_have_text("Ready to download (once)")
    assert DataExport.objects.get(user=erin).status == "ready"
    # Prepared by the worker while the page showed it was being prepared.
    assert page.evaluate("window.__exports")[0] == "Preparing your export…"

    with page.expect_download() as download:
        download_link.click()
    archive = json.loads(Path(download.value.path()).read_text())
    assert archive["account"]["profile"]["email"] == "erin@example.com"
    assert "Remember the lighthouse" in json.dumps(archive["chat"])
    expect(row.locator(".export-state")).to_have_text("Downloaded")
    expect(download_link).to_have_count(0)
    expect(page.get_by_role("button", name="Prepare an export")).to_be_enabled()

    # Once only: the same link now answers that it is gone.
    export = DataExport.objects.get(user=erin)
    assert export.status == "downloaded"
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    again = httpx.get(f"{site}/v1/user/exports/{export.pk}/download", cookies=cookies)
    assert again.status_code == 410


def test_deleting_the_account_needs_the_email_and_password_then_signs_out(browsing, erin):
    page = browsing.page(user=erin)
    visit(page, "/settings")
    zone = page.get_by_role("region", name="Delete your account")
    expect(zone).to_contain_text("This cannot be undone.")
    status = zone.locator(".form-status")

    zone.get_by_label("Type your email address").fill("someone@example.com")
    zone.get_by_label("Your password").fill(PASSWORD)
    zone.get_by_role("button", name="Delete my account").click()
    expect(status).to_have_text("Type your email address to confirm.")

    zone.get_by_label("Type your email address").fill("erin@example.com")
    zone.get_by_label("Your password").fill("wrong")
    zone.get_by_role("button", name="Delete my account").click()
    expect(status).to_have_text("The password is not right.")
    assert User.objects.get(pk=erin.pk).is_active

    zone.get_by_label("Your password").fill(PASSWORD)
    zone.get_by_role("button", name="Delete my account").click()

    expect(page).to_have_url(re.compile(r"/\?account=deleted$"))
    expect(page.get_by_role("status")).to_have_text(
        "Your account has been deleted and you are signed out. Thank you for using Chuk Chat."
    )
    expect(page.get_by_role("link", name="Log in").first).to_be_visible()
    gone = User.objects.get(pk=erin.pk)
    assert not gone.is_active and gone.email == f"deleted-{erin.pk}@deleted.invalid"
    page.goto("/keys")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/keys$"))
