"""Slack-only parts of heavy as a native Slack AI app: the assistant split view, App Home,
streamed answers (tasks and the stream), and workspace auth (OAuth installs, one bot token per
workspace). The concepts both platforms share (wiring, intake, surface, render, buttons,
settings, context) live beside this folder under the same names as in `bots/discord`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from heavy_engine.lazy import exports as _exports

if TYPE_CHECKING:
    from ._assistant import register as register_assistant
    from ._home import register as register_home
    from ._home import republish as republish_home
    from ._installs import DbInstallationStore, DbOAuthStateStore, DbThreadContextStore, TokenCipher
    from ._oauth import OAuthRoutes, oauth_settings
    from ._stream import STREAM_MAX_CHARS, TRANSIENT, StreamedAnswer
    from ._tasks import sources_task
    from ._workspaces import (
        WorkspaceClient,
        WorkspaceDelivery,
        bind_request_token,
        ignore_unknown_workspaces,
    )

# Names are imported on first use (PEP 562): these modules import `bots.slack`'s own (`_bot`,
# `_intake`, ...), which import `_surface`, which imports the stream from here; loading them all
# at once would import `_bot` while it is half-initialised. Each value is module:name.
_LAZY = {
    "register_assistant": "_assistant:register",
    "register_home": "_home:register",
    "republish_home": "_home:republish",
    "DbInstallationStore": "_installs:DbInstallationStore",
    "DbOAuthStateStore": "_installs:DbOAuthStateStore",
    "DbThreadContextStore": "_installs:DbThreadContextStore",
    "TokenCipher": "_installs:TokenCipher",
    "OAuthRoutes": "_oauth:OAuthRoutes",
    "oauth_settings": "_oauth:oauth_settings",
    "STREAM_MAX_CHARS": "_stream:STREAM_MAX_CHARS",
    "TRANSIENT": "_stream:TRANSIENT",
    "StreamedAnswer": "_stream:StreamedAnswer",
    "sources_task": "_tasks:sources_task",
    "WorkspaceClient": "_workspaces:WorkspaceClient",
    "WorkspaceDelivery": "_workspaces:WorkspaceDelivery",
    "bind_request_token": "_workspaces:bind_request_token",
    "ignore_unknown_workspaces": "_workspaces:ignore_unknown_workspaces",
}

__all__ = [
    "STREAM_MAX_CHARS",
    "TRANSIENT",
    "DbInstallationStore",
    "DbOAuthStateStore",
    "DbThreadContextStore",
    "OAuthRoutes",
    "StreamedAnswer",
    "TokenCipher",
    "WorkspaceClient",
    "WorkspaceDelivery",
    "bind_request_token",
    "ignore_unknown_workspaces",
    "oauth_settings",
    "register_assistant",
    "register_home",
    "republish_home",
    "sources_task",
]


__getattr__, __dir__ = _exports(__name__, _LAZY)
