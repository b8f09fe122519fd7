"""Slack-only parts of heavy as a native Slack AI app: the assistant split view, App Home,
streamed answers (tasks and the stream), and workspace auth (OAuth installs, one bot token per
workspace). The concepts both platforms share (wiring, intake, surface, render, buttons,
settings, context) live beside this folder under the same names as in `bots/discord`."""
