"""heavy on Discord (discord.py 2.x): `/heavy`, @-mentions in threads, live progress cards.

`create_adapter(services)` is the `heavy.adapters` entry point; it returns None when
`DISCORD_TOKEN` is not set.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    # discord.py imports `audioop` (voice) at import time, deprecated since Python 3.11; we
    # use no voice, and a warning must not break `-W error` runs and tests.
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord  # noqa: F401

from ._env import DiscordOptions
from ._wiring import DiscordAdapter, create_adapter, intents

__all__ = ["DiscordAdapter", "DiscordOptions", "create_adapter", "intents"]
