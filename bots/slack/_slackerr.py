"""Reading Slack API errors safely (a proxy can answer with HTML instead of JSON)."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError


def api_error(err: SlackApiError) -> str:
    """Slack's error code (`msg_too_long`, `ratelimited`...) or `http_<status>`."""
    data = err.response.data
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    return f"http_{err.response.status_code}"
