"""Discord's face of a run, as pure functions: the progress card, answer messages, mentions.

Limits (Discord's): message content 2,000 characters; an embed's title 256, description 4,096,
field value 1,024, footer 2,048, at most 25 fields and 6,000 characters in all. Nothing here
talks to Discord; the delivery sends what these functions return.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import discord

from heavy_engine.delivery import AnswerLimits, clip, clip_start, failure_sentence, with_reference
from heavy_engine.delivery import plan_answer as plan_parts
from heavy_engine.progress import AgentProgress, ProgressState

CONTENT_LIMIT = 2000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
EMBED_TOTAL_LIMIT = 6000
MAX_FIELDS = 25
THREAD_NAME_LIMIT = 100
QUESTION_CHARS = 300  # a sub-question on the card, when there is room for it
_MIN_FIELD_VALUE = 20
_DESCRIPTION_RESERVE = 1000  # the question line and a note always fit next to the fields

# Mention-free by construction: nothing a model writes may ping anyone. Only the requester is
# pinged, and only where a message says so (`answer_mentions`).
NO_MENTIONS = discord.AllowedMentions.none()

_STATUS_ICON = {
    "waiting": "⏳", "running": "🔄", "ok": "✅", "failed": "❌", "timeout": "⌛",
    "cancelled": "⏹️",
}
_COLOURS = {
    "working": discord.Colour.blurple(), "ok": discord.Colour.green(),
    "failed": discord.Colour.red(), "timeout": discord.Colour.orange(),
    "cancelled": discord.Colour.light_grey(),
}
_MASS_MENTION = re.compile(r"@(everyone|here)")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")


def answer_mentions(requester: int | None) -> discord.AllowedMentions:
    """Ping only the requester (never @everyone, @here or roles, never a replied-to user)."""
    users: list[discord.abc.Snowflake] = [discord.Object(requester)] if requester else []
    return discord.AllowedMentions(everyone=False, roles=False, users=users,
                                   replied_user=False)


def neutralise_mentions(text: str) -> str:
    """Defuse @everyone, @here and role mentions in text we did not write.

    `allowed_mentions` already stops the pings; this also stops them *looking* like pings,
    and protects any path that forgets to pass `allowed_mentions`.
    """
    text = _MASS_MENTION.sub("@\u200b\\1", text)
    return _ROLE_MENTION.sub("@\u200brole", text)


def strip_bot_mention(content: str, bot_id: int) -> str:
    """The message text without the bot's own mention(s), whitespace collapsed at the ends."""
    return re.sub(rf"<@!?{bot_id}>", "", content).strip()


def thread_name(question: str) -> str:
    """A thread title from the question: one line, 1-100 characters."""
    line = " ".join(question.split()) or "heavy"
    return clip(neutralise_mentions(line), THREAD_NAME_LIMIT)


