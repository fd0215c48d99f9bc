"""Writes on presets: a named model + system prompt + temperature + max tokens that its owner
starts chats with. The rules: a name, unique per owner (whatever its case); a model that is an
active chat model the owner may use (their plan, and the calling key's allow-list); a
temperature from 0 to 2; max tokens from 1 to the model's max output tokens; a system prompt of
at most SYSTEM_PROMPT_MAX characters. Anything else is refused with the field it is about and
changes nothing."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from accounts.model_allow_list import allows
from aiapi.models import AiModel, Preset
from aiapi.preset_selectors import preset_name_taken
from aiapi.selectors import active_catalogue
from billing.entitlements import entitlements_for
from chukchat.errors import ApiError

NAME_MAX = 100
SYSTEM_PROMPT_MAX = 20_000
MAX_PRESETS = 200
TEMPERATURE_MIN, TEMPERATURE_MAX = 0.0, 2.0


def _bad(message: str, *, param: str, code: str = "invalid_request") -> ApiError:
    return ApiError(400, code, message, param=param)


def _name_taken(name: str) -> ApiError:
    return ApiError(
        409, "preset_name_taken", f"You already have a preset named '{name}'.", param="name"
    )


def preset_model_check(
    *, owner_id: int, model_id: str, allowed_models: frozenset[str] | None = None
) -> AiModel:
    """The active chat model `model_id` names, when its owner may use it; else a 400 about
    `model` that says why."""
    model = active_catalogue().models.get(model_id)
    if model is None:
        raise _bad(
            f"Model '{model_id}' is not an active model.", param="model", code="model_not_found"
        )
    if model.kind != AiModel.Kind.CHAT:
        raise _bad(
            f"Model '{model_id}' is a {model.kind} model; a preset needs a chat model.",
            param="model",
            code="invalid_model_type",
        )
    if not allows(allowed_models=allowed_models, model_id=model_id):
        raise _bad(
            f"This API key may not use model '{model_id}'.",
            param="model",
            code="model_not_allowed",
        )
    if model.pro_only and not entitlements_for(user_id=owner_id).premium_models:
        raise _bad(
            f"Model '{model_id}' is available on plans with premium models.",
            param="model",
            code="model_requires_upgrade",
        )
    return model


def _check_max_tokens(*, model: AiModel, max_tokens: int | None) -> None:
    if max_tokens is not None and max_tokens > model.max_output_tokens:
        raise _bad(
            f"max_tokens must be at most {model.max_output_tokens}, "
            f"the most model '{model.public_id}' writes.",
            param="max_tokens",
        )


def _clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise _bad("name: give the preset a name.", param="name")
    return name


@transaction.atomic
def preset_create(
    *,
    owner_id: int,
    name: str,
    model: str,
    system_prompt: str = "",
    temperature: float | None = None,
    max_tokens: int | None = None,
    allowed_models: frozenset[str] | None = None,
) -> Preset:
    name = _clean_name(name)
    chat_model = preset_model_check(
        owner_id=owner_id, model_id=model, allowed_models=allowed_models
    )
    _check_max_tokens(model=chat_model, max_tokens=max_tokens)
    if Preset.objects.filter(owner_id=owner_id).count() >= MAX_PRESETS:
        raise ApiError(
            409,
            "too_many_presets",
            f"You have {MAX_PRESETS} presets, the most there can be; delete one first.",
        )
    if preset_name_taken(owner_id=owner_id, name=name):
        raise _name_taken(name)
    try:
        with transaction.atomic():
            return Preset.objects.create(
                owner_id=owner_id,
                name=name,
                model=model,
                system_prompt=system_prompt,
                temperature=temperature,
                max_tokens=max_tokens,
            )
    except IntegrityError:  # the same name, created meanwhile
        raise _name_taken(name) from None


_FIELDS = ("name", "model", "system_prompt", "temperature", "max_tokens")


@transaction.atomic
def preset_update(
    *, preset: Preset, changes: dict, allowed_models: frozenset[str] | None = None
) -> Preset:
    """`changes` holds the fields to change (name, model, system_prompt, temperature,
    max_tokens; None clears temperature or max tokens). The result must satisfy every rule:
    a new model is checked against the preset's max tokens, and the other way round."""
    unknown = set(changes) - set(_FIELDS)
    if unknown:
        raise _bad(f"{sorted(unknown)[0]} cannot be changed.", param=sorted(unknown)[0])
    if not changes:
        raise ApiError(
            400,
            "invalid_request",
            "Send at least one of name, model, system_prompt, temperature, max_tokens.",
        )
    if "name" in changes:
        changes["name"] = _clean_name(changes["name"])
        if preset_name_taken(
            owner_id=preset.owner_id, name=changes["name"], excluding_id=preset.pk
        ):
            raise _name_taken(changes["name"])
    if "model" in changes or "max_tokens" in changes:
        chat_model = preset_model_check(
            owner_id=preset.owner_id,
            model_id=changes.get("model", preset.model),
            allowed_models=allowed_models,
        )
        _check_max_tokens(model=chat_model, max_tokens=changes.get("max_tokens", preset.max_tokens))
    for field, value in changes.items():
        setattr(preset, field, value)
    try:
        with transaction.atomic():
            preset.save(update_fields=[*changes, "updated_at"])
    except IntegrityError:
        raise _name_taken(changes.get("name", preset.name)) from None
    return preset


def preset_delete(*, preset: Preset) -> None:
    preset.delete()
