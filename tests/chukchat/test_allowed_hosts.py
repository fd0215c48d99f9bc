"""A request with an API key for a host we do not serve is refused before anything happens,
as the browser path refuses it."""

import httpx

from billing.models import UsageRecord
from billing.selectors import balance_of
from media_tools.models import MediaJob


def test_an_api_key_request_for_a_foreign_host_is_a_400_that_changes_nothing(
    gateway_url, carol, carol_key
):
    for path, body in [
        ("/v1/images/generations", {"model": "demo-image", "prompt": "a cat"}),
        ("/v1/chat/completions", {"model": "fast", "messages": [{"role": "user", "content": "x"}]}),
    ]:
        answer = httpx.post(
            f"{gateway_url}{path}",
            json=body,
            headers={"Authorization": f"Bearer {carol_key}", "Host": "evil.example"},
            timeout=30,
        )
        assert answer.status_code == 400, path
        assert answer.json()["error"]["code"] == "invalid_host"

    assert not UsageRecord.objects.exists()
    assert not MediaJob.objects.exists()
    assert balance_of(user=carol) == 10


def test_the_served_host_still_works(gateway_url, carol_key):
    answer = httpx.get(
        f"{gateway_url}/v1/models", headers={"Authorization": f"Bearer {carol_key}"}, timeout=30
    )
    assert answer.status_code == 200
