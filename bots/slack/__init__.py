"""heavy's Slack front end: Bolt (AsyncApp) over HTTP (`POST /slack/events`) or Socket Mode.

It only translates: Slack events and commands become `Question`s for the reply pipeline, and a run's
events become a progress card, a streamed answer and a footer in the asker's thread.
"""

from __future__ import annotations

import logging

from heavy_engine.jobs import Services

from ._env import SlackEnv, slack_env
from ._wiring import EVENTS_PATH, SlackAdapter

log = logging.getLogger("heavy.slack")


def create_adapter(services: Services) -> SlackAdapter | None:
    """The adapter, or None when `SLACK_BOT_TOKEN` is not set (Slack stays off)."""
    env = slack_env(services.env)
    if env is None:
        return None
    return SlackAdapter(services, env)


__all__ = ["EVENTS_PATH", "SlackAdapter", "SlackEnv", "create_adapter", "slack_env"]
