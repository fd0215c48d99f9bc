"""Loading providers and models from a declarative TOML file (`manage.py loadmodels`).

The whole file is validated before anything is written, and written in one transaction: a bad
file names the entry and field at fault and changes nothing."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import urlparse

from django.db import transaction

from aiapi.models import AiModel, Provider


class CatalogueError(ValueError):
    pass


@dataclass
class LoadResult:
    providers_created: int = 0
    providers_updated: int = 0
    models_created: int = 0
    models_updated: int = 0


_PROVIDER_FIELDS = {
    "name", "kind", "base_url", "api_key_env", "api_key", "active",
    "connect_timeout", "first_token_timeout", "total_timeout",
}  # fmt: skip
_MODEL_FIELDS = {
    "id", "provider", "upstream", "kind", "display_name", "vision", "reasoning",
    "context_window", "max_output_tokens", "input_price", "output_price", "image_price",
    "audio_minute_price", "cache_read_price", "cache_write_price", "active", "pro_only",
    "fallbacks", "sort_order",
}  # fmt: skip
# Model kinds a provider kind can serve, where it cannot serve them all.
KINDS_OFFERED = {
    Provider.Kind.LOCAL: (AiModel.Kind.TRANSCRIPTION, AiModel.Kind.SPEECH),
    Provider.Kind.DEMO: (AiModel.Kind.CHAT, AiModel.Kind.EMBEDDING, AiModel.Kind.IMAGE),
}
_PRICE_FIELDS = ("input_price", "output_price", "image_price", "audio_minute_price")


class _Entry:
    """Typed access to one table of the file, with errors that say where."""

    def __init__(self, section: str, index: int, data: object, allowed: set[str], label: str):
        self.where = f"{section}[{index}]"
        if not isinstance(data, dict):
            raise CatalogueError(f"{self.where}: must be a table")
        self.data = data
        if isinstance(data.get(label), str):
            self.where += f" ({label} {data[label]!r})"
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise CatalogueError(f"{self.where}: unknown field {unknown[0]!r}")

    def fail(self, field: str, problem: str) -> CatalogueError:
        return CatalogueError(f"{self.where}: field {field!r} {problem}")

    def string(self, field: str, *, required: bool = False, default: str = "") -> str:
        value = self.data.get(field)
        if value is None:
            if required:
                raise self.fail(field, "is required")
            return default
        if not isinstance(value, str) or (required and not value.strip()):
            raise self.fail(field, "must be a non-empty string")
        return value.strip()

    def boolean(self, field: str, default: bool) -> bool:
        value = self.data.get(field, default)
        if not isinstance(value, bool):
            raise self.fail(field, "must be true or false")
        return value

    def positive_int(self, field: str, default: int) -> int:
        value = self.data.get(field, default)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self.fail(field, "must be a positive integer")
        return value

    def integer(self, field: str, default: int) -> int:
        value = self.data.get(field, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(field, "must be an integer")
        return value

    def seconds(self, field: str) -> float | None:
        value = self.data.get(field)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise self.fail(field, "must be a positive number of seconds")
        return float(value)

    def price(self, field: str) -> Decimal:
        value = self.data.get(field, 0)
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise self.fail(field, "must be a number of USD")
        try:
            # str() first: a TOML float like 0.15 must become Decimal("0.15"), not its binary
            # approximation.
            amount = Decimal(str(value))
        except InvalidOperation:
            raise self.fail(field, "must be a number of USD") from None
        if not amount.is_finite() or amount < 0:
            raise self.fail(field, "must be zero or more")
        if amount.as_tuple().exponent < -6:
            raise self.fail(field, "has more than 6 decimal places")
        return amount

    def choice(self, field: str, choices: list[str], default: str | None = None) -> str:
        value = self.data.get(field, default)
        if value is None:
            raise self.fail(field, "is required")
        if value not in choices:
            raise self.fail(field, f"must be one of {', '.join(choices)}")
        return value


def _parse_provider(entry: _Entry) -> dict:
    name = entry.string("name", required=True)
    kind = entry.choice("kind", Provider.Kind.values)
    base_url = entry.string("base_url")
    if base_url:
        parsed = urlparse(base_url)
        if parsed.scheme not in {"http", "https"} or not parsed.netloc:
            raise entry.fail("base_url", "must be an http(s) URL")
    elif kind == Provider.Kind.OPENAI_COMPATIBLE:
        raise entry.fail("base_url", "is required for openai_compatible providers")
    if "api_key" in entry.data and "api_key_env" in entry.data:
        raise entry.fail("api_key", "cannot be given together with api_key_env")
    return {
        "name": name,
        "kind": kind,
        "base_url": base_url,
        "api_key": entry.string("api_key") if "api_key" in entry.data else None,
        "api_key_env": entry.string("api_key_env"),
        "active": entry.boolean("active", True),
        "connect_timeout": entry.seconds("connect_timeout"),
        "first_token_timeout": entry.seconds("first_token_timeout"),
        "total_timeout": entry.seconds("total_timeout"),
    }


def _parse_model(entry: _Entry) -> dict:
    public_id = entry.string("id", required=True)
    fallbacks = entry.data.get("fallbacks", [])
    if not isinstance(fallbacks, list) or not all(isinstance(f, str) for f in fallbacks):
        raise entry.fail("fallbacks", "must be a list of model ids")
    if public_id in fallbacks:
        raise entry.fail("fallbacks", "cannot include the model itself")
    parsed = {
        "public_id": public_id,
        "provider": entry.string("provider", required=True),
        "upstream": entry.string("upstream", default=public_id),
        "kind": entry.choice("kind", AiModel.Kind.values, default=AiModel.Kind.CHAT),
        "display_name": entry.string("display_name"),
        "vision": entry.boolean("vision", False),
        "reasoning": entry.boolean("reasoning", False),
        "context_window": entry.positive_int("context_window", 8192),
        "max_output_tokens": entry.positive_int("max_output_tokens", 4096),
        "active": entry.boolean("active", True),
        "pro_only": entry.boolean("pro_only", False),
        "fallbacks": list(fallbacks),
        "sort_order": entry.integer("sort_order", 0),
    }
    for field in _PRICE_FIELDS:
        parsed[field] = entry.price(field)
    for field in ("cache_read_price", "cache_write_price"):  # unset: the input price
        parsed[field] = entry.price(field) if field in entry.data else None
    if parsed["max_output_tokens"] > parsed["context_window"]:
        raise entry.fail("max_output_tokens", "cannot exceed context_window")
    return parsed


def parse_catalogue(text: str) -> tuple[list[dict], list[dict]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise CatalogueError(f"not valid TOML: {error}") from None
    unknown = sorted(set(data) - {"providers", "models"})
    if unknown:
        raise CatalogueError(f"unknown top-level key {unknown[0]!r}")
    for section in ("providers", "models"):
        if not isinstance(data.get(section, []), list):
            raise CatalogueError(f"{section!r} must be an array of tables ([[{section}]])")
    providers = [
        _parse_provider(_Entry("providers", i, raw, _PROVIDER_FIELDS, "name"))
        for i, raw in enumerate(data.get("providers", []))
    ]
    models = [
        _parse_model(_Entry("models", i, raw, _MODEL_FIELDS, "id"))
        for i, raw in enumerate(data.get("models", []))
    ]
    _check_duplicates("providers", [p["name"] for p in providers], "name")
    _check_duplicates("models", [m["public_id"] for m in models], "id")
    return providers, models


def _check_duplicates(section: str, names: list[str], field: str) -> None:
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name in seen:
            raise CatalogueError(f"{section}[{index}] ({field} {name!r}): duplicate {field}")
        seen.add(name)


@transaction.atomic
def catalogue_load(*, text: str) -> LoadResult:
    providers, models = parse_catalogue(text)
    result = LoadResult()

    known_providers = {p["name"] for p in providers} | set(
        Provider.objects.values_list("name", flat=True)
    )
    known_models = {m["public_id"] for m in models} | set(
        AiModel.objects.values_list("public_id", flat=True)
    )
    provider_kinds = dict(Provider.objects.values_list("name", "kind"))
    provider_kinds.update({p["name"]: p["kind"] for p in providers})
    for index, model in enumerate(models):
        where = f"models[{index}] (id {model['public_id']!r})"
        if model["provider"] not in known_providers:
            raise CatalogueError(
                f"{where}: field 'provider' names unknown provider {model['provider']!r}"
            )
        offered = KINDS_OFFERED.get(provider_kinds[model["provider"]])
        if offered is not None and model["kind"] not in offered:
            raise CatalogueError(
                f"{where}: field 'kind' {model['kind']!r} is not offered by "
                f"{provider_kinds[model['provider']]} providers (only {', '.join(offered)})"
            )
        for fallback in model["fallbacks"]:
            if fallback not in known_models:
                raise CatalogueError(f"{where}: field 'fallbacks' names unknown model {fallback!r}")

    for fields in providers:
        api_key = fields.pop("api_key")
        provider, created = Provider.objects.get_or_create(
            name=fields["name"], defaults={"kind": fields["kind"]}
        )
        for name, value in fields.items():
            setattr(provider, name, value)
        if api_key is not None:
            provider.set_api_key(api_key)
        elif fields["api_key_env"]:
            # The environment is the source of truth for this provider's key.
            provider.api_key_encrypted = ""
        provider.save()
        if created:
            result.providers_created += 1
        else:
            result.providers_updated += 1

    providers_by_name = {p.name: p for p in Provider.objects.all()}
    for fields in models:
        fields["provider"] = providers_by_name[fields["provider"]]
        _, created = AiModel.objects.update_or_create(
            public_id=fields["public_id"], defaults=fields
        )
        if created:
            result.models_created += 1
        else:
            result.models_updated += 1

    from aiapi.selectors import catalogue_changed

    transaction.on_commit(catalogue_changed)
    return result


def catalogue_load_file(*, path: str | Path) -> LoadResult:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise CatalogueError(f"cannot read {path}: {error.strerror}") from None
    return catalogue_load(text=text)
