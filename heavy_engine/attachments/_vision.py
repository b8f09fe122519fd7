"""Which models are given images, and the notes for images no model of a run could see."""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase
from typing import Any

from ..core import HeavyConfig
from ._types import Attachments


def accepts_images(config: HeavyConfig, model: str) -> bool:
    """True when `model` matches an entry of the operator's `vision_models` (globs allowed)."""
    return any(fnmatchcase(model, pattern) for pattern in config.vision_models)


def image_parts_for(config: HeavyConfig, model: str,
                    attachments: Attachments | None) -> list[dict[str, Any]]:
    """The image content parts to send to `model` (none unless it accepts images)."""
    if not attachments or not attachments.images or not accepts_images(config, model):
        return []
    return attachments.image_parts()


def run_models(config: HeavyConfig) -> set[str]:
    """Every model a run with `config` calls with the question: agents and the synthesis."""
    count = config.agent_count or config.max_agents  # auto: as many as the decomposition may pick
    models = {(o.model or config.model) for o in config.agent_overrides[:count]}
    models.add(config.model)  # agents without an override
    if count > 1:
        models.add(config.effective_orchestrator_model)
    return models


def attachment_notes(config: HeavyConfig, attachments: Attachments | None) -> list[str]:
    """The notes a run's answer carries about its files (skipped ones, unseen images)."""
    if not attachments:
        return []
    return [*attachments.notes, *unseen_image_notes(config, run_models(config), attachments)]


def prompt_context(context: str | None, attachments: Attachments | None) -> str | None:
    """The earlier conversation followed by the attached documents' labelled text."""
    files = attachments.context_text() if attachments else ""
    if not files:
        return context
    files = f"# Attached files\n\n{files}"
    return f"{context}\n\n{files}" if context else files


def unseen_image_notes(config: HeavyConfig, models: Iterable[str],
                       attachments: Attachments | None) -> list[str]:
    """One note per image when none of `models` accepts images."""
    if not attachments or not attachments.images:
        return []
    if any(accepts_images(config, m) for m in models):
        return []
    return [f"skipped {image.name}: the model does not accept images"
            for image in attachments.images]


def with_images(text: str, parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """A user message's content: plain text, or text then image parts."""
    return [{"type": "text", "text": text}, *parts] if parts else text
