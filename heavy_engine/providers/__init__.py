"""LLM providers behind one async interface, with a registry keyed by the config's `type`."""

from __future__ import annotations

from . import _openai, _simulated  # noqa: F401  (register "openai", "simulated")
from ._base import Provider, ProviderFactory, ProviderPool, provider_types, register_provider
from ._openai import OpenAIProvider
from ._simulated import SimulatedProvider

__all__ = [
    "OpenAIProvider",
    "Provider",
    "ProviderFactory",
    "ProviderPool",
    "SimulatedProvider",
    "provider_types",
    "register_provider",
]
