"""LLM providers behind one async interface; `type:` names come from `heavy_engine.plugins`."""

from __future__ import annotations

from ._base import Provider, ProviderFactory, ProviderPool, provider_types
from ._claude_cli import ClaudeCLIProvider, cli_model, render_prompt
from ._connect import DirectConnector
from ._openai import OpenAIProvider, proxy_for

# The OpenAI wire format, for plugin providers that speak it too.
from ._openai_wire import (
    BadReply,
    StreamState,
    encode_body,
    parse_completion,
    provider_message,
    retry_after,
)
from ._simulated import SimulatedProvider, last_user_text, text_of, topic_of

__all__ = [
    "BadReply",
    "ClaudeCLIProvider",
    "DirectConnector",
    "OpenAIProvider",
    "Provider",
    "ProviderFactory",
    "ProviderPool",
    "SimulatedProvider",
    "StreamState",
    "cli_model",
    "encode_body",
    "last_user_text",
    "parse_completion",
    "provider_message",
    "provider_types",
    "proxy_for",
    "render_prompt",
    "retry_after",
    "text_of",
    "topic_of",
]
