"""One reply pipeline for every chat platform.

A platform adapter builds a `ReplyPipeline` with its `Surface` (render and send calls) and
registers it with the runner as the platform's delivery; the pipeline follows the run, keeps
the reply ledger in the job row beside the platform's typed `ReplyTarget`, tags every message
so none is posted twice (`Tag`), plans the answer and says refusals and queue positions.
"""

from __future__ import annotations

from ..providers import retry_after  # one Retry-After parser, LLM and chat APIs
from ._follow import Follower, Pace
from ._intake import FILES_ONLY_QUESTION, HELP_WORDS, Asking, ContextReader, Question
from ._ledger import Ledger, LedgerState, ReplyTarget
from ._once import Tag
from ._pipeline import Capabilities, Part, ReplyPipeline, StopOutcome, Surface, may_stop
from ._plan import AnswerLimits, AnswerPlan, plan_answer
from ._text import clip, clip_start, failure_sentence, head, shorten, with_reference

__all__ = [
    "FILES_ONLY_QUESTION",
    "HELP_WORDS",
    "AnswerLimits",
    "AnswerPlan",
    "Asking",
    "Capabilities",
    "ContextReader",
    "Follower",
    "Ledger",
    "LedgerState",
    "Pace",
    "Part",
    "Question",
    "ReplyPipeline",
    "ReplyTarget",
    "StopOutcome",
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
