"""`/heavy help`: what heavy does and how to use it, as platform-neutral Markdown.

One text for every front end, with the figures taken from the operator's configuration and the
engine's own limits, so the help never disagrees with what heavy does. Adapters convert the
Markdown to their platform (Slack mrkdwn, Discord Markdown) like any answer.
"""

from __future__ import annotations

from .attachments import AttachmentLimits, size_text
from .conversations import MAX_CHARS, MAX_MESSAGES
from .core import MAX_AGENTS, HeavyConfig


def help_text(config: HeavyConfig, *, limits: AttachmentLimits | None = None,
              command: str = "/heavy") -> str:
    """The help for `command` (its platform's spelling of the slash command)."""
    files = limits or AttachmentLimits()
    lines = [
        "**heavy** answers hard questions with a team of AI agents: a lead model splits your "
        f"question into sub-questions, {config.agent_count or f'1-{config.max_agents}'} agents "
        f"(up to {MAX_AGENTS}) research them "
        "in parallel with the tools the channel allows (such as web search), and one combined "
        "answer comes back in a thread, with live progress while they work.",
        "",
        "**Asking**",
        "- Mention heavy with your question, or use "
        f"`{command} <question>` (options: `agents` 1-{MAX_AGENTS}, `model`).",
        "- In a direct message just write: every message is a question, and heavy remembers "
        f"the conversation (the last {MAX_MESSAGES} messages, up to {MAX_CHARS:,} characters).",
        "- Reply to one of heavy's answers and mention it to follow up on that answer.",
        "",
        "**Files**",
        f"- Attach up to {files.max_files} files: text files (.txt, .md, .csv, .json, code, "
        f"logs; up to {size_text(files.max_text_bytes)} each) and PDFs (their text, up to "
        f"{size_text(files.max_pdf_bytes)}) are read by every agent, up to "
        f"{files.max_total_chars:,} characters in all.",
        "- Images are shown to models that accept them. A file heavy cannot use is named in a "
        "note under the answer, with the reason.",
        "",
        "**After the answer**",
        "- **Regenerate** asks the same question again; **Go deeper** asks it with twice the "
        f"agents (up to {MAX_AGENTS}), building on the first answer. **Stop** ends a run. "
        "Only the asker or an admin can press them.",
        "",
        "**Settings**",
        "- Admins choose a channel's (or the whole workspace's) model, number of agents, "
        "prompts and tools with `" + command + "-config`, and who may ask (`allow_users`, "
        "`block_users`, `allow_roles`). Every change is recorded.",
    ]
    if config.allowed_models:
        lines.append(f"- Models admins can pick: {', '.join(config.allowed_models)}.")
    budgets = _budgets(config)
    if budgets:
        lines.append(f"- Daily limits: {budgets}.")
    return "\n".join(lines)


def _budgets(config: HeavyConfig) -> str:
    limits = config.limits
    parts = []
    if limits.daily_tokens_per_user is not None:
        parts.append(f"{limits.daily_tokens_per_user:,} tokens per person")
    if limits.daily_tokens_per_channel is not None:
        parts.append(f"{limits.daily_tokens_per_channel:,} tokens per channel")
    if limits.daily_tokens_per_workspace is not None:
        parts.append(f"{limits.daily_tokens_per_workspace:,} tokens per workspace")
    if limits.daily_cost_per_channel is not None:
        parts.append(f"${limits.daily_cost_per_channel:,.2f} per channel")
    if limits.daily_cost_per_workspace is not None:
        parts.append(f"${limits.daily_cost_per_workspace:,.2f} per workspace")
    return ", ".join(parts)

__all__ = ["help_text"]
