"""A key's model allow-list: the public model ids it may use; empty means every model.

One rule, asked wherever a key names a model (chat in every wire format, embeddings, media
jobs, the WebSocket), before any credit is held, so a refusal charges nothing. The list travels
in the cached KeyPrincipal, so checking it costs no query.
"""

from __future__ import annotations

from collections.abc import Iterable

from chukchat.errors import ApiError

MAX_ALLOWED_MODELS = 200


def allows(*, allowed_models: frozenset[str] | None, model_id: str) -> bool:
    return not allowed_models or model_id in allowed_models


def require_model_allowed(*, allowed_models: frozenset[str] | None, model_id: str) -> None:
    """403 `model_not_allowed` when the key's allow-list leaves `model_id` out."""
    if not allows(allowed_models=allowed_models, model_id=model_id):
        raise ApiError(
            403,
            "model_not_allowed",
            f"This API key may not use model '{model_id}'. "
            f"It may use: {', '.join(sorted(allowed_models))}.",
            type="invalid_request_error",
            param="model",
        )


def allowed_subset(*, allowed_models: frozenset[str] | None, models: Iterable) -> list:
    """The models (with a `public_id`) the key may use, in their order."""
    return [m for m in models if allows(allowed_models=allowed_models, model_id=m.public_id)]


def as_frozen(allowed_models: list[str] | None) -> frozenset[str] | None:
    """The stored list as the principal carries it: None when every model is allowed."""
    return frozenset(allowed_models) if allowed_models else None


def clean_allowed_models(*, model_ids, known_ids: Iterable[str]) -> list[str]:
    """A list of model ids from the keys API or admin: each must be in the active catalogue.
    None or [] means every model. Raises ValueError with a message for the person."""
    if model_ids is None:
        return []
    if not isinstance(model_ids, list) or not all(isinstance(m, str) for m in model_ids):
        raise ValueError("must be a list of model ids")
    if len(model_ids) > MAX_ALLOWED_MODELS:
        raise ValueError(f"at most {MAX_ALLOWED_MODELS} models")
    known = set(known_ids)
    unknown = sorted({m for m in model_ids if m not in known})
    if unknown:
        raise ValueError(f"unknown model ids: {', '.join(unknown)}")
    return list(dict.fromkeys(model_ids))  # in order, once each


def active_model_ids() -> list[str]:
    from aiapi.selectors import active_catalogue

    return list(active_catalogue().models)
