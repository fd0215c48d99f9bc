"""API keys in the browser: created with a name and a monthly cap, shown once with a copy
button, working against the API over HTTP; renamed; revoked after a confirmation, after which
the key no longer works."""

import re

import httpx
from playwright.sync_api import expect

from accounts.models import ApiKey
from tests.webapp.browser import ready, visit


def test_a_key_is_created_shown_once_works_and_stops_working_once_revoked(browsing, erin, site):
    page = browsing.page(user=erin, permissions=["clipboard-read", "clipboard-write"])
    page.goto("/")
    page.get_by_role("navigation", name="Account").get_by_role("link", name="API keys").click()
    expect(page).to_have_url(re.compile(r"/keys$"))
    ready(page)
    expect(page.get_by_text("No keys yet. Create one above.")).to_be_visible()

    page.get_by_label("Name").fill("my laptop")
    page.get_by_label("Monthly spending cap").fill("25")
    page.get_by_role("button", name="Create key").click()

    shown = page.get_by_label("The new key")
    expect(shown).to_have_value(re.compile(r"^sk-chuk-"))
    expect(page.get_by_text("you won't see this key again")).to_be_visible()
    plaintext = shown.input_value()
    page.get_by_role("button", name="Copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == plaintext
    row = page.locator("#keys tr", has_text="my laptop")
    stored = ApiKey.objects.get(user=erin)
    expect(row).to_contain_text(stored.prefix)
    expect(row).to_contain_text("$25")
    expect(row).to_contain_text("Never")
    expect(row.locator(".badge")).to_have_text("Active")
    assert plaintext not in row.inner_text()

    # The key works over plain HTTP, as a developer's script would use it.
    status = httpx.get(f"{site}/v1/user/status", headers={"Authorization": f"Bearer {plaintext}"})
    assert status.status_code == 200
    assert status.json()["key"]["name"] == "my laptop"
    assert status.json()["key"]["monthlySpendLimit"] == "25"

    page.get_by_role("button", name="I have saved it").click()
    expect(page.locator("#new-key")).to_be_hidden()
    page.reload()
    ready(page)
    assert plaintext not in page.content()  # shown once, never again
    row = page.locator("#keys tr", has_text="my laptop")
    expect(row).not_to_contain_text("Never")  # used just now

    row.get_by_role("button", name="Rename my laptop").click()
    field = page.get_by_label("New name for my laptop")
    field.fill("build server")
    field.press("Enter")
    row = page.locator("#keys tr", has_text="build server")
    expect(row).to_be_visible()
    assert ApiKey.objects.get(user=erin).name == "build server"

    row.get_by_role("button", name="Revoke build server").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Anything using this key stops working")
    dialog.get_by_role("button", name="Cancel").click()
    expect(row.locator(".badge")).to_have_text("Active")
    row.get_by_role("button", name="Revoke build server").click()
    page.get_by_role("dialog").get_by_role("button", name="Revoke key").click()

    expect(row.locator(".badge")).to_have_text("Revoked")
    expect(row.get_by_role("button")).to_have_count(0)
    refused = httpx.get(f"{site}/v1/user/status", headers={"Authorization": f"Bearer {plaintext}"})
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"


def test_a_key_needs_a_name_and_the_apis_refusals_are_shown(browsing, erin):
    page = browsing.page(user=erin)
    visit(page, "/keys")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#key-form-status")).to_have_text(
        "Give the key a name, so you can tell it from the others."
    )
    page.get_by_label("Name").fill("capped")
    page.get_by_label("Monthly spending cap").fill("-3")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#key-form-status")).to_contain_text("monthly_spend_limit")
    assert not ApiKey.objects.filter(user=erin).exists()
