"""LLM providers behind one async interface; `type:` names come from `heavy_engine.plugins`."""

from __future__ import annotations

from ._base import Provider, ProviderFactory, ProviderPool, provider_types
from ._claude_cli import ClaudeCLIProvider
from ._openai import OpenAIProvider, proxy_for
from ._simulated import SimulatedProvider, last_user_text, text_of, topic_of

__all__ = [
    "ClaudeCLIProvider",
    "OpenAIProvider",
    "Provider",
    "ProviderFactory",
    "ProviderPool",
    "SimulatedProvider",
    "last_user_text",
    "provider_types",
    "proxy_for",
    "text_of",
    "topic_of",
]
