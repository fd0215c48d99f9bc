"""Text to speech, POST /v1/audio/speech: the official `openai` SDK's audio.speech.create gets
real audio over real HTTP, from the offline eSpeak NG engine and from OpenAI's tts-1 (the fake
provider, through the openai provider kind); each is charged once, per million characters, in
the same transaction as its usage record; and every bad request is a clear 400 (with the
field it is about) that changes nothing."""

import io
import wave
from decimal import Decimal

import av
import openai
import pytest

from aiapi.catalogue import catalogue_load
from billing.ledger import credit_grant
from billing.models import LedgerEntry, Plan, UsageRecord
from billing.selectors import balance_of
from fakes.openai_fake import tone_wav
from tests.factories import UserFactory

SPEECH_CATALOGUE = """
[[providers]]
name = "fake-openai"
kind = "openai"
base_url = "{openai_base}"
api_key = "sk-fake-upstream"

[[providers]]
name = "local"
kind = "local"

[[models]]
id = "local-speech"
provider = "local"
upstream = "espeak-ng"
kind = "speech"
input_price = 2.0

[[models]]
id = "tts-1"
provider = "fake-openai"
upstream = "tts-1"
kind = "speech"
input_price = 15.0

[[models]]
id = "flaky-tts"
provider = "fake-openai"
upstream = "fake:fault=503"
kind = "speech"
input_price = 15.0
fallbacks = ["local-speech"]

[[models]]
id = "broken-tts"
provider = "fake-openai"
upstream = "fake:fault=500"
kind = "speech"
input_price = 15.0
"""

TEXT = "Hello Dora. Your report is ready, and the weather looks fine today."


@pytest.fixture(autouse=True)
def speech_models(media_catalogue, upstream):
    catalogue_load(text=SPEECH_CATALOGUE.format(openai_base=upstream.base_url))


def wav_seconds(data: bytes) -> float:
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE", data[:16]
    with wave.open(io.BytesIO(data)) as audio:
        assert audio.getnchannels() == 1 and audio.getsampwidth() == 2
        return audio.getnframes() / audio.getframerate()


def decoded_seconds(data: bytes) -> tuple[str, float]:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return stream.codec_context.name, samples / stream.rate


def charged_once(user, *, characters: int, price: str, model: str, provider: str) -> UsageRecord:
    record = UsageRecord.objects.get(user=user, endpoint="audio.speech")
    cost = Decimal(characters) * Decimal(price) / 1_000_000
    assert record.model == model and record.provider == provider and record.status == "ok"
    assert record.prompt_tokens == characters and record.cost == cost
    entry = LedgerEntry.objects.get(kind="usage", account__user=user)
    assert entry.reference == f"usage:{record.request_id}" and entry.amount == -cost
    assert balance_of(user=user) == Decimal(10) - cost
    return record


def test_sdk_speaks_with_the_offline_engine_as_wav(sdk, dora):
    response = sdk.audio.speech.with_raw_response.create(
        model="local-speech", voice="alloy", input=TEXT, response_format="wav"
    )

    assert response.headers["content-type"] == "audio/wav"
    audio = response.content
    # Read at eSpeak's pace: some seconds for the sentence, not a click.
    assert 2.5 < wav_seconds(audio) < 10
    record = charged_once(
        dora, characters=len(TEXT), price="2.0", model="local-speech", provider="local"
    )
    assert response.headers["x-request-id"] == record.request_id


@pytest.mark.parametrize(
    ("response_format", "content_type", "codec"),
    [
        ("mp3", "audio/mpeg", "mp3float"),
        ("flac", "audio/flac", "flac"),
        ("opus", "audio/ogg", "opus"),
        ("aac", "audio/aac", "aac"),
    ],
)
def test_sdk_speaks_in_compressed_formats(sdk, response_format, content_type, codec):
    response = sdk.audio.speech.with_raw_response.create(
        model="local-speech", voice="onyx", input=TEXT, response_format=response_format
    )

    assert response.headers["content-type"] == content_type
    decoded_codec, seconds = decoded_seconds(response.content)
    assert decoded_codec == codec and 2.5 < seconds < 10


