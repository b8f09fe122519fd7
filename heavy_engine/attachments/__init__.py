"""Attachments: download a chat message's files and turn them into context for a run.

Adapters describe each file as an `Attachment`, pick a `HostPolicy` (`slack_policy(token, env)`
or `discord_policy(env)`) and call `fetch_attachments(files, policy)`. The `Attachments` they
get back goes into the job (`as_dict()`); the engine gives its documents' text to every agent
and to the synthesis, its images to models listed in `vision_models`, and its notes to the
answer's footer. Nothing here raises for a bad file: it becomes a note naming it and why.
"""

from __future__ import annotations

from ._extract import kind_of
from ._fetch import fetch_attachments
from ._policy import DISCORD_CDN_HOSTS, SLACK_FILE_HOSTS, HostPolicy, discord_policy, slack_policy
from ._types import Attachment, AttachmentLimits, Attachments, Document, Image, size_text
from ._vision import (
    accepts_images,
    attachment_notes,
    image_parts_for,
    prompt_context,
    run_models,
    unseen_image_notes,
    with_images,
)

__all__ = [
    "DISCORD_CDN_HOSTS",
    "SLACK_FILE_HOSTS",
    "Attachment",
    "AttachmentLimits",
    "Attachments",
    "Document",
    "HostPolicy",
    "Image",
    "accepts_images",
    "attachment_notes",
    "discord_policy",
    "fetch_attachments",
    "image_parts_for",
    "kind_of",
    "prompt_context",
    "run_models",
    "size_text",
    "slack_policy",
    "unseen_image_notes",
    "with_images",
]
