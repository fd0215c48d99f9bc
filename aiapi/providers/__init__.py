"""One adapter per provider per event loop, created on first use and reused, so connections to
each provider are pooled instead of opened per request."""

from __future__ import annotations

import asyncio

from django.conf import settings

from aiapi.models import Provider
from aiapi.providers.base import Adapter, UnconfiguredAdapter
from aiapi.providers.demo_adapter import DemoAdapter
from aiapi.providers.openai_adapter import OpenAIAdapter

# (loop, provider id, provider version) -> adapter. HTTP clients belong to the loop that made
# them; a server has one loop per process, tests have one per test.
_adapters: dict[tuple[int, int, str], Adapter] = {}


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
    loop_id = id(asyncio.get_running_loop())
    key = (loop_id, provider.pk, provider.updated_at.isoformat() if provider.updated_at else "")
    adapter = _adapters.get(key)
    if adapter is None:
        if len(_adapters) > 256:  # loops of finished tests; a server never gets here
            _adapters.clear()
        adapter = _adapters[key] = build_adapter(provider)
    return adapter