def test_mp3_is_the_default_and_pcm_is_raw_24khz(sdk):
    default = sdk.audio.speech.create(model="local-speech", voice="nova", input=TEXT)
    pcm = sdk.audio.speech.create(
        model="local-speech", voice="nova", input=TEXT, response_format="pcm"
    ).read()

    assert decoded_seconds(default.read())[0] == "mp3float"
    assert len(pcm) % 2 == 0 and 2.5 < len(pcm) / 2 / 24_000 < 10


def test_speed_changes_how_long_the_reading_takes(sdk):
    def seconds(speed: float) -> float:
        audio = sdk.audio.speech.create(
            model="local-speech", voice="echo", input=TEXT, response_format="wav", speed=speed
        )
        return wav_seconds(audio.read())

    slowest, normal, fastest = seconds(0.25), seconds(1.0), seconds(4.0)
    assert slowest > 3 * normal and normal > 2.5 * fastest


def test_sdk_speaks_with_tts_1_through_the_openai_provider(sdk, dora, upstream):
    response = sdk.audio.speech.with_raw_response.create(
        model="tts-1", voice="shimmer", input=TEXT, response_format="wav", speed=1.5
    )

    audio = response.content
    assert response.headers["content-type"] == "audio/wav"
    assert audio == tone_wav(TEXT) and wav_seconds(audio) > 3
    (asked,) = [r for r in upstream.requests() if r["path"] == "/v1/audio/speech"]
    assert asked["body"] == {
        "model": "tts-1",
        "input": TEXT,
        "voice": "shimmer",
        "response_format": "wav",
        "speed": 1.5,
    }
    charged_once(dora, characters=len(TEXT), price="15.0", model="tts-1", provider="fake-openai")


def test_a_provider_that_is_down_falls_back_to_the_offline_engine_at_its_price(sdk, dora):
    audio = sdk.audio.speech.create(
        model="flaky-tts", voice="coral", input=TEXT, response_format="wav"
    )

    assert wav_seconds(audio.read()) > 2.5
    # Held at the dearer model's price, charged at the price of the one that spoke.
    charged_once(dora, characters=len(TEXT), price="2.0", model="flaky-tts", provider="local")


def test_the_web_apps_session_needs_its_csrf_token(gateway_url, dora):
    import requests

    from tests.chukchat.test_fuzz_schema import session_cookie

    response = requests.post(
        f"{gateway_url}/v1/audio/speech",
        json={"model": "local-speech", "input": TEXT, "voice": "alloy"},
        cookies=session_cookie(dora),
        timeout=30,
    )

    assert response.status_code == 403 and response.json()["error"]["code"] == "csrf_failed"
    assert not UsageRecord.objects.filter(user=dora).exists()
    assert balance_of(user=dora) == Decimal(10)


def test_models_lists_speech_models_with_their_price_per_million_characters(sdk):
    listed = {model.id: model.model_dump() for model in sdk.models.list()}

    assert listed["local-speech"]["kind"] == "speech"
    assert listed["local-speech"]["pricing"]["input_per_million_characters"] == "2"
    assert "input_per_million_characters" not in listed["fast"]["pricing"]


def test_speech_is_served_under_api_v1_too(http):
    response = http.post(
        "/api/v1/audio/speech",
        json={"model": "local-speech", "input": "One two three.", "voice": "sage",
              "response_format": "wav"},
    )  # fmt: skip

    assert response.status_code == 200 and wav_seconds(response.content) > 0.5


def test_a_failing_provider_is_a_502_and_costs_nothing(sdk, dora):
    with pytest.raises(openai.InternalServerError) as caught:
        sdk.audio.speech.create(model="broken-tts", voice="alloy", input=TEXT)

    assert caught.value.status_code == 502 and caught.value.code == "provider_error"
    record = UsageRecord.objects.get(user=dora, endpoint="audio.speech")
    assert record.status == "error" and record.cost == 0
    assert not LedgerEntry.objects.filter(kind="usage").exists()
    assert balance_of(user=dora) == Decimal(10)


