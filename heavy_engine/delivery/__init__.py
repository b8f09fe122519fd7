"""One reply pipeline for every chat platform.

A platform adapter builds a `ReplyPipeline` with its `Surface` (render and send calls) and
registers it with the runner as the platform's delivery; the pipeline follows the run, keeps
the reply ledger in the job row, tags every message so none is posted twice (`Tag`), plans
the answer and says refusals and queue positions.
"""

from __future__ import annotations

from ..providers import retry_after  # one Retry-After parser, LLM and chat APIs
from ._follow import Follower, Pace
from ._ledger import Ledger
from ._once import Tag
from ._pipeline import Part, ReplyPipeline, Surface, may_stop
from ._plan import AnswerLimits, AnswerPlan, plan_answer
from ._text import clip, clip_start, failure_sentence, head, shorten, with_reference

__all__ = [
    "AnswerLimits",
    "AnswerPlan",
    "Follower",
    "Ledger",
    "Pace",
    "Part",
    "ReplyPipeline",
    "Surface",
    "Tag",
    "clip",
    "clip_start",
    "failure_sentence",
    "head",
    "may_stop",
    "plan_answer",
    "retry_after",
    "shorten",
    "with_reference",
]
