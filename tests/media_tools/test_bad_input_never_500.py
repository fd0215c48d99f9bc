"""Media parameters that looked like numbers or text to Python but not to the database: digits
that are not ASCII ("²" is a digit to str.isdigit(), not to int()), numbers too long to read,
and NUL characters a job's stored parameters cannot hold. Each is a 400 naming the parameter;
no job, no file, no hold, no charge."""

import io
from decimal import Decimal

import pytest
from PIL import Image

from billing.models import CreditAccount, UsageRecord
from billing.selectors import balance_of
from media_tools.models import MediaJob
from tests.media_tools.helpers import silent_wav, stored_files

IMAGE_PATHS = ["/v1/media/images", "/v1/images/generations"]
# "1024" and "10" in Arabic-Indic digits, which str.isdigit() also takes for digits.


@pytest.fixture
def nothing_changed(dora, media_root):
    yield
    assert not MediaJob.objects.exists()
    assert not UsageRecord.objects.exists()
    assert stored_files(media_root) == []
    assert balance_of(user=dora) == Decimal(10)
    assert CreditAccount.objects.get(user=dora).reserved == 0


def refused(response, param: str) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error.get("param")) == ("invalid_request", param), error
    assert error["message"] and error["type"]


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("path", IMAGE_PATHS)
@pytest.mark.parametrize(
    "size",
    ["¹x1", "1x¹", "²x²", "\u0661\u0660\u0662\u0664x\u0661\u0660\u0662\u0664"],
    ids=["sup-width", "sup-height", "sup-both", "arabic"],
)
def test_an_image_size_in_digits_that_are_not_ascii_is_refused(http, nothing_changed, path, size):
    response = http.post(path, json={"model": "demo-image", "prompt": "a fox", "size": size})
    refused(response, "size")


@pytest.mark.parametrize("path", IMAGE_PATHS)
@pytest.mark.parametrize("field", ["prompt", "quality", "style", "user", "model"])
def test_a_nul_character_in_an_image_parameter_is_refused(http, nothing_changed, path, field):
    body = {"model": "demo-image", "prompt": "a fox", field: "a\x00fox"}
    refused(http.post(path, json=body), field)


@pytest.mark.parametrize("field", ["width", "height"])
@pytest.mark.parametrize(
    "value",
    ["²", "\u0661\u0660", "1²", "9" * 5000],
    ids=["superscript", "arabic", "mixed", "5000-digits"],
)
def test_a_conversion_side_that_is_not_an_ascii_number_is_refused(
    http, nothing_changed, field, value
):
    response = http.post(
        "/v1/media/convert", files={"file": ("a.png", png())}, data={"target": "jpeg", field: value}
    )
    refused(response, field)


@pytest.mark.parametrize("field", ["prompt", "language"])
def test_a_nul_character_in_a_transcription_parameter_is_refused(http, nothing_changed, field):
    response = http.post(
        "/v1/media/transcriptions",
        files={"file": ("a.wav", silent_wav(1))},
        data={"model": "fake-whisper", field: "e\x00n"},
    )
    refused(response, field)


def test_a_conversion_side_in_ascii_digits_is_still_served(http, dora, media_root):
    response = http.post(
        "/v1/media/convert",
        files={"file": ("a.png", png())},
        data={"target": "jpeg", "width": " 2 "},
    )
    assert response.status_code == 202, response.text
    assert MediaJob.objects.get().params["width"] == 2
