"""One provider interface, a registry of implementations, and the process-wide pool.

A provider instance owns its network client and its concurrency limit. The pool keeps one
instance per provider *settings* (keyed by a sha256 fingerprint, stable across processes), so
every request in the process shares clients and limits.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Protocol, runtime_checkable

from .._config import ProviderConfig
from .._types import ChatRequest, Completion


@runtime_checkable
class Provider(Protocol):
    """What the agent loop and orchestrator call. Implementations keep their quirks inside."""

    name: str

    async def complete(self, request: ChatRequest) -> Completion:
        """One call, whole answer."""
        ...

    def stream(self, request: ChatRequest) -> AsyncGenerator[str | Completion, None]:
        """Yield text deltas as they come, then exactly one final `Completion`."""
        ...

    async def aclose(self) -> None: ...


ProviderFactory = Callable[[str, ProviderConfig, Mapping[str, str]], Provider]
_REGISTRY: dict[str, ProviderFactory] = {}


def register_provider(type_name: str) -> Callable[[ProviderFactory], ProviderFactory]:
    """Decorator: make `type_name` (the `type:` of a provider in config.yaml) buildable."""

    def deco(factory: ProviderFactory) -> ProviderFactory:
        _REGISTRY[type_name] = factory
        return factory

    return deco


def provider_types() -> list[str]:
    return sorted(_REGISTRY)


class ProviderPool:
    """Process-wide provider instances, one per distinct provider settings."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self._instances: dict[str, Provider] = {}
        self._lock = asyncio.Lock()

    def get(self, name: str, config: ProviderConfig) -> Provider:
        key = config.fingerprint()  # covers api_key_env too
        inst = self._instances.get(key)
        if inst is None:
            try:
                factory = _REGISTRY[config.type]
            except KeyError:
                raise KeyError(f"no provider implementation for type {config.type!r}") from None
            inst = factory(name, config, self._env)
            self._instances[key] = inst
        return inst

    async def aclose(self) -> None:
        async with self._lock:
            instances, self._instances = list(self._instances.values()), {}
        await asyncio.gather(*(p.aclose() for p in instances), return_exceptions=True)
