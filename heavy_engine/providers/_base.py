"""One provider interface and the process-wide pool (implementations come from `plugins`).

A provider instance owns its network client and its concurrency limit. The pool keeps one
instance per provider *settings* (keyed by a sha256 fingerprint, stable across processes), so
every request in the process shares clients and limits.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Protocol, runtime_checkable

from .. import plugins
from ..core import ChatRequest, Completion, ConfigError, ProviderConfig


@runtime_checkable
class Provider(Protocol):
    """What the agent loop and orchestrator call. Implementations keep their quirks inside.

    Deadlines: the caller enforces `request.timeout`. The engine runs every `complete` and
    every whole `stream` under one `asyncio.timeout(request.timeout)` and cancels the call when
    it passes, so a provider needs no timer of its own (one timer per call, not two); it uses
    `request.timeout` to plan its retries (never a backoff that would outlast it) and must let
    cancellation through.
    """

    name: str

    async def complete(self, request: ChatRequest) -> Completion:
        """One call, whole answer, cancelled by the caller at `request.timeout`."""
        ...

    def stream(self, request: ChatRequest) -> AsyncGenerator[str | Completion, None]:
        """Yield text deltas as they come, then exactly one final `Completion`; the caller
        bounds the whole iteration by `request.timeout`."""
        ...

    async def aclose(self) -> None: ...


ProviderFactory = Callable[[str, ProviderConfig, Mapping[str, str]], Provider]


def provider_types() -> list[str]:
    """The provider `type:` names installed (built-in and plugins); imports none of them."""
    return plugins.registry().names("providers")


class ProviderPool:
    """Process-wide provider instances, one per distinct provider settings.

    `instances` is the seam for tests (as httpx's `transport=`): providers by name, used as
    they are instead of being built from the config; the pool does not close them.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        instances: Mapping[str, Provider] | None = None,
        registry: plugins.PluginRegistry | None = None,
    ) -> None:
        self._env = env
        self._given = dict(instances or {})
        self._plugins = registry
        self._instances: dict[str, Provider] = {}
        # Fingerprints by config object: each run asks once per agent, and a fingerprint (a
        # JSON dump and a sha256) was ~1.8% of the CPU at 1,000 concurrent questions. Configs
        # are frozen; an entry goes when its object does (the weak reference's callback).
        self._keys: dict[int, tuple[weakref.ref[ProviderConfig], str]] = {}
        self._lock = asyncio.Lock()

    def _key(self, config: ProviderConfig) -> str:
        known = self._keys.get(id(config))
        if known is not None:
            return known[1]
        key = config.fingerprint()  # covers api_key_env too
        ident = id(config)
        self._keys[ident] = (weakref.ref(config, lambda _: self._keys.pop(ident, None)), key)
        return key

    def get(self, name: str, config: ProviderConfig) -> Provider:
        given = self._given.get(name)
        if given is not None:
            return given
        key = self._key(config)
        inst = self._instances.get(key)
        if inst is None:
            registry = self._plugins or plugins.registry()
            try:
                factory: ProviderFactory = registry.load("providers", config.type)
            except KeyError:
                raise ConfigError(f"providers.{name}.type: no provider plugin named "
                                  f"{config.type!r} is installed") from None
            except plugins.PluginError as err:
                raise ConfigError(f"providers.{name}.type: {err}") from None
            inst = factory(name, config, self._env)
            self._instances[key] = inst
        return inst

    async def aclose(self) -> None:
        async with self._lock:
            instances, self._instances = list(self._instances.values()), {}
        await asyncio.gather(*(p.aclose() for p in instances), return_exceptions=True)
