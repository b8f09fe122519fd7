"""The reply column: where to answer (the platform's `ReplyTarget`) and the `Ledger`.

`job.reply` is one flat JSON object in the job row, kept flat so rows written by any earlier
version still deliver. Two owners share it, and each reads and writes only its own keys:

- the platform's addressing (`ReplyTarget.as_dict()`: channel, thread, tokens...), written by
  its intake and read back only through its own typed target (`SlackReply`, `DiscordReply`);
- the `Ledger`: what a delivery has already done, so restart- and crash-safe posting is
  written once for every platform. Its keys, read and written only here:

  - `card`: the id of the progress card (or of the queued note that becomes it)
  - `answer`: the id of a live answer message the first answer part replaces (optional)
  - `parts`: how many answer parts went out
  - `answered`: the job is over on the platform (a delivery run again does nothing)

A target that names a ledger key is refused (`addressing`): no adapter writes the ledger. Rows
from before this split may hold a `card` an adapter wrote (a Discord slash command's response);
the ledger reads it like any other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..jobs import Job

if TYPE_CHECKING:
    from ._once import Tag

CARD, ANSWER, PARTS, ANSWERED = "card", "answer", "parts", "answered"
LEDGER_KEYS = frozenset({CARD, ANSWER, PARTS, ANSWERED})
Save = Callable[[Job], Awaitable[None]]


class ReplyTarget(Protocol):
    """Where a platform answers a job, typed on the platform's side (`SlackReply`,
    `DiscordReply`). Its flat form holds `channel` (where the card is: the Stop rule compares
    it) and none of the ledger's keys."""

    def as_dict(self) -> dict[str, Any]:
        """The target as JSON values, for the job row."""
        ...


def addressing(target: ReplyTarget) -> dict[str, Any]:
    """`target`'s keys for the reply column; a ledger key among them is a bug, refused."""
    values = target.as_dict()
    clash = values.keys() & LEDGER_KEYS
    if clash:
        raise ValueError(f"a reply target may not set the ledger's keys {sorted(clash)}")
    return values


@dataclass(frozen=True, slots=True)
class LedgerState:
    """What a delivery has done for a job so far (see the module docstring for the keys)."""

    card: str | None = None
    answer: str | None = None
    parts: int = 0
    answered: bool = False

    @classmethod
    def read(cls, reply: Mapping[str, Any]) -> LedgerState:
        """The ledger's part of a reply column; the addressing keys are ignored."""
        card, answer = reply.get(CARD), reply.get(ANSWER)
        return cls(card=str(card) if card else None, answer=str(answer) if answer else None,
                   parts=int(reply.get(PARTS) or 0), answered=bool(reply.get(ANSWERED)))

    def entries(self) -> dict[str, Any]:
        """The keys to store: only those with something recorded."""
        values: dict[str, Any] = {}
        if self.card is not None:
            values[CARD] = self.card
        if self.answer is not None:
            values[ANSWER] = self.answer
        if self.parts:
            values[PARTS] = self.parts
        if self.answered:
            values[ANSWERED] = True
        return values


class Ledger:
    """The typed view of a job's ledger; every change is saved at once (`save`).

    It reads the job's reply column each time rather than keeping a copy: a queued note
    recorded through another `Ledger` of the same job is seen at once."""

    def __init__(self, job: Job, save: Save) -> None:
        self.job = job
        self._save = save

    @property
    def state(self) -> LedgerState:
        return LedgerState.read(self.job.reply)

    @property
    def card(self) -> str | None:
        return self.state.card

    @property
    def answer(self) -> str | None:
        return self.state.answer

    @property
    def parts(self) -> int:
        return self.state.parts

    @property
    def answered(self) -> bool:
        return self.state.answered

    def message(self, tag: Tag) -> str | None:
        """The id recorded for the message `tag` names (the card or the live answer)."""
        state = self.state
        return {CARD: state.card, ANSWER: state.answer}.get(tag.key)

    async def record(self, *, card: str | None = None, answer: str | None = None,
                     parts: int | None = None, answered: bool | None = None) -> None:
        """Record what is given (None: unchanged) and persist it at once."""
        old = self.state
        new = LedgerState(card=old.card if card is None else card,
                          answer=old.answer if answer is None else answer,
                          parts=old.parts if parts is None else parts,
                          answered=old.answered if answered is None else answered)
        self.job.reply.update(new.entries())
        await self._save(self.job)

    async def record_message(self, tag: Tag, message_id: str) -> None:
        """Record `message_id` as the card or the live answer, as `tag` says."""
        if tag.key == CARD:
            await self.record(card=message_id)
        elif tag.key == ANSWER:
            await self.record(answer=message_id)
        else:
            raise ValueError(f"the ledger keeps no message id for {tag.key!r} messages")

    async def retarget(self, target: ReplyTarget) -> None:
        """Where to answer changed during the delivery (a thread made from the card, a token
        that expired): `target` replaces the addressing in the record, and is saved with the
        ledger's entries, which stay."""
        values = addressing(target)
        entries = self.state.entries()
        self.job.reply.clear()
        self.job.reply.update(values)
        self.job.reply.update(entries)
        await self._save(self.job)
