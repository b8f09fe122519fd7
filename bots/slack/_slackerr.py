"""Reading Slack API errors safely (a proxy can answer with HTML instead of JSON)."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError

from heavy_engine.delivery import retry_after as parse_retry_after


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
    wait = parse_retry_after(str(value)) if value is not None else None
    return default if wait is None else wait
