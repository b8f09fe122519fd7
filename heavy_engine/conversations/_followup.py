"""The "Regenerate" and "Go deeper" buttons: a new job built from the stored one.

A button carries only the job id. Everything else comes from the job record, and the click is
checked against it: a button pressed in another workspace or channel than the job's (a forged
or copied value) is refused, and only the asker or an admin may press. Regenerate asks the same
question again in the same thread; Go deeper asks it with twice the agents (at most 16) and
gives the model the first answer, asking for what it missed.
"""

from __future__ import annotations

from typing import Literal

from ..core import MAX_AGENTS, RequestRejected
from ..jobs import Job, JobSpec

Action = Literal["regenerate", "deeper"]
ACTIONS: tuple[Action, ...] = ("regenerate", "deeper")
FIRST_ANSWER_CHARS = 6_000  # of the first answer, given to a deeper run

NOT_YOURS = "Only the person who asked, or an admin, can use these buttons."
UNKNOWN = "That answer is no longer known to heavy; ask the question again."
NOT_FINISHED = "That question is still being answered; try again when it has finished."
NO_ANSWER = "That question has no answer to go deeper on; use Regenerate instead."
DEEPER_PROMPT = (
    "A first answer to this question is below. Do not repeat it: find what it missed, got "
    "wrong or treated too briefly, check its claims, and go deeper.\n\n"
    "# First answer\n\n{answer}"
)


def follow_up(
    job: Job | None, action: Action, *, platform: str, workspace: str, channel: str,
    user: str, is_admin: bool, click_id: str,
) -> JobSpec:
    """The job to submit for a button pressed by `user` in `channel`; raises
    `RequestRejected` (a sentence for an ephemeral reply) when the press is refused.

    `click_id` is the platform's id for this press (Discord interaction id, Slack
    `action_ts`): a retried delivery of the same press yields the same dedup key.
    """
    if action not in ACTIONS:
        raise RequestRejected(f"Unknown button {action!r}.")
    spec = job.spec if job is not None else None
    if job is None or spec is None or (spec.platform, spec.workspace, spec.channel) != (
            platform, workspace, channel):
        raise RequestRejected(UNKNOWN)
    if user != spec.user and not is_admin:
        raise RequestRejected(NOT_YOURS)
    if job.status in ("queued", "running"):
        raise RequestRejected(NOT_FINISHED)
    flags = dict(spec.flags)
    context = spec.context
    if action == "deeper":
        answer = job.result.answer.strip() if job.result else ""
        if not answer:
            raise RequestRejected(NO_ANSWER)
        # `agents: auto` ran as many as the decomposition picked: double what it ran
        ran = job.config.agent_count or (len(job.result.agents) if job.result else 0) or 1
        flags["agents"] = min(MAX_AGENTS, 2 * ran)
        if len(answer) > FIRST_ANSWER_CHARS:
            answer = answer[: FIRST_ANSWER_CHARS - 1] + "…"
        deeper = DEEPER_PROMPT.format(answer=answer)
        context = f"{context}\n\n{deeper}" if context else deeper
    return JobSpec(
        platform=spec.platform, workspace=spec.workspace, channel=spec.channel, user=user,
        question=spec.question, thread=spec.thread, context=context, flags=flags,
        dedup_key=f"{action}:{job.id}:{click_id}", attachments=spec.attachments,
    )
