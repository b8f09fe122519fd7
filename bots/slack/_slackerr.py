"""Reading Slack API errors safely (a proxy can answer with HTML instead of JSON)."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError


def api_error(err: SlackApiError) -> str:
    """Slack's error code (`msg_too_long`, `ratelimited`...) or `http_<status>`."""
    data = err.response.data
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    return f"http_{err.response.status_code}"


def retry_after(err: SlackApiError, default: float = 1.0) -> float | None:
    """Seconds to wait when `err` is a rate limit, else None."""
    resp = err.response
    if resp.status_code != 429 and api_error(err) != "ratelimited":
        return None
    headers = {k.lower(): v for k, v in (resp.headers or {}).items()}
    value = headers.get("retry-after")
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return max(float(value), 0.0) if value is not None else default
    except ValueError:
        return default
