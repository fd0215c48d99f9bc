"""One adapter per provider per event loop, created on first use and reused, so connections to
each provider are pooled instead of opened per request."""

from __future__ import annotations

from django.conf import settings

from aiapi.models import Provider
from aiapi.providers.base import Adapter, UnconfiguredAdapter
from aiapi.providers.demo_adapter import DemoAdapter
from aiapi.providers.openai_adapter import OpenAIAdapter
from chukchat.per_loop import PerLoop

# Per loop: (provider id, provider version) -> adapter.
_adapters: PerLoop[dict[tuple[int, str], Adapter]] = PerLoop(dict)


def build_adapter(provider: Provider) -> Adapter:
    connect = provider.connect_timeout or settings.PROVIDER_CONNECT_TIMEOUT
    total = provider.total_timeout or settings.PROVIDER_TOTAL_TIMEOUT
    if provider.kind == Provider.Kind.DEMO:
        return DemoAdapter(provider_name=provider.name, token_delay=settings.DEMO_TOKEN_DELAY)
    if provider.kind == Provider.Kind.LOCAL:
        from aiapi.providers.local_adapter import LocalAdapter

        return LocalAdapter(provider_name=provider.name)
    if not provider.get_api_key():
        return UnconfiguredAdapter(provider_name=provider.name)
    if provider.kind == Provider.Kind.ANTHROPIC:
        # Imported on first use: the anthropic SDK costs ~30 MB per process.
        from aiapi.providers.anthropic_adapter import AnthropicAdapter

        return AnthropicAdapter(
            provider_name=provider.name,
            base_url=provider.base_url,
            api_key=provider.get_api_key(),
            connect_timeout=connect,
            total_timeout=total,
        )
    return OpenAIAdapter(
        provider_name=provider.name,
        kind=provider.kind,
        base_url=provider.base_url,
        api_key=provider.get_api_key(),
        connect_timeout=connect,
        total_timeout=total,
    )


def adapter_for(provider: Provider) -> Adapter:
    """The provider's adapter for this event loop, made once and reused (its connection pool
    belongs to the loop); a provider edited in admin gets a new one."""
    adapters = _adapters.get()
    key = (provider.pk, provider.updated_at.isoformat() if provider.updated_at else "")
    adapter = adapters.get(key)
    if adapter is None:
        for stale in [k for k in adapters if k[0] == provider.pk]:
            del adapters[stale]  # an earlier version of this provider
        adapter = adapters[key] = build_adapter(provider)
    return adapter


async def close_adapters() -> None:
    """At a server process's shutdown: this loop's connections to the providers, closed."""
    adapters = _adapters.current() or {}
    for adapter in list(adapters.values()):
        await adapter.aclose()
    adapters.clear()
