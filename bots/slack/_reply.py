"""`SlackReply`: where a Slack job is answered, as the intake writes it into `job.reply`.

The intake builds one (`slack_question`); the surface and the rest of the adapter read a job's
target only through `SlackReply.from_reply(job.reply)`. The column's other keys are the reply
pipeline's ledger (`heavy_engine.delivery.Ledger`): ignored here, so rows written before this
type existed read the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from heavy_engine.delivery import Question


@dataclass(frozen=True, slots=True)
class SlackReply:
    channel: str  # where the thread is
    thread_ts: str  # the thread the card and the answer go to ("" until `/heavy` posts it)
    team: str = ""  # the workspace whose token delivers the job
    user: str = ""  # who asked
    trigger_ts: str | None = None  # the asking message: it carries the reactions
    asked_ts: str | None = None  # an assistant thread's question (no reactions there)
    enterprise: str | None = None  # an Enterprise Grid org, for its installation's token

    @property
    def asked(self) -> str | None:
        """The message that asked: the trigger, else the assistant thread's question."""
        return self.trigger_ts or self.asked_ts

    @classmethod
    def from_reply(cls, reply: Mapping[str, Any]) -> SlackReply:
        """The target stored in a job's reply column (the ledger's keys are not read)."""
        # Tolerant: a row without a key reads as its default (every intake writes `channel`).
        return cls(channel=str(reply.get("channel") or ""), thread_ts=str(reply.get("thread_ts") or ""),
                   team=str(reply.get("team") or ""), user=str(reply.get("user") or ""),
                   trigger_ts=_text(reply.get("trigger_ts")),
                   asked_ts=_text(reply.get("asked_ts")),
                   enterprise=_text(reply.get("enterprise")))

    @classmethod
    def of(cls, question: Question) -> SlackReply:
        """The target a Slack question carries (`slack_question` made it)."""
        if not isinstance(question.reply, cls):
            raise TypeError(f"a Slack question answers at a SlackReply, not "
                            f"{type(question.reply).__name__}")
        return question.reply

    def as_dict(self) -> dict[str, Any]:
        """The flat form for the job row (the keys earlier versions wrote)."""
        values: dict[str, Any] = {"channel": self.channel, "thread_ts": self.thread_ts,
                                  "team": self.team, "user": self.user,
                                  "trigger_ts": self.trigger_ts}
        if self.asked_ts is not None:
            values["asked_ts"] = self.asked_ts
        if self.enterprise is not None:
            values["enterprise"] = self.enterprise
        return values


def _text(value: Any) -> str | None:
    return str(value) if value else None
