"""Discord's `Surface` for the engine's reply pipeline: how a card, an answer part or a failure
is sent; the pipeline decides when (`heavy_engine.delivery`). Each post's `Tag` is its nonce, so
a job retried after its worker died mid-post gets the first message back instead of a second.

Where to answer is the job's `DiscordReply` (read from `job.reply`); what was posted is the
pipeline's `Ledger`. A slash command's deferred response is adopted as the ledger's card. While
its interaction token is fresh (15 minutes), the card is edited through the interaction's
webhook; after that, or when Discord refuses it, the bot token does the work. Any process can
do both from the record.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import re
import time
from collections.abc import Callable
from typing import Any, Literal

import discord

from heavy_engine import RunResult
from heavy_engine.delivery import Ledger, Pace, Part, Surface, Tag
from heavy_engine.jobs import Job
from heavy_engine.progress import ProgressState
from heavy_engine.text import answer_body, footer, source_links

from ._render import (
    NO_MENTIONS,
    answer_mentions,
    failure_text,
    plan_answer,
    progress_embed,
    queued_text,
    sources_embed,
    thread_name,
)
from ._reply import DiscordReply
from ._stop import STOP_PATTERN

log = logging.getLogger("heavy.discord")

TOKEN_TTL = 14 * 60  # interaction tokens live 15 min; leave a margin for slow edits
ONLINE_WAIT = 120.0  # a job recovered at start-up waits this long for the login
THREAD_EXISTS = 160004  # Discord's code for "a thread has already been created for this message"
ARCHIVE_MINUTES: Literal[1440] = 1440  # a day: Discord allows 60, 1440, 4320 or 10080
ORIGINAL = "@original"  # the interaction's own response, in webhook message routes
HISTORY_SCAN = 200  # messages a retry reads to find what it posted before (two requests)
StopView = Callable[[str, int], discord.ui.View]
AnswerView = Callable[[str], discord.ui.View]


class ChannelPacer:
    """Discord allows about 5 message edits per 5 s per channel, shared by every card in it:
    one turn per channel per interval. discord.py's rate-limit handling is the backstop."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._next: dict[int, float] = {}  # channel id -> earliest time of its next edit
        self._locks: dict[int, asyncio.Lock] = {}

    async def turn(self, channel_id: int) -> None:
        """Wait until `channel_id` may be edited again, and claim that slot."""
        async with self._locks.setdefault(channel_id, asyncio.Lock()):
            wait = self._next.get(channel_id, 0.0) - self._clock()
            if wait > 0:
                await asyncio.sleep(wait)
            self._next[channel_id] = self._clock() + self.interval


