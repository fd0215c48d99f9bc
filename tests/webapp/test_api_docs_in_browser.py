"""/docs in Chromium: the vendored Swagger UI renders every operation of /v1/openapi.json under
the pages' Content-Security-Policy (own-origin scripts and styles only)."""

from chukchat.openapi_schema import openapi_document

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def test_the_api_reference_shows_every_operation_without_a_policy_violation(browsing):
    page = browsing.page()
    console = []
    page.on("console", lambda message: console.append(message.text))
    page.goto("/docs")
    page.wait_for_selector(".opblock")
    # Listed once under each of its tags.
    operations = sum(
        len(operation.get("tags") or ["default"])
        for item in openapi_document()["paths"].values()
        for method, operation in item.items()
        if method in HTTP_METHODS
    )
    assert page.locator(".opblock").count() == operations
    assert page.locator(".info .title").inner_text().startswith("Chuk Chat API")
    assert not [text for text in console if "Content Security Policy" in text]

    page.locator(".opblock-summary-path", has_text="/v1/chat/completions").first.click()
    assert page.locator(".opblock-body").first.is_visible()