def format_seconds(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    return f"{seconds // 60}m {seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _phase_title(state: ProgressState) -> tuple[str, str]:
    """(title, colour key) for where the run is."""
    if state.result is not None:
        status = state.result.status
        titles = {"ok": "✅ Done", "failed": "❌ Failed", "timeout": "⌛ Timed out",
                  "cancelled": "⏹️ Stopped"}
        return titles.get(status, status), status
    done, total = state.finished_agents, len(state.agents)
    titles = {
        "starting": "⏳ Starting…",
        "decomposing": "🧭 Planning sub-questions…",
        "researching": f"🔎 Researching · {done}/{total} agents done",
        "comparing": f"🔁 {state.phase_label}…",
        "synthesising": "✍️ Writing the answer…",
    }
    return titles.get(state.phase, state.phase_label), "working"


def _agent_field(agent: AgentProgress, now: float, room: int) -> tuple[str, str]:
    """(name, value) of one agent's field, both together at most `room` characters; the
    sub-question gives way first, so the state and the running tool stay visible."""
    icon = _STATUS_ICON.get(agent.status, "•")
    bits = [f"Agent {agent.index + 1}", f"{icon} {agent.status}"]
    if agent.status != "waiting":
        bits.append(format_seconds(agent.elapsed(now)))
    if agent.tokens:
        bits.append(f"{agent.tokens:,} tokens")
    name = clip(" · ".join(bits), FIELD_NAME_LIMIT)
    detail = ""
    if agent.tool:
        detail = f"\n🔧 `{clip(agent.tool, 40)}` {clip(_inline(agent.tool_args), 80)}"
    elif agent.error and agent.status != "ok":
        detail = f"\n⚠️ {clip(_inline(agent.error), 200)}"
    limit = max(min(room - len(name), FIELD_VALUE_LIMIT), _MIN_FIELD_VALUE)
    question = clip(neutralise_mentions(agent.question) or "…",
                    max(min(QUESTION_CHARS, limit - len(detail)), _MIN_FIELD_VALUE))
    return name, clip(question + detail, limit)


def _inline(text: str) -> str:
    return " ".join(text.replace("`", "ˋ").split())


def progress_embed(
    state: ProgressState,
    now: float,
    *,
    note: str | None = None,
) -> discord.Embed:
    """The progress card: phase, each agent's state and tool, the synthesis so far, elapsed time.

    `note` is a line under the question (where the answer went, who stopped the run...).
    The embed always fits Discord's limits, whatever the question, agents or answer length.
    """
    title, colour = _phase_title(state)
    head = f"**Question:** {clip(neutralise_mentions(state.question), 500)}" if state.question \
        else ""
    if note:
        head += f"\n{note}"
    agents = sorted(state.agents.values(), key=lambda a: a.index)[:MAX_FIELDS]
    elapsed = state.result.elapsed_s if state.result is not None else state.elapsed(now)
    footer = f"heavy · {len(state.agents) or '…'} agents · elapsed {format_seconds(elapsed)}"
    if state.result is None:
        footer += " · Stop ends the run"
    # The 6,000 characters are shared: each agent gets an equal part of what the title, the
    # footer and the question line leave, so 16 agents running tools still fit.
    share = (EMBED_TOTAL_LIMIT - len(title) - len(footer) - _DESCRIPTION_RESERVE) \
        // max(len(agents), 1)
    fields = [_agent_field(a, now, share) for a in agents]
    used = len(title) + len(footer) + sum(len(n) + len(v) for n, v in fields)
    room = min(DESCRIPTION_LIMIT, EMBED_TOTAL_LIMIT - used)
    synthesis = state.synthesis.strip()
    description = clip(head, room)
    if synthesis and state.result is None:
        # Stream the newest words; what fits after the question line.
        left = room - len(description) - 2
        if left > 20:
            description = f"{description}\n\n{clip_start(neutralise_mentions(synthesis), left)}"
    embed = discord.Embed(title=clip(title, TITLE_LIMIT), description=description or None,
                          colour=_COLOURS.get(colour, _COLOURS["working"]))
    for name, value in fields:
        embed.add_field(name=name, value=value, inline=False)
    embed.set_footer(text=clip(footer, FOOTER_LIMIT))
    return embed


@dataclass(frozen=True, slots=True)
class AnswerPlan:
    """The messages that carry an answer; `attach` puts the full answer as a file on the last."""

    messages: list[str]
    attach: bool


def plan_answer(
    answer: str,
    footer: str,
    *,
    prefix: str = "",
    limit: int = CONTENT_LIMIT,
    max_messages: int = 5,
    attach_over: int = 6000,
) -> AnswerPlan:
    """Split an answer into messages of at most `limit` characters, fences intact.

    `prefix` (the requester's mention) opens the first message on a line of its own; `footer`
    closes the last as Discord subtext. Answers longer than `attach_over` also come as a `.md`
    file; beyond `max_messages` messages only the first ones are posted, the file has the rest.
    """
    answer = neutralise_mentions(answer.strip()) or "(empty answer)"
    tail = f"-# {footer}" if footer else ""
    plan = plan_parts(answer, AnswerLimits(
        part_chars=limit - len(prefix) - 1, max_parts=max_messages, attach_over=attach_over,
        head_parts=max_messages - 1))
    chunks, attach = list(plan.parts), plan.attach
    if plan.cut:
        chunks.append(f"*… {len(answer):,} characters in all: the full answer is attached.*")
    if prefix:
        chunks[0] = f"{prefix}\n{chunks[0]}"  # own line: the answer may open with a heading
    if tail:
        if len(chunks[-1]) + 1 + len(tail) <= limit:
            chunks[-1] = f"{chunks[-1]}\n{tail}"
        else:
            chunks.append(clip(tail, limit))
    return AnswerPlan(chunks, attach)


SOURCES_TITLE = "Sources"


def sources_embed(links: list[tuple[str, str]]) -> discord.Embed | None:
    """The run's sources as one embed field (`1. [title](url)` a line), None when there are none.

    Lines that would pass the field's 1,024 characters are left out and counted instead, so a
    link is never cut in half; the embed stays far under the 6,000 in all.
    """
    if not links:
        return None
    lines: list[str] = []
    used = 0
    for i, (title, url) in enumerate(links, 1):
        title = title.replace("[", "(").replace("]", ")")
        line = f"{i}. [{clip(title, 100)}]({url})" if len(url) <= 500 else f"{i}. {clip(title, 100)}"
        rest = f"… and {len(links) - len(lines)} more"
        if used + len(line) + 1 + len(rest) > FIELD_VALUE_LIMIT:
            lines.append(rest)
            break
        lines.append(line)
        used += len(line) + 1
    embed = discord.Embed(colour=_COLOURS["ok"])
    embed.add_field(name=SOURCES_TITLE, value="\n".join(lines), inline=False)
    return embed


def failure_text(error: str | None, ref: str, *, status: str = "failed") -> str:
    """One short sentence for the user, with the reference the logs carry."""
    if status == "cancelled":
        return "⏹️ Stopped before an answer was ready."
    sentence = failure_sentence(error).replace("`", "ˋ")
    return with_reference(f"⚠️ {neutralise_mentions(sentence)}", ref)


def queued_text(position: int) -> str:
    """The note a queued question shows until its run starts (`position` 1 is next)."""
    return f"⏳ Queued: position {position}. I'll start soon."


USAGE_HINT = (
    "Ask me something: mention me with a question, e.g. `@heavy compare SQLite and Postgres "
    "for a small team`, or use `/heavy question:`."
)