class DiscordSurface(Surface):
    interval = 0.0  # the channel pacer paces

    def __init__(self, client: discord.Client, pacer: ChannelPacer, stop_view: StopView, *,
                 refresh: float = 10.0, clock: Callable[[], float] = time.time,
                 answer_view: AnswerView | None = None) -> None:
        self.client = client
        self.pacer = pacer
        self.stop_view = stop_view
        self.answer_view = answer_view  # Regenerate / Go deeper under the last part
        # job id -> the sources embed of its answer: made by `answer_parts`, sent with the last
        # part right after (the same delivery), dropped in `release`.
        self._sources: dict[str, discord.Embed] = {}
        self.tick = refresh  # redraw at least this often, so elapsed times move
        self._clock = clock  # wall clock: interaction ages are compared across processes
        # Set once logged in: the runner may hand over recovered jobs before that.
        self.online = asyncio.Event()

    def pace(self, job: Job) -> Pace:
        channel = int(DiscordReply.from_reply(job.reply).channel)
        return lambda: self.pacer.turn(channel)

    async def posted(self, job: Job, ledger: Ledger) -> dict[Tag, str]:
        """What an earlier attempt posted without recording it. Each post's nonce makes Discord
        return the first message instead of a second, but only for a few minutes, and message
        history never shows nonces: a retry after a longer outage finds its posts among the
        bot's messages. The live card by its Stop button (the job id is in it); the answer's
        parts and the failure note by their text, the same again from the result stored before
        the first of them was posted (nothing is posted before it is)."""
        found: dict[Tag, str] = {}
        target, me = DiscordReply.from_reply(job.reply), self.client.user
        if me is None:
            return found
        card = ledger.card or target.response
        if card is None:
            async for message in self._history(int(target.channel), target.reference):
                if message.author.id == me.id and _stops(message, job.id):
                    found[Tag.card(job.id)] = str(message.id)
                    break
        if job.result is None:
            return found
        wanted = self._texts(job, job.result)
        if wanted:
            after = card or found.get(Tag.card(job.id)) or target.reference
            async for message in self._history(target.answer_channel, after):
                tag = wanted.get(message.content.strip()) if message.author.id == me.id else None
                if tag is not None and tag not in found:
                    found[tag] = str(message.id)
        return found

    def _texts(self, job: Job, result: RunResult) -> dict[str, Tag]:
        """What this job's answer parts or failure note say (stripped), and their tags."""
        parts = self.answer_parts(job, result)
        if parts is not None:
            return {(part.text or "").strip(): Tag.part(job.id, part.index) for part in parts}
        text = self._failure(job, result)
        return {} if text is None else {text.strip(): Tag.failure(job.id)}

    def _history(self, channel: int, after: str | None) -> Any:
        """The channel's messages after `after`, oldest first (else the latest, newest first),
        at most `HISTORY_SCAN` (a retry reads a page or two)."""
        messageable = self.client.get_partial_messageable(channel)
        if after is None:
            return messageable.history(limit=HISTORY_SCAN)
        return messageable.history(limit=HISTORY_SCAN, after=discord.Object(int(after)),
                                   oldest_first=True)

    # -- the card ----------------------------------------------------------------------------

    async def open(self, job: Job, ledger: Ledger, state: ProgressState) -> None:
        await asyncio.wait_for(self.online.wait(), ONLINE_WAIT)
        target = DiscordReply.from_reply(job.reply)
        if ledger.card is None and target.response is not None:
            await ledger.record(card=target.response)  # a slash command's response is the card
        if ledger.card is None:
            channel = self.client.get_partial_messageable(int(target.channel))
            extra: dict[str, Any] = {}
            if (reference := _reference(target)) is not None:
                extra["reference"] = reference
            message = await channel.send(embed=progress_embed(state, time.monotonic()),
                                         view=self.stop_view(job.id, int(job.spec.user)),
                                         allowed_mentions=NO_MENTIONS,
                                         nonce=nonce(Tag.card(job.id)), **extra)
            await ledger.record(card=str(message.id))
        await self._ensure_thread(job, ledger, target)

    async def _ensure_thread(self, job: Job, ledger: Ledger, target: DiscordReply) -> None:
        """A slash command's answer goes to a thread started from the card, when possible."""
        card = ledger.card
        if not target.make_thread or target.thread or card is None:
            return
        thread: str | None
        try:
            # A partial message knows no guild; thread creation needs the cached channel.
            channel_id = int(target.channel)
            channel = self.client.get_channel(channel_id) or await self.client.fetch_channel(
                channel_id)
            if not isinstance(channel, discord.TextChannel):
                raise TypeError(f"cannot start a thread in {type(channel).__name__}")
            made = await channel.get_partial_message(int(card)).create_thread(
                name=thread_name(job.spec.question), auto_archive_duration=ARCHIVE_MINUTES)
        except discord.HTTPException as err:
            if err.code == THREAD_EXISTS:  # made before a restart: a message's thread has its id
                thread = card
            else:  # forum posts, missing permissions...: answer in the channel instead
                log.info("no thread for job %s (%s); answering in the channel", job.id, err)
                thread = None
        except TypeError as err:
            log.info("no thread for job %s (%s); answering in the channel", job.id, err)
            thread = None
        else:
            thread = str(made.id)
        await ledger.retarget(target.threaded(thread, card))

    async def progress(self, job: Job, ledger: Ledger, state: ProgressState) -> float | None:
        await self._edit_card(job, ledger, embed=progress_embed(state, time.monotonic()),
                              live=True)
        return None

    async def final_card(self, job: Job, ledger: Ledger, state: ProgressState) -> None:
        result = state.result
        assert result is not None
        thread = DiscordReply.from_reply(job.reply).thread
        if result.status != "ok":
            log.warning("job %s ended %s: %s", job.id, result.status, result.error)
        if thread and result.answer:
            note = f"Answer in <#{thread}>."
        elif result.answer:
            note = "Answer below."
        else:
            note = ""
        if result.status == "cancelled" and job.stopped_by:
            note = f"Stopped by <@{job.stopped_by}>. {note}".strip()
        elif result.status not in ("ok", "cancelled"):
            note = f"{failure_text(result.error, job.id, status=result.status)} {note}".strip()
        await self._edit_card(job, ledger,
                              embed=progress_embed(state, time.monotonic(), note=note),
                              live=False)

    async def show_queued(self, job: Job, ledger: Ledger) -> str | None:
        text = queued_text(job.position)
        target = DiscordReply.from_reply(job.reply)
        card = ledger.card or target.response
        if card is not None:  # a slash command's deferred response: the note, then the card
            await self._edit_card(job, ledger, content=text, embed=None, live=False)
            return card
        channel = self.client.get_partial_messageable(int(target.channel))
        extra: dict[str, Any] = {}
        if (reference := _reference(target)) is not None:
            extra["reference"] = reference  # where the card would have gone: it becomes it
        # The card's nonce: a delivery posting the card while the note is unrecorded gets it.
        message = await channel.send(text, allowed_mentions=NO_MENTIONS,
                                     nonce=nonce(Tag.card(job.id)), **extra)
        return str(message.id)

    async def stopped_in_queue(self, job: Job, ledger: Ledger) -> None:
        if (ledger.card or DiscordReply.from_reply(job.reply).response) is not None:
            text = f"⏹️ Stopped before it started by <@{job.stopped_by}>." if job.stopped_by \
                else "⏹️ Stopped before it started."
            await self._edit_card(job, ledger, content=text, embed=None, live=False)

    # -- the answer: after the card, which shows the synthesis as it grows -------------------

    def answer_parts(self, job: Job, result: RunResult) -> list[Part] | None:
        if not result.answer:
            return None
        prefix = f"<@{job.spec.user}>" if DiscordReply.from_reply(job.reply).mention else ""
        # Sources go in an embed field under the answer, not as a list in its text.
        embed = sources_embed(source_links(result))
        if embed is not None:
            self._sources[job.id] = embed
        plan = plan_answer(answer_body(result) or result.answer, _footer(result), prefix=prefix)
        last = len(plan.messages) - 1
        return [Part(i, text, (f"heavy-{job.id}.md", result.answer)
                     if plan.attach and i == last else None, last=i == last)
                for i, text in enumerate(plan.messages)]

    async def send_part(self, job: Job, ledger: Ledger, part: Part) -> None:
        mention = DiscordReply.from_reply(job.reply).mention and part.index == 0
        file = None
        if part.file is not None:
            name, content = part.file
            file = discord.File(io.BytesIO(content.encode()), filename=name)
        extra: dict[str, Any] = {}
        if part.last:
            if self.answer_view is not None:
                extra["view"] = self.answer_view(job.id)
            if (embed := self._sources.get(job.id)) is not None:
                extra["embed"] = embed
        await self._post(job, part.text or "", Tag.part(job.id, part.index), mention=mention,
                         file=file, reference=part.index == 0, **extra)

    async def send_failure(self, job: Job, ledger: Ledger, result: RunResult,
                           state: ProgressState) -> None:
        text = self._failure(job, result)
        if text is not None:
            await self._post(job, text, Tag.failure(job.id),
                             mention=DiscordReply.from_reply(job.reply).mention)

    @staticmethod
    def _failure(job: Job, result: RunResult) -> str | None:
        """The note that says why there is no answer; None when stopped (the card says who)."""
        if result.status == "cancelled":
            return None
        text = failure_text(result.error, job.id, status=result.status)
        return f"<@{job.spec.user}> {text}" if DiscordReply.from_reply(job.reply).mention \
            else text

    async def say_failed(self, job: Job, sentence: str) -> None:
        try:
            await self._post(job, failure_text(sentence, job.id), None, mention=False)
        except Exception:
            log.exception("could not report the failure of job %s", job.id)

    async def release(self, job: Job) -> None:
        self._sources.pop(job.id, None)

    # -- sending -----------------------------------------------------------------------------

    def _webhook(self, target: DiscordReply) -> discord.Webhook | None:
        """The slash command's webhook while its token is fresh, else None."""
        token, app = target.interaction_token, target.application_id
        if not token or not app:
            return None
        if self._clock() - target.interaction_at > TOKEN_TTL:
            return None
        return discord.Webhook.partial(int(app), token, client=self.client)

    async def _edit_card(self, job: Job, ledger: Ledger, *, embed: discord.Embed | None,
                         live: bool, content: str | None = None) -> None:
        """Edit the card (the ledger's, else the slash command's response still unrecorded)."""
        target = DiscordReply.from_reply(job.reply)
        view = self.stop_view(job.id, int(job.spec.user)) if live else None
        webhook = self._webhook(target)
        if webhook is not None:
            try:
                # "@original" works in the message route: the response needs no stored id.
                await webhook.edit_message(ORIGINAL,  # type: ignore[call-overload]
                                           content=content, embed=embed, view=view,
                                           allowed_mentions=NO_MENTIONS)
                return
            except discord.HTTPException as err:
                # Expired early (401 Invalid Webhook Token) or gone: the bot token from now on.
                if err.status not in (401, 403, 404):
                    raise
                target = target.without_webhook()
                await ledger.retarget(target)
        card_id = ledger.card or target.response
        if card_id is None:
            raise LookupError(f"job {job.id} has no card to edit")
        card = self.client.get_partial_messageable(int(target.channel)).get_partial_message(
            int(card_id))
        await card.edit(content=content, embed=embed, view=view, allowed_mentions=NO_MENTIONS)

    async def _post(self, job: Job, content: str, tag: Tag | None, *, mention: bool,
                    file: discord.File | None = None, reference: bool = True,
                    view: discord.ui.View | None = None,
                    embed: discord.Embed | None = None) -> None:
        """Send with the bot token (runs outlive interaction tokens), the webhook as fallback.
        With `tag`, a repeat of this post (a retried job) returns the first message."""
        target = DiscordReply.from_reply(job.reply)
        mentions = answer_mentions(int(job.spec.user)) if mention else NO_MENTIONS
        extra: dict[str, Any] = {}
        ref = _reference(target) if reference and not target.thread else None
        if ref is not None:
            extra["reference"] = ref
        if file is not None:
            extra["file"] = file
        if view is not None:
            extra["view"] = view
        if embed is not None:
            extra["embed"] = embed
        try:
            await self.client.get_partial_messageable(target.answer_channel).send(
                content, allowed_mentions=mentions,
                nonce=nonce(tag) if tag is not None else None, **extra)  # type: ignore[arg-type]  # None: no nonce
        except discord.Forbidden:
            # E.g. a user-installed app: not a member of the channel, but the interaction is.
            webhook = self._webhook(target)
            if webhook is None:
                raise
            extra.pop("reference", None)  # and no nonce: webhooks take none
            if file is not None:
                file.reset()
            await webhook.send(content, allowed_mentions=mentions, wait=True, **extra)


def nonce(tag: Tag) -> str:
    """`tag` as a message nonce (24 characters; Discord takes up to 25). discord.py sends it
    with `enforce_nonce`, so Discord returns the message already created with it (for a few
    minutes) instead of posting again."""
    return hashlib.blake2b(str(tag).encode(), digest_size=12).hexdigest()


def _stops(message: discord.Message, job_id: str) -> bool:
    """Whether the message carries the Stop button of `job_id` (its live card does)."""
    for row in message.components:
        for item in getattr(row, "children", ()):
            match = re.fullmatch(STOP_PATTERN, getattr(item, "custom_id", None) or "")
            if match is not None and match["job"] == job_id:
                return True
    return False


def _reference(target: DiscordReply) -> discord.MessageReference | None:
    if not target.reference:
        return None
    return discord.MessageReference(message_id=int(target.reference),
                                    channel_id=int(target.channel), fail_if_not_exists=False)


def _footer(result: RunResult) -> str:
    notes = " ".join(result.notes)
    return f"{footer(result)}{' · ' + notes if notes else ''}"
