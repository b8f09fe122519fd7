"""One way in: every chat entry point reads its event into a `Question` and calls `ask()`.

A mention, a slash command, a DM, the Slack split view, a message shortcut, a follow-up
button: each only translates its platform event into a `Question` (who, where, what, which
files, how to read the context, where to answer) and an `Asking` (how to speak to the asker
before a job exists). `ask` then does the same steps, in the same order, for all of them:

1. help words get the help; an empty question gets the usage hint (no I/O yet);
2. `acknowledge` (a platform's "I am on it": a defer, a reaction) before anything slow;
3. a retried event (its `dedup_key` already made a job) is dropped;
4. who may ask (the channel's allow and block lists) and the daily budgets are checked before
   any download, history read, status or public post, so a refused asker costs nothing and
   learns why in private;
5. `prepare`: the platform's last step before the job (a thread, an "asked:" message, a status);
6. the context is read, the files downloaded and read;
7. the one `JobSpec` is built and submitted; a refusal is said, a queue position shown;
8. `asked`: the platform remembers the thread, confirms a button press...

The runner checks access and limits again at submit: this is the early, cheap check.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..attachments import Attachment, HostPolicy, fetch_attachments
from ..db import utcnow
from ..help import help_text
from ..jobs import Job, JobSpec, may_ask, spent_today
from ._ledger import ReplyTarget, addressing

if TYPE_CHECKING:
    from ._pipeline import ReplyPipeline

log = logging.getLogger("heavy.delivery")

HELP_WORDS = frozenset({"help", "?"})
FILES_ONLY_QUESTION = "Read the attached file(s) and tell me what matters in them."

EMPTY_QUESTION = "The question is empty: ask something after the command."

ContextReader = Callable[[], Awaitable[str | None]]


@dataclass(frozen=True, slots=True)
class Question:
    """A question as every platform reads it, before any check."""

    platform: str
    workspace: str  # Slack team / Discord guild ("" in a Discord DM)
    channel: str  # the settings scope: the channel whose settings apply
    user: str
    text: str
    reply: ReplyTarget  # where to answer (the platform's typed reply target)
    thread: str | None = None
    dedup_key: str | None = None
    flags: Mapping[str, Any] = field(default_factory=dict)
    roles: Sequence[str] = ()
    context: str | ContextReader | None = None  # read only once the asker may ask
    files: Sequence[Attachment] = ()  # downloaded only once the asker may ask
    file_policy: HostPolicy | None = None
    attachments: dict[str, Any] | None = None  # already read (a follow-up's stored files)
    help_command: str | None = None  # help words get the help for this command (None: no help)


class Asking:
    """How a platform speaks to the asker before a job exists. Override what applies."""

    async def refuse(self, sentence: str) -> None:
        """Tell only the asker why nothing runs (a refusal, a limit); must not raise."""
        raise NotImplementedError

    async def help(self, text: str) -> None:
        """Show the help (Markdown) to the asker."""
        await self.refuse(text)

    async def usage(self) -> None:
        """The question is empty: say how to ask."""
        await self.refuse(EMPTY_QUESTION)

    async def acknowledge(self) -> None:
        """The no-I/O checks passed: show you are on it before anything slow (a defer)."""

    async def prepare(self, question: Question) -> Question | None:
        """The platform's last step before the job (a thread to answer in, a public "asked:"
        message, a status); the question to submit, or None to drop it quietly."""
        return question

    async def asked(self, job: Job) -> None:
        """A job was queued or started for the question."""


async def ask(pipeline: ReplyPipeline, question: Question, asking: Asking) -> Job | None:
    """The one path from a platform's question to a job; None when none was made."""
    runner, settings = pipeline.runner, pipeline.settings
    text = question.text.strip()
    if question.help_command is not None and text.lower() in HELP_WORDS and settings:
        # The operator's defaults: no database read before the platform's acknowledgement.
        await asking.help(help_text(settings.config, command=question.help_command))
        return None
    if not text and (question.files or question.attachments):
        text = FILES_ONLY_QUESTION
    if not text:
        await asking.usage()
        return None
    await asking.acknowledge()
    if question.dedup_key and await runner.seen(question.platform, question.dedup_key):
        log.info("duplicate event %s ignored", question.dedup_key)
        return None
    if settings is not None:
        resolved = await settings.resolve(question.platform, question.workspace,
                                          question.channel)
        refusal = may_ask(resolved.config, question.user, question.roles,
                          platform=question.platform)
        if refusal is None:
            spent = await spent_today(runner.store, resolved.config.limits, utcnow(),
                                      question.platform, question.workspace, question.channel,
                                      question.user)
            refusal = spent.user_message if spent is not None else None
        if refusal is not None:
            await asking.refuse(refusal)
            return None
    prepared = await asking.prepare(replace(question, text=text))
    if prepared is None:
        return None
    context = prepared.context
    if callable(context):
        context = await context()
    attachments = prepared.attachments
    if prepared.files and prepared.file_policy is not None:
        read = await fetch_attachments(list(prepared.files), prepared.file_policy)
        attachments = read.as_dict() if read else None
    spec = JobSpec(
        platform=prepared.platform, workspace=prepared.workspace, channel=prepared.channel,
        user=prepared.user, question=prepared.text, thread=prepared.thread, context=context,
        flags=dict(prepared.flags), reply=addressing(prepared.reply), dedup_key=prepared.dedup_key,
        roles=list(prepared.roles), attachments=attachments)
    job = await pipeline.submit(spec, asking.refuse)
    if job is not None:
        await asking.asked(job)
    return job
