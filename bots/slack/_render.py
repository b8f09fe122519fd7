"""Block Kit messages: the live progress card and the answer messages. Pure functions.

Every string that came from a user or a model goes through `safe_mrkdwn` (our own mrkdwn) or
`neutralise` (Markdown that Slack renders), so nothing rendered here can ping a channel.
"""

from __future__ import annotations

import json
from typing import Any

from heavy_engine.delivery import failure_sentence, head, shorten, with_reference
from heavy_engine.progress import AgentProgress, ProgressState

from ._markdown import MARKDOWN_CHARS, Message, neutralise, safe_mrkdwn

Blocks = list[dict[str, Any]]

STOP_ACTION = "heavy_stop"
SECTION_LIMIT = 3000  # characters in one section block's text
QUESTION_CHARS = 110  # a sub-question on the card; the full text is in the answer
_AGENTS_PER_SECTION = 6  # keeps each section far below SECTION_LIMIT

_AGENT_ICONS = {
    "waiting": ":white_circle:",
    "running": ":hourglass_flowing_sand:",
    "ok": ":white_check_mark:",
    "failed": ":x:",
    "timeout": ":alarm_clock:",
    "cancelled": ":no_entry_sign:",
}
_RESULT_HEADLINES = {
    "ok": ":white_check_mark: *Done*",
    "failed": ":x: *Failed*",
    "timeout": ":alarm_clock: *Timed out*",
    "cancelled": ":octagonal_sign: *Stopped*",
}


def shorten_safe(text: str, limit: int) -> str:
    """`safe_mrkdwn(text)` on one line, at most `limit` characters: escaping can triple a length,
    so the cut comes after it, never inside an `&lt;`-style escape."""
    text = safe_mrkdwn(" ".join(text.split()))
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&")
    if amp >= 0 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut.rstrip() + "…"


def _tokens(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 1000 else str(n)


def agent_line(agent: AgentProgress, now: float) -> str:
    """`1 ✅ question — 4.2s · 1.2k tokens`, or the tool a running agent is in."""
    icon = _AGENT_ICONS.get(agent.status, ":grey_question:")
    head = f"{icon} *{agent.index + 1}.* {safe_mrkdwn(shorten(agent.question, QUESTION_CHARS))}"
    if agent.status == "waiting":
        return head
    detail = f"{agent.elapsed(now):.0f}s"
    if agent.status == "running" and agent.tool:
        args = shorten(agent.tool_args, 40)
        detail += f" · running `{safe_mrkdwn(agent.tool)}`" + (
            f" {safe_mrkdwn(args)}" if args else "")
    elif agent.status == "ok":
        detail += f" · {_tokens(agent.tokens)} tokens"
        if agent.tools_used:
            detail += f" · {agent.tools_used} tool call{'s' * (agent.tools_used != 1)}"
    elif agent.error:
        detail += f" · {safe_mrkdwn(shorten(agent.error, 80))}"
    return f"{head}\n      _{detail}_" if "`" not in detail else f"{head}\n      {detail}"


def stop_value(job_id: str, requester: str) -> str:
    """The Stop button's value: who may press it lives in the message itself."""
    return json.dumps({"job": job_id, "user": requester}, separators=(",", ":"))


def progress_card(
    state: ProgressState, now: float, *, job_id: str, requester: str
) -> tuple[str, Blocks]:
    """The progress message: phase, each agent's state and tool, and a Stop button."""
    if state.result is not None:
        headline = _RESULT_HEADLINES.get(state.result.status, _RESULT_HEADLINES["failed"])
    else:
        headline = f":hourglass_flowing_sand: *{state.phase_label}…*"
    done = state.finished_agents
    total = len(state.agents)
    status = headline + f" · {state.elapsed(now):.0f}s"
    if total:
        status += f" · {done}/{total} agents finished"
    blocks: Blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": status}}]
    agents = [state.agents[i] for i in sorted(state.agents)]
    for start in range(0, len(agents), _AGENTS_PER_SECTION):
        lines = [agent_line(a, now) for a in agents[start:start + _AGENTS_PER_SECTION]]
        blocks.append({"type": "section",
                       "text": {"type": "mrkdwn", "text": "\n".join(lines)[:SECTION_LIMIT]}})
    if state.result is None:
        blocks.append(_stop_actions(job_id, requester))
    text = state.phase_label
    if total:
        text += f" ({done}/{total} agents finished)"
    return text, blocks


def _stop_actions(job_id: str, requester: str) -> dict[str, Any]:
    return {
        "type": "actions",
        "block_id": "heavy_progress_actions",
        "elements": [{
            "type": "button",
            "action_id": STOP_ACTION,
            "text": {"type": "plain_text", "text": "Stop"},
            "style": "danger",
            "value": stop_value(job_id, requester),
        }],
    }


def queued_card(position: int, *, job_id: str, requester: str) -> tuple[str, Blocks]:
    """Shown when the job waits for a free slot; the progress card replaces it later.

    `position` is the runner's: 1 means next in line, so one fewer question is ahead.
    """
    ahead = position - 1
    text = (":hourglass: Queued: this question is next." if ahead <= 0 else
            f":hourglass: Queued: {ahead} question{'s' * (ahead != 1)} ahead of this one.")
    return text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}},
                  _stop_actions(job_id, requester)]