def test_no_credit_is_a_402_and_nothing_is_spoken(gateway_url, upstream):
    Plan.objects.update_or_create(slug="free", defaults={"name": "Free", "monthly_allowance": 0})
    from accounts.api_keys import api_key_create

    penny = UserFactory(email="penny@example.com")
    credit_grant(user=penny, amount=Decimal("0.00001"), description="almost nothing")
    _, key = api_key_create(user=penny, name="penny's script")
    client = openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=key, max_retries=0)

    with pytest.raises(openai.APIStatusError) as caught:
        client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT)

    assert caught.value.status_code == 402 and caught.value.code == "insufficient_credits"
    assert not UsageRecord.objects.filter(user=penny).exists()
    assert not LedgerEntry.objects.filter(kind="usage").exists()
    assert balance_of(user=penny) == Decimal("0.00001")
    assert not [r for r in upstream.requests() if r["path"] == "/v1/audio/speech"]


GOOD = {"model": "local-speech", "input": TEXT, "voice": "alloy", "response_format": "wav"}


@pytest.mark.parametrize(
    ("change", "status", "code", "param"),
    [
        ({"input": None}, 400, "missing_input", "input"),
        ({"input": "   "}, 400, "missing_input", "input"),
        ({"input": "a" * 4097}, 400, "input_too_long", "input"),
        ({"voice": "nobody"}, 400, "invalid_request", "voice"),
        ({"voice": None}, 400, "invalid_request", "voice"),
        ({"voice": {"id": "voice_123"}}, 400, "invalid_request", "voice"),
        ({"speed": 0.1}, 400, "invalid_request", "speed"),
        ({"speed": 4.5}, 400, "invalid_request", "speed"),
        ({"speed": "fast"}, 400, "invalid_request", "speed"),
        ({"response_format": "ogg"}, 400, "invalid_request", "response_format"),
        ({"stream_format": "sse"}, 400, "invalid_request", "stream_format"),
        ({"instructions": 7}, 400, "invalid_request", "instructions"),
        ({"model": None}, 400, "invalid_request", "model"),
        ({"model": "no-such-voice-model"}, 404, "model_not_found", "model"),
        ({"model": "local-transcription"}, 400, "invalid_model_type", "model"),
    ],
)
def test_bad_speech_requests_are_refused_and_change_nothing(
    http, dora, upstream, change, status, code, param
):
    body = {k: v for k, v in {**GOOD, **change}.items() if v is not None}

    response = http.post("/v1/audio/speech", json=body)

    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code and error["param"] == param and error["message"]
    assert not UsageRecord.objects.filter(user=dora).exists()
    assert not LedgerEntry.objects.filter(kind="usage").exists()
    assert balance_of(user=dora) == Decimal(10)
    assert not upstream.requests()


def test_the_sdk_sees_a_bad_voice_as_a_bad_request(sdk):
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.audio.speech.create(model="local-speech", voice="robot", input=TEXT)

    assert caught.value.param == "voice"


def test_fuzzed_speech_requests_never_fail_on_our_side(gateway_url, dora_key, monkeypatch):
    """Schemathesis' requests that fit the published schema, and ones that do not: no 5xx,
    and every answer fits the schema (positive cases name the offline model)."""
    import schemathesis

    from chukchat.openapi_schema import openapi_document
    from tests.chukchat import test_fuzz_schema as fuzzing

    monkeypatch.setitem(fuzzing.MODELS_BY_PATH, "/v1/audio/speech", ["local-speech"])
    schema = schemathesis.openapi.from_dict(openapi_document()).include(
        operation_id=["audio_speech_create"]
    )
    tally = fuzzing.Tally()
    fuzzing.fuzz(
        schema,
        base_url=gateway_url,
        prefix="",
        credentials=lambda operation, prefix: ({"Authorization": f"Bearer {dora_key}"}, {}),
        tally=tally,
    )

    assert tally.by_status.get(200), tally.by_status  # the engine was reached
    assert not tally.failures, "\n".join(tally.failures[:10])
