"""Text to speech, OpenAI's POST /audio/speech: the request checked, then one metered call to
the model's provider (or its fallbacks). Unlike the other media it is not a job: the audio of
at most 4096 characters is made while the client waits, and its price is known before it is
made (per million input characters, the speech model's input_price), so the hold is the charge
and the usage record (characters counted as its input tokens) is written with the ledger row
by settlement, in one transaction."""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal

from accounts.model_allow_list import require_model_allowed
from aiapi.chat_service import Caller, new_request_id, resolve_model
from aiapi.models import AiModel, Provider
from aiapi.providers.base import SpeechRequest
from aiapi.routing import candidates, route_speech
from aiapi.selectors import aactive_catalogue
from billing.entitlements import require_model_access
from billing.holds import hold_credit
from billing.models import UsageRecord
from billing.prices import Prices, answer_prices, token_cost
from billing.settlement import settle, usage_record
from chukchat import log_context
from chukchat.errors import ApiError
from media_tools.engines.audio_encode import FORMATS
from media_tools.engines.speech_local import VOICES

MAX_INPUT_CHARACTERS = 4096
MAX_INSTRUCTIONS_CHARACTERS = 4096
MIN_SPEED, MAX_SPEED = 0.25, 4.0
# Providers that take a custom voice ({"id": "voice_..."}) as OpenAI does.
CUSTOM_VOICE_KINDS = (Provider.Kind.OPENAI, Provider.Kind.OPENAI_COMPATIBLE)


def _invalid(message: str, param: str, code: str = "invalid_request") -> ApiError:
    return ApiError(400, code, message, param=param)


def _voice(raw) -> str | dict:
    if isinstance(raw, str) and raw in VOICES:
        return raw
    if isinstance(raw, dict) and set(raw) == {"id"} and isinstance(raw["id"], str) and raw["id"]:
        return {"id": raw["id"]}
    raise _invalid(
        f'voice must be one of {", ".join(VOICES)} (or a custom voice {{"id": ...}} on '
        "OpenAI's models)",
        "voice",
    )


def parse_speech_input(body: dict) -> tuple[str, SpeechRequest]:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _invalid("model is required", "model")
    text = body.get("input")
    if not isinstance(text, str) or not text.strip():
        raise _invalid("input is required: the text to speak", "input", code="missing_input")
    if len(text) > MAX_INPUT_CHARACTERS:
        raise _invalid(
            f"input is {len(text)} characters long; the most is {MAX_INPUT_CHARACTERS}",
            "input",
            code="input_too_long",
        )
    if "voice" not in body:
        raise _invalid("voice is required", "voice")
    voice = _voice(body["voice"])
    response_format = body.get("response_format", "mp3")
    if response_format not in FORMATS:
        raise _invalid(f"response_format must be one of {', '.join(FORMATS)}", "response_format")
    speed = body.get("speed", 1.0)
    if (
        isinstance(speed, bool)
        or not isinstance(speed, int | float)
        or not MIN_SPEED <= speed <= MAX_SPEED
    ):
        raise _invalid(f"speed must be a number from {MIN_SPEED} to {MAX_SPEED}", "speed")
    instructions = body.get("instructions")
    if instructions is not None and (
        not isinstance(instructions, str) or len(instructions) > MAX_INSTRUCTIONS_CHARACTERS
    ):
        raise _invalid(
            f"instructions must be a string of at most {MAX_INSTRUCTIONS_CHARACTERS} characters",
            "instructions",
        )
    stream_format = body.get("stream_format", "audio")
    if stream_format != "audio":
        raise _invalid(
            "stream_format: only audio is served here (the whole file in the response)",
            "stream_format",
        )
    return model, SpeechRequest(
        input=text,
        voice=voice,
        response_format=response_format,
        speed=float(speed),
        instructions=instructions or None,
    )


@dataclass
class SpeechOutcome:
    model: AiModel
    audio: bytes
    content_type: str
    cost: Decimal
    request_id: str


async def speech_create(*, caller: Caller, model_id: str, request: SpeechRequest) -> SpeechOutcome:
    """Holds what the speech costs (402 when the balance cannot cover it), has it made, and
    settles: charged once when audio came back, nothing when every provider failed."""
    require_model_allowed(allowed_models=caller.allowed_models, model_id=model_id)
    model = await resolve_model(model_id, kind=AiModel.Kind.SPEECH)
    if not isinstance(request.voice, str) and model.provider.kind not in CUSTOM_VOICE_KINDS:
        raise _invalid(f"Model '{model_id}' has no custom voices: name one of its voices", "voice")
    await require_model_access(user_id=caller.user_id, model=model)
    characters = len(request.input)
    chain = candidates(model, await aactive_catalogue())
    # Whichever of the model and its fallbacks answers, the hold covers it.
    dearest = max((Prices.of(m) for m in chain), key=lambda prices: prices.input)
    request_id = new_request_id()
    log_context.adopt_usage_id(request_id)
    hold = await hold_credit(
        user_id=caller.user_id,
        api_key_id=caller.api_key_id,
        api_key_limit=caller.api_key_limit,
        request_id=request_id,
        amount=token_cost(prices=dearest, prompt_tokens=characters, completion_tokens=0),
    )
    started = time.perf_counter()

    def record_of(**usage) -> UsageRecord:
        return usage_record(
            request_id=request_id,
            user_id=caller.user_id,
            api_key_id=caller.api_key_id,
            endpoint="audio.speech",
            model=model.public_id,
            latency_ms=int((time.perf_counter() - started) * 1000),
            **usage,
        )

    try:
        answered_by, result = await route_speech(model=model, request=request)
    except BaseException as error:
        # Failed or abandoned before any audio: nothing used, the hold ends now.
        code = error.code if isinstance(error, ApiError) else "cancelled"
        await settle(
            record=record_of(status=UsageRecord.Status.ERROR, error_code=code),
            prices=dearest,
            hold=hold,
        )
        raise
    record = await settle(
        record=record_of(
            provider=answered_by.provider.name,
            upstream_model=answered_by.upstream,
            # A speech model is priced per million input characters: they are its tokens.
            prompt_tokens=characters,
        ),
        prices=answer_prices(answered_by),
        hold=hold,
    )
    return SpeechOutcome(
        model=model,
        audio=result.audio,
        content_type=result.content_type,
        cost=record.cost,
        request_id=request_id,
    )