def stopped_in_queue_card() -> tuple[str, Blocks]:
    """A queued note after Stop: no run will ever edit it, so this is its final state."""
    text = ":octagonal_sign: Stopped before it started."
    return text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]


def streaming_card(*, job_id: str, requester: str) -> tuple[str, Blocks]:
    """Beside a streamed answer, which takes buttons only when it stops: the run's Stop."""
    text = ":hourglass_flowing_sand: Working: the agents' progress and the answer stream below."
    return text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}},
                  _stop_actions(job_id, requester)]


def streamed_card(status: str) -> tuple[str, Blocks]:
    """The Stop message once its streamed run ended: no button, how it ended."""
    text = {"ok": ":white_check_mark: Finished: the answer is below.",
            "cancelled": ":octagonal_sign: Stopped: what the agents had is below."}.get(
        status, ":x: Ended without an answer: the note below says why.")
    return text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]


def footer_block(footer: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": safe_mrkdwn(footer)}]}


REGENERATE_ACTION = "heavy_regenerate"
DEEPER_ACTION = "heavy_deeper"


def answer_actions(job_id: str) -> dict[str, Any]:
    """The Regenerate / Go deeper buttons under an answer's last message; each value is only
    the job id (see `_followups`)."""
    def button(action_id: str, label: str) -> dict[str, Any]:
        return {"type": "button", "action_id": action_id, "value": job_id,
                "text": {"type": "plain_text", "text": label, "emoji": True}}

    return {"type": "actions", "block_id": "heavy_followups", "elements": [
        button(REGENERATE_ACTION, ":repeat: Regenerate"),
        button(DEEPER_ACTION, ":mag: Go deeper"),
    ]}


def partial_answer(markdown: str, limit: int = MARKDOWN_CHARS) -> Message:
    """The answer so far while it is written: one `markdown` block with the head that fits,
    marked as unfinished (tables stay text until the answer is posted)."""
    room = limit - 60  # what the markers below add must still fit the block
    if len(markdown) > room:
        text = head(markdown, room) + "\n\n_… (continues below when finished)_"
    else:
        text = markdown + " :writing_hand:"
    return Message(_fallback(markdown), [{"type": "markdown", "text": neutralise(text)}])


def failed_answer(markdown: str, sentence: str) -> Message:
    """What was written before a run failed, then `sentence` (our mrkdwn, in its own section
    block); a code block cut short is closed so nothing lands inside it."""
    blocks: Blocks = []
    if markdown.strip():
        room = MARKDOWN_CHARS - 8  # the closing fence
        blocks.append({"type": "markdown", "text": neutralise(head(markdown, room))})
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": sentence}})
    return Message(sentence, blocks)


def _fallback(markdown: str) -> str:
    text = " ".join(neutralise(markdown).split())
    return text if len(text) <= 300 else text[:299] + "…"


def failure_text(error: str | None, reference: str) -> str:
    """One short sentence for the user; the details are in the log under `reference`."""
    return with_reference(f":warning: {safe_mrkdwn(failure_sentence(error))}", reference)
