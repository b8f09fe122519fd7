"""LLM providers behind one async interface, with a registry keyed by the config's `type`."""

from __future__ import annotations

from . import _claude_cli, _openai, _simulated  # noqa: F401  (register their types)
from ._base import Provider, ProviderFactory, ProviderPool, provider_types, register_provider
from ._claude_cli import ClaudeCLIProvider
from ._openai import OpenAIProvider
from ._simulated import SimulatedProvider

__all__ = [
    "ClaudeCLIProvider",
    "OpenAIProvider",
    "Provider",
    "ProviderFactory",
    "ProviderPool",
    "SimulatedProvider",
    "provider_types",
    "register_provider",
]
