"""`DiscordReply`: where a Discord job is answered, as the intake writes it into `job.reply`.

The intake builds one; the surface reads a job's target only through
`DiscordReply.from_reply(job.reply)`, and a change while delivering (the thread made from the
card, a webhook token Discord refused) is a new target from one of its methods, saved with the
ledger (`Ledger.retarget`). The column's other keys are the reply pipeline's ledger: ignored
here, so rows written before this type existed read the same; a slash command's deferred
response is `response`, which the surface adopts as the ledger's card.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from heavy_engine.delivery import Question


@dataclass(frozen=True, slots=True)
class DiscordReply:
    channel: str  # where the card is
    mention: bool = False  # ping the requester with the answer (not in DMs)
    thread: str | None = None  # where the answer goes when not `channel`
    make_thread: bool = False  # start `thread` from the card (a slash command in a channel)
    reference: str | None = None  # a message the card and the answer reply to
    response: str | None = None  # a slash command's deferred response: it becomes the card
    # A slash command's webhook: while the token is fresh, the card is edited through it.
    application_id: str | None = None
    interaction_token: str | None = None
    interaction_at: float = 0.0  # when the interaction came (wall clock, any process)

    @property
    def answer_channel(self) -> int:
        """Where the answer goes: the thread, else the card's channel."""
        return int(self.thread or self.channel)

    @classmethod
    def from_reply(cls, reply: Mapping[str, Any]) -> DiscordReply:
        """The target stored in a job's reply column (the ledger's keys are not read)."""
        # Tolerant: a row without a key reads as its default (every intake writes `channel`).
        return cls(channel=str(reply.get("channel") or ""), mention=bool(reply.get("mention")),
                   thread=_text(reply.get("thread")),
                   make_thread=bool(reply.get("make_thread")),
                   reference=_text(reply.get("reference")),
                   response=_text(reply.get("response")),
                   application_id=_text(reply.get("application_id")),
                   interaction_token=_text(reply.get("interaction_token")),
                   interaction_at=float(reply.get("interaction_at") or 0.0))

    @classmethod
    def of(cls, question: Question) -> DiscordReply:
        """The target a Discord question carries (the adapter made it)."""
        if not isinstance(question.reply, cls):
            raise TypeError(f"a Discord question answers at a DiscordReply, not "
                            f"{type(question.reply).__name__}")
        return question.reply

    def as_dict(self) -> dict[str, Any]:
        """The flat form for the job row: what is set, under the keys earlier versions wrote."""
        values: dict[str, Any] = {"channel": self.channel, "mention": self.mention}
        if self.make_thread:
            values["make_thread"] = True
        optional = {"thread": self.thread, "reference": self.reference,
                    "response": self.response, "application_id": self.application_id,
                    "interaction_token": self.interaction_token}
        values.update({key: value for key, value in optional.items() if value is not None})
        if self.interaction_token is not None:
            values["interaction_at"] = self.interaction_at
        return values

    def threaded(self, thread: str | None, card: str) -> DiscordReply:
        """The target once the card's thread is settled: the answer goes to `thread`, or
        (None: Discord would not make one) under the `card` in its channel."""
        if thread is not None:
            return replace(self, make_thread=False, thread=thread)
        return replace(self, make_thread=False, reference=card)

    def without_webhook(self) -> DiscordReply:
        """Discord refused the interaction's token: the bot token from now on."""
        return replace(self, interaction_token=None)


def _text(value: Any) -> str | None:
    return str(value) if value else None
