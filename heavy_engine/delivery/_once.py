"""`Tag`: the name of one message a delivery posts for a job, so each is posted at most once.

A worker can die after the platform accepted a post but before the ledger recorded its id; the
retry finds no trace of it in the ledger. So every card, live answer, answer part and failure
message carries a tag (job id, ledger key, part index) that is the same in every attempt.
Platforms with an idempotency key make the tag that key (Discord's `nonce` with `enforce_nonce`:
a repeated post returns the first message). Platforms without one (Slack) store the tag with the
message, and a resumed job (attempt > 1) asks its surface for the tagged messages already there
and adopts them instead of posting (`Surface.posted`). First attempts pay nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._ledger import ANSWER, CARD

PART, FAILURE = "part", "failure"
_KEYS = frozenset({CARD, ANSWER, PART, FAILURE})


@dataclass(frozen=True, slots=True)
class Tag:
    job: str
    key: str  # "card", "answer" (a live answer the first part replaces), "part", "failure"
    index: int = 0  # the answer part's index

    @classmethod
    def card(cls, job: str) -> Tag:
        """The progress card, or the queued note that becomes it."""
        return cls(job, CARD)

    @classmethod
    def answer(cls, job: str) -> Tag:
        """A live answer (the synthesis as it is written), replaced by the first part."""
        return cls(job, ANSWER)

    @classmethod
    def part(cls, job: str, index: int) -> Tag:
        return cls(job, PART, index)

    @classmethod
    def failure(cls, job: str) -> Tag:
        """The message that says why there is no answer."""
        return cls(job, FAILURE)

    def payload(self) -> dict[str, Any]:
        """The tag as plain JSON values, for platforms that store it with the message."""
        return {"job": self.job, "key": self.key, "part": self.index}

    @classmethod
    def of(cls, payload: Mapping[str, Any]) -> Tag | None:
        """The tag `payload()` made, or None for anything else."""
        job, key, index = payload.get("job"), payload.get("key"), payload.get("part", 0)
        if not isinstance(job, str) or key not in _KEYS or not isinstance(index, int):
            return None
        return cls(job, str(key), index)

    def __str__(self) -> str:
        return f"{self.job}:{self.key}:{self.index}"
